//! The page's honest clock: the visitor's `Date.now()` corrected by the offset estimated from
//! an HTTP `Date` header the page received (the estimate itself is the core's,
//! [`campaign_token_core::clock`]). Verification reads the time here, so `exp`, `nbf` and `iat`
//! are judged on the campaign server's time, not on a visitor's clock that may be hours off;
//! without any estimate it is the visitor's clock, as before. The server's verdict remains the
//! authority.
//!
//! One estimate per module instance (every session and verifier of the page shares it: they all
//! want the same true time), from the best source seen so far: an explicit `timeUrl` over the
//! module's own download (the page's server, or its CDN) over a JWKS response (the brand's
//! server, readable only when it exposes `Date` to CORS). A later sample of the same source
//! replaces the earlier one.

use std::cell::Cell;

use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use campaign_token_core::clock::{offset_ms, parse_http_date};

use crate::errors::set;

/// Where a `Date` header came from, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Source {
    /// A JWKS response (the brand's server).
    #[cfg(not(embedded_keys))]
    Jwks,
    /// The wasm module's own download (js/index.js).
    Module,
    /// The page's `timeUrl` option.
    TimeUrl,
}

thread_local! {
    static ESTIMATE: Cell<Option<(Source, i64)>> = const { Cell::new(None) };
}

/// Records a `Date` header received in a response whose request was sent at `sent_ms` and
/// answered at `received_ms` (visitor's clock). Answers whether it became the estimate: not if
/// the header is missing or not an IMF-fixdate, the round trip implausible, or a better source
/// already gave one.
pub(crate) fn record(source: Source, date: Option<&str>, sent_ms: f64, received_ms: f64) -> bool {
    let Some(offset) = date
        .and_then(parse_http_date)
        .and_then(|server| offset_ms(server, sent_ms, received_ms))
    else {
        return false;
    };
    ESTIMATE.with(|e| match e.get() {
        Some((best, _)) if best > source => false,
        _ => {
            e.set(Some((source, offset)));
            true
        }
    })
}

/// For the JS entry, which fetches the module itself to read its `Date` header: records that
/// sample (see [`record`]). Answers whether it was used.
#[wasm_bindgen(js_name = recordModuleDate)]
pub fn record_module_date(date: Option<String>, sent_ms: f64, received_ms: f64) -> bool {
    record(Source::Module, date.as_deref(), sent_ms, received_ms)
}

/// The current offset (server minus visitor, milliseconds), if any estimate exists.
pub(crate) fn offset() -> Option<i64> {
    ESTIMATE.with(Cell::get).map(|(_, offset)| offset)
}

/// The visitor's clock, corrected by the estimate when there is one (milliseconds).
pub(crate) fn now_ms() -> f64 {
    js_sys::Date::now() + offset().map_or(0.0, |o| o as f64)
}

/// Seconds since the epoch on the corrected clock (what `exp`/`nbf`/`iat` are checked at).
pub(crate) fn now_secs() -> u64 {
    let ms = now_ms();
    if ms.is_finite() && ms > 0.0 {
        (ms / 1000.0) as u64
    } else {
        0
    }
}

/// Seconds on a monotonic clock (`performance.now()`): for the JWKS cache's rests, which a
/// visitor changing the wall clock must not shorten. The wall clock where `performance` is
/// missing.
#[cfg(not(embedded_keys))]
pub(crate) fn monotonic_secs() -> u64 {
    let performance =
        Reflect::get(&js_sys::global(), &JsValue::from_str("performance")).unwrap_or_default();
    let ms = Reflect::get(&performance, &JsValue::from_str("now"))
        .ok()
        .and_then(|now| now.dyn_into::<Function>().ok())
        .and_then(|now| now.call0(&performance).ok())
        .and_then(|v| v.as_f64())
        .unwrap_or_else(js_sys::Date::now);
    if ms.is_finite() && ms > 0.0 {
        (ms / 1000.0) as u64
    } else {
        0
    }
}

#[wasm_bindgen]
extern "C" {
    /// The global `fetch` (browsers, workers, Node ≥ 18).
    #[wasm_bindgen(catch, js_name = fetch)]
    fn global_fetch(url: &str, init: &Object) -> Result<Promise, JsValue>;
}

/// A GET of a URL on another party's server, on the page's behalf: CORS, no cookies or HTTP
/// authentication (`credentials: "omit"`), no Referer (the page's URL may still be on its way
/// out of the address bar), revalidated rather than taken from the HTTP cache (its `Date` must
/// be today's, and a rotated key set must be seen), and abandoned after `timeout_secs`.
/// Resolves to the response (any status) and the visitor's clock when the request was sent and
/// when its headers arrived.
pub(crate) async fn fetch(url: &str, timeout_secs: u64) -> Result<(JsValue, f64, f64), JsValue> {
    let init = Object::new();
    set(&init, "method", &JsValue::from_str("GET"));
    set(&init, "mode", &JsValue::from_str("cors"));
    set(&init, "credentials", &JsValue::from_str("omit"));
    set(&init, "referrerPolicy", &JsValue::from_str("no-referrer"));
    set(&init, "cache", &JsValue::from_str("no-cache"));
    if let Some(signal) = timeout_signal(timeout_secs) {
        set(&init, "signal", &signal);
    }
    let sent = js_sys::Date::now();
    let response = JsFuture::from(global_fetch(url, &init)?).await?;
    let received = js_sys::Date::now();
    Ok((response, sent, received))
}

/// `AbortSignal.timeout(ms)`, where the platform has it.
fn timeout_signal(secs: u64) -> Option<JsValue> {
    let class = Reflect::get(&js_sys::global(), &JsValue::from_str("AbortSignal")).ok()?;
    let timeout = Reflect::get(&class, &JsValue::from_str("timeout"))
        .ok()?
        .dyn_into::<Function>()
        .ok()?;
    timeout
        .call1(&class, &JsValue::from_f64(secs as f64 * 1000.0))
        .ok()
}

/// A response header (`None` when absent, or hidden from a cross-origin page by CORS).
pub(crate) fn header(response: &JsValue, name: &str) -> Option<String> {
    let headers = Reflect::get(response, &JsValue::from_str("headers")).ok()?;
    let get = Reflect::get(&headers, &JsValue::from_str("get"))
        .ok()?
        .dyn_into::<Function>()
        .ok()?;
    get.call1(&headers, &JsValue::from_str(name))
        .ok()?
        .as_string()
}

/// Fetches `timeUrl` and records its `Date` header as the best estimate. A failure leaves the
/// estimate as it was (the module's or none: the visitor's clock).
pub(crate) async fn sample_time_url(url: &str) {
    if let Ok((response, sent, received)) = fetch(url, TIME_URL_TIMEOUT_SECS).await {
        record(
            Source::TimeUrl,
            header(&response, "date").as_deref(),
            sent,
            received,
        );
    }
}

/// How long the page waits for `timeUrl` before verifying on the clock it has.
const TIME_URL_TIMEOUT_SECS: u64 = 5;
