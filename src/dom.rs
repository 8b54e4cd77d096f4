//! The page's prize variables: found once under the root, rendered as text, restorable.
//!
//! Two forms: `{{gift.label}}` / `{{gift.label|fallback}}` inside text nodes, and elements
//! marked `data-token-var="gift.label"` whose original content is the fallback. The original
//! text (or child nodes) of each is kept, so that a later token renders from the original and
//! an invalid one puts the fallbacks back. Values are written as `Text` data or `textContent`,
//! never parsed as HTML, and never into a script, style or other raw-text element
//! (`raw_text.rs`): those are left alone.

use wasm_bindgen::JsCast;
use web_sys::{Document, Element, Node, Text};

use campaign_token_core::{template, Verified};

use crate::raw_text;

/// `NodeFilter.SHOW_TEXT`.
const SHOW_TEXT: u32 = 0x4;
/// The marker attribute and the one variable it may name.
const VAR_ATTRIBUTE: &str = "data-token-var";
/// Marked elements: their text is their fallback, rendered with them.
const MARKED: &str = "[data-token-var]";

/// The variables of one page.
pub(crate) struct Variables {
    /// Text nodes with placeholders, and their original data.
    texts: Vec<(Text, String)>,
    /// Marked elements, the variable each names, and their original child nodes (the
    /// fallback, markup and all).
    elements: Vec<(Element, String, Vec<Node>)>,
    default_label: Option<String>,
}

impl Variables {
    /// Finds the variables under `root`; adds to `left_alone` the marked elements (or the
    /// elements holding placeholders) that are never filled (`raw_text.rs`).
    pub(crate) fn scan(
        document: &Document,
        root: &Element,
        default_label: Option<String>,
        left_alone: &mut Vec<Element>,
    ) -> Self {
        let mut refuse = |el: Element| {
            if !left_alone.iter().any(|seen| seen.is_same_node(Some(&el))) {
                left_alone.push(el);
            }
        };
        let mut texts = Vec::new();
        if let Ok(walker) = document.create_tree_walker_with_what_to_show(root, SHOW_TEXT) {
            while let Ok(Some(node)) = walker.next_node() {
                let Ok(text) = node.dyn_into::<Text>() else {
                    continue;
                };
                let data = text.data();
                if !template::has_variable(&data) || inside(&text, MARKED) {
                    continue;
                }
                match raw_text::never_filled_around(&text) {
                    Some(el) => refuse(el),
                    None => texts.push((text, data)),
                }
            }
        }
        let mut elements = Vec::new();
        if let Ok(list) = root.query_selector_all(MARKED) {
            for i in 0..list.length() {
                let Some(el) = list.item(i).and_then(|n| n.dyn_into::<Element>().ok()) else {
                    continue;
                };
                let name = el
                    .get_attribute(VAR_ATTRIBUTE)
                    .map(|v| v.trim().to_owned())
                    .filter(|v| template::is_variable(v));
                // A marked element inside another is part of that one's fallback.
                let Some(name) = name.filter(|_| !inside(&el, MARKED)) else {
                    continue;
                };
                if raw_text::never_filled_around(&el).is_some() {
                    refuse(el);
                } else {
                    let children = el.child_nodes();
                    let original = (0..children.length())
                        .filter_map(|i| children.item(i))
                        .collect();
                    elements.push((el, name, original));
                }
            }
        }
        Variables {
            texts,
            elements,
            default_label,
        }
    }

    /// Shows the verified token's values (`gift.label`, `form.*`, `custom.*`), or each
    /// variable's fallback (then, for the prize, the default label) when it gives none.
    pub(crate) fn render(&self, verified: Option<&Verified>) {
        let default = self.default_label.as_deref();
        let value = |name: &str| verified.and_then(|v| template::value_of(v, name));
        for (text, original) in &self.texts {
            text.set_data(&template::render_with(original, value, default));
        }
        for (el, name, original) in &self.elements {
            let default = if name == template::PRIZE_VARIABLE {
                default
            } else {
                None
            };
            match value(name).as_deref() {
                Some(label) => el.set_text_content(Some(label)),
                None => {
                    let fallback_is_empty = original
                        .iter()
                        .all(|n| n.text_content().unwrap_or_default().trim().is_empty());
                    match default {
                        Some(default) if fallback_is_empty => el.set_text_content(Some(default)),
                        _ => {
                            el.set_text_content(None);
                            for node in original {
                                let _ = el.append_child(node);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Whether a strict ancestor of `node` matches `selector`.
fn inside(node: &Node, selector: &str) -> bool {
    node.parent_element()
        .and_then(|p| p.closest(selector).ok().flatten())
        .is_some()
}
