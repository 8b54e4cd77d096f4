//! Form prefill: `<input>`, `<select>` and `<textarea>` elements marked
//! `data-token-field="form.email"` get the token's `form.email` as their `value`; checkboxes
//! (and radios) marked `data-token-field="optin.newsletter"` get the token's boolean as
//! `checked`. Only those two properties are ever written, as data (never HTML, never another
//! attribute). A field the visitor has typed in or changed (an `input` or `change` event from
//! it) is theirs: a later token re-fills only the fields the visitor has not touched.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::Reflect;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Element, Event, Node};

use campaign_token_core::{template, Verified};

use crate::raw_text::{self, Use};

/// The marker attribute.
const FIELD_ATTRIBUTE: &str = "data-token-field";
/// The events that mean the visitor changed a field (both bubble to the root).
const VISITOR_EVENTS: [&str; 2] = ["input", "change"];

/// The marked fields of one page.
pub(crate) struct Fields {
    root: Element,
    /// Each field and the claim path it names (`form.x` or `optin.x`).
    fields: Vec<(Element, String)>,
    /// The fields the visitor touched.
    touched: Rc<RefCell<Vec<Node>>>,
    listener: Closure<dyn FnMut(Event)>,
}

impl Fields {
    /// Finds the marked fields under `root` and starts noting which ones the visitor changes;
    /// adds to `left_alone` the marked elements that are never filled (`raw_text.rs`: a
    /// `<script data-token-field>`, say; a `<textarea>` is a field like any other).
    pub(crate) fn scan(root: &Element, left_alone: &mut Vec<Element>) -> Fields {
        let mut fields = Vec::new();
        if let Ok(list) = root.query_selector_all("[data-token-field]") {
            for i in 0..list.length() {
                let Some(el) = list.item(i).and_then(|n| n.dyn_into::<Element>().ok()) else {
                    continue;
                };
                if raw_text::is_never_filled(&el, Use::Field) {
                    left_alone.push(el);
                    continue;
                }
                let tag = el.tag_name().to_ascii_lowercase();
                if !matches!(tag.as_str(), "input" | "select" | "textarea") {
                    continue;
                }
                let Some(name) = el.get_attribute(FIELD_ATTRIBUTE) else {
                    continue;
                };
                let name = name.trim().to_owned();
                let known = match name.split_once('.') {
                    Some(("form" | "optin", member)) => !member.is_empty() && !member.contains('.'),
                    _ => false,
                };
                if known {
                    fields.push((el, name));
                }
            }
        }
        let touched: Rc<RefCell<Vec<Node>>> = Rc::default();
        let sink = Rc::clone(&touched);
        let listener = Closure::<dyn FnMut(Event)>::new(move |event: Event| {
            if let Some(node) = event.target().and_then(|t| t.dyn_into::<Node>().ok()) {
                let mut touched = sink.borrow_mut();
                if !touched.iter().any(|n| n.is_same_node(Some(&node))) {
                    touched.push(node);
                }
            }
        });
        for event in VISITOR_EVENTS {
            let _ = root.add_event_listener_with_callback(event, listener.as_ref().unchecked_ref());
        }
        Fields {
            root: root.clone(),
            fields,
            touched,
            listener,
        }
    }

    /// Fills the untouched fields the verified token gives a value for; leaves the others.
    pub(crate) fn fill(&self, verified: &Verified) {
        let touched = self.touched.borrow();
        for (el, name) in &self.fields {
            if touched.iter().any(|n| n.is_same_node(Some(el))) {
                continue;
            }
            let kind = el
                .get_attribute("type")
                .unwrap_or_default()
                .to_ascii_lowercase();
            let checkable = el.tag_name().eq_ignore_ascii_case("input")
                && matches!(kind.as_str(), "checkbox" | "radio");
            if checkable {
                let member = name.strip_prefix("optin.");
                let value = member.and_then(|m| verified.optin.as_ref()?.get(m)?.as_bool());
                if let Some(checked) = value {
                    let _ = Reflect::set(el, &"checked".into(), &JsValue::from_bool(checked));
                }
            } else if name.starts_with("form.") {
                if let Some(value) = template::value_of(verified, name) {
                    let _ = Reflect::set(el, &"value".into(), &JsValue::from_str(&value));
                }
            }
        }
    }

    /// Stops listening (the session is destroyed).
    pub(crate) fn detach(&self) {
        for event in VISITOR_EVENTS {
            let _ = self
                .root
                .remove_event_listener_with_callback(event, self.listener.as_ref().unchecked_ref());
        }
    }
}
