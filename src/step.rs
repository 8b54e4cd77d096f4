//! The steps the wasm hands the JS driver (`js/driver.js`, `run(machine, step)`): plain
//! objects saying which I/O to perform, the outcome of which goes back to the machine's
//! `resume(step, outcome)`. The module holds no future: every export is synchronous, and
//! every decision (which key, which URL, which limits, what an outcome means) is made here.
//!
//! | `kind` | the driver does | and resumes with |
//! |---|---|---|
//! | `import` | `crypto.subtle.importKey(format, keyData, algorithm, false, ["verify"])` for each of `keys` | an array: the `CryptoKey`, or the rejection's `name` |
//! | `verify` | `crypto.subtle.verify(algorithm, key, signature, data)` | `true` only if it resolved to `true` |
//! | `fetch` | `fetch(url, {credentials, redirect, …})`, giving up after `timeoutMs`, the body read up to `maxBytes` (0: not read) | `{ok, date, cacheControl, contentLength, body, sent, received}`, `null` on a network failure |
//! | `wait` | waits for the key-set refresh under way (steps marked `refresh`) | nothing |
//! | `done` | returns `value` | |
//!
//! The machine's own bookkeeping rides along in the step (`token`, `slots`, `set`, …): the
//! driver reads only the members above.

use std::cell::OnceCell;

use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;

use campaign_token_core::Verified;

use crate::errors::set;

// The members read and written for every token, as properties named in the glue (no name
// string crosses into JS, no `Reflect` call): the hot path of `verify` and of a session.
#[wasm_bindgen]
extern "C" {
    /// A step object (see the module doc).
    #[wasm_bindgen(extends = Object)]
    pub(crate) type Step;
    #[wasm_bindgen(method, setter)]
    fn set_kind(this: &Step, kind: &JsValue);
    /// The kind as a number, for the machine (the driver reads `kind`).
    #[wasm_bindgen(method, getter)]
    pub(crate) fn op(this: &Step) -> Option<f64>;
    #[wasm_bindgen(method, setter)]
    fn set_op(this: &Step, op: f64);
    #[wasm_bindgen(method, setter)]
    fn set_keys(this: &Step, keys: &Array);
    #[wasm_bindgen(method, getter)]
    pub(crate) fn slots(this: &Step) -> JsValue;
    #[wasm_bindgen(method, setter)]
    fn set_slots(this: &Step, slots: &JsValue);
    #[wasm_bindgen(method, setter)]
    fn set_key(this: &Step, key: &JsValue);
    #[wasm_bindgen(method, setter)]
    fn set_algorithm(this: &Step, algorithm: &JsValue);
    #[wasm_bindgen(method, setter)]
    fn set_signature(this: &Step, signature: &Uint8Array);
    #[wasm_bindgen(method, setter)]
    fn set_data(this: &Step, data: &Uint8Array);
    /// The key set the step was made for.
    #[wasm_bindgen(method, getter = set)]
    pub(crate) fn key_set(this: &Step) -> Option<f64>;
    #[wasm_bindgen(method, setter = set)]
    pub(crate) fn set_key_set(this: &Step, id: f64);
    #[wasm_bindgen(method, getter)]
    pub(crate) fn token(this: &Step) -> JsValue;
    #[wasm_bindgen(method, setter)]
    pub(crate) fn set_token(this: &Step, token: &JsValue);
    #[wasm_bindgen(method, setter)]
    fn set_value(this: &Step, value: &JsValue);
    /// The number of the check a `verify` step's verdict is for.
    #[wasm_bindgen(method, getter)]
    pub(crate) fn check(this: &Step) -> Option<f64>;
    #[wasm_bindgen(method, setter)]
    pub(crate) fn set_check(this: &Step, check: f64);
    /// A session's token number.
    #[wasm_bindgen(method, getter)]
    pub(crate) fn arrival(this: &Step) -> Option<f64>;
    #[wasm_bindgen(method, setter)]
    pub(crate) fn set_arrival(this: &Step, arrival: f64);
}

