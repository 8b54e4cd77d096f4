//! The page's verdict against the native verdict, on the same token: no answer may differ.
//!
//! The page runs the core's seam `Verifier::begin(token) -> PendingCheck`, lets WebCrypto decide
//! whether `pending.signature()` holds over `pending.signing_input()` for the key it imported
//! from `pending.key().webcrypto_import()`, then `verifier.finish(pending.into_owned(), valid, now)`
//! (the check kept while WebCrypto answers). This target runs
//! that path with an independent signature backend, ring (AWS-LC for P-521, which ring lacks),
//! fed only with what the page imports (the JWK members), and compares the result, error code or
//! claims, with `Verifier::verify` (RustCrypto through the core's own key types).
//!
//! Input: byte 0 picks the key and the mode; the rest is
//! - mode 0: the token text itself;
//! - mode 1: `header JSON` NUL `payload JSON`, correctly signed with the picked key (so the
//!   fuzzer reaches the claims checks after a valid signature);
//! - mode 2: as mode 1, then the byte at (byte 1) of the token flipped by (byte 2).
#![no_main]

use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use campaign_token_core::mint::{mint, sign_compact, SigningKey, TokenClaims};
use campaign_token_core::{Algorithm, KeySet, Policy, PublicKey, Verifier, WebCryptoImport};
use libfuzzer_sys::fuzz_target;

const NOW: u64 = 1_800_000_000;
const ALGS: [Algorithm; 6] = [
    Algorithm::Es256,
    Algorithm::Es384,
    Algorithm::Es512,
    Algorithm::EdDsa,
    Algorithm::Rs256,
    Algorithm::Ps384,
];

struct Setup {
    /// One signing key per algorithm of `ALGS`, with a `kid`.
    keys: Vec<SigningKey>,
    /// One verifier per key (a JWKS of that key alone), then one trusting all of them.
    verifiers: Vec<Verifier>,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let keys: Vec<SigningKey> = ALGS
            .iter()
            .enumerate()
            .map(|(i, &alg)| {
                SigningKey::generate(alg)
                    .expect("key")
                    .with_kid(Some(format!("k{i}")))
            })
            .collect();
        let policy = || Policy::new("fuzz").expect("policy");
        let mut verifiers: Vec<Verifier> = keys
            .iter()
            .map(|k| {
                let set = KeySet::from_jwks(&k.public_jwks().to_string()).expect("keys");
                Verifier::new(set, policy())
            })
            .collect();
        let all: Vec<_> = keys.iter().map(SigningKey::public_jwk).collect();
        let all = serde_json::json!({ "keys": all }).to_string();
        verifiers.push(Verifier::new(
            KeySet::from_jwks(&all).expect("all keys"),
            policy(),
        ));
        // The target can fail: a real token is valid on both paths, a flipped one on neither.
        for (i, key) in keys.iter().enumerate() {
            let token = mint(key, &TokenClaims::new("s", "fuzz", NOW - 10, 600)).expect("mint");
            for v in [&verifiers[i], &verifiers[keys.len()]] {
                assert!(v.verify(&token, NOW).is_ok());
                assert!(page_verify(v, &token, NOW).is_ok());
                let bad = format!("{}A", &token[..token.len() - 1]);
                let bad = if bad == token {
                    format!("{}B", &token[..token.len() - 1])
                } else {
                    bad
                };
                assert!(v.verify(&bad, NOW).is_err());
                assert!(page_verify(v, &bad, NOW).is_err());
            }
        }
        Setup { keys, verifiers }
    })
}

/// The page's path, with ring (and AWS-LC for P-521) in WebCrypto's place.
fn page_verify(
    v: &Verifier,
    token: &str,
    now: u64,
) -> Result<campaign_token_core::Verified, campaign_token_core::Error> {
    let pending = v.begin(token)?;
    let valid = independent_verify(
        pending.key(),
        pending.algorithm(),
        pending.signing_input(),
        pending.signature(),
    );
    // As the page: the check is detached while WebCrypto answers, then ended by the verifier.
    v.finish(pending.into_owned(), valid, now)
}

