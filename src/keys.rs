//! Trusted keys: one PEM public key, or a JWKS of several selected by `kid` (rotation).
//!
//! Only keys configured here are ever trusted; keys a token carries (`jwk`, `jku`, `x5c`, …)
//! are ignored. Loading is strict and loud: private key material, shared secrets in a public
//! key set, weak RSA moduli and duplicate `kid`s are configuration errors (`invalid_key`),
//! because each of them is a mistake a brand would want to hear about before going live.
//!
//! Signature checks call the verifying keys inside jwt-simple's key types (RustCrypto
//! `p256`/`p384`, `ed25519-compact`, `superboring` for RSA) directly: the JWS framing around
//! them is ours (see `verify`), so that every parsing rule has one implementation.

#[cfg(feature = "alg-rsa")]
use jwt_simple::prelude::RSAPublicKey;
#[cfg(feature = "alg-es256")]
use jwt_simple::prelude::{ECDSAP256PublicKeyLike, ES256PublicKey};
#[cfg(feature = "alg-es384")]
use jwt_simple::prelude::{ECDSAP384PublicKeyLike, ES384PublicKey};
#[cfg(feature = "alg-eddsa")]
use jwt_simple::prelude::{Ed25519PublicKey, EdDSAPublicKeyLike};
use serde_json::Value;
#[cfg(feature = "alg-rsa")]
use superboring::{
    hash::MessageDigest,
    pkey::{PKey, Public},
    rsa::Padding,
    sign::Verifier,
};

use crate::alg::Algorithm;
use crate::error::{Error, ErrorCode};
use crate::{b64, json};

// Each key family can be left out of a build (features `alg-*`, all on by default) so that a
// brand signing with one algorithm ships a smaller wasm module. A token or key of a family
// left out is then treated like an unsupported one.
#[cfg(not(any(
    feature = "alg-es256",
    feature = "alg-es384",
    feature = "alg-eddsa",
    feature = "alg-rsa"
)))]
compile_error!("enable at least one key family: alg-es256, alg-es384, alg-eddsa or alg-rsa");

// A build without RSA never asks whether an algorithm is RSA; keep the helper referenced.
#[cfg(not(feature = "alg-rsa"))]
const _: fn(Algorithm) -> bool = Algorithm::is_rsa;

/// Most keys a set may hold. Rotation needs two or three; a huge set is a mistake.
const MAX_KEYS: usize = 64;
/// Smallest RSA modulus accepted, in bits (NIST SP 800-131A; also what `jose` enforces).
#[cfg(feature = "alg-rsa")]
const MIN_RSA_BITS: usize = 2048;
/// Shortest HMAC secret accepted, in bytes (RFC 7518 §3.2: at least the hash size).
#[cfg(feature = "hmac")]
const MIN_HMAC_SECRET: usize = 32;

/// The key material of one trusted key.
// A set holds a handful of keys built once at start-up; boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
enum Material {
    #[cfg(feature = "alg-es256")]
    P256(ES256PublicKey),
    #[cfg(feature = "alg-es384")]
    P384(ES384PublicKey),
    #[cfg(feature = "alg-eddsa")]
    Ed25519(Ed25519PublicKey),
    #[cfg(feature = "alg-rsa")]
    Rsa(PKey<Public>),
    #[cfg(feature = "hmac")]
    Hmac(Vec<u8>),
}

impl Material {
    fn kind(&self) -> &'static str {
        match self {
            #[cfg(feature = "alg-es256")]
            Material::P256(_) => "EC P-256",
            #[cfg(feature = "alg-es384")]
            Material::P384(_) => "EC P-384",
            #[cfg(feature = "alg-eddsa")]
            Material::Ed25519(_) => "OKP Ed25519",
            #[cfg(feature = "alg-rsa")]
            Material::Rsa(_) => "RSA",
            #[cfg(feature = "hmac")]
            Material::Hmac(_) => "HMAC secret",
        }
    }

    fn family_accepts(&self, alg: Algorithm) -> bool {
        match self {
            #[cfg(feature = "alg-es256")]
            Material::P256(_) => alg == Algorithm::Es256,
            #[cfg(feature = "alg-es384")]
            Material::P384(_) => alg == Algorithm::Es384,
            #[cfg(feature = "alg-eddsa")]
            Material::Ed25519(_) => alg == Algorithm::EdDsa,
            #[cfg(feature = "alg-rsa")]
            Material::Rsa(_) => alg.is_rsa(),
            #[cfg(feature = "hmac")]
            Material::Hmac(_) => alg.is_hmac(),
        }
    }
}

