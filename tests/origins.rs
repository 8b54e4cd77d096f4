//! The exact-origin rule (`campaign_token_core::origin`) against the shared vectors in
//! `tests/origins.json`, which the JS copy in `js/integrator.js` is tested against too
//! (`tests/node/origin.test.mjs`), so the server, the page and the integrator agree.

#![cfg(not(target_arch = "wasm32"))]
// Helpers outside `#[test]` functions panic too: a panic in a test is a failed test.
#![allow(clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use campaign_token_core::origin::is_exact_origin;

#[test]
fn the_origin_rule_accepts_and_refuses_the_shared_vectors() {
    let vectors: serde_json::Value =
        serde_json::from_str(include_str!("origins.json")).expect("tests/origins.json is JSON");
    for (list, want) in [("accepted", true), ("refused", false)] {
        let origins = vectors[list].as_array().expect("a list of strings");
        assert!(!origins.is_empty(), "{list} is empty");
        for o in origins {
            let o = o.as_str().expect("a string");
            assert_eq!(is_exact_origin(o), want, "{o:?} should be {list}");
        }
    }
}