/// WebCrypto's `verify`, from the imported key's JWK members only.
fn independent_verify(key: PublicKey<'_>, alg: Algorithm, input: &[u8], sig: &[u8]) -> bool {
    let Some(WebCryptoImport::Jwk(members)) = key.webcrypto_import() else {
        // This target's key sets are JWKS: an SPKI import here would be a core change.
        panic!("unexpected import for {key:?}");
    };
    let member = |name: &str| {
        members
            .iter()
            .find(|(k, _)| *k == name)
            .and_then(|(_, v)| URL_SAFE_NO_PAD.decode(v).ok())
            .unwrap_or_default()
    };
    let point = || [vec![4u8], member("x"), member("y")].concat();
    let rsa = |params: &'static ring::signature::RsaParameters| {
        ring::signature::RsaPublicKeyComponents {
            n: member("n"),
            e: member("e"),
        }
        .verify(params, input, sig)
        .is_ok()
    };
    use ring::signature as r;
    let ring_check = |a: &'static dyn r::VerificationAlgorithm, public: Vec<u8>| {
        r::UnparsedPublicKey::new(a, public)
            .verify(input, sig)
            .is_ok()
    };
    match alg {
        Algorithm::Es256 => ring_check(&r::ECDSA_P256_SHA256_FIXED, point()),
        Algorithm::Es384 => ring_check(&r::ECDSA_P384_SHA384_FIXED, point()),
        Algorithm::Es512 => {
            use aws_lc_rs::signature as a;
            a::UnparsedPublicKey::new(&a::ECDSA_P521_SHA512_FIXED, point())
                .verify(input, sig)
                .is_ok()
        }
        Algorithm::EdDsa => ring_check(&r::ED25519, member("x")),
        Algorithm::Rs256 => rsa(&r::RSA_PKCS1_2048_8192_SHA256),
        Algorithm::Rs384 => rsa(&r::RSA_PKCS1_2048_8192_SHA384),
        Algorithm::Rs512 => rsa(&r::RSA_PKCS1_2048_8192_SHA512),
        Algorithm::Ps256 => rsa(&r::RSA_PSS_2048_8192_SHA256),
        Algorithm::Ps384 => rsa(&r::RSA_PSS_2048_8192_SHA384),
        Algorithm::Ps512 => rsa(&r::RSA_PSS_2048_8192_SHA512),
        // HMAC secrets never reach a page (the browser build cannot hold one).
        _ => panic!("algorithm {alg:?} reached a page path"),
    }
}

fuzz_target!(|data: &[u8]| {
    let s = setup();
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let n = s.verifiers.len();
    let v = &s.verifiers[usize::from(pick) % n];
    let key = &s.keys[usize::from(pick) % s.keys.len()];
    let token = match (usize::from(pick) / n) % 3 {
        0 => match std::str::from_utf8(rest) {
            Ok(t) => t.to_owned(),
            Err(_) => return,
        },
        mode => {
            let (edit, body) = if mode == 2 {
                match rest {
                    [at, by, body @ ..] => (Some((*at, *by)), body),
                    _ => return,
                }
            } else {
                (None, rest)
            };
            let mut parts = body.splitn(2, |&b| b == 0);
            let header = parts.next().unwrap_or_default();
            let payload = parts.next().unwrap_or_default();
            let Ok(token) = sign_compact(key, header, payload) else {
                return;
            };
            let mut bytes = token.into_bytes();
            if let Some((at, by)) = edit {
                let i = usize::from(at) % bytes.len();
                bytes[i] ^= by;
            }
            match String::from_utf8(bytes) {
                Ok(t) => t,
                Err(_) => return,
            }
        }
    };
    let native = v.verify(&token, NOW);
    let page = page_verify(v, &token, NOW);
    match (&native, &page) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "claims differ on {token:?}"),
        (Err(a), Err(b)) => assert_eq!(a.code(), b.code(), "codes differ on {token:?}"),
        _ => panic!("verdicts differ on {token:?}: native {native:?}, page {page:?}"),
    }
});
