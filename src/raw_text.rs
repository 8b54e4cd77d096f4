//! The page elements a token's values are never written into: elements whose text is code or
//! raw text (script, style, …). A label written into an empty `<script>` runs (an empty
//! script is not yet "started", so giving it text runs it); into a `<style>`, it restyles the
//! page; into a `<template>`, `<noscript>` or `<textarea>`, it becomes markup or data the
//! page never meant to expose. The one list of them, read by the text variables (`dom.rs`)
//! and the form fields (`fields.rs`); documented in docs/browser.md ("Elements never filled").
//!
//! Matched by namespace and local name, not by CSS selector: an SVG `<title>` (a tooltip) is
//! fine, an SVG `<script>` is not.

use js_sys::{Array, Function, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Element, Node};

const HTML: &str = "http://www.w3.org/1999/xhtml";
const SVG: &str = "http://www.w3.org/2000/svg";

/// HTML elements whose content is script, style, raw text or escapable raw text, or is not
/// rendered as the page's text at all (`iframe`, `noembed`, `noframes`, `noscript`,
/// `template`).
const HTML_NEVER_FILLED: [&str; 11] = [
    "script",
    "style",
    "xmp",
    "iframe",
    "noembed",
    "noframes",
    "noscript",
    "plaintext",
    "template",
    "title",
    "textarea",
];
/// SVG elements whose content is code.
const SVG_NEVER_FILLED: [&str; 2] = ["script", "style"];

/// What a marked element is for: a text variable (`data-token-var`, `{{…}}`) or a form field
/// (`data-token-field`, which writes the `value` property: a `<textarea>`'s is its own).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Use {
    Text,
    Field,
}

/// Whether `el` itself is an element a value is never written into, for `use_`.
pub(crate) fn is_never_filled(el: &Element, use_: Use) -> bool {
    let name = el.local_name();
    match el.namespace_uri().as_deref() {
        Some(HTML) => {
            HTML_NEVER_FILLED.contains(&name.as_str())
                && !(use_ == Use::Field && name == "textarea")
        }
        Some(SVG) => SVG_NEVER_FILLED.contains(&name.as_str()),
        _ => false,
    }
}

/// The element `node` is, or is inside, that is never filled with text, if any.
pub(crate) fn never_filled_around(node: &Node) -> Option<Element> {
    let mut current = match node.dyn_ref::<Element>() {
        Some(el) => Some(el.clone()),
        None => node.parent_element(),
    };
    while let Some(el) = current {
        if is_never_filled(&el, Use::Text) {
            return Some(el);
        }
        current = el.parent_element();
    }
    None
}

/// One console warning for the marked elements left alone (nothing if there are none), with
/// the elements themselves as arguments so that the browser's console links to them.
pub(crate) fn warn_left_alone(what: &str, elements: &[Element]) {
    if elements.is_empty() {
        return;
    }
    let args = Array::new();
    args.push(&JsValue::from_str(&format!(
        "campaign-token: {} {what} left alone: a token's value is never written into a script, \
         style or other raw-text element (see docs/browser.md, \"Elements never filled\")",
        elements.len()
    )));
    for el in elements {
        args.push(el);
    }
    let console = Reflect::get(&js_sys::global(), &JsValue::from_str("console")).ok();
    let warn = console
        .as_ref()
        .and_then(|c| Reflect::get(c, &JsValue::from_str("warn")).ok())
        .and_then(|w| w.dyn_into::<Function>().ok());
    if let (Some(console), Some(warn)) = (console, warn) {
        let _ = warn.apply(&console, &args);
    }
}