/// One trusted key: its material, its `kid` if any, and the algorithm it is pinned to if
/// its JWK said so.
struct Key {
    kid: Option<String>,
    pinned: Option<Algorithm>,
    material: Material,
}

impl Key {
    fn accepts(&self, alg: Algorithm) -> bool {
        self.material.family_accepts(alg) && self.pinned.is_none_or(|p| p == alg)
    }

    /// Checks `signature` over `signing_input` with `alg`, which the caller has checked the
    /// key accepts. Any failure, whatever its cause, is just `false`.
    // Only RSA and HMAC keys serve several algorithms; a build without them ignores `alg`.
    #[cfg_attr(
        not(any(feature = "alg-rsa", feature = "hmac")),
        allow(unused_variables)
    )]
    fn verify(&self, alg: Algorithm, signing_input: &[u8], signature: &[u8]) -> bool {
        match &self.material {
            #[cfg(feature = "alg-es256")]
            Material::P256(k) => {
                use p256::ecdsa::signature::Verifier as _;
                // `from_slice` refuses r = 0 or s = 0 and anything but 64 bytes.
                p256::ecdsa::Signature::from_slice(signature)
                    .is_ok_and(|sig| k.public_key().as_ref().verify(signing_input, &sig).is_ok())
            }
            #[cfg(feature = "alg-es384")]
            Material::P384(k) => {
                use p384::ecdsa::signature::Verifier as _;
                p384::ecdsa::Signature::from_slice(signature)
                    .is_ok_and(|sig| k.public_key().as_ref().verify(signing_input, &sig).is_ok())
            }
            #[cfg(feature = "alg-eddsa")]
            Material::Ed25519(k) => ed25519_compact::Signature::from_slice(signature)
                .is_ok_and(|sig| k.public_key().as_ref().verify(signing_input, &sig).is_ok()),
            #[cfg(feature = "alg-rsa")]
            Material::Rsa(pkey) => rsa_verify(pkey, alg, signing_input, signature),
            #[cfg(feature = "hmac")]
            Material::Hmac(secret) => hmac_verify(secret, alg, signing_input, signature),
        }
    }
}

#[cfg(feature = "alg-rsa")]
fn rsa_verify(pkey: &PKey<Public>, alg: Algorithm, signing_input: &[u8], signature: &[u8]) -> bool {
    let (digest, padding) = match alg {
        Algorithm::Rs256 => (MessageDigest::sha256(), Padding::PKCS1),
        Algorithm::Rs384 => (MessageDigest::sha384(), Padding::PKCS1),
        Algorithm::Rs512 => (MessageDigest::sha512(), Padding::PKCS1),
        Algorithm::Ps256 => (MessageDigest::sha256(), Padding::PKCS1_PSS),
        Algorithm::Ps384 => (MessageDigest::sha384(), Padding::PKCS1_PSS),
        Algorithm::Ps512 => (MessageDigest::sha512(), Padding::PKCS1_PSS),
        _ => return false,
    };
    let Ok(mut verifier) = Verifier::new(digest, pkey) else {
        return false;
    };
    verifier.set_rsa_padding(padding).is_ok()
        && verifier.update(signing_input).is_ok()
        && verifier.verify(signature).unwrap_or(false)
}

#[cfg(feature = "hmac")]
fn hmac_verify(secret: &[u8], alg: Algorithm, signing_input: &[u8], tag: &[u8]) -> bool {
    let expected: Vec<u8> = match alg {
        Algorithm::Hs256 => hmac_sha256::HMAC::mac(signing_input, secret).to_vec(),
        Algorithm::Hs384 => hmac_sha512::sha384::HMAC::mac(signing_input, secret).to_vec(),
        Algorithm::Hs512 => hmac_sha512::HMAC::mac(signing_input, secret).to_vec(),
        _ => return false,
    };
    // Constant time in the tag's content; the length is public.
    expected.len() == tag.len()
        && expected
            .iter()
            .zip(tag)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// The keys a verifier trusts.
///
/// Build it once at start-up (parsing keys is slow next to verifying a token) and share it.
#[derive(Default)]
pub struct KeySet {
    keys: Vec<Key>,
}

impl core::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never print key material (an HMAC secret in particular).
        f.debug_list()
            .entries(
                self.keys
                    .iter()
                    .map(|k| (k.kid.as_deref(), k.material.kind())),
            )
            .finish()
    }
}