/// The kinds, as numbers (`op`) and names (`kind`).
pub(crate) const IMPORT: f64 = 1.0;
pub(crate) const VERIFY: f64 = 2.0;
pub(crate) const FETCH: f64 = 3.0;
#[cfg(not(embedded_keys))]
pub(crate) const WAIT: f64 = 4.0;
const DONE: f64 = 5.0;
const KINDS: [&str; 5] = ["import", "verify", "fetch", "wait", "done"];

thread_local! {
    static KIND_NAMES: OnceCell<Vec<JsValue>> = const { OnceCell::new() };
}

/// What a machine does next for a token: done, or a step for the driver.
pub(crate) enum Out {
    Done(Verified),
    Step(Step),
}

fn with_kind(op: f64) -> Step {
    let step: Step = Object::new().unchecked_into();
    KIND_NAMES.with(|names| {
        let names = names.get_or_init(|| KINDS.iter().map(|k| JsValue::from_str(k)).collect());
        if let Some(name) = names.get(op as usize - 1) {
            step.set_kind(name);
        }
    });
    step.set_op(op);
    step
}

// The pure-Rust backend checks in the same call: it never asks for these two.
#[cfg_attr(feature = "pure-rust", allow(dead_code))]
pub(crate) fn import(keys: &Array, slots: &Array) -> Step {
    let step = with_kind(IMPORT);
    step.set_keys(keys);
    step.set_slots(slots);
    step
}

#[cfg_attr(feature = "pure-rust", allow(dead_code))]
pub(crate) fn verify(
    key: &JsValue,
    algorithm: &JsValue,
    signature: &[u8],
    data: &[u8],
    slot: &JsValue,
) -> Step {
    let step = with_kind(VERIFY);
    step.set_key(key);
    step.set_algorithm(algorithm);
    // Copies (a view into the module's memory could change under the driver's feet).
    step.set_signature(&Uint8Array::from(signature));
    step.set_data(&Uint8Array::from(data));
    step.set_slots(slot);
    step
}

/// A GET on the page's behalf of a URL on another party's server: CORS, no cookies or HTTP
/// authentication (`credentials: "omit"`), no Referer (the page's URL may still be on its way
/// out of the address bar), revalidated rather than taken from the HTTP cache (its `Date`
/// must be today's, and a rotated key set must be seen), redirects as `redirect` says, and
/// abandoned after `timeout_secs`. The body is read up to `max_bytes` (0: not at all); a
/// longer one is given up and reported as `null`.
pub(crate) fn fetch(
    what: &str,
    url: &str,
    timeout_secs: u64,
    max_bytes: usize,
    redirect: &str,
) -> Step {
    let o = with_kind(FETCH);
    let s = JsValue::from_str;
    set(&o, "what", &s(what));
    set(&o, "url", &s(url));
    set(
        &o,
        "timeoutMs",
        &JsValue::from_f64(timeout_secs as f64 * 1000.0),
    );
    set(&o, "maxBytes", &JsValue::from_f64(max_bytes as f64));
    let init = Object::new();
    set(&init, "method", &s("GET"));
    set(&init, "mode", &s("cors"));
    set(&init, "credentials", &s("omit"));
    set(&init, "referrerPolicy", &s("no-referrer"));
    set(&init, "cache", &s("no-cache"));
    set(&init, "redirect", &s(redirect));
    set(&o, "init", &init);
    o
}

/// Waits for the key-set fetch under way.
#[cfg(not(embedded_keys))]
pub(crate) fn wait() -> Step {
    with_kind(WAIT)
}

pub(crate) fn done(value: &JsValue) -> JsValue {
    let step = with_kind(DONE);
    step.set_value(value);
    step.into()
}

/// A member of a step or an outcome.
pub(crate) fn get(target: &JsValue, key: &str) -> JsValue {
    if !target.is_object() {
        return JsValue::UNDEFINED;
    }
    Reflect::get(target, &JsValue::from_str(key)).unwrap_or_default()
}

pub(crate) fn text(target: &JsValue, key: &str) -> Option<String> {
    get(target, key).as_string()
}

pub(crate) fn flag(target: &JsValue, key: &str) -> bool {
    get(target, key).as_bool() == Some(true)
}

pub(crate) fn number(target: &JsValue, key: &str) -> Option<f64> {
    get(target, key).as_f64()
}
