//! campaign-token, the browser module: the core's verifier and template
//! ([`campaign_token_core`]) adapted to JS values, to WebCrypto and to the page's DOM. This
//! crate is the wasm module the npm package is built from; natively it is empty.
//!
//! Everything that decides something (option checks, verification, which origins may send a
//! token, what is written into the page) is here or in the core, in Rust; the JS entry
//! (`js/index.js`) only takes the token out of the URL (first, before the module loads), loads
//! the module, fans out change notifications to subscribers, wraps calls in promises and posts
//! participations to the server.
//!
//! Exports, as seen from the wasm-bindgen glue:
//! - `setErrorClass(CampaignTokenError)`: the JS class errors are built from;
//! - `Verifier.create(options)` / `verifier.verify(token)`: for `verifyToken`;
//! - `Session.create(options, onChange, urlToken)`: for `init` (the token the JS entry took
//!   out of the URL, postMessage, page rendering).
//!
//! All three return promises: signatures are checked by WebCrypto (`crypto.rs`), through the
//! core's seam ([`campaign_token_core::Verifier::begin`] and
//! [`campaign_token_core::PendingCheck::finish`]).

#![cfg(target_arch = "wasm32")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod access;
mod clock;
// The signature backend: WebCrypto by default; pure Rust (jwt-simple, the core's native backend)
// in the fallback module built with `--features pure-rust` (scripts/build-wasm.sh).
#[cfg_attr(feature = "pure-rust", path = "crypto_pure.rs")]
mod crypto;
mod dom;
mod errors;
mod fields;
// Keys from a `jwksUrl`; not in a module with an embedded key, which refuses `jwksUrl`.
#[cfg(not(embedded_keys))]
mod jwks;
mod options;
mod raw_text;
mod session;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod tests;

use std::rc::Rc;

use js_sys::{Array, Object, Promise};
use serde_json::{Map, Value};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use campaign_token_core::{Error, ErrorCode, Verified};

/// A verifier for `verifyToken`: the key set is parsed and imported once, so a caller that
/// keeps it can verify many tokens cheaply.
#[wasm_bindgen(js_name = Verifier)]
pub struct JsVerifier {
    inner: Rc<Checker>,
}

/// A verifier, its keys and its clock: what a session or `verifyToken` checks with.
pub(crate) struct Checker {
    keys: Keys,
    now: Option<u64>,
    /// Some key's algorithm is one this browser's WebCrypto lacks.
    lacking: bool,
}

/// The keys a checker trusts: given once, or fetched from the brand's JWKS URL.
enum Keys {
    Given(KeyState),
    #[cfg(not(embedded_keys))]
    Url(Rc<jwks::Remote>),
}

/// A key set with its verifier and its keys imported into the backend.
pub(crate) struct KeyState {
    verifier: campaign_token_core::Verifier,
    keys: crypto::KeyCache,
    /// Some key's algorithm is one this browser's WebCrypto lacks.
    lacking: bool,
}

impl KeyState {
    /// Imports every key (`invalid_key` for one the backend refuses).
    pub(crate) async fn new(verifier: campaign_token_core::Verifier) -> Result<KeyState, Error> {
        let keys = crypto::KeyCache::default();
        let lacking = keys.import_all(&verifier).await?;
        Ok(KeyState {
            verifier,
            keys,
            lacking,
        })
    }

    pub(crate) async fn verify(&self, token: &str, now: u64) -> Result<Verified, Error> {
        crypto::verify(&self.verifier, &self.keys, token, now).await
    }
}

impl Checker {
    /// Reads `VerifyOptions` and imports every given key into WebCrypto (`invalid_config`,
    /// `invalid_key`). Keys at a `jwksUrl` are fetched when the first token needs them. With
    /// `network`, the `timeUrl` (if any) is read first, so that the first token is judged on
    /// the server's time; `needsFallback` only probes the keys and fetches nothing.
    pub(crate) async fn new(options: &JsValue, network: bool) -> Result<Checker, Error> {
        let o = options::Verify::read(options)?;
        let keys = match o.keys {
            options::Keys::Given(set) => {
                Keys::Given(KeyState::new(campaign_token_core::Verifier::new(set, o.policy)).await?)
            }
            #[cfg(not(embedded_keys))]
            options::Keys::Url(url) => Keys::Url(jwks::Remote::new(url, o.policy)),
        };
        if network {
            if let Some(url) = &o.time_url {
                clock::sample_time_url(url).await;
            }
        }
        let lacking = match &keys {
            Keys::Given(state) => state.lacking,
            // Unknown until fetched; a key this browser lacks makes its tokens
            // `unsupported_algorithm` (use `backend: "pure-rust"` for such a set).
            #[cfg(not(embedded_keys))]
            Keys::Url(_) => false,
        };
        Ok(Checker {
            keys,
            now: o.now,
            lacking,
        })
    }

    /// Verifies a JS value as a token; returns the Rust result and the `VerifiedToken` object.
    pub(crate) async fn verify(&self, token: &JsValue) -> Result<(Verified, JsValue), Error> {
        let token = match token.as_string() {
            Some(t) => t,
            None if token.is_undefined() || token.is_null() => String::new(),
            None => {
                return Err(Error::new(
                    ErrorCode::Malformed,
                    "the token must be a string",
                ))
            }
        };
        let now = self.now.unwrap_or_else(clock::now_secs);
        let verified = match &self.keys {
            Keys::Given(state) => state.verify(&token, now).await?,
            #[cfg(not(embedded_keys))]
            Keys::Url(remote) => remote.verify(&token, now).await?,
        };
        let js = to_js_value(&verified);
        Ok((verified, js))
    }
}

