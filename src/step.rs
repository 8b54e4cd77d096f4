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

use js_sys::{Array, Object, Reflect};
use wasm_bindgen::JsValue;

use campaign_token_core::Verified;

use crate::errors::set;

/// What a machine does next for a token: done, or a step for the driver.
pub(crate) enum Out {
    Done(Verified),
    Step(Object),
}

fn with_kind(kind: &str) -> Object {
    let o = Object::new();
    set(&o, "kind", &JsValue::from_str(kind));
    o
}

// The pure-Rust backend checks in the same call: it never asks for these two.
#[cfg_attr(feature = "pure-rust", allow(dead_code))]
pub(crate) fn import(keys: &Array, slots: &Array) -> Object {
    let o = with_kind("import");
    set(&o, "keys", keys);
    set(&o, "slots", slots);
    o
}

#[cfg_attr(feature = "pure-rust", allow(dead_code))]
pub(crate) fn verify(
    key: &JsValue,
    algorithm: &Object,
    signature: &JsValue,
    data: &JsValue,
    slot: &JsValue,
) -> Object {
    let o = with_kind("verify");
    set(&o, "key", key);
    set(&o, "algorithm", algorithm);
    set(&o, "signature", signature);
    set(&o, "data", data);
    set(&o, "slots", slot);
    o
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
) -> Object {
    let o = with_kind("fetch");
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
pub(crate) fn wait() -> Object {
    with_kind("wait")
}

pub(crate) fn done(value: &JsValue) -> JsValue {
    let o = with_kind("done");
    set(&o, "value", value);
    o.into()
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
