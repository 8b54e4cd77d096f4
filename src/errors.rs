//! Core errors as JS `Error` objects with a stable `.code` (and `.claim`).
//!
//! The JS entry registers its `CampaignTokenError` class once the module is loaded, so that
//! errors thrown from here pass `instanceof CampaignTokenError`; without it (the browser tests,
//! a caller of the raw glue) they are plain `Error`s with the same `name`, `code` and `claim`.

use std::cell::RefCell;

use js_sys::{Array, Function, Object, Reflect};
use wasm_bindgen::prelude::*;

use campaign_token_core::Error;

thread_local! {
    static ERROR_CLASS: RefCell<Option<Function>> = const { RefCell::new(None) };
}

/// Registers the JS class errors are constructed from: `new Class(message, {code, claim})`.
#[wasm_bindgen(js_name = setErrorClass)]
pub fn set_error_class(class: Function) {
    ERROR_CLASS.with(|c| *c.borrow_mut() = Some(class));
}

/// The JS error for a core error.
pub(crate) fn to_js(e: &Error) -> JsValue {
    let message = JsValue::from_str(e.message());
    let details = Object::new();
    set(&details, "code", &JsValue::from_str(e.code().as_str()));
    if let Some(claim) = e.claim_name() {
        set(&details, "claim", &JsValue::from_str(claim));
    }
    let constructed = ERROR_CLASS.with(|c| {
        c.borrow()
            .as_ref()
            .and_then(|class| Reflect::construct(class, &Array::of2(&message, &details)).ok())
    });
    constructed.unwrap_or_else(|| {
        let plain = js_sys::Error::new(e.message());
        plain.set_name("CampaignTokenError");
        // Same members as the class would set.
        let _ = Object::assign(&plain, &details);
        plain.into()
    })
}

/// Sets a property; only fails on frozen or exotic objects, which ours are not.
pub(crate) fn set(target: &JsValue, key: &str, value: &JsValue) {
    let _ = Reflect::set(target, &JsValue::from_str(key), value);
}