impl KeySet {
    /// An empty set; add keys with [`KeySet::add_pem`], [`KeySet::add_jwks`].
    pub fn new() -> KeySet {
        KeySet::default()
    }

    /// A set of one PEM public key (SPKI `PUBLIC KEY`, or PKCS#1 `RSA PUBLIC KEY`).
    pub fn from_pem(pem: &str) -> Result<KeySet, Error> {
        let mut set = KeySet::new();
        set.add_pem(None, pem)?;
        Ok(set)
    }

    /// A set from a JWKS (`{"keys":[…]}`) or a single JWK object.
    pub fn from_jwks(jwks: &str) -> Result<KeySet, Error> {
        let mut set = KeySet::new();
        set.add_jwks(jwks)?;
        Ok(set)
    }

    /// A set from text that is either a PEM public key or a JWK/JWKS, told apart by its
    /// first character.
    pub fn parse(text: &str) -> Result<KeySet, Error> {
        let text = text.trim();
        if text.starts_with('{') {
            KeySet::from_jwks(text)
        } else {
            KeySet::from_pem(text)
        }
    }

    /// Number of usable keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set has no key (it then rejects every token with `unknown_key`).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The `kid`s of the keys, in order (`None` for a key without one).
    pub fn kids(&self) -> impl Iterator<Item = Option<&str>> {
        self.keys.iter().map(|k| k.kid.as_deref())
    }

    /// Adds one PEM public key, with an optional `kid`.
    pub fn add_pem(&mut self, kid: Option<String>, pem: &str) -> Result<(), Error> {
        let pem = pem.trim();
        if pem.contains("PRIVATE KEY") {
            return Err(Error::invalid_key(
                "this is a private key: configure the public key (never ship a private key)",
            ));
        }
        let material = parse_pem(pem)?;
        self.push(Key {
            kid,
            pinned: None,
            material,
        })
    }

    /// Adds the usable keys of a JWKS or of a single JWK.
    ///
    /// Keys whose `use` is not `sig`, whose `key_ops` lack `verify`, or whose type or curve
    /// is not supported are skipped; it is an error if none is left. A key with private
    /// members, or a symmetric (`oct`) key, is an error: that set must not be published.
    pub fn add_jwks(&mut self, text: &str) -> Result<(), Error> {
        let value = json::parse(text.trim().as_bytes()).map_err(|_| {
            Error::invalid_key("the key set is not valid JSON (or repeats a member)")
        })?;
        let jwks: Vec<&Value> = match value.get("keys") {
            Some(Value::Array(keys)) => keys.iter().collect(),
            Some(_) => {
                return Err(Error::invalid_key(
                    "the JWKS `keys` member must be an array",
                ))
            }
            None if value.get("kty").is_some() => vec![&value],
            None => {
                return Err(Error::invalid_key(
                    "expected a JWKS ({\"keys\":[…]}) or a JWK",
                ))
            }
        };
        let before = self.keys.len();
        for jwk in jwks {
            if let Some(key) = parse_jwk(jwk)? {
                self.push(key)?;
            }
        }
        if self.keys.len() == before {
            return Err(Error::invalid_key(
                "the key set has no usable signature verification key",
            ));
        }
        Ok(())
    }

    /// Adds an HMAC shared secret (at least 32 bytes). Server only: the browser build has
    /// no `hmac` feature, so a page cannot be configured with a secret.
    #[cfg(feature = "hmac")]
    pub fn add_hmac_secret(
        &mut self,
        kid: Option<String>,
        alg: Option<Algorithm>,
        secret: &[u8],
    ) -> Result<(), Error> {
        if secret.len() < MIN_HMAC_SECRET {
            return Err(Error::invalid_key(
                "an HMAC secret must be at least 32 bytes",
            ));
        }
        if alg.is_some_and(|a| !a.is_hmac()) {
            return Err(Error::invalid_key(
                "an HMAC secret can only be pinned to HS256/384/512",
            ));
        }
        self.push(Key {
            kid,
            pinned: alg,
            material: Material::Hmac(secret.to_vec()),
        })
    }

