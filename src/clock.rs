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

#[cfg(not(embedded_keys))]
use js_sys::{Function, Reflect};
use wasm_bindgen::prelude::*;

use campaign_token_core::clock::{offset_ms, parse_http_date};

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

/// Records the `Date` header of a response the JS driver fetched for a `fetch` step (its
/// `date`, `sent` and `received` members; see `step.rs`), as a sample from `source`.
pub(crate) fn record_response(source: Source, response: &JsValue) -> bool {
    let sent = crate::step::number(response, "sent").unwrap_or(f64::NAN);
    let received = crate::step::number(response, "received").unwrap_or(f64::NAN);
    record(
        source,
        crate::step::text(response, "date").as_deref(),
        sent,
        received,
    )
}

/// How long the page waits for `timeUrl` before verifying on the clock it has.
pub(crate) const TIME_URL_TIMEOUT_SECS: u64 = 5;
