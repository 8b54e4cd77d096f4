//! Keys from the brand's JWKS URL (`jwksUrl`), fetched by the JS driver (`js/driver.js`: the
//! page's `fetch`, CORS, no cookies, no Referer, no redirect, the body read up to 64 KiB) when
//! this module says so, on the core's schedule ([`campaign_token_core::jwks::JwksCache`]: fresh
//! for the `Cache-Control` max-age within a minute and a day, one refetch a minute at most for a
//! token whose `kid` the set lacks, the last good set kept when a fetch fails).
//!
//! One fetch at a time: tokens that arrive while it runs (its `fetch` step and the import of
//! the new set, both marked `refresh`) get a `wait` step rather than start another. A response
//! that is not a usable key set (an error status, too large, not a JWKS, a key WebCrypto
//! refuses) counts as a failed fetch.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use wasm_bindgen::JsValue;

use campaign_token_core::jwks::{JwksCache, Need, FETCH_TIMEOUT_SECS, MAX_JWKS_BYTES};
use campaign_token_core::{Error, ErrorCode, KeySet, Policy, Verifier};

use crate::clock::{self, Source};
use crate::crypto::KeyState;
use crate::errors::set;
use crate::step::{self, Out, Step};

/// One JWKS URL's keys and cache state.
pub(crate) struct Remote {
    url: String,
    policy: Policy,
    cache: RefCell<JwksCache>,
    /// The current set and its number (steps name the set they were made for).
    current: RefCell<Option<(u32, Rc<KeyState>)>>,
    /// A fetched set whose keys are being imported, and its `Cache-Control`.
    pending: RefCell<Option<(Rc<KeyState>, Option<String>)>>,
    /// A fetch (or the import of what it fetched) is under way.
    fetching: Cell<bool>,
    sets: Cell<u32>,
}

fn marked(step: Step) -> Step {
    set(&step, "refresh", &JsValue::TRUE);
    step
}

impl Remote {
    pub(crate) fn new(url: String, policy: Policy) -> Remote {
        Remote {
            url,
            policy,
            cache: RefCell::new(JwksCache::new()),
            current: RefCell::new(None),
            pending: RefCell::new(None),
            fetching: Cell::new(false),
            sets: Cell::new(0),
        }
    }

    /// The set numbered `id`, if it is still the current one.
    pub(crate) fn state(&self, id: Option<f64>) -> Option<Rc<KeyState>> {
        match &*self.current.borrow() {
            Some((current, state)) if id == Some(f64::from(*current)) => Some(Rc::clone(state)),
            _ => None,
        }
    }

    /// The next step for `token` with the current set: fetching it first when the core's
    /// policy says it is stale (or was never fetched), and once more when the token's `kid`
    /// is not in it (if the policy allows a refetch now and `again` says this token has not
    /// had one).
    pub(crate) fn begin(
        &self,
        token: &str,
        again: bool,
        now: &dyn Fn() -> u64,
    ) -> Result<Out, Error> {
        if self.fetching.get() {
            return Ok(Out::Step(step::wait()));
        }
        let at = clock::monotonic_secs();
        if self.cache.borrow().should_fetch(at, Need::Keys) {
            return Ok(Out::Step(self.start(at)));
        }
        let Some((id, state)) = self.current.borrow().clone() else {
            return Err(no_keys());
        };
        match state.begin(token, now) {
            Err(e)
                if e.code() == ErrorCode::UnknownKey
                    && !again
                    && self.cache.borrow().should_fetch(at, Need::UnknownKid) =>
            {
                let step = self.start(at);
                set(&step, "again", &JsValue::TRUE);
                Ok(Out::Step(step))
            }
            Ok(Out::Step(step)) => {
                step.set_key_set(f64::from(id));
                Ok(Out::Step(step))
            }
            other => other,
        }
    }

    fn start(&self, at: u64) -> Step {
        self.cache.borrow_mut().started(at);
        self.fetching.set(true);
        marked(step::fetch(
            "jwks",
            &self.url,
            FETCH_TIMEOUT_SECS,
            MAX_JWKS_BYTES,
            "error",
        ))
    }

    /// The driver's response to the fetch: a usable set is imported (the returned step, whose
    /// outcome goes to [`Remote::imported`]) or, with nothing to import, installed; anything
    /// else keeps the current set.
    pub(crate) fn fetched(&self, response: &JsValue) -> Option<Step> {
        let fetched = self.usable(response);
        let Some((keys, cache_control)) = fetched else {
            self.fetching.set(false);
            return None;
        };
        let state = Rc::new(KeyState::new(Verifier::new(keys, self.policy.clone())));
        match state.probe() {
            Ok(Some(import)) => {
                *self.pending.borrow_mut() = Some((state, cache_control));
                Some(marked(import))
            }
            Ok(None) => {
                self.install(state, cache_control.as_deref());
                None
            }
            Err(_) => {
                self.fetching.set(false);
                None
            }
        }
    }

    fn usable(&self, response: &JsValue) -> Option<(KeySet, Option<String>)> {
        if !response.is_object() {
            return None;
        }
        // Readable only when the brand exposes it (Access-Control-Expose-Headers: Date).
        clock::record_response(Source::Jwks, response);
        let too_large = step::text(response, "contentLength")
            .and_then(|n| n.trim().parse::<u64>().ok())
            .is_some_and(|n| n > MAX_JWKS_BYTES as u64);
        if !step::flag(response, "ok") || too_large {
            return None;
        }
        let text = step::text(response, "body")?;
        if text.len() > MAX_JWKS_BYTES {
            return None;
        }
        let keys = KeySet::parse(&text).ok()?;
        Some((keys, step::text(response, "cacheControl")))
    }

    /// The driver's import of a fetched set: installed unless WebCrypto refused a key.
    pub(crate) fn imported(&self, slots: &JsValue, outcomes: &JsValue) {
        if let Some((state, cache_control)) = self.pending.borrow_mut().take() {
            if state.install(slots, outcomes, true).is_ok() {
                self.install(state, cache_control.as_deref());
            }
        }
        self.fetching.set(false);
    }

    fn install(&self, state: Rc<KeyState>, cache_control: Option<&str>) {
        self.cache
            .borrow_mut()
            .fetched(clock::monotonic_secs(), cache_control);
        let id = self.sets.get().wrapping_add(1);
        self.sets.set(id);
        *self.current.borrow_mut() = Some((id, state));
        self.fetching.set(false);
    }
}

const fn no_keys() -> Error {
    Error::new(
        ErrorCode::UnknownKey,
        "no key is available: the key set at jwksUrl could not be fetched or was not a usable \
         JWKS (it is asked again after a minute)",
    )
}
