//! Embeds a brand's public key(s) in the wasm module at build time.
//!
//! With `CAMPAIGN_TOKEN_EMBED_KEYS=/path/to/jwks.json` (or a PEM public key, in a build with
//! the `pem` feature) set, the module trusts that key set and `keys` becomes optional in the
//! JS options; a page that passes
//! `keys` as well gets `invalid_config`, so there is never a doubt about which key is
//! trusted. Unset, nothing is embedded and `keys` is required.
//!
//! The file is copied into `OUT_DIR` and included by `src/options.rs`; the key itself is checked
//! at run time by the same parser as any other key, but a private key is refused here, loudly,
//! so that it can never end up in a published module.

use std::{env, fs, path::PathBuf};

const VAR: &str = "CAMPAIGN_TOKEN_EMBED_KEYS";

fn main() {
    println!("cargo:rerun-if-env-changed={VAR}");
    println!("cargo:rerun-if-changed=build.rs");
    // `embedded_keys`: the module trusts only its embedded key, so the code that fetches keys
    // from a `jwksUrl` (refused in such a module) is left out of it.
    println!("cargo::rustc-check-cfg=cfg(embedded_keys)");
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap_or_default()).join("embedded_keys.rs");

    let code = match env::var_os(VAR).filter(|v| !v.is_empty()) {
        None => "const EMBEDDED_KEYS: Option<&str> = None;\n".to_owned(),
        Some(path) => {
            let path = PathBuf::from(path);
            println!("cargo:rerun-if-changed={}", path.display());
            let text = fs::read_to_string(&path).unwrap_or_else(|e| {
                fail(&format!("{VAR}={}: cannot read it: {e}", path.display()))
            });
            if text.contains("PRIVATE KEY") || looks_like_private_jwk(&text) {
                fail(&format!(
                    "{VAR}={} holds private key material: embed the PUBLIC key or JWKS only",
                    path.display()
                ));
            }
            if text.trim().is_empty() {
                fail(&format!("{VAR}={} is empty", path.display()));
            }
            // Without the `pem` feature the module has no PEM parser: refuse a PEM here rather
            // than ship a module that rejects its own key at run time.
            if env::var_os("CARGO_FEATURE_PEM").is_none() && !text.trim_start().starts_with('{') {
                fail(&format!(
                    "{VAR}={}: this build has no `pem` feature, so embed a JWKS \
                     (`campaign-token keygen` writes jwks.json), or add the `pem` feature",
                    path.display()
                ));
            }
            println!("cargo:rustc-cfg=embedded_keys");
            let copy = out.with_file_name("embedded_keys.txt");
            write(&copy, &text);
            "const EMBEDDED_KEYS: Option<&str> = Some(include_str!(\"embedded_keys.txt\"));\n"
                .to_owned()
        }
    };
    write(&out, &code);
}

/// A JWK with a private member (`d` for EC/OKP/RSA, `k` for a secret), found by parsing the
/// JSON (so an escaped name such as `"\u0064"` is caught) anywhere in the document: a single
/// JWK, a JWKS `keys` array, or any nesting. Text that starts like JSON but does not parse is
/// refused too, since its members cannot be checked.
pub(crate) fn looks_like_private_jwk(text: &str) -> bool {
    if !text.trim_start().starts_with('{') {
        return false;
    }
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(value) => has_private_member(&value),
        Err(_) => true,
    }
}

fn has_private_member(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::Object(map) => map
            .iter()
            .any(|(name, v)| name == "d" || name == "k" || has_private_member(v)),
        serde_json::Value::Array(items) => items.iter().any(has_private_member),
        _ => false,
    }
}

fn write(path: &PathBuf, text: &str) {
    if let Err(e) = fs::write(path, text) {
        fail(&format!("cannot write {}: {e}", path.display()));
    }
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1);
}
