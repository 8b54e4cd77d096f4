//! Hostile tokens: each way an attacker or a careless brand can get a token wrong, and the
//! exact error code (and claim) the verifier answers with.
//!
//! Every token here is correctly framed and, where the case is about claims or headers,
//! correctly signed (with `mint::sign_compact`), so that each test exercises the one rule
//! it is named after rather than failing early for another reason. Clocks are fixed.

#![cfg(not(target_arch = "wasm32"))]
// Helpers outside `#[test]` functions unwrap too: a panic in a test is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::OnceLock;

use campaign_token_core::mint::{self, sign_compact, SigningKey, TokenClaims};
use campaign_token_core::{
    base64url_encode as b64, Algorithm, Backend, Eligibility, ErrorCode, KeySet, Policy, Verified,
    Verifier,
};
use serde_json::{json, Value};

const CAMPAIGN: &str = "summer-2026";
/// The fixed "current time" of every test.
const NOW: u64 = 1_700_000_000;
const TOL: u64 = campaign_token_core::policy::DEFAULT_CLOCK_TOLERANCE_SECS;

/// A 1024-bit RSA public key (too weak to be accepted), in PEM and JWK form.
const RSA_1024_PEM: &str = "-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDINazgSGJ2klJRO9a7Mlx2su4h
BGZEEL12DEhd0NqBTB+QG2Frz8iw3PEbNV5ILfzukSPrObOFO4SJ5ooYF5ME1PWm
BkgPlC80fxe6gKJmclQ10Z9Ppgy9wzKZzn3LLBOI5Lx2Mx4bIXQbq6uJTFgshqgC
hkNcnOmkosI9rnNG0wIDAQAB
-----END PUBLIC KEY-----";
const RSA_1024_JWK: &str = r#"{"kty":"RSA","e":"AQAB","n":"yDWs4EhidpJSUTvWuzJcdrLuIQRmRBC9dgxIXdDagUwfkBtha8_IsNzxGzVeSC387pEj6zmzhTuEieaKGBeTBNT1pgZID5QvNH8XuoCiZnJUNdGfT6YMvcMymc59yywTiOS8djMeGyF0G6uriUxYLIaoAoZDXJzppKLCPa5zRtM"}"#;

// ---------------------------------------------------------------------------------------
// Keys (generated once: RSA generation is slow) and helpers

/// The test key of each key type (one RSA key for the six RSA algorithms: `rsa_as`).
fn key(alg: Algorithm) -> &'static SigningKey {
    static ES256: OnceLock<SigningKey> = OnceLock::new();
    static ES384: OnceLock<SigningKey> = OnceLock::new();
    static ES512: OnceLock<SigningKey> = OnceLock::new();
    static EDDSA: OnceLock<SigningKey> = OnceLock::new();
    static RSA: OnceLock<SigningKey> = OnceLock::new();
    let (cell, alg) = match alg {
        Algorithm::Es256 => (&ES256, alg),
        Algorithm::Es384 => (&ES384, alg),
        Algorithm::Es512 => (&ES512, alg),
        Algorithm::EdDsa => (&EDDSA, alg),
        Algorithm::Rs256
        | Algorithm::Rs384
        | Algorithm::Rs512
        | Algorithm::Ps256
        | Algorithm::Ps384
        | Algorithm::Ps512 => (&RSA, Algorithm::Rs256),
        other => panic!("no test key for {other}: add its key type here"),
    };
    cell.get_or_init(|| SigningKey::generate(alg).unwrap())
}

/// The EC algorithms, with their curves' coordinate sizes.
const ECDSA: [(Algorithm, usize); 3] = [
    (Algorithm::Es256, 32),
    (Algorithm::Es384, 48),
    (Algorithm::Es512, 66),
];

/// The brand's P-256 key: the key most tests trust.
fn brand() -> &'static SigningKey {
    key(Algorithm::Es256)
}

/// Another P-256 key: an attacker's, or the brand's next key in a rotation.
fn other_p256() -> &'static SigningKey {
    static OTHER: OnceLock<SigningKey> = OnceLock::new();
    OTHER.get_or_init(|| SigningKey::generate(Algorithm::Es256).unwrap())
}

fn rsa_as(alg: Algorithm) -> SigningKey {
    let pem = key(Algorithm::Rs256).private_pem().unwrap();
    SigningKey::from_pem(&pem, Some(alg)).unwrap()
}

fn pem_keys(k: &SigningKey) -> KeySet {
    KeySet::from_pem(&k.public_pem().unwrap()).unwrap()
}

fn verifier_for(keys: KeySet) -> Verifier {
    Verifier::new(keys, Policy::new(CAMPAIGN).unwrap())
}

/// A verifier that trusts only the brand's P-256 public key (PEM).
fn brand_verifier() -> Verifier {
    verifier_for(pem_keys(brand()))
}

/// A JWKS of the brand's key and a second key, both with a kid (a key rotation).
fn two_key_jwks() -> String {
    json!({"keys": [brand().public_jwk(), other_p256().public_jwk()]}).to_string()
}

/// Valid claims at `NOW`.
fn claims() -> Value {
    json!({"sub": "user-42", "campaignId": CAMPAIGN, "iat": NOW, "exp": NOW + 600})
}

fn with(mut payload: Value, name: &str, value: Value) -> Value {
    payload[name] = value;
    payload
}

fn without(mut payload: Value, name: &str) -> Value {
    payload.as_object_mut().unwrap().remove(name);
    payload
}

fn header_of(k: &SigningKey) -> Value {
    let mut h = json!({"alg": k.algorithm().name(), "typ": "JWT"});
    if let Some(kid) = k.kid() {
        h["kid"] = kid.into();
    }
    h
}

/// Signs any header and payload JSON values with `k`, whatever the header says.
fn signed(k: &SigningKey, header: &Value, payload: &Value) -> String {
    sign_compact(
        k,
        header.to_string().as_bytes(),
        payload.to_string().as_bytes(),
    )
    .unwrap()
}

/// A token signed by the brand with its own header.
fn brand_token(payload: &Value) -> String {
    signed(brand(), &header_of(brand()), payload)
}

fn parts(token: &str) -> [String; 3] {
    let v: Vec<&str> = token.split('.').collect();
    assert_eq!(v.len(), 3, "{token}");
    [v[0].to_owned(), v[1].to_owned(), v[2].to_owned()]
}

fn decode(segment: &str) -> Vec<u8> {
    use ct_codecs::{Base64UrlSafeNoPadding, Decoder};
    Base64UrlSafeNoPadding::decode_to_vec(segment, None).unwrap()
}

/// `Verifier::verify`, after checking that every native signature backend of the build
/// (`Backend::ALL`: RustCrypto, and AWS-LC, the server's) gives the same answer: the whole
/// corpus runs against each.
fn verify_everywhere(
    v: &Verifier,
    token: &str,
    now: u64,
) -> Result<Verified, campaign_token_core::Error> {
    let answer = v.verify(token, now);
    let seen = |r: &Result<Verified, campaign_token_core::Error>| {
        r.as_ref()
            .map_err(|e| (e.code(), e.claim_name().map(str::to_owned)))
            .cloned()
    };
    for &backend in Backend::ALL {
        assert_eq!(
            seen(&v.verify_with(token, now, backend)),
            seen(&answer),
            "the {} backend disagrees on {token}",
            backend.name()
        );
    }
    answer
}

