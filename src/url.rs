//! Taking the token out of the page URL: query (`?token=`) or fragment (`#token=`), then
//! removing it from the address bar at once (`history.replaceState`), so that it is not left
//! in history, bookmarks, or the `Referer` of later requests.

use wasm_bindgen::JsValue;
use web_sys::{Url, UrlSearchParams, Window};

/// The token in the URL under `param` (the query wins over the fragment), removed from both.
/// An empty value is removed too and counts as no token.
pub(crate) fn take_token(window: &Window, param: &str) -> Option<String> {
    let href = window.location().href().ok()?;
    let url = Url::new(&href).ok()?;
    let mut token = None;
    let mut changed = false;

    let query = url.search_params();
    if query.has(param) {
        token = query.get(param);
        // Editing `searchParams` rewrites the URL's query (dropping the `?` when empty).
        query.delete(param);
        changed = true;
    }

    let hash = url.hash();
    let fragment = UrlSearchParams::new_with_str(hash.strip_prefix('#').unwrap_or(&hash)).ok()?;
    if fragment.has(param) {
        let from_fragment = fragment.get(param);
        token = token.or(from_fragment);
        fragment.delete(param);
        // An empty hash removes the `#` as well.
        url.set_hash(&String::from(fragment.to_string()));
        changed = true;
    }

    if changed {
        if let Ok(history) = window.history() {
            let state = history.state().unwrap_or(JsValue::NULL);
            let _ = history.replace_state_with_url(&state, "", Some(&url.href()));
        }
    }
    token.filter(|t| !t.is_empty())
}
