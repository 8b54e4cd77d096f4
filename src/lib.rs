//! campaign-token, the browser module: the core's verifier and template
//! ([`campaign_token_core`]) adapted to JS values, to WebCrypto and to the page's DOM. This
//! crate is the wasm module the npm package is built from; natively it is empty.
//!
//! Everything that decides something (option checks, verification, which origins may send a
//! token, what is written into the page) is here or in the core, in Rust; the JS entry
//! (`js/index.js`) only takes the token out of the URL (first, before the module loads), loads
//! the module, fans out change notifications to subscribers and posts participations to the
//! server, and its step driver (`js/driver.js`) performs the I/O this module asks for
//! (WebCrypto's `importKey`/`verify`, `fetch`, the `message` listener) and hands back the
//! outcomes, deciding nothing.
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
mod step;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod tests;

use std::rc::Rc;

use js_sys::{Array, Object};
use serde_json::{Map, Value};
use wasm_bindgen::prelude::*;

use campaign_token_core::{Error, ErrorCode, Verified};

use crate::crypto::KeyState;
use crate::step::{Out, Step};

/// A verifier for `verifyToken`: the key set is parsed and imported once, so a caller that
/// keeps it can verify many tokens cheaply. Cloning shares it.
#[wasm_bindgen(js_name = Verifier)]
#[derive(Clone)]
pub struct JsVerifier {
    inner: Rc<Checker>,
}

/// A verifier, its keys and its clock: what a session or `verifyToken` checks with.
pub(crate) struct Checker {
    keys: Keys,
    now: Option<u64>,
    time_url: Option<String>,
}

/// The keys a checker trusts: given once, or fetched from the brand's JWKS URL.
enum Keys {
    Given(KeyState),
    #[cfg(not(embedded_keys))]
    Url(jwks::Remote),
}

/// Where a step leaves a checker: its setup is over, or a token's check goes on.
pub(crate) enum Resumed {
    SetUp,
    Token(Out),
}

impl Checker {
    /// Reads `VerifyOptions` (`invalid_config`, `invalid_key` for a key the core refuses).
    /// Given keys are imported into WebCrypto by [`Checker::setup`]'s step; keys at a
    /// `jwksUrl` are fetched when the first token needs them.
    pub(crate) fn new(options: &JsValue) -> Result<Checker, Error> {
        let o = options::Verify::read(options)?;
        let keys = match o.keys {
            options::Keys::Given(set) => Keys::Given(KeyState::new(
                campaign_token_core::Verifier::new(set, o.policy),
            )),
            #[cfg(not(embedded_keys))]
            options::Keys::Url(url) => Keys::Url(jwks::Remote::new(url, o.policy)),
        };
        Ok(Checker {
            keys,
            now: o.now,
            time_url: o.time_url,
        })
    }

    /// The step that imports every given key once (`None`: nothing to import).
    fn setup(&self) -> Result<Option<Step>, Error> {
        match &self.keys {
            Keys::Given(state) => Ok(state.probe()?.inspect(|step| {
                errors::set(step, "probe", &JsValue::TRUE);
                step.set_key_set(0.0);
            })),
            #[cfg(not(embedded_keys))]
            Keys::Url(_) => Ok(None),
        }
    }

    /// The step that reads the `timeUrl`, if any, so that tokens are judged on the server's
    /// time.
    fn clock(&self) -> Option<Step> {
        let url = self.time_url.as_deref()?;
        Some(step::fetch(
            "time",
            url,
            clock::TIME_URL_TIMEOUT_SECS,
            0,
            "follow",
        ))
    }

    /// Some given key's algorithm is one this browser's WebCrypto lacks (known once the setup
    /// step is done; unknown, so `false`, for keys at a `jwksUrl`: such a key makes its
    /// tokens `unsupported_algorithm`; use `backend: "pure-rust"` for such a set).
    fn lacking(&self) -> bool {
        match &self.keys {
            Keys::Given(state) => state.lacking(),
            #[cfg(not(embedded_keys))]
            Keys::Url(_) => false,
        }
    }

