//! Any token text against fixed key sets of every family: the verify path never panics, and the
//! two native signature backends (RustCrypto, the token tool's and the browser fallback's; and
//! AWS-LC, the server's, BoringSSL's descendant like Chromium's WebCrypto) give the same verdict
//! through the core's seam: a token cannot be valid for the page and not for the server.
#![no_main]

use std::sync::OnceLock;

use campaign_token_core::mint::{mint, SigningKey, TokenClaims};
use campaign_token_core::{Algorithm, Backend, KeySet, Policy, Verifier};
use libfuzzer_sys::fuzz_target;

const NOW: u64 = 1_800_000_000;

struct Setup {
    verifiers: Vec<Verifier>,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let verifiers = [
            Algorithm::Es256,
            Algorithm::Es384,
            Algorithm::EdDsa,
            Algorithm::Rs256,
        ]
        .into_iter()
        .map(|alg| {
            let key = SigningKey::generate(alg).expect("key");
            let keys = KeySet::from_jwks(&key.public_jwks().to_string()).expect("keys");
            let v = Verifier::new(keys, Policy::new("fuzz").expect("policy"));
            // Sanity: a real token verifies on both backends.
            let t = mint(&key, &TokenClaims::new("s", "fuzz", NOW - 10, 600)).expect("mint");
            for &b in Backend::ALL {
                assert!(v.verify_with(&t, NOW, b).is_ok());
            }
            v
        })
        .collect();
        Setup { verifiers }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    for v in &setup().verifiers {
        let reference = v.verify_with(token, NOW, Backend::RustCrypto);
        for &b in Backend::ALL {
            let other = v.verify_with(token, NOW, b);
            assert_eq!(
                other.as_ref().map_err(|e| e.code()),
                reference.as_ref().map_err(|e| e.code()),
                "backends disagree on {token:?}"
            );
        }
    }
});