/// The error code and claim name of a rejection; fails the test if the token is accepted.
fn rejection(v: &Verifier, token: &str, now: u64) -> (ErrorCode, Option<&'static str>) {
    match verify_everywhere(v, token, now) {
        Ok(ok) => panic!("accepted a hostile token: {ok:?}"),
        // Leaked (tests only) to compare with string literals.
        Err(e) => (
            e.code(),
            e.claim_name()
                .map(|c| &*Box::leak(c.to_owned().into_boxed_str())),
        ),
    }
}

fn accepted(v: &Verifier, token: &str, now: u64) -> Verified {
    verify_everywhere(v, token, now).unwrap_or_else(|e| panic!("rejected a valid token: {e}"))
}

fn key_error(result: Result<KeySet, campaign_token_core::Error>) -> ErrorCode {
    match result {
        Ok(keys) => panic!("accepted an unusable key set: {keys:?}"),
        Err(e) => e.code(),
    }
}

use ErrorCode::*;

// ---------------------------------------------------------------------------------------
// Sanity: the baseline token these cases mutate is valid, so each rejection below is caused
// by the one thing the case changes.

#[test]
fn the_baseline_token_is_accepted() {
    let v = accepted(&brand_verifier(), &brand_token(&claims()), NOW);
    assert_eq!(v.sub, "user-42");
    assert_eq!(v.eligibility, Eligibility::Standard);
    let jwks = verifier_for(KeySet::from_jwks(&two_key_jwks()).unwrap());
    accepted(&jwks, &brand_token(&claims()), NOW);
}

// ---------------------------------------------------------------------------------------
// Algorithms: `none`, HMAC confusion, algorithm/key mismatch