    fn now(&self) -> u64 {
        self.now.unwrap_or_else(clock::now_secs)
    }

    /// Starts the check of a JS value as a token.
    pub(crate) fn begin(&self, token: &JsValue) -> Result<Out, Error> {
        self.begin_js(token, false)
    }

    /// The check of `token` from its start (`again`: it already had its refetch).
    fn begin_js(&self, token: &JsValue, again: bool) -> Result<Out, Error> {
        let text = match token.as_string() {
            Some(t) => t,
            None if token.is_undefined() || token.is_null() => String::new(),
            None => {
                return Err(Error::new(
                    ErrorCode::Malformed,
                    "the token must be a string",
                ))
            }
        };
        let now = || self.now();
        let out = match &self.keys {
            Keys::Given(state) => state.begin(&text, &now).inspect(|out| {
                if let Out::Step(step) = out {
                    step.set_key_set(0.0);
                }
            })?,
            #[cfg(not(embedded_keys))]
            Keys::Url(remote) => remote.begin(&text, again, &now)?,
        };
        if let Out::Step(step) = &out {
            step.set_token(token);
            if again {
                errors::set(step, "again", &JsValue::TRUE);
            }
        }
        Ok(out)
    }

    /// The key set a step was made for, if it is still in use.
    fn state(&self, id: Option<f64>) -> Option<&KeyState> {
        match &self.keys {
            Keys::Given(state) => (id == Some(0.0)).then_some(state),
            // A fetched set is replaced whole; the step is then begun again on the new one.
            #[cfg(not(embedded_keys))]
            Keys::Url(_) => None,
        }
    }

    /// Goes on after the driver performed `step`, with its `outcome`.
    pub(crate) fn resume(&self, step: &Step, outcome: &JsValue) -> Result<Resumed, Error> {
        let op = step.op();
        let set_id = step.key_set();
        #[cfg(not(embedded_keys))]
        let remote_state = match &self.keys {
            Keys::Url(remote) => remote.state(set_id),
            Keys::Given(_) => None,
        };
        #[cfg(not(embedded_keys))]
        let state = self.state(set_id).or(remote_state.as_deref());
        #[cfg(embedded_keys)]
        let state = self.state(set_id);
        let token = step.token();
        match op {
            Some(step::FETCH) if step::text(step, "what").is_some_and(|w| w == "time") => {
                clock::record_response(clock::Source::TimeUrl, outcome);
                return Ok(Resumed::SetUp);
            }
            #[cfg(not(embedded_keys))]
            Some(step::FETCH) => {
                if let Keys::Url(remote) = &self.keys {
                    if let Some(import) = remote.fetched(outcome) {
                        import.set_token(&token);
                        errors::set(&import, "again", &step::get(step, "again"));
                        return Ok(Resumed::Token(Out::Step(import)));
                    }
                }
            }
            #[cfg(not(embedded_keys))]
            Some(step::IMPORT) if step::flag(step, "refresh") => {
                if let Keys::Url(remote) = &self.keys {
                    remote.imported(&step.slots(), outcome);
                }
            }
            Some(step::IMPORT) => {
                let probe = step::flag(step, "probe");
                if let Some(state) = state {
                    state.install(&step.slots(), outcome, probe)?;
                }
                if probe {
                    return Ok(Resumed::SetUp);
                }
            }
            Some(step::VERIFY) => {
                let valid = outcome.as_bool() == Some(true);
                let finished = state
                    .and_then(|state| state.finish(step.check(), &step.slots(), valid, self.now()));
                if let Some(verdict) = finished {
                    return verdict.map(|v| Resumed::Token(Out::Done(v)));
                }
            }
            _ => {}
        }
        // The token's check goes on (begun again: it is cheap, and the key set may have
        // changed meanwhile).
        self.begin_js(&token, step::flag(step, "again"))
            .map(Resumed::Token)
    }
}