    fn push(&mut self, key: Key) -> Result<(), Error> {
        if self.keys.len() >= MAX_KEYS {
            return Err(Error::invalid_key("too many keys (at most 64)"));
        }
        if let Some(kid) = &key.kid {
            if self.keys.iter().any(|k| k.kid.as_ref() == Some(kid)) {
                return Err(Error::invalid_key("two keys have the same kid"));
            }
        }
        if !self.keys.is_empty() && (key.kid.is_none() || self.keys.iter().any(|k| k.kid.is_none()))
        {
            return Err(Error::invalid_key(
                "every key of a set with several keys needs a kid, so tokens can name theirs",
            ));
        }
        self.keys.push(key);
        Ok(())
    }

    /// Chooses the key for a token's `kid` and `alg`, before any cryptography runs.
    fn select(&self, kid: Option<&str>, alg: Algorithm) -> Result<&Key, Error> {
        let key = match (kid, self.keys.as_slice()) {
            // A single key without a kid (a PEM) is the key, whatever kid the token names.
            (_, [only]) if only.kid.is_none() => only,
            (Some(kid), keys) => {
                keys.iter()
                    .find(|k| k.kid.as_deref() == Some(kid))
                    .ok_or(Error::new(
                        ErrorCode::UnknownKey,
                        "no configured key has the token's kid",
                    ))?
            }
            (None, [only]) => only,
            (None, _) => {
                return Err(Error::new(
                    ErrorCode::UnknownKey,
                    "several keys are configured and the token names none (kid)",
                ))
            }
        };
        if key.accepts(alg) {
            Ok(key)
        } else {
            Err(Error::new(
                ErrorCode::UnsupportedAlgorithm,
                "the token's alg does not match the selected key",
            ))
        }
    }

    /// Verifies a signature with the key the token selects: `unknown_key` or
    /// `unsupported_algorithm` before any cryptography, then `bad_signature` or success.
    pub(crate) fn verify(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
        signing_input: &[u8],
        signature: &[u8],
    ) -> Result<(), Error> {
        let key = self.select(kid, alg)?;
        if key.verify(alg, signing_input, signature) {
            Ok(())
        } else {
            Err(Error::new(
                ErrorCode::BadSignature,
                "the signature does not verify",
            ))
        }
    }
}

#[cfg(not(feature = "pem"))]
fn parse_pem(_pem: &str) -> Result<Material, Error> {
    Err(Error::invalid_key(
        "this build accepts JWK/JWKS keys only (built without the `pem` feature): configure \
         the JWKS (`campaign-token keygen` writes jwks.json)",
    ))
}

#[cfg(feature = "pem")]
fn parse_pem(pem: &str) -> Result<Material, Error> {
    #[cfg(feature = "alg-es256")]
    if let Ok(k) = ES256PublicKey::from_pem(pem) {
        return Ok(Material::P256(k));
    }
    #[cfg(feature = "alg-es384")]
    if let Ok(k) = ES384PublicKey::from_pem(pem) {
        return Ok(Material::P384(k));
    }
    #[cfg(feature = "alg-eddsa")]
    if let Ok(k) = Ed25519PublicKey::from_pem(pem) {
        return Ok(Material::Ed25519(k));
    }
    #[cfg(feature = "alg-rsa")]
    if let Ok(k) = RSAPublicKey::from_pem(pem) {
        return rsa_material(k);
    }
    Err(Error::invalid_key(
        "not a supported PEM public key (EC P-256, EC P-384, Ed25519 or RSA ≥ 2048 bits, \
         as far as this build includes them)",
    ))
}

#[cfg(feature = "alg-rsa")]
fn rsa_material(key: RSAPublicKey) -> Result<Material, Error> {
    if key.to_components().n.len() * 8 < MIN_RSA_BITS {
        return Err(Error::invalid_key(
            "RSA keys must have a modulus of at least 2048 bits",
        ));
    }
    PKey::from_rsa(key.as_ref().clone())
        .map(Material::Rsa)
        .map_err(|_| Error::invalid_key("unusable RSA public key"))
}

