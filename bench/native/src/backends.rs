//! Native signature backends behind the core's public seam, for measurement: the core's own
//! (jwt-simple and RustCrypto, pure Rust), `ring` and `aws-lc-rs`. Each is handed exactly what
//! WebCrypto is handed in the browser: the key's public form (`PublicKey::webcrypto_import`),
//! the algorithm, the signing input and the signature; the core decides everything else
//! (`Verifier::begin`, `PendingCheck::finish`).

use campaign_token_core::{Algorithm, Family, Hash, PublicKey, Scheme, WebCryptoImport};
use ct_codecs::{Base64UrlSafeNoPadding, Decoder};

/// A signature backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The core's native backend (jwt-simple, RustCrypto p256/p384/p521, superboring RSA).
    RustCrypto,
    /// `ring` 0.17 (no P-521).
    Ring,
    /// `aws-lc-rs` 1 (AWS-LC, BoringSSL's descendant).
    AwsLc,
}

impl Backend {
    /// Every backend, in report order.
    pub const ALL: [Backend; 3] = [Backend::RustCrypto, Backend::Ring, Backend::AwsLc];

    /// The name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Backend::RustCrypto => "rustcrypto",
            Backend::Ring => "ring",
            Backend::AwsLc => "aws-lc-rs",
        }
    }
}

/// A key prepared for one backend and algorithm: checks a signature over a signing input.
pub type Check = Box<dyn Fn(&[u8], &[u8]) -> bool + Send + Sync>;

/// The raw key material a backend takes, from the key's JWK form.
enum Material {
    /// Uncompressed SEC1 point `04 || x || y`.
    Point(Vec<u8>),
    /// Ed25519 public key bytes.
    Ed25519(Vec<u8>),
    /// RSA modulus and exponent, big-endian.
    Rsa(Vec<u8>, Vec<u8>),
}

fn material(key: PublicKey<'_>) -> Option<Material> {
    let WebCryptoImport::Jwk(members) = key.webcrypto_import()? else {
        return None; // the benchmarks configure JWK keys
    };
    let get = |name: &str| {
        let value = members.iter().find(|(n, _)| *n == name)?.1.as_str();
        Base64UrlSafeNoPadding::decode_to_vec(value, None).ok()
    };
    Some(match key.family() {
        Family::P256 | Family::P384 | Family::P521 => {
            let mut point = vec![4];
            point.extend(get("x")?);
            point.extend(get("y")?);
            Material::Point(point)
        }
        Family::Ed25519 => Material::Ed25519(get("x")?),
        Family::Rsa => Material::Rsa(get("n")?, get("e")?),
        Family::Hmac => return None,
    })
}

/// `key` prepared for `backend` and `alg`; `None` where the backend lacks the algorithm.
pub fn prepare(backend: Backend, key: PublicKey<'_>, alg: Algorithm) -> Option<Check> {
    if backend == Backend::RustCrypto {
        // The core's key set holds the native keys; the checks borrow it, so the benchmark
        // calls `PublicKey::verify` itself (see benches/verify.rs).
        return None;
    }
    let material = material(key)?;
    let scheme = alg.spec().scheme;
    match backend {
        Backend::RustCrypto => None,
        Backend::Ring => ring_check(material, scheme),
        Backend::AwsLc => aws_lc_check(material, scheme),
    }
}

fn ring_check(material: Material, scheme: Scheme) -> Option<Check> {
    use ring::signature as s;
    let ec: Option<&'static s::EcdsaVerificationAlgorithm> = match scheme {
        Scheme::Ecdsa(Hash::Sha256) => Some(&s::ECDSA_P256_SHA256_FIXED),
        Scheme::Ecdsa(Hash::Sha384) => Some(&s::ECDSA_P384_SHA384_FIXED),
        _ => None,
    };
    let rsa: Option<&'static s::RsaParameters> = match scheme {
        Scheme::Pkcs1(Hash::Sha256) => Some(&s::RSA_PKCS1_2048_8192_SHA256),
        Scheme::Pkcs1(Hash::Sha384) => Some(&s::RSA_PKCS1_2048_8192_SHA384),
        Scheme::Pkcs1(Hash::Sha512) => Some(&s::RSA_PKCS1_2048_8192_SHA512),
        Scheme::Pss(Hash::Sha256) => Some(&s::RSA_PSS_2048_8192_SHA256),
        Scheme::Pss(Hash::Sha384) => Some(&s::RSA_PSS_2048_8192_SHA384),
        Scheme::Pss(Hash::Sha512) => Some(&s::RSA_PSS_2048_8192_SHA512),
        _ => None,
    };
    match (material, scheme) {
        (Material::Point(p), _) => {
            let alg = ec?;
            Some(Box::new(move |m, sig| s::UnparsedPublicKey::new(alg, &p).verify(m, sig).is_ok()))
        }
        (Material::Ed25519(k), Scheme::EdDsa) => {
            Some(Box::new(move |m, sig| s::UnparsedPublicKey::new(&s::ED25519, &k).verify(m, sig).is_ok()))
        }
        (Material::Rsa(n, e), _) => {
            let alg = rsa?;
            Some(Box::new(move |m, sig| {
                s::RsaPublicKeyComponents { n: &n, e: &e }.verify(alg, m, sig).is_ok()
            }))
        }
        _ => None,
    }
}

fn aws_lc_check(material: Material, scheme: Scheme) -> Option<Check> {
    use aws_lc_rs::signature as s;
    let ec: Option<&'static s::EcdsaVerificationAlgorithm> = match scheme {
        Scheme::Ecdsa(Hash::Sha256) => Some(&s::ECDSA_P256_SHA256_FIXED),
        Scheme::Ecdsa(Hash::Sha384) => Some(&s::ECDSA_P384_SHA384_FIXED),
        Scheme::Ecdsa(Hash::Sha512) => Some(&s::ECDSA_P521_SHA512_FIXED),
        _ => None,
    };
    let rsa: Option<&'static s::RsaParameters> = match scheme {
        Scheme::Pkcs1(Hash::Sha256) => Some(&s::RSA_PKCS1_2048_8192_SHA256),
        Scheme::Pkcs1(Hash::Sha384) => Some(&s::RSA_PKCS1_2048_8192_SHA384),
        Scheme::Pkcs1(Hash::Sha512) => Some(&s::RSA_PKCS1_2048_8192_SHA512),
        Scheme::Pss(Hash::Sha256) => Some(&s::RSA_PSS_2048_8192_SHA256),
        Scheme::Pss(Hash::Sha384) => Some(&s::RSA_PSS_2048_8192_SHA384),
        Scheme::Pss(Hash::Sha512) => Some(&s::RSA_PSS_2048_8192_SHA512),
        _ => None,
    };
    match (material, scheme) {
        (Material::Point(p), _) => {
            // Parsed once, as a server would keep it (aws-lc-rs's ParsedPublicKey).
            let key = s::ParsedPublicKey::new(ec?, &p).ok()?;
            Some(Box::new(move |m, sig| key.verify_sig(m, sig).is_ok()))
        }
        (Material::Ed25519(k), Scheme::EdDsa) => {
            let key = s::ParsedPublicKey::new(&s::ED25519, &k).ok()?;
            Some(Box::new(move |m, sig| key.verify_sig(m, sig).is_ok()))
        }
        (Material::Rsa(n, e), _) => {
            let alg = rsa?;
            Some(Box::new(move |m, sig| {
                s::RsaPublicKeyComponents { n: &n, e: &e }.verify(alg, m, sig).is_ok()
            }))
        }
        _ => None,
    }
}