fn thrown<T>(result: Result<T, Error>) -> Result<T, JsValue> {
    result.map_err(|e| errors::to_js(&e))
}

/// A step for JS: the next I/O, or `{kind: "done", value}`.
fn step_for(out: Option<Step>) -> JsValue {
    out.map_or_else(|| step::done(&JsValue::UNDEFINED), JsValue::from)
}

#[wasm_bindgen(js_class = Verifier)]
impl JsVerifier {
    /// Builds a verifier from `VerifyOptions`; throws `invalid_config` / `invalid_key`. Its
    /// keys are imported by `setup()`'s step.
    pub fn create(options: JsValue) -> Result<JsVerifier, JsValue> {
        Ok(JsVerifier {
            inner: Rc::new(thrown(Checker::new(&options))?),
        })
    }

    /// The step that imports the given keys into WebCrypto (its outcome throws
    /// `invalid_key` for a key WebCrypto refuses).
    pub fn setup(&self) -> Result<JsValue, JsValue> {
        thrown(self.inner.setup()).map(step_for)
    }

    /// The step that reads the `timeUrl` (if any), for the honest clock.
    pub fn clock(&self) -> JsValue {
        step_for(self.inner.clock())
    }

    /// Whether this module's backend cannot verify for these keys and the pure-Rust fallback
    /// module must: some key's algorithm is one this browser's WebCrypto lacks (known after
    /// `setup()`'s step). The JS entry asks before it verifies or starts a session.
    #[wasm_bindgen(getter)]
    pub fn lacking(&self) -> bool {
        self.inner.lacking()
    }

    /// Starts verifying `token` now (or at the `now` option): a step, `{kind: "done", value}`
    /// with the `VerifiedToken` object, or a thrown `CampaignTokenError`.
    pub fn begin(&self, token: JsValue) -> Result<JsValue, JsValue> {
        thrown(self.inner.begin(&token)).map(verdict)
    }

    /// Goes on after the driver performed `step`: the next step, `done`, or a thrown
    /// `CampaignTokenError`.
    pub fn resume(&self, step: JsValue, outcome: JsValue) -> Result<JsValue, JsValue> {
        thrown(self.inner.resume(step.unchecked_ref(), &outcome)).map(|r| match r {
            Resumed::SetUp => step_for(None),
            Resumed::Token(out) => verdict(out),
        })
    }
}

fn verdict(out: Out) -> JsValue {
    match out {
        Out::Done(v) => step::done(&to_js_value(&v)),
        Out::Step(step) => step.into(),
    }
}

impl JsVerifier {
    pub(crate) fn checker(&self) -> Rc<Checker> {
        Rc::clone(&self.inner)
    }
}

/// The signature backend of this module: `"webcrypto"`, or `"pure-rust"` in the fallback.
#[wasm_bindgen(js_name = backend)]
pub fn backend() -> String {
    crypto::BACKEND.to_owned()
}

