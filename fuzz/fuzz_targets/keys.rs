//! Any key configuration text (PEM, JWK, JWKS) parses into a key set or a coded error, never a
//! panic; and a key set that parses verifies a fixed token without panicking, with both native
//! backends agreeing.
#![no_main]

use campaign_token_core::{Backend, KeySet, Policy, Verifier};
use libfuzzer_sys::fuzz_target;

const TOKEN: &str =
    "eyJhbGciOiJFUzI1NiJ9.eyJjYW1wYWlnbklkIjoiZnV6eiIsInN1YiI6InMiLCJleHAiOjE4MDAwMDA2MDB9.AAAA";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(keys) = KeySet::parse(text) else {
        return;
    };
    let Ok(policy) = Policy::new("fuzz") else {
        return;
    };
    let v = Verifier::new(keys, policy);
    let reference = v.verify_with(TOKEN, 1_800_000_000, Backend::RustCrypto);
    for &b in Backend::ALL {
        let other = v.verify_with(TOKEN, 1_800_000_000, b);
        assert_eq!(
            other.map_err(|e| e.code()).is_ok(),
            reference.as_ref().is_ok()
        );
    }
});