/// Members that only private or symmetric JWKs have.
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

fn parse_jwk(jwk: &Value) -> Result<Option<Key>, Error> {
    let Some(obj) = jwk.as_object() else {
        return Err(Error::invalid_key("every JWKS entry must be an object"));
    };
    if PRIVATE_MEMBERS.iter().any(|m| obj.contains_key(*m)) {
        return Err(Error::invalid_key(
            "the key set contains private or secret key material: publish public keys only",
        ));
    }
    let text = |name: &str| -> Result<Option<&str>, Error> {
        match obj.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(Error::invalid_key("a JWK member has the wrong type")),
        }
    };
    let bytes = |name: &str| -> Result<Vec<u8>, Error> {
        text(name)?.and_then(b64::decode).ok_or(Error::invalid_key(
            "a JWK coordinate is missing or not base64url",
        ))
    };

    if text("use")?.is_some_and(|u| u != "sig") {
        return Ok(None);
    }
    match obj.get("key_ops") {
        None => {}
        Some(Value::Array(ops)) if ops.iter().any(|op| op == "verify") => {}
        Some(Value::Array(_)) => return Ok(None),
        Some(_) => return Err(Error::invalid_key("JWK key_ops must be an array")),
    }
    let kid = text("kid")?.map(str::to_owned);
    let pinned = match text("alg")? {
        None => None,
        Some(name) => match Algorithm::from_name(name) {
            Some(alg) if !alg.is_hmac() => Some(alg),
            _ => return Ok(None),
        },
    };
    let material = match (text("kty")?, text("crv")?) {
        #[cfg(feature = "alg-es256")]
        (Some("EC"), Some("P-256")) => Material::P256(
            ES256PublicKey::from_bytes(&ec_point(&bytes("x")?, &bytes("y")?, 32)?)
                .map_err(|_| bad_ec_point())?,
        ),
        #[cfg(feature = "alg-es384")]
        (Some("EC"), Some("P-384")) => Material::P384(
            ES384PublicKey::from_bytes(&ec_point(&bytes("x")?, &bytes("y")?, 48)?)
                .map_err(|_| bad_ec_point())?,
        ),
        #[cfg(feature = "alg-eddsa")]
        (Some("OKP"), Some("Ed25519")) => {
            let x = bytes("x")?;
            Material::Ed25519(
                Ed25519PublicKey::from_bytes(&x)
                    .map_err(|_| Error::invalid_key("an Ed25519 JWK is not a valid public key"))?,
            )
        }
        #[cfg(feature = "alg-rsa")]
        (Some("RSA"), _) => {
            let key = RSAPublicKey::from_components(&bytes("n")?, &bytes("e")?)
                .map_err(|_| Error::invalid_key("an RSA JWK is not a valid public key"))?;
            rsa_material(key)?
        }
        (Some("oct"), _) => {
            return Err(Error::invalid_key(
                "a symmetric (oct) key in a public key set: never publish a shared secret",
            ))
        }
        (None, _) => return Err(Error::invalid_key("a JWK has no kty")),
        // Other key types and curves (secp256k1, X25519, …) are not for us, nor are families
        // this build leaves out (features `alg-*`): skip them.
        _ => return Ok(None),
    };
    let key = Key {
        kid,
        pinned,
        material,
    };
    if pinned.is_some_and(|alg| !key.material.family_accepts(alg)) {
        return Err(Error::invalid_key(
            "a JWK's alg does not match its key type",
        ));
    }
    Ok(Some(key))
}

#[cfg(any(feature = "alg-es256", feature = "alg-es384"))]
fn bad_ec_point() -> Error {
    Error::invalid_key("an EC JWK is not a valid point on its curve")
}

/// The uncompressed SEC1 point `04 || x || y`, each coordinate `len` bytes.
#[cfg(any(feature = "alg-es256", feature = "alg-es384"))]
fn ec_point(x: &[u8], y: &[u8], len: usize) -> Result<Vec<u8>, Error> {
    if x.len() != len || y.len() != len {
        return Err(bad_ec_point());
    }
    let mut point = Vec::with_capacity(1 + 2 * len);
    point.push(0x04);
    point.extend_from_slice(x);
    point.extend_from_slice(y);
    Ok(point)
}