#[wasm_bindgen(js_class = Verifier)]
impl JsVerifier {
    /// Builds a verifier from `VerifyOptions`; rejects `invalid_config` / `invalid_key`.
    pub async fn create(options: JsValue) -> Result<JsVerifier, JsValue> {
        let checker = Checker::new(&options, true)
            .await
            .map_err(|e| errors::to_js(&e))?;
        Ok(JsVerifier {
            inner: Rc::new(checker),
        })
    }

    /// Verifies `token` now (or at the `now` option); resolves to the `VerifiedToken` object
    /// or rejects with a `CampaignTokenError`.
    pub fn verify(&self, token: JsValue) -> Promise {
        let checker = Rc::clone(&self.inner);
        future_to_promise(async move {
            checker
                .verify(&token)
                .await
                .map(|(_, js)| js)
                .map_err(|e| errors::to_js(&e))
        })
    }
}

/// Whether this module's backend cannot verify for `options` and the pure-Rust fallback module
/// must: some configured key's algorithm is one this browser's WebCrypto lacks. Options or keys
/// that are refused answer `false`: the module reports them itself. The JS entry asks before
/// it creates a verifier or a session (js/index.js).
#[wasm_bindgen(js_name = needsFallback)]
pub async fn needs_fallback(options: JsValue) -> bool {
    Checker::new(&options, false).await.is_ok_and(|c| c.lacking)
}

/// The signature backend of this module: `"webcrypto"`, or `"pure-rust"` in the fallback.
#[wasm_bindgen(js_name = backend)]
pub fn backend() -> String {
    crypto::BACKEND.to_owned()
}

/// The `VerifiedToken` object: camelCase, maps as plain objects, `null` for absent values.
///
/// Built member by member with `Reflect` (no serde serializer: that costs kilobytes of wasm).
fn to_js_value(v: &Verified) -> JsValue {
    // The core refuses a number JavaScript cannot hold exactly anywhere in `gift`, `form` or
    // `custom` (`invalid_claim` naming its path, core/src/claims.rs), so every value crosses
    // exactly and the page and the server read the same token.
    let gift = v.gift.as_ref().map_or(JsValue::NULL, object_to_js);
    // Exact: the core refuses a date beyond 2^53 - 1 (`invalid_claim`, core/src/claims.rs), the
    // largest integer a JS number holds.
    let date = |n: Option<u64>| n.map_or(JsValue::NULL, |n| JsValue::from_f64(n as f64));
    let text = |s: Option<&str>| s.map_or(JsValue::NULL, JsValue::from_str);
    let o = Object::new();
    errors::set(&o, "sub", &JsValue::from_str(&v.sub));
    errors::set(&o, "campaignId", &JsValue::from_str(&v.campaign_id));
    errors::set(&o, "exp", &date(Some(v.exp)));
    errors::set(&o, "iat", &date(v.iat));
    errors::set(&o, "nbf", &date(v.nbf));
    errors::set(&o, "iss", &text(v.iss.as_deref()));
    errors::set(&o, "gift", &gift);
    errors::set(
        &o,
        "eligibility",
        &JsValue::from_str(v.eligibility.as_str()),
    );
    errors::set(&o, "prizeLabel", &text(v.prize_label.as_deref()));
    errors::set(&o, "access", &JsValue::from_str(access::of(v)));
    let limit = Object::new();
    let count = |n: Option<u32>| n.map_or(JsValue::NULL, |n| JsValue::from_f64(f64::from(n)));
    errors::set(&limit, "nb", &count(v.limit.and_then(|l| l.nb)));
    let can_play = v.limit.and_then(|l| l.can_play);
    errors::set(
        &limit,
        "canPlay",
        &can_play.map_or(JsValue::NULL, JsValue::from_bool),
    );
    errors::set(
        &o,
        "limit",
        &if v.limit.is_some() {
            limit.into()
        } else {
            JsValue::NULL
        },
    );
    // The core bounds these to JS-exact numbers (core/src/claims.rs).
    for (name, map) in [
        ("form", &v.form),
        ("optin", &v.optin),
        ("custom", &v.custom),
    ] {
        let value = map.as_ref().map_or(JsValue::NULL, object_to_js);
        errors::set(&o, name, &value);
    }
    errors::set(&o, "alg", &JsValue::from_str(v.alg.name()));
    errors::set(&o, "kid", &text(v.kid.as_deref()));
    o.into()
}

/// A JSON object as the plain JS object `JSON.parse` would give: every member an own data
/// property, `__proto__` included. Built with `Object.fromEntries` (which defines properties)
/// rather than by assignment, which for `__proto__` would set the object's prototype instead
/// (serde-wasm-bindgen assigns, hence this small converter).
fn object_to_js(map: &Map<String, Value>) -> JsValue {
    let entries: Array = map
        .iter()
        .map(|(name, value)| Array::of2(&JsValue::from_str(name), &json_to_js(value)))
        .collect();
    // fromEntries throws only for an iterable of non-objects, and these are arrays.
    Object::from_entries(&entries).map_or(JsValue::NULL, JsValue::from)
}

/// A JSON value as a JS value, `JSON.parse` semantics (numbers are exact: see `to_js_value`).
fn json_to_js(value: &Value) -> JsValue {
    match value {
        Value::Null => JsValue::NULL,
        Value::Bool(b) => JsValue::from_bool(*b),
        Value::Number(n) => n.as_f64().map_or(JsValue::NULL, JsValue::from_f64),
        Value::String(s) => JsValue::from_str(s),
        Value::Array(items) => items.iter().map(json_to_js).collect::<Array>().into(),
        Value::Object(map) => object_to_js(map),
    }
}