#[test]
fn alg_none_without_a_signature_is_refused_as_unsupported_algorithm() {
    let h = b64(br#"{"alg":"none","typ":"JWT"}"#);
    let p = b64(claims().to_string().as_bytes());
    let token = format!("{h}.{p}.");
    assert_eq!(
        rejection(&brand_verifier(), &token, NOW),
        (UnsupportedAlgorithm, None)
    );
}

#[test]
fn alg_none_with_a_signature_is_refused_as_unsupported_algorithm() {
    let token = signed(brand(), &json!({"alg": "none"}), &claims());
    assert_eq!(
        rejection(&brand_verifier(), &token, NOW),
        (UnsupportedAlgorithm, None)
    );
    for spelling in ["None", "NONE", "nOnE", ""] {
        let token = signed(brand(), &json!({ "alg": spelling }), &claims());
        assert_eq!(
            rejection(&brand_verifier(), &token, NOW).0,
            UnsupportedAlgorithm,
            "{spelling:?}"
        );
    }
}

#[test]
fn hs256_signed_with_the_public_key_pem_as_secret_is_refused() {
    // The classic confusion attack: a verifier that fed the configured public key to HMAC
    // would accept this token. Ours never runs HMAC against a public key.
    for alg in [
        Algorithm::Es256,
        Algorithm::Es512,
        Algorithm::EdDsa,
        Algorithm::Rs256,
    ] {
        let public_pem = key(alg).public_pem().unwrap();
        let jwks = key(alg).public_jwks().to_string();
        for hs in [Algorithm::Hs256, Algorithm::Hs384, Algorithm::Hs512] {
            for secret in [
                public_pem.as_bytes(),
                public_pem.trim().as_bytes(),
                jwks.as_bytes(),
            ] {
                let attacker = SigningKey::hmac(hs, secret).unwrap();
                let mut header = json!({"alg": hs.name(), "typ": "JWT"});
                if let Some(kid) = key(alg).kid() {
                    header["kid"] = kid.into();
                }
                let token = signed(&attacker, &header, &claims());
                for keys in [pem_keys(key(alg)), KeySet::from_jwks(&jwks).unwrap()] {
                    assert_eq!(
                        rejection(&verifier_for(keys), &token, NOW),
                        (UnsupportedAlgorithm, None),
                        "{alg} key, {hs} token"
                    );
                }
            }
        }
    }
}

#[test]
fn a_header_alg_that_does_not_match_the_key_type_is_refused_before_any_crypto() {
    let es256 = brand();
    let es384 = key(Algorithm::Es384);
    let es512 = key(Algorithm::Es512);
    let ed = key(Algorithm::EdDsa);
    let rsa = key(Algorithm::Rs256);
    // (signing key, header alg, trusted key)
    let cases: [(&SigningKey, &str, &SigningKey); 12] = [
        (es256, "ES384", es256), // ES384 header on a P-256 key
        (es384, "ES256", es384), // ES256 header on a P-384 key
        (es384, "ES512", es384), // ES512 header on a P-384 key
        (es512, "ES384", es512), // ES384 header on a P-521 key
        (es512, "ES256", es512),
        (rsa, "ES512", rsa),
        (es256, "RS256", es256), // RS256 header, EC key configured
        (es256, "PS256", es256),
        (rsa, "ES256", rsa), // ES256 header, RSA key configured
        (rsa, "EdDSA", rsa),
        (ed, "ES256", ed), // ES256 header, Ed25519 key configured
        (es256, "EdDSA", es256),
    ];
    for (signer, alg, trusted) in cases {
        let token = signed(signer, &json!({ "alg": alg }), &claims());
        assert_eq!(
            rejection(&verifier_for(pem_keys(trusted)), &token, NOW),
            (UnsupportedAlgorithm, None),
            "{alg} header against a {} key",
            trusted.algorithm()
        );
    }
}

#[test]
fn a_jwks_key_pinned_to_one_rsa_algorithm_refuses_the_others() {
    // The brand published its RSA key for RS256 only: a PS256 (or RS512) token signed by the
    // same key is not what the brand said it issues.
    let jwks = key(Algorithm::Rs256).public_jwks().to_string();
    let v = verifier_for(KeySet::from_jwks(&jwks).unwrap());
    for alg in [Algorithm::Ps256, Algorithm::Rs512] {
        let k = rsa_as(alg);
        let token = signed(&k, &header_of(&k), &claims());
        assert_eq!(
            rejection(&v, &token, NOW),
            (UnsupportedAlgorithm, None),
            "{alg}"
        );
    }
    // A PEM key carries no algorithm: every RSA algorithm is accepted with it.
    let v = verifier_for(pem_keys(key(Algorithm::Rs256)));
    for alg in [Algorithm::Ps256, Algorithm::Rs512] {
        let k = rsa_as(alg);
        accepted(&v, &signed(&k, &header_of(&k), &claims()), NOW);
    }
}

#[test]
fn an_unknown_or_non_string_alg_is_refused() {
    let v = brand_verifier();
    for alg in ["ES256K", "RS1", "HS1", "es256", "ES256 ", "es512"] {
        let token = signed(brand(), &json!({ "alg": alg }), &claims());
        assert_eq!(
            rejection(&v, &token, NOW),
            (UnsupportedAlgorithm, None),
            "{alg}"
        );
    }
    for alg in [json!(null), json!(256), json!(["ES256"])] {
        let token = signed(brand(), &json!({ "alg": alg }), &claims());
        assert_eq!(rejection(&v, &token, NOW), (Malformed, None), "{alg}");
    }
    let token = signed(brand(), &json!({"typ": "JWT"}), &claims());
    assert_eq!(rejection(&v, &token, NOW), (Malformed, None), "no alg");
}

// ---------------------------------------------------------------------------------------
// Key selection: kid and rotation

#[test]
fn an_unknown_kid_with_a_two_key_jwks_is_unknown_key() {
    let v = verifier_for(KeySet::from_jwks(&two_key_jwks()).unwrap());
    let token = signed(
        brand(),
        &json!({"alg": "ES256", "kid": "not-ours"}),
        &claims(),
    );
    assert_eq!(rejection(&v, &token, NOW), (UnknownKey, None));
}

#[test]
fn a_token_without_kid_with_a_two_key_jwks_is_unknown_key() {
    let v = verifier_for(KeySet::from_jwks(&two_key_jwks()).unwrap());
    let token = signed(brand(), &json!({"alg": "ES256"}), &claims());
    assert_eq!(rejection(&v, &token, NOW), (UnknownKey, None));
}

#[test]
fn during_a_rotation_each_kid_selects_its_own_key() {
    let v = verifier_for(KeySet::from_jwks(&two_key_jwks()).unwrap());
    for k in [brand(), other_p256()] {
        let got = accepted(&v, &signed(k, &header_of(k), &claims()), NOW);
        assert_eq!(got.kid.as_deref(), k.kid());
    }
    // Signed by one key, naming the other: the named key is used, and it does not verify.
    let mut header = header_of(brand());
    header["kid"] = other_p256().kid().unwrap().into();
    let token = signed(brand(), &header, &claims());
    assert_eq!(rejection(&v, &token, NOW), (BadSignature, None));
}

#[test]
fn a_non_string_kid_is_malformed() {
    let token = signed(brand(), &json!({"alg": "ES256", "kid": 7}), &claims());
    assert_eq!(rejection(&brand_verifier(), &token, NOW), (Malformed, None));
}

// ---------------------------------------------------------------------------------------
// Signatures

#[test]
fn a_tampered_payload_is_bad_signature() {
    let [h, _, s] = parts(&brand_token(&claims()));
    for forged in [
        with(claims(), "sub", json!("admin")),
        with(claims(), "gift", json!({"cw": true, "label": "Car"})),
        with(claims(), "exp", json!(NOW + 86_400 * 365)),
    ] {
        let p = b64(forged.to_string().as_bytes());
        let token = format!("{h}.{p}.{s}");
        assert_eq!(
            rejection(&brand_verifier(), &token, NOW),
            (BadSignature, None)
        );
    }
}

#[test]
fn a_forged_signature_reveals_nothing_about_the_claims() {
    // Claims are judged only once the signature holds: an expired, wrong-campaign token
    // signed by someone else is just `bad_signature`.
    let payload = with(claims(), "campaignId", json!("other"));
    let token = signed(other_p256(), &header_of(brand()), &payload);
    assert_eq!(
        rejection(&brand_verifier(), &token, NOW + 100_000),
        (BadSignature, None)
    );
}

#[test]
fn truncated_signatures_are_bad_signature() {
    for alg in Algorithm::ASYMMETRIC {
        let k = if alg.name().starts_with(['R', 'P']) {
            rsa_as(alg)
        } else {
            key(alg).clone_for_test()
        };
        let v = verifier_for(pem_keys(&k));
        let [h, p, s] = parts(&signed(&k, &header_of(&k), &claims()));
        let sig = decode(&s);
        for cut in [1, sig.len() / 2, sig.len() - 1] {
            let token = format!("{h}.{p}.{}", b64(&sig[..sig.len() - cut]));
            assert_eq!(
                rejection(&v, &token, NOW),
                (BadSignature, None),
                "{alg} -{cut}"
            );
        }
    }
}

#[test]
fn extra_signature_bytes_are_bad_signature() {
    for alg in Algorithm::ASYMMETRIC {
        let k = if alg.name().starts_with(['R', 'P']) {
            rsa_as(alg)
        } else {
            key(alg).clone_for_test()
        };
        let v = verifier_for(pem_keys(&k));
        let [h, p, s] = parts(&signed(&k, &header_of(&k), &claims()));
        let sig = decode(&s);
        for extra in [&[0u8][..], &[0, 0, 0, 0], &sig] {
            let longer = [&sig[..], extra].concat();
            let token = format!("{h}.{p}.{}", b64(&longer));
            assert_eq!(rejection(&v, &token, NOW), (BadSignature, None), "{alg}");
        }
    }
}

#[test]
fn an_ecdsa_signature_of_zeros_is_bad_signature() {
    // r = s = 0 "verifies" in broken ECDSA implementations (CVE-2022-21449, "psychic
    // signatures"). Every curve, raw (64/96/132 bytes) and with the header claiming it.
    for (alg, size) in ECDSA {
        let k = key(alg);
        let h = b64(header_of(k).to_string().as_bytes());
        let p = b64(claims().to_string().as_bytes());
        let token = format!("{h}.{p}.{}", b64(&vec![0u8; 2 * size]));
        assert_eq!(
            rejection(&verifier_for(pem_keys(k)), &token, NOW),
            (BadSignature, None),
            "{alg}"
        );
    }
}

#[test]
fn an_ecdsa_signature_whose_scalars_exceed_the_group_order_is_bad_signature() {
    // r and s must be below the curve's order n: all-ones bytes are above it on every curve
    // (P-521's 66-byte scalars have 7 bits to spare), and r = s = n are the smallest such.
    for (alg, size) in ECDSA {
        let k = key(alg);
        let [h, p, s] = parts(&signed(k, &header_of(k), &claims()));
        let sig = decode(&s);
        let (r, s) = sig.split_at(size);
        for bad in [
            [vec![0xff; size], vec![0xff; size]].concat(),
            [r, &vec![0xff; size][..]].concat(),
            [&vec![0xff; size][..], s].concat(),
        ] {
            let token = format!("{h}.{p}.{}", b64(&bad));
            assert_eq!(
                rejection(&verifier_for(pem_keys(k)), &token, NOW),
                (BadSignature, None),
                "{alg}"
            );
        }
    }
}

#[test]
fn an_es512_signature_checks_with_sha512_on_p521_only() {
    // The brand's P-521 key, as PEM and as JWK, accepts its ES512 tokens; another P-521 key's
    // signature, or the token relabelled as another ECDSA algorithm, is refused.
    let k = key(Algorithm::Es512);
    let token = signed(k, &header_of(k), &claims());
    for keys in [
        pem_keys(k),
        KeySet::from_jwks(&k.public_jwks().to_string()).unwrap(),
    ] {
        let got = accepted(&verifier_for(keys), &token, NOW);
        assert_eq!(got.alg, Algorithm::Es512);
    }
    assert_eq!(
        decode(&parts(&token)[2]).len(),
        132,
        "r || s, 66 bytes each"
    );
    let other = SigningKey::generate(Algorithm::Es512).unwrap();
    let forged = signed(&other, &header_of(k), &claims());
    assert_eq!(
        rejection(&verifier_for(pem_keys(k)), &forged, NOW),
        (BadSignature, None)
    );
}

#[test]
fn a_signature_by_another_key_of_the_same_type_is_bad_signature() {
    let token = signed(other_p256(), &header_of(brand()), &claims());
    assert_eq!(
        rejection(&brand_verifier(), &token, NOW),
        (BadSignature, None)
    );
}

// ---------------------------------------------------------------------------------------
// Time: exp, nbf, iat, with the clock tolerance

#[test]
fn an_expired_token_is_expired() {
    let token = brand_token(&claims());
    assert_eq!(
        rejection(&brand_verifier(), &token, NOW + 86_400),
        (Expired, Some("exp"))
    );
}

#[test]
fn expiry_tolerates_clock_skew_up_to_the_tolerance_and_not_a_second_more() {
    let exp = NOW + 600;
    let token = brand_token(&with(claims(), "exp", json!(exp)));
    let v = brand_verifier();
    // Inside the tolerance: accepted, up to the last second.
    accepted(&v, &token, exp);
    accepted(&v, &token, exp + 1);
    accepted(&v, &token, exp + TOL - 1);
    // At exp + tolerance, and beyond: expired.
    assert_eq!(rejection(&v, &token, exp + TOL), (Expired, Some("exp")));
    assert_eq!(rejection(&v, &token, exp + TOL + 1), (Expired, Some("exp")));
}

#[test]
fn a_zero_tolerance_expires_the_token_at_exp_exactly() {
    let exp = NOW + 600;
    let token = brand_token(&with(claims(), "exp", json!(exp)));
    let strict = Verifier::new(
        pem_keys(brand()),
        Policy::new(CAMPAIGN)
            .unwrap()
            .with_clock_tolerance(0)
            .unwrap(),
    );
    accepted(&strict, &token, exp - 1);
    assert_eq!(rejection(&strict, &token, exp), (Expired, Some("exp")));
}

#[test]
fn a_custom_tolerance_moves_the_boundary() {
    let exp = NOW + 600;
    let token = brand_token(&with(claims(), "exp", json!(exp)));
    let v = Verifier::new(
        pem_keys(brand()),
        Policy::new(CAMPAIGN)
            .unwrap()
            .with_clock_tolerance(300)
            .unwrap(),
    );
    accepted(&v, &token, exp + 299);
    assert_eq!(rejection(&v, &token, exp + 300), (Expired, Some("exp")));
    assert!(Policy::new(CAMPAIGN)
        .unwrap()
        .with_clock_tolerance(601)
        .is_err());
}

#[test]
fn nbf_in_the_future_within_the_tolerance_is_accepted() {
    let v = brand_verifier();
    for nbf in [NOW + 1, NOW + TOL] {
        let got = accepted(&v, &brand_token(&with(claims(), "nbf", json!(nbf))), NOW);
        assert_eq!(got.nbf, Some(nbf));
    }
}

#[test]
fn nbf_in_the_future_beyond_the_tolerance_is_not_yet_valid() {
    let token = brand_token(&with(claims(), "nbf", json!(NOW + TOL + 1)));
    let v = brand_verifier();
    assert_eq!(rejection(&v, &token, NOW), (NotYetValid, Some("nbf")));
    // The same token becomes valid once its time comes.
    accepted(&v, &token, NOW + 1);
}

#[test]
fn iat_in_the_future_beyond_the_tolerance_is_issued_in_future() {
    let v = brand_verifier();
    let token = brand_token(&with(claims(), "iat", json!(NOW + TOL + 1)));
    assert_eq!(rejection(&v, &token, NOW), (IssuedInFuture, Some("iat")));
    accepted(
        &v,
        &brand_token(&with(claims(), "iat", json!(NOW + TOL))),
        NOW,
    );
}

#[test]
fn tokens_without_iat_or_nbf_are_accepted() {
    let payload = without(without(claims(), "iat"), "nbf");
    let got = accepted(&brand_verifier(), &brand_token(&payload), NOW);
    assert_eq!((got.iat, got.nbf), (None, None));
}

// ---------------------------------------------------------------------------------------
// Required claims and their types

#[test]
fn a_missing_required_claim_is_missing_claim_naming_it() {
    for claim in ["sub", "exp", "campaignId"] {
        let token = brand_token(&without(claims(), claim));
        assert_eq!(
            rejection(&brand_verifier(), &token, NOW),
            (MissingClaim, Some(claim))
        );
    }
}

#[test]
fn a_wrongly_typed_required_claim_is_invalid_claim_naming_it() {
    let cases = [
        ("sub", json!(42)),
        ("sub", json!(null)),
        ("sub", json!("")),
        ("sub", json!(["user-42"])),
        ("exp", json!(null)),
        ("exp", json!(true)),
        ("exp", json!(-1)),
        ("exp", json!(1.5)),
        ("exp", json!((NOW + 600) as f64 + 0.5)),
        ("campaignId", json!(2026)),
        ("campaignId", json!(null)),
        ("campaignId", json!({"id": CAMPAIGN})),
        ("iat", json!("1700000000")),
        ("nbf", json!(-5)),
        ("iss", json!(1)),
    ];
    for (claim, value) in cases {
        let token = brand_token(&with(claims(), claim, value.clone()));
        assert_eq!(
            rejection(&brand_verifier(), &token, NOW),
            (InvalidClaim, Some(claim)),
            "{claim} = {value}"
        );
    }
}

#[test]
fn exp_as_a_string_is_invalid_claim() {
    for exp in [json!((NOW + 600).to_string()), json!("soon")] {
        let token = brand_token(&with(claims(), "exp", exp));
        assert_eq!(
            rejection(&brand_verifier(), &token, NOW),
            (InvalidClaim, Some("exp"))
        );
    }
}

/// A 64-bit order id in `gift` (or `custom`, `form`) would be exact for the server and not for
/// the page: it is refused everywhere, naming its path, so both give one verdict. Sent as a
/// string it is kept.
#[test]
fn a_number_beyond_2_pow_53_anywhere_in_gift_custom_or_form_is_invalid_claim_naming_its_path() {
    let cases = [
        (
            "gift",
            json!({"cw": true, "orderId": u64::MAX}),
            "gift.orderId",
        ),
        (
            "gift",
            json!({"orderId": 9_007_199_254_740_993_u64}),
            "gift.orderId",
        ),
        (
            "gift",
            json!({"order": {"lines": [1, -9_007_199_254_740_993_i64]}}),
            "gift.order.lines[1]",
        ),
        (
            "gift",
            json!({"__proto__": {"id": u64::MAX}}),
            "gift.__proto__.id",
        ),
        ("custom", json!({"orderId": u64::MAX}), "custom.orderId"),
        (
            "form",
            json!({"memberNo": 9_007_199_254_740_993_u64}),
            "form.memberNo",
        ),
    ];
    for (claim, value, path) in cases {
        let token = brand_token(&with(claims(), claim, value.clone()));
        assert_eq!(
            rejection(&brand_verifier(), &token, NOW),
            (InvalidClaim, Some(path)),
            "{claim} = {value}"
        );
    }
    let token = brand_token(&with(
        claims(),
        "gift",
        json!({"cw": true, "orderId": "18446744073709551615", "n": 9_007_199_254_740_991_u64}),
    ));
    let gift = accepted(&brand_verifier(), &token, NOW).gift.unwrap();
    assert_eq!(gift["orderId"], "18446744073709551615");
    assert_eq!(gift["n"], 9_007_199_254_740_991_u64);
}

// ---------------------------------------------------------------------------------------
// Campaign and issuer

#[test]
fn a_token_for_another_campaign_is_wrong_campaign() {
    for other in ["winter-2026", "Summer-2026", "summer-2026 ", ""] {
        let token = brand_token(&with(claims(), "campaignId", json!(other)));
        assert_eq!(
            rejection(&brand_verifier(), &token, NOW),
            (WrongCampaign, Some("campaignId")),
            "{other:?}"
        );
    }
}

fn issuer_verifier() -> Verifier {
    Verifier::new(
        pem_keys(brand()),
        Policy::new(CAMPAIGN)
            .unwrap()
            .with_issuers(["https://brand.example", "https://brand.example/eu"]),
    )
}

#[test]
fn with_configured_issuers_another_issuer_is_wrong_issuer() {
    for iss in [
        "https://evil.example",
        "https://brand.example/",
        "HTTPS://BRAND.EXAMPLE",
    ] {
        let token = brand_token(&with(claims(), "iss", json!(iss)));
        assert_eq!(
            rejection(&issuer_verifier(), &token, NOW),
            (WrongIssuer, Some("iss")),
            "{iss}"
        );
    }
}

#[test]
fn with_configured_issuers_a_token_without_iss_is_wrong_issuer() {
    let token = brand_token(&without(claims(), "iss"));
    assert_eq!(
        rejection(&issuer_verifier(), &token, NOW),
        (WrongIssuer, Some("iss"))
    );
}

#[test]
fn each_configured_issuer_is_accepted_and_none_configured_accepts_any() {
    for iss in ["https://brand.example", "https://brand.example/eu"] {
        let token = brand_token(&with(claims(), "iss", json!(iss)));
        assert_eq!(
            accepted(&issuer_verifier(), &token, NOW).iss.as_deref(),
            Some(iss)
        );
        accepted(&brand_verifier(), &token, NOW);
    }
    accepted(&brand_verifier(), &brand_token(&claims()), NOW);
}

// ---------------------------------------------------------------------------------------
// Header parameters

#[test]
fn a_crit_header_is_unsupported_critical_header() {
    let v = brand_verifier();
    for crit in [json!(["exp"]), json!(["b64"]), json!([]), json!("x")] {
        let mut header = header_of(brand());
        header["crit"] = crit;
        header["b64"] = json!(false);
        let token = signed(brand(), &header, &claims());
        assert_eq!(
            rejection(&v, &token, NOW),
            (UnsupportedCriticalHeader, None)
        );
    }
}

#[test]
fn typ_must_be_jwt_or_end_in_plus_jwt() {
    let v = brand_verifier();
    for typ in ["JWT", "jwt", "campaign+jwt", "at+JWT"] {
        let mut header = header_of(brand());
        header["typ"] = typ.into();
        accepted(&v, &signed(brand(), &header, &claims()), NOW);
    }
    for typ in [json!("JOSE"), json!("+jwt"), json!("JWE"), json!(1)] {
        let mut header = header_of(brand());
        header["typ"] = typ.clone();
        let token = signed(brand(), &header, &claims());
        assert_eq!(rejection(&v, &token, NOW), (Malformed, None), "{typ}");
    }
}

#[test]
fn an_attacker_key_embedded_as_jwk_is_not_trusted() {
    // The attacker signs with their own key and embeds it (`jwk`), and points at it by URL
    // (`jku`, `x5u`): only configured keys are trusted, so the signature does not verify.
    let attacker = other_p256();
    let mut header = header_of(attacker);
    header["jwk"] = attacker.public_jwk();
    header["jku"] = json!("https://evil.example/jwks.json");
    header["x5u"] = json!("https://evil.example/cert.pem");
    let token = signed(attacker, &header, &claims());
    assert_eq!(
        rejection(&brand_verifier(), &token, NOW),
        (BadSignature, None)
    );
    // Naming the brand's kid does not help either.
    header["kid"] = brand().kid().unwrap().into();
    let token = signed(attacker, &header, &claims());
    let jwks = verifier_for(KeySet::from_jwks(&two_key_jwks()).unwrap());
    assert_eq!(rejection(&jwks, &token, NOW), (BadSignature, None));
}

#[test]
fn a_jwk_header_on_a_token_the_brand_signed_is_ignored() {
    let mut header = header_of(brand());
    header["jwk"] = other_p256().public_jwk();
    header["x5c"] = json!(["MIIB"]);
    let token = signed(brand(), &header, &claims());
    let got = accepted(&brand_verifier(), &token, NOW);
    assert_eq!(got.sub, "user-42");
}

// ---------------------------------------------------------------------------------------
// JSON and base64url framing

#[test]
fn duplicate_claim_names_are_malformed() {
    let v = brand_verifier();
    let h = header_of(brand()).to_string();
    let payloads = [
        format!(
            r#"{{"sub":"user-42","sub":"admin","campaignId":"{CAMPAIGN}","exp":{}}}"#,
            NOW + 600
        ),
        format!(
            r#"{{"sub":"user-42","campaignId":"{CAMPAIGN}","exp":{},"exp":{}}}"#,
            NOW + 600,
            NOW + 9_999_999
        ),
        format!(
            r#"{{"sub":"user-42","campaignId":"{CAMPAIGN}","exp":{},"gift":{{"cw":false,"cw":true}}}}"#,
            NOW + 600
        ),
        format!(
            r#"{{"sub":"user-42","campaignId":"{CAMPAIGN}","exp":{},"campaign\u0049d":"x"}}"#,
            NOW + 600
        ),
    ];
    for p in payloads {
        let token = sign_compact(brand(), h.as_bytes(), p.as_bytes()).unwrap();
        assert_eq!(rejection(&v, &token, NOW), (Malformed, None), "{p}");
    }
}

#[test]
fn duplicate_header_members_are_malformed() {
    let kid = brand().kid().unwrap();
    for h in [
        r#"{"alg":"ES256","alg":"none"}"#.to_owned(),
        r#"{"alg":"none","alg":"ES256"}"#.to_owned(),
        format!(r#"{{"alg":"ES256","kid":"{kid}","kid":"other"}}"#),
    ] {
        let token = sign_compact(brand(), h.as_bytes(), claims().to_string().as_bytes()).unwrap();
        assert_eq!(
            rejection(&brand_verifier(), &token, NOW),
            (Malformed, None),
            "{h}"
        );
    }
}

#[test]
fn header_or_payload_that_is_not_a_json_object_is_malformed() {
    let h = header_of(brand()).to_string();
    let p = claims().to_string();
    for (header, payload) in [
        ("[1]", p.as_str()),
        ("\"ES256\"", p.as_str()),
        ("{\"alg\":\"ES256\"", p.as_str()),
        (h.as_str(), "[]"),
        (h.as_str(), "null"),
        (h.as_str(), "{\"sub\":\"a\"} trailing"),
        (h.as_str(), ""),
    ] {
        let token = sign_compact(brand(), header.as_bytes(), payload.as_bytes()).unwrap();
        assert_eq!(
            rejection(&brand_verifier(), &token, NOW),
            (Malformed, None),
            "{header} / {payload}"
        );
    }
}

#[test]
fn padded_base64url_is_malformed() {
    let token = brand_token(&claims());
    let [h, p, s] = parts(&token);
    let pad = |seg: &str| format!("{seg}{}", "=".repeat((4 - seg.len() % 4) % 4));
    // Make sure padding actually applies to at least the signature (64 bytes: 86 chars).
    assert_eq!(s.len() % 4, 2);
    for forged in [
        format!("{}.{p}.{s}", pad(&h)),
        format!("{h}.{}.{s}", pad(&p)),
        format!("{h}.{p}.{}", pad(&s)),
    ] {
        if forged == token {
            continue; // that segment needed no padding
        }
        assert_eq!(
            rejection(&brand_verifier(), &forged, NOW),
            (Malformed, None),
            "{forged}"
        );
    }
}

#[test]
fn non_canonical_base64url_is_malformed() {
    let token = brand_token(&claims());
    let [h, p, s] = parts(&token);
    // The last character of an 86-character segment carries 2 bits of data and 4 bits that
    // must be zero: setting one gives another spelling of the same signature bytes.
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let last = s.as_bytes()[s.len() - 1];
    let index = ALPHABET.iter().position(|&c| c == last).unwrap();
    let twin = char::from(ALPHABET[index | 1]);
    let respelled = format!("{}{twin}", &s[..s.len() - 1]);
    assert_ne!(respelled, s);
    assert_eq!(
        lenient_decode(&respelled),
        decode(&s),
        "same bytes, other spelling"
    );
    let v = brand_verifier();
    assert_eq!(
        rejection(&v, &format!("{h}.{p}.{respelled}"), NOW),
        (Malformed, None)
    );
    // Standard-alphabet characters and whitespace are not base64url either.
    let std_alphabet = s.replace('-', "+").replace('_', "/");
    if std_alphabet != s {
        assert_eq!(
            rejection(&v, &format!("{h}.{p}.{std_alphabet}"), NOW),
            (Malformed, None)
        );
    }
    assert_eq!(
        rejection(&v, &format!("{h}.{p} .{s}"), NOW),
        (Malformed, None)
    );
    assert_eq!(
        rejection(&v, &format!("{h}.{p}.+/{s}"), NOW),
        (Malformed, None)
    );
}

/// A decoder that ignores leftover bits, as lenient base64 decoders do: it shows that the
/// respelled segment means the same bytes, so accepting it would give one signature many
/// token strings.
fn lenient_decode(segment: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let (mut acc, mut bits, mut out) = (0u32, 0u32, Vec::new());
    for c in segment.bytes() {
        let v = ALPHABET.iter().position(|&a| a == c).unwrap() as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

#[test]
fn a_token_with_the_wrong_number_of_dots_is_malformed() {
    let token = brand_token(&claims());
    let [h, p, s] = parts(&token);
    let v = brand_verifier();
    for forged in [
        format!("{token}.."),
        format!("{h}.{p}.{s}.{s}.{s}"),
        format!("{h}..{p}.{s}"),
        format!("{h}.{p}{s}"),
        h.clone(),
        "..".to_owned(),
        "....".to_owned(),
    ] {
        assert_eq!(rejection(&v, &forged, NOW), (Malformed, None), "{forged}");
    }
}

#[test]
fn an_empty_token_is_no_token() {
    assert_eq!(rejection(&brand_verifier(), "", NOW), (NoToken, None));
}

#[test]
fn a_one_megabyte_token_is_too_large_before_any_parsing() {
    let huge = format!(
        "{}.{}.{}",
        "a".repeat(500_000),
        "b".repeat(500_000),
        "c".repeat(48_574)
    );
    assert_eq!(huge.len(), 1_048_576);
    assert_eq!(rejection(&brand_verifier(), &huge, NOW), (TooLarge, None));
    // A correctly signed token padded with a huge claim is too large too.
    let big = brand_token(&with(claims(), "junk", json!("x".repeat(1 << 20))));
    assert_eq!(rejection(&brand_verifier(), &big, NOW), (TooLarge, None));
}

#[test]
fn the_size_limit_is_8_kib_inclusive() {
    let v = brand_verifier();
    let limit = campaign_token_core::policy::DEFAULT_MAX_TOKEN_BYTES;
    assert_eq!(limit, 8192);
    // Exactly at the limit, the token is parsed (and here rejected for what it is).
    let at = format!("{}.a.a", "a".repeat(limit - 4));
    assert_eq!(rejection(&v, &at, NOW), (Malformed, None));
    let over = format!("{}.a.a", "a".repeat(limit - 3));
    assert_eq!(rejection(&v, &over, NOW), (TooLarge, None));
    // A signed token just under the limit is accepted.
    let base = brand_token(&with(claims(), "pad", json!(""))).len();
    let room = (limit - base) / 4 * 3; // base64url grows 3 bytes into 4 characters
    let token = brand_token(&with(claims(), "pad", json!("p".repeat(room))));
    assert!(
        token.len() <= limit && token.len() > limit - 8,
        "{}",
        token.len()
    );
    accepted(&v, &token, NOW);
}

// ---------------------------------------------------------------------------------------
// Key sets: what is never trusted, and what is refused outright

fn jwk_with(k: &SigningKey, member: &str, value: Value) -> Value {
    let mut jwk = k.public_jwk();
    jwk[member] = value;
    jwk
}

#[test]
fn a_jwks_key_for_encryption_is_never_used() {
    let enc = jwk_with(brand(), "use", json!("enc"));
    let jwks = json!({"keys": [enc, other_p256().public_jwk()]}).to_string();
    let v = verifier_for(KeySet::from_jwks(&jwks).unwrap());
    let token = brand_token(&claims());
    assert_eq!(rejection(&v, &token, NOW), (UnknownKey, None));
    // A key set of encryption keys only has nothing to verify with.
    let only_enc = json!({"keys": [jwk_with(brand(), "use", json!("enc"))]}).to_string();
    assert_eq!(key_error(KeySet::from_jwks(&only_enc)), InvalidKey);
}

#[test]
fn a_jwks_key_whose_key_ops_lack_verify_is_never_used() {
    for ops in [json!(["sign"]), json!(["encrypt", "wrapKey"]), json!([])] {
        let k = jwk_with(brand(), "key_ops", ops.clone());
        let jwks = json!({"keys": [k, other_p256().public_jwk()]}).to_string();
        let v = verifier_for(KeySet::from_jwks(&jwks).unwrap());
        assert_eq!(
            rejection(&v, &brand_token(&claims()), NOW),
            (UnknownKey, None),
            "{ops}"
        );
    }
    let k = jwk_with(brand(), "key_ops", json!(["verify"]));
    let v = verifier_for(KeySet::from_jwks(&json!({ "keys": [k] }).to_string()).unwrap());
    accepted(&v, &brand_token(&claims()), NOW);
}

#[test]
fn a_jwks_with_private_key_material_is_invalid_key() {
    // A brand that publishes its private JWK by mistake must hear about it at once.
    for member in ["d", "p", "q", "dp", "dq", "qi"] {
        let jwk = jwk_with(brand(), member, json!("AAAA"));
        let jwks = json!({"keys": [jwk, other_p256().public_jwk()]}).to_string();
        assert_eq!(key_error(KeySet::from_jwks(&jwks)), InvalidKey, "{member}");
    }
}

#[test]
fn a_symmetric_oct_key_is_invalid_key() {
    for jwk in [
        json!({"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA", "alg": "HS256"}),
        json!({"kty": "oct", "kid": "shared"}),
    ] {
        assert_eq!(
            key_error(KeySet::from_jwks(&jwk.to_string())),
            InvalidKey,
            "{jwk}"
        );
        let jwks = json!({"keys": [brand().public_jwk(), jwk]}).to_string();
        assert_eq!(key_error(KeySet::from_jwks(&jwks)), InvalidKey, "{jwk}");
    }
}

#[test]
fn an_ec_jwk_off_its_curve_or_with_coordinates_of_the_wrong_size_is_invalid_key() {
    for (alg, size) in ECDSA {
        let jwk = key(alg).public_jwk();
        let x = decode(jwk["x"].as_str().unwrap());
        let y = decode(jwk["y"].as_str().unwrap());
        assert_eq!((x.len(), y.len()), (size, size), "{alg}");
        let mut off = y.clone();
        off[size - 1] ^= 1;
        let cases = [
            ("y", json!(b64(&off))),                       // not on the curve
            ("y", jwk["x"].clone()),                       // (x, x): nor this
            ("x", json!(b64(&x[1..]))),                    // a byte short
            ("x", json!(b64(&[&[0u8][..], &x].concat()))), // a byte long
            ("y", json!(b64(&vec![0u8; size]))),           // zero
        ];
        for (member, value) in cases {
            let mut bad = jwk.clone();
            bad[member] = value;
            assert_eq!(
                key_error(KeySet::from_jwks(&bad.to_string())),
                InvalidKey,
                "{alg} {bad}"
            );
        }
        // The same coordinates under another curve's name are refused too.
        for (other, _) in ECDSA.iter().filter(|(a, _)| *a != alg) {
            let mut bad = jwk.clone();
            bad["crv"] = key(*other).public_jwk()["crv"].clone();
            bad.as_object_mut().unwrap().remove("alg");
            assert_eq!(
                key_error(KeySet::from_jwks(&bad.to_string())),
                InvalidKey,
                "{alg} as {other}"
            );
        }
    }
}

#[test]
fn a_jwk_pinned_to_an_algorithm_of_another_key_type_is_invalid_key() {
    for (alg, pin) in [
        (Algorithm::Es256, "ES512"),
        (Algorithm::Es512, "ES256"),
        (Algorithm::Es512, "ES384"),
        (Algorithm::Es512, "RS512"),
    ] {
        let jwk = jwk_with(key(alg), "alg", json!(pin));
        assert_eq!(
            key_error(KeySet::from_jwks(&jwk.to_string())),
            InvalidKey,
            "{alg} key pinned to {pin}"
        );
    }
}

#[test]
fn an_rsa_key_of_1024_bits_is_invalid_key() {
    assert_eq!(key_error(KeySet::from_pem(RSA_1024_PEM)), InvalidKey);
    assert_eq!(key_error(KeySet::parse(RSA_1024_PEM)), InvalidKey);
    assert_eq!(key_error(KeySet::from_jwks(RSA_1024_JWK)), InvalidKey);
    let jwks = format!(r#"{{"keys":[{RSA_1024_JWK}]}}"#);
    assert_eq!(key_error(KeySet::parse(&jwks)), InvalidKey);
}

#[test]
fn an_ed25519_key_of_small_order_is_invalid_key() {
    use ct_codecs::{Base64, Encoder};
    // The identity (y = 1), y = -1 (order 2), an order-8 point, and y = 0 with the sign bit set:
    // with such a key some verifiers accept `S = 0` signatures over any message.
    let mut order8 = [0u8; 32];
    order8.copy_from_slice(&decode("JuiVj8KyJ7BFw_SJ8u-Y8NXfrAXTxjM5sTgCiG1T_AU"));
    let mut minus_one = [0xffu8; 32];
    minus_one[0] = 0xec;
    minus_one[31] = 0x7f;
    let mut one = [0u8; 32];
    one[0] = 1;
    let mut zero_signed = [0u8; 32];
    zero_signed[31] = 0x80;
    for x in [one, minus_one, order8, zero_signed] {
        let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(&x)}).to_string();
        assert_eq!(key_error(KeySet::from_jwks(&jwk)), InvalidKey, "{jwk}");
        let mut spki = decode("MCowBQYDK2VwAyEA");
        spki.extend_from_slice(&x);
        let pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            Base64::encode_to_string(&spki).unwrap()
        );
        assert_eq!(key_error(KeySet::from_pem(&pem)), InvalidKey, "{pem}");
    }
    // A real key still loads.
    KeySet::from_jwks(&key(Algorithm::EdDsa).public_jwk().to_string()).unwrap();
}

#[test]
fn a_private_pem_given_as_the_public_key_is_invalid_key() {
    for alg in [
        Algorithm::Es256,
        Algorithm::Es384,
        Algorithm::Es512,
        Algorithm::EdDsa,
        Algorithm::Rs256,
    ] {
        let private = key(alg).private_pem().unwrap();
        assert_eq!(key_error(KeySet::from_pem(&private)), InvalidKey, "{alg}");
        assert_eq!(key_error(KeySet::parse(&private)), InvalidKey, "{alg}");
    }
}

#[test]
fn a_key_file_that_is_not_a_key_is_invalid_key() {
    for text in [
        "",
        "hello",
        "{}",
        r#"{"keys":{}}"#,
        r#"{"keys":[]}"#,
        r#"{"keys":[1]}"#,
    ] {
        assert_eq!(key_error(KeySet::parse(text)), InvalidKey, "{text:?}");
    }
    // Duplicate members in a key set are refused too.
    let jwk = brand().public_jwk().to_string();
    let dup = jwk.replacen('{', r#"{"kty":"EC","#, 1);
    assert_eq!(key_error(KeySet::parse(&dup)), InvalidKey);
}

// ---------------------------------------------------------------------------------------
// Eligibility: every row of the table, end to end through `verify`

fn eligibility_of(gift: Option<Value>) -> (Eligibility, Value) {
    let payload = match gift {
        Some(g) => with(claims(), "gift", g),
        None => claims(),
    };
    let got = accepted(&brand_verifier(), &brand_token(&payload), NOW);
    let json = serde_json::to_value(&got).unwrap();
    (got.eligibility, json)
}

#[test]
fn cw_true_with_a_label_may_win_the_given_prize_and_shows_it() {
    let (e, json) = eligibility_of(Some(json!({"cw": true, "label": "Spa day"})));
    assert_eq!(e, Eligibility::GivenPrize);
    assert_eq!(json["eligibility"], "given-prize");
    assert_eq!(json["prizeLabel"], "Spa day");
}

#[test]
fn cw_true_without_a_label_may_win_any_prize_and_shows_the_page_default() {
    let (e, json) = eligibility_of(Some(json!({"cw": true})));
    assert_eq!(e, Eligibility::AnyPrize);
    assert_eq!(json["eligibility"], "any-prize");
    assert_eq!(json["prizeLabel"], Value::Null);
}

#[test]
fn cw_false_never_wins_and_its_label_is_never_shown() {
    for gift in [
        json!({"cw": false, "label": "Spa day"}),
        json!({"cw": false}),
    ] {
        let (e, json) = eligibility_of(Some(gift.clone()));
        assert_eq!(e, Eligibility::CannotWin);
        assert!(!e.may_win());
        assert_eq!(json["eligibility"], "cannot-win");
        assert!(json["prizeLabel"].is_null(), "{gift}: {json}");
        // The gift is still reported as sent.
        assert_eq!(json["gift"], gift);
    }
}

#[test]
fn a_label_without_cw_is_a_given_prize() {
    let (e, json) = eligibility_of(Some(json!({"label": "Weekend in Rome"})));
    assert_eq!(e, Eligibility::GivenPrize);
    assert_eq!(json["prizeLabel"], "Weekend in Rome");
}

#[test]
fn no_cw_and_no_label_or_no_gift_is_standard() {
    for gift in [Some(json!({})), Some(json!({"sku": 12})), None] {
        let (e, json) = eligibility_of(gift.clone());
        assert_eq!(e, Eligibility::Standard, "{gift:?}");
        assert_eq!(json["eligibility"], "standard");
        assert!(json["prizeLabel"].is_null());
        assert_eq!(json["gift"], gift.unwrap_or(Value::Null));
    }
}

#[test]
fn a_label_is_shown_exactly_as_sent_markup_included() {
    let label = "<img src=x onerror=alert(1)> & \"quotes\" — ünïcode";
    let (_, json) = eligibility_of(Some(json!({ "label": label })));
    assert_eq!(json["prizeLabel"], label);
}

#[test]
fn the_verified_result_has_every_member_of_the_contract() {
    let payload = with(
        with(claims(), "iss", json!("https://brand.example")),
        "gift",
        json!({"cw": true, "label": "Spa"}),
    );
    let got = accepted(&brand_verifier(), &brand_token(&payload), NOW);
    let json = serde_json::to_value(&got).unwrap();
    let mut names: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "alg",
            "campaignId",
            "custom",
            "eligibility",
            "exp",
            "form",
            "gift",
            "iat",
            "iss",
            "kid",
            "limit",
            "nbf",
            "optin",
            "prizeLabel",
            "sub"
        ]
    );
    assert_eq!(json["alg"], "ES256");
    assert_eq!(json["kid"], brand().kid().unwrap());
    assert_eq!(json["campaignId"], CAMPAIGN);
    assert_eq!(json["exp"], NOW + 600);
}

#[test]
fn each_malformed_gift_is_invalid_claim_naming_the_member() {
    let cases = [
        (json!("yes"), "gift"),
        (json!(true), "gift"),
        (json!(1), "gift"),
        (json!(null), "gift"),
        (json!(["Spa"]), "gift"),
        (json!({"cw": "true"}), "gift.cw"),
        (json!({"cw": 1}), "gift.cw"),
        (json!({"cw": null}), "gift.cw"),
        (json!({"cw": [true]}), "gift.cw"),
        (json!({"label": 5}), "gift.label"),
        (json!({"label": null}), "gift.label"),
        (json!({"label": ["Spa"]}), "gift.label"),
        (json!({"label": {"en": "Spa"}}), "gift.label"),
        (json!({"label": ""}), "gift.label"),
        (json!({"label": "   "}), "gift.label"),
        (json!({"cw": true, "label": 7}), "gift.label"),
        (json!({"cw": false, "label": 7}), "gift.label"),
    ];
    for (gift, claim) in cases {
        let token = brand_token(&with(claims(), "gift", gift.clone()));
        assert_eq!(
            rejection(&brand_verifier(), &token, NOW),
            (InvalidClaim, Some(claim)),
            "gift = {gift}"
        );
    }
}

/// `gift.cw`, `gift.label`, the eligibility, the label shown.
type Row = (
    Option<bool>,
    Option<&'static str>,
    Eligibility,
    Option<&'static str>,
);

#[test]
fn minted_gifts_read_back_as_the_table_says() {
    let rows: [Row; 6] = [
        (
            Some(true),
            Some("Spa"),
            Eligibility::GivenPrize,
            Some("Spa"),
        ),
        (Some(true), None, Eligibility::AnyPrize, None),
        (Some(false), Some("Spa"), Eligibility::CannotWin, None),
        (Some(false), None, Eligibility::CannotWin, None),
        (None, Some("Spa"), Eligibility::GivenPrize, Some("Spa")),
        (None, None, Eligibility::Standard, None),
    ];
    for (cw, label, eligibility, shown) in rows {
        let c = TokenClaims::new("user-42", CAMPAIGN, NOW, 600).with_gift(cw, label);
        let got = accepted(&brand_verifier(), &mint::mint(brand(), &c).unwrap(), NOW);
        assert_eq!(
            (got.eligibility, got.prize_label.as_deref()),
            (eligibility, shown)
        );
    }
}

// ---------------------------------------------------------------------------------------

/// `SigningKey` is not `Clone`; tests that need an owned key re-read it from its PEM.
trait CloneForTest {
    fn clone_for_test(&self) -> SigningKey;
}

impl CloneForTest for SigningKey {
    fn clone_for_test(&self) -> SigningKey {
        SigningKey::from_pem(&self.private_pem().unwrap(), Some(self.algorithm())).unwrap()
    }
}
