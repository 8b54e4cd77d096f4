//! The error-code list exists in several languages; `ErrorCode::ALL` (core/src/error.rs) is the one
//! source and every copy is tested against it, in order, so a new or renamed code fails here
//! until each copy says the same: the TypeScript union (js/index.d.ts), the package contract
//! (docs/CONTRACTS.md), the token reference table (docs/token.md) and the browser page's
//! prose list (docs/browser.md, "Errors").

#![cfg(not(target_arch = "wasm32"))]
// Helpers outside `#[test]` functions panic too: a panic in a test is a failed test.
#![allow(clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use campaign_token_core::ErrorCode;

fn all() -> Vec<&'static str> {
    ErrorCode::ALL.iter().map(|c| c.as_str()).collect()
}

/// The quoted strings of `export type ErrorCode = … ;` in a TypeScript text.
fn ts_union(file: &str, text: &str) -> Vec<String> {
    let start = text
        .find("export type ErrorCode =")
        .unwrap_or_else(|| panic!("{file}: no `export type ErrorCode =`"));
    let decl = &text[start..];
    let decl = &decl[..decl.find(';').unwrap_or(decl.len())];
    decl.split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// The backticked words of a text that are snake_case identifiers.
fn backticked(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        .map(str::to_owned)
        .collect()
}

/// The text of a markdown section, from its heading to the next heading of any level.
fn section<'a>(file: &str, text: &'a str, heading: &str) -> &'a str {
    let start = text
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("{file}: no section `{heading}`"))
        + heading.len()
        + 2;
    let rest = &text[start..];
    &rest[..rest.find("\n#").unwrap_or(rest.len())]
}

#[test]
fn the_typescript_error_code_union_lists_error_code_all() {
    assert_eq!(
        ts_union("js/index.d.ts", include_str!("../js/index.d.ts")),
        all()
    );
}

#[test]
fn the_package_contract_lists_error_code_all() {
    assert_eq!(
        ts_union("docs/CONTRACTS.md", include_str!("../docs/CONTRACTS.md")),
        all()
    );
}

#[test]
fn the_token_reference_table_lists_error_code_all() {
    let text = include_str!("../docs/token.md");
    let table: Vec<String> = section("docs/token.md", text, "## Error codes")
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_owned)
        .collect();
    assert_eq!(table, all(), "docs/token.md, ## Error codes");
}

#[test]
fn the_browser_page_names_error_code_all_in_order() {
    let text = include_str!("../docs/browser.md");
    let words = backticked(section("docs/browser.md", text, "## Errors"));
    // Each code's first mention, in order (later sentences may name a code again).
    let mut codes: Vec<&str> = Vec::new();
    for w in &words {
        if ErrorCode::from_code(w).is_some() && !codes.contains(&w.as_str()) {
            codes.push(w);
        }
    }
    assert_eq!(codes, all(), "docs/browser.md, ## Errors");
    // A snake_case word there that is not a code is a code that was renamed or removed.
    for w in &words {
        assert!(
            !w.contains('_') || ErrorCode::from_code(w).is_some(),
            "docs/browser.md, ## Errors: `{w}` is not in ErrorCode::ALL"
        );
    }
}

/// The codes the JS entry raises itself: each is one of `ErrorCode::ALL` (`load_failed`,
/// `invalid_config`, …) or one of the participation codes docs/browser.md names for
/// `participate()`; a new one must be added to one of the two.
#[test]
fn every_code_the_js_entry_raises_is_documented() {
    const PARTICIPATION: [&str; 3] = ["not_allowed", "network_error", "bad_response"];
    let js = include_str!("../js/index.js");
    let raised: Vec<&str> = js
        .split("code: '")
        .skip(1)
        .filter_map(|rest| rest.split('\'').next())
        .collect();
    assert!(raised.contains(&"load_failed"), "{raised:?}");
    for code in raised {
        assert!(
            ErrorCode::from_code(code).is_some() || PARTICIPATION.contains(&code),
            "js/index.js raises `{code}`, which is neither in ErrorCode::ALL nor a participation code"
        );
    }
    let browser = include_str!("../docs/browser.md");
    for code in PARTICIPATION {
        assert!(
            browser.contains(code),
            "docs/browser.md does not name `{code}`"
        );
    }
}
