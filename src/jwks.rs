//! Keys from the brand's JWKS URL (`jwksUrl`): fetched with the page's `fetch` (CORS, no
//! cookies, no Referer), on the core's schedule ([`campaign_token_core::jwks::JwksCache`]:
//! fresh for the `Cache-Control` max-age within a minute and a day, one refetch a minute at most
//! for a token whose `kid` the set lacks, the last good set kept when a fetch fails).
//!
//! One fetch at a time: tokens that arrive while it runs wait for it rather than start another.
//! A response that is not a usable key set (an error status, too large, not a JWKS, a key
//! WebCrypto refuses) counts as a failed fetch.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::{future_to_promise, JsFuture};

use campaign_token_core::jwks::{JwksCache, Need, FETCH_TIMEOUT_SECS, MAX_JWKS_BYTES};
use campaign_token_core::{Error, ErrorCode, KeySet, Policy, Verified, Verifier};

use crate::clock::{self, Source};
use crate::KeyState;

/// One JWKS URL's keys and cache state.
pub(crate) struct Remote {
    url: String,
    policy: Policy,
    cache: RefCell<JwksCache>,
    current: RefCell<Option<Rc<KeyState>>>,
    /// The fetch under way, if any; resolves to whether it installed a new set.
    inflight: RefCell<Option<Promise>>,
}

impl Remote {
    pub(crate) fn new(url: String, policy: Policy) -> Rc<Remote> {
        Rc::new(Remote {
            url,
            policy,
            cache: RefCell::new(JwksCache::new()),
            current: RefCell::new(None),
            inflight: RefCell::new(None),
        })
    }

    /// Verifies `token` at `now` with the current set, fetching it first when the core's
    /// policy says it is stale (or was never fetched), and once more when the token's `kid`
    /// is not in it (if the policy allows a refetch now).
    pub(crate) async fn verify(self: &Rc<Self>, token: &str, now: u64) -> Result<Verified, Error> {
        self.refresh(Need::Keys).await;
        let mut refetched = false;
        loop {
            // One call site of the signature check (a second would cost its code twice).
            let outcome = match self.keys() {
                Some(state) => state.verify(token, now).await,
                None => Err(no_keys()),
            };
            match outcome {
                Err(e)
                    if e.code() == ErrorCode::UnknownKey
                        && !refetched
                        && self.refresh(Need::UnknownKid).await =>
                {
                    refetched = true;
                }
                other => return other,
            }
        }
    }

    fn keys(&self) -> Option<Rc<KeyState>> {
        self.current.borrow().clone()
    }

    /// Fetches if `need` and the policy say so, or joins the fetch under way. Answers whether
    /// a new set was installed meanwhile.
    async fn refresh(self: &Rc<Self>, need: Need) -> bool {
        let under_way = self.inflight.borrow().clone();
        let promise = match under_way {
            Some(promise) => promise,
            None => {
                let now = clock::monotonic_secs();
                if !self.cache.borrow().should_fetch(now, need) {
                    return false;
                }
                self.cache.borrow_mut().started(now);
                let this = Rc::clone(self);
                let promise = future_to_promise(async move {
                    let installed = this.fetch().await;
                    *this.inflight.borrow_mut() = None;
                    Ok(JsValue::from_bool(installed))
                });
                *self.inflight.borrow_mut() = Some(promise.clone());
                promise
            }
        };
        JsFuture::from(promise)
            .await
            .ok()
            .and_then(|v| v.as_bool())
            .unwrap_or(false)
    }

    /// One fetch: a usable set replaces the current one; anything else keeps it.
    async fn fetch(&self) -> bool {
        let Ok((response, sent, received)) = clock::fetch(&self.url, FETCH_TIMEOUT_SECS).await
        else {
            return false;
        };
        // Readable only when the brand exposes it (Access-Control-Expose-Headers: Date).
        clock::record(
            Source::Jwks,
            clock::header(&response, "date").as_deref(),
            sent,
            received,
        );
        let ok = Reflect::get(&response, &JsValue::from_str("ok"))
            .ok()
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        let too_large = clock::header(&response, "content-length")
            .and_then(|n| n.trim().parse::<u64>().ok())
            .is_some_and(|n| n > MAX_JWKS_BYTES as u64);
        if !ok || too_large {
            return false;
        }
        let cache_control = clock::header(&response, "cache-control");
        let Some(text) = body_text(&response).await else {
            return false;
        };
        if text.len() > MAX_JWKS_BYTES {
            return false;
        }
        let Ok(keys) = KeySet::parse(&text) else {
            return false;
        };
        let Ok(state) = KeyState::new(Verifier::new(keys, self.policy.clone())).await else {
            return false;
        };
        self.cache
            .borrow_mut()
            .fetched(clock::monotonic_secs(), cache_control.as_deref());
        *self.current.borrow_mut() = Some(Rc::new(state));
        true
    }
}

async fn body_text(response: &JsValue) -> Option<String> {
    let text = Reflect::get(response, &JsValue::from_str("text"))
        .ok()?
        .dyn_into::<Function>()
        .ok()?;
    let promise = text.call0(response).ok()?.dyn_into::<Promise>().ok()?;
    JsFuture::from(promise).await.ok()?.as_string()
}

const fn no_keys() -> Error {
    Error::new(
        ErrorCode::UnknownKey,
        "no key is available: the key set at jwksUrl could not be fetched or was not a usable \
         JWKS (it is asked again after a minute)",
    )
}
