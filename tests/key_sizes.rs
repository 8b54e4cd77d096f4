//! Key sizes, counted as the RFCs count them: an HMAC secret at least as long as its hash
//! (RFC 7518 §3.2: 32, 48 and 64 bytes for HS256, HS384, HS512), and an RSA modulus of at least
//! 2048 bits, counted in bits (a 2041-bit modulus also fills 256 bytes).

#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use campaign_token_core::mint::{mint, SigningKey, TokenClaims};
use campaign_token_core::{
    base64url_encode as b64, Algorithm, ErrorCode, KeySet, Policy, Verifier,
};

const NOW: u64 = 1_800_000_000;

fn token(alg: Algorithm, secret: &[u8]) -> String {
    let key = SigningKey::hmac(alg, secret).unwrap();
    mint(&key, &TokenClaims::new("member-1", "c1", NOW - 10, 600)).unwrap()
}

fn verifier(alg: Option<Algorithm>, secret: &[u8]) -> Result<Verifier, ErrorCode> {
    let mut keys = KeySet::new();
    keys.add_hmac_secret(None, alg, secret)
        .map_err(|e| e.code())?;
    Ok(Verifier::new(keys, Policy::new("c1").unwrap()))
}

#[test]
fn an_hmac_secret_must_be_as_long_as_its_hash() {
    for (alg, len) in [
        (Algorithm::Hs256, 32),
        (Algorithm::Hs384, 48),
        (Algorithm::Hs512, 64),
    ] {
        assert_eq!(
            verifier(Some(alg), &vec![7; len - 1]).err(),
            Some(ErrorCode::InvalidKey),
            "{alg:?}"
        );
        let v = verifier(Some(alg), &vec![7; len]).unwrap();
        assert!(
            v.verify(&token(alg, &[7; 64][..len]), NOW).is_ok(),
            "{alg:?}"
        );
    }
    assert_eq!(verifier(None, &[7; 31]).err(), Some(ErrorCode::InvalidKey));
    // An unpinned secret serves only the algorithms its length is enough for.
    let v = verifier(None, &[7; 48]).unwrap();
    assert!(v.verify(&token(Algorithm::Hs256, &[7; 48]), NOW).is_ok());
    assert!(v.verify(&token(Algorithm::Hs384, &[7; 48]), NOW).is_ok());
    let short = v
        .verify(&token(Algorithm::Hs512, &[7; 48]), NOW)
        .unwrap_err();
    assert_eq!(short.code(), ErrorCode::UnsupportedAlgorithm);
}

fn rsa_jwks(n: &[u8]) -> String {
    format!(
        r#"{{"keys":[{{"kty":"RSA","n":"{}","e":"AQAB"}}]}}"#,
        b64(n)
    )
}

#[test]
fn an_rsa_modulus_is_counted_in_bits() {
    // 256 bytes whose first is 0x01: 2041 bits.
    let mut n = vec![0xff; 256];
    n[0] = 0x01;
    assert_eq!(
        KeySet::from_jwks(&rsa_jwks(&n)).unwrap_err().code(),
        ErrorCode::InvalidKey
    );
    n[0] = 0x7f; // 2047 bits
    assert_eq!(
        KeySet::from_jwks(&rsa_jwks(&n)).unwrap_err().code(),
        ErrorCode::InvalidKey
    );
    // A real 2048-bit key passes.
    let key = SigningKey::generate(Algorithm::Rs256).unwrap();
    assert!(KeySet::from_jwks(&key.public_jwks().to_string()).is_ok());
}
