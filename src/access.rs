//! `data-token-access` on `<html>`: `denied` when the verified token says `limit.canPlay:
//! false` (the core's [`Verified::can_play`]), `allowed` for any other verified token, absent
//! when no token verified. Beside `data-token-eligibility`, for style sheets and tests.

use web_sys::Document;

use campaign_token_core::Verified;

/// The attribute on `<html>`.
pub(crate) const ATTRIBUTE: &str = "data-token-access";

/// `"allowed"` or `"denied"`: what the verified token says about taking part.
pub(crate) fn of(verified: &Verified) -> &'static str {
    if verified.can_play() {
        "allowed"
    } else {
        "denied"
    }
}

/// Shows the access of `verified` on `<html>`, or removes the attribute for `None`.
pub(crate) fn set(document: &Document, verified: Option<&Verified>) {
    let Some(html) = document.document_element() else {
        return;
    };
    let _ = match verified {
        Some(v) => html.set_attribute(ATTRIBUTE, of(v)),
        None => html.remove_attribute(ATTRIBUTE),
    };
}
