//! The public verification seam (`Verifier::begin` → `PendingCheck` → `finish`) that every
//! crypto backend drives: a backend that answers only "is this signature valid" gets the
//! same verdicts as `Verifier::verify`.

#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use campaign_token_core::mint::{self, SigningKey, TokenClaims};
use campaign_token_core::{Algorithm, ErrorCode, KeySet, Policy, Verifier, WebCryptoImport};

const NOW: u64 = 1_800_000_000;

fn es256() -> (SigningKey, Verifier) {
    let key = SigningKey::generate(Algorithm::Es256).unwrap();
    let keys = KeySet::from_pem(&key.public_pem().unwrap()).unwrap();
    (key, Verifier::new(keys, Policy::new("summer").unwrap()))
}

#[test]
fn a_backend_driving_begin_and_finish_gets_the_same_verdict_as_verify() {
    let (key, verifier) = es256();
    let token = mint::mint(&key, &TokenClaims::new("alice", "summer", NOW, 60)).unwrap();
    let pending = verifier.begin(&token).unwrap();
    assert_eq!(pending.algorithm(), Algorithm::Es256);
    assert_eq!(pending.key().index(), 0);
    assert_eq!(pending.signature().len(), 64);
    let (input, _) = token.rsplit_once('.').unwrap();
    assert_eq!(pending.signing_input(), input.as_bytes());
    let valid = pending.key().verify(
        pending.algorithm(),
        pending.signing_input(),
        pending.signature(),
    );
    assert_eq!(
        pending.finish(valid, NOW).unwrap(),
        verifier.verify(&token, NOW).unwrap()
    );
}

#[test]
fn finish_refuses_a_signature_the_backend_rejected_before_reading_claims() {
    let (key, verifier) = es256();
    // Expired too: the signature verdict comes first.
    let token = mint::mint(&key, &TokenClaims::new("alice", "summer", NOW, 60)).unwrap();
    let pending = verifier.begin(&token).unwrap();
    let err = pending.finish(false, NOW + 3600).unwrap_err();
    assert_eq!(err.code(), ErrorCode::BadSignature);
}

#[test]
fn an_owned_check_finished_later_gets_the_same_verdicts_as_the_borrowed_one() {
    // The browser's WebCrypto answers in a later call: the check is detached from the token
    // and verifier borrows (`into_owned`) and ended by the verifier (`Verifier::finish`).
    let (key, verifier) = es256();
    let token = mint::mint(&key, &TokenClaims::new("alice", "summer", NOW, 60)).unwrap();
    let pending = verifier.begin(&token).unwrap();
    let valid = pending.key().verify(
        pending.algorithm(),
        pending.signing_input(),
        pending.signature(),
    );
    let owned = pending.into_owned();
    assert_eq!(owned.algorithm(), Algorithm::Es256);
    assert_eq!(owned.key_index(), 0);
    assert_eq!(
        verifier.finish(owned, valid, NOW).unwrap(),
        verifier.verify(&token, NOW).unwrap()
    );
    let refused = verifier.begin(&token).unwrap().into_owned();
    assert_eq!(
        verifier.finish(refused, false, NOW).unwrap_err().code(),
        ErrorCode::BadSignature
    );
    let late = verifier.begin(&token).unwrap().into_owned();
    assert_eq!(
        verifier.finish(late, true, NOW + 3600).unwrap_err().code(),
        ErrorCode::Expired
    );
}

#[test]
fn begin_refuses_a_signature_of_the_wrong_length_before_any_backend_runs() {
    let (key, verifier) = es256();
    let token = mint::mint(&key, &TokenClaims::new("alice", "summer", NOW, 60)).unwrap();
    let short = format!("{}AAAA", &token[..token.rfind('.').unwrap() + 1]);
    assert_eq!(
        verifier.begin(&short).unwrap_err().code(),
        ErrorCode::BadSignature
    );
}

#[test]
fn with_the_native_backend_a_key_still_gives_its_webcrypto_form_and_a_secret_gives_none() {
    let key = SigningKey::generate(Algorithm::Es256).unwrap();
    let from_pem = KeySet::from_pem(&key.public_pem().unwrap()).unwrap();
    let from_jwks = KeySet::from_jwks(&key.public_jwks().to_string()).unwrap();
    let import = |keys: &KeySet| keys.iter().next().unwrap().webcrypto_import().cloned();
    assert!(matches!(import(&from_pem), Some(WebCryptoImport::Spki(_))));
    assert!(matches!(import(&from_jwks), Some(WebCryptoImport::Jwk(_))));

    let mut secret = KeySet::new();
    secret.add_hmac_secret(None, None, &[7; 32]).unwrap();
    let only = secret.iter().next().unwrap();
    assert_eq!(only.webcrypto_import(), None);
    assert!(!format!("{only:?}").contains("7, 7"), "no secret in Debug");
}