// The `VerifiedToken`'s members, as properties named in the glue: one monomorphic store each,
// where `Reflect.set` with a name string is a generic one (measured: the largest cost of a
// verification in the module, after the base64 of the token).
#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(extends = Object)]
    type Members;
    #[wasm_bindgen(method, setter = sub)]
    fn set_sub(this: &Members, value: &JsValue);
    #[wasm_bindgen(method, setter = campaignId)]
    fn set_campaign_id(this: &Members, value: &JsValue);
    #[wasm_bindgen(method, setter = exp)]
    fn set_exp(this: &Members, value: &JsValue);
    #[wasm_bindgen(method, setter = iat)]
    fn set_iat(this: &Members, value: &JsValue);
    #[wasm_bindgen(method, setter = nbf)]
    fn set_nbf(this: &Members, value: &JsValue);
    #[wasm_bindgen(method, setter = iss)]
    fn set_iss(this: &Members, value: &JsValue);
    #[wasm_bindgen(method, setter = gift)]
    fn set_gift(this: &Members, value: &JsValue);
    #[wasm_bindgen(method, setter = eligibility)]
    fn set_eligibility(this: &Members, value: &JsValue);
    #[wasm_bindgen(method, setter = prizeLabel)]
    fn set_prize_label(this: &Members, value: &JsValue);
    #[wasm_bindgen(method, setter = access)]
    fn set_access(this: &Members, value: &JsValue);
    #[wasm_bindgen(method, setter = limit)]
    fn set_limit(this: &Members, value: &JsValue);
    #[wasm_bindgen(method, setter = form)]
    fn set_form(this: &Members, value: &JsValue);
    #[wasm_bindgen(method, setter = optin)]
    fn set_optin(this: &Members, value: &JsValue);
    #[wasm_bindgen(method, setter = custom)]
    fn set_custom(this: &Members, value: &JsValue);
    #[wasm_bindgen(method, setter = alg)]
    fn set_alg(this: &Members, value: &JsValue);
    #[wasm_bindgen(method, setter = kid)]
    fn set_kid(this: &Members, value: &JsValue);
    #[wasm_bindgen(method, setter = nb)]
    fn set_nb(this: &Members, value: &JsValue);
    #[wasm_bindgen(method, setter = canPlay)]
    fn set_can_play(this: &Members, value: &JsValue);
}

/// The `VerifiedToken` object: camelCase, maps as plain objects, `null` for absent values.
///
/// Built member by member (no serde serializer: that costs kilobytes of wasm).
fn to_js_value(v: &Verified) -> JsValue {
    // The core refuses a number JavaScript cannot hold exactly anywhere in `gift`, `form` or
    // `custom` (`invalid_claim` naming its path, core/src/claims.rs), so every value crosses
    // exactly and the page and the server read the same token.
    let map = |m: &Option<Map<String, Value>>| m.as_ref().map_or(JsValue::NULL, object_to_js);
    // Exact: the core refuses a date beyond 2^53 - 1 (`invalid_claim`, core/src/claims.rs), the
    // largest integer a JS number holds.
    let date = |n: Option<u64>| n.map_or(JsValue::NULL, |n| JsValue::from_f64(n as f64));
    let text = |s: Option<&str>| s.map_or(JsValue::NULL, JsValue::from_str);
    let o: Members = Object::new().unchecked_into();
    o.set_sub(&JsValue::from_str(&v.sub));
    o.set_campaign_id(&JsValue::from_str(&v.campaign_id));
    o.set_exp(&date(Some(v.exp)));
    o.set_iat(&date(v.iat));
    o.set_nbf(&date(v.nbf));
    o.set_iss(&text(v.iss.as_deref()));
    o.set_gift(&map(&v.gift));
    o.set_eligibility(&JsValue::from_str(v.eligibility.as_str()));
    o.set_prize_label(&text(v.prize_label.as_deref()));
    o.set_access(&JsValue::from_str(access::of(v)));
    let limit = match v.limit {
        Some(l) => {
            let limit: Members = Object::new().unchecked_into();
            let count =
                |n: Option<u32>| n.map_or(JsValue::NULL, |n| JsValue::from_f64(f64::from(n)));
            limit.set_nb(&count(l.nb));
            limit.set_can_play(&l.can_play.map_or(JsValue::NULL, JsValue::from_bool));
            limit.into()
        }
        None => JsValue::NULL,
    };
    o.set_limit(&limit);
    // The core bounds these to JS-exact numbers (core/src/claims.rs).
    o.set_form(&map(&v.form));
    o.set_optin(&map(&v.optin));
    o.set_custom(&map(&v.custom));
    o.set_alg(&JsValue::from_str(v.alg.name()));
    o.set_kid(&text(v.kid.as_deref()));
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
