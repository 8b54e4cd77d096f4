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

#[wasm_bindgen]
extern "C" {
    /// `Reflect.set` without the exception trap `js_sys::Reflect::set` wraps every call in:
    /// it throws only for frozen or exotic targets, and [`set`] is only given the module's own
    /// fresh plain objects (this is the hot path of every token's result and step).
    #[wasm_bindgen(js_namespace = Reflect, js_name = set)]
    fn reflect_set(target: &JsValue, key: &str, value: &JsValue) -> bool;
}

/// Sets a property of one of the module's own plain objects (never frozen nor exotic).
pub(crate) fn set(target: &JsValue, key: &str, value: &JsValue) {
    reflect_set(target, key, value);
}
