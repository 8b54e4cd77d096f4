//! The native signature backend (feature `native-crypto`): jwt-simple's key types, whose
//! RustCrypto / superboring verifying keys check signatures here (the token tool, the
//! allocation server, native tests), and RustCrypto `p521`'s verifying key for ES512, which
//! jwt-simple lacks. Each key is built from the public form `public.rs` parsed, so that this
//! backend and WebCrypto check with the same keys, accepted by the same rules.

#[cfg(feature = "alg-rsa")]
use jwt_simple::prelude::RSAPublicKey;
#[cfg(feature = "alg-es256")]
use jwt_simple::prelude::{ECDSAP256PublicKeyLike, ES256PublicKey};
#[cfg(feature = "alg-es384")]
use jwt_simple::prelude::{ECDSAP384PublicKeyLike, ES384PublicKey};
#[cfg(feature = "alg-eddsa")]
use jwt_simple::prelude::{Ed25519PublicKey, EdDSAPublicKeyLike};
#[cfg(feature = "alg-rsa")]
use superboring::{
    hash::MessageDigest,
    pkey::{PKey, Public},
    rsa::Padding,
    sign::{RsaPssSaltlen, Verifier},
};

use super::{bad_ec_point, WebCryptoImport};
use crate::alg::{Algorithm, Family};
#[cfg(any(feature = "alg-rsa", feature = "hmac"))]
use crate::alg::{Hash, Scheme};
use crate::b64;
use crate::error::Error;

/// The key material of one trusted key.
// A set holds a handful of keys built once at start-up; boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
pub(super) enum Material {
    #[cfg(feature = "alg-es256")]
    P256(ES256PublicKey),
    #[cfg(feature = "alg-es384")]
    P384(ES384PublicKey),
    #[cfg(feature = "alg-es512")]
    P521(p521::ecdsa::VerifyingKey),
    #[cfg(feature = "alg-eddsa")]
    Ed25519(Ed25519PublicKey),
    #[cfg(feature = "alg-rsa")]
    Rsa(PKey<Public>),
    #[cfg(feature = "hmac")]
    Hmac(Vec<u8>),
}

impl Material {
    /// Checks `signature` over `signing_input` with `alg`, which the caller has checked the
    /// key accepts. Any failure, whatever its cause, is just `false`.
    // Only RSA and HMAC keys serve several algorithms; a build without them ignores `alg`.
    #[cfg_attr(
        not(any(feature = "alg-rsa", feature = "hmac")),
        allow(unused_variables)
    )]
    pub(super) fn verify(&self, alg: Algorithm, signing_input: &[u8], signature: &[u8]) -> bool {
        match self {
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
            #[cfg(feature = "alg-es512")]
            Material::P521(k) => {
                use p521::ecdsa::signature::Verifier as _;
                // 132 bytes, r and s each in [1, n - 1]; SHA-512 is p521's digest.
                p521::ecdsa::Signature::from_slice(signature)
                    .is_ok_and(|sig| k.verify(signing_input, &sig).is_ok())
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

    #[cfg(feature = "hmac")]
    pub(super) fn hmac(secret: &[u8]) -> Material {
        Material::Hmac(secret.to_vec())
    }

    /// The verifying key of a public key `public.rs` parsed and accepted. An EC point is
    /// checked to be on its curve here, as WebCrypto checks it when it imports the key.
    pub(super) fn from_import(family: Family, import: &WebCryptoImport) -> Result<Material, Error> {
        match import {
            WebCryptoImport::Jwk(members) => {
                // The members `public.rs` wrote: base64url that decodes.
                let member = |name: &str| -> Result<Vec<u8>, Error> {
                    members
                        .iter()
                        .find(|(n, _)| *n == name)
                        .and_then(|(_, value)| b64::decode(value))
                        .ok_or(unusable())
                };
                match family {
                    Family::P256 | Family::P384 | Family::P521 => {
                        let point = super::ec_point(family, &member("x")?, &member("y")?)?;
                        Material::ec(family, &point)
                    }
                    #[cfg(feature = "alg-eddsa")]
                    Family::Ed25519 => Ed25519PublicKey::from_bytes(&member("x")?)
                        .map(Material::Ed25519)
                        .map_err(|_| unusable()),
                    #[cfg(feature = "alg-rsa")]
                    Family::Rsa => RSAPublicKey::from_components(&member("n")?, &member("e")?)
                        .map_err(|_| unusable())
                        .and_then(rsa_material),
                    // Families this build leaves out (the parser never offers them), and
                    // secrets, which have no public form.
                    #[cfg(not(feature = "alg-eddsa"))]
                    Family::Ed25519 => Err(unusable()),
                    #[cfg(not(feature = "alg-rsa"))]
                    Family::Rsa => Err(unusable()),
                    Family::Hmac => Err(unusable()),
                }
            }
            // `public.rs` writes SPKI for EC and Ed25519 PEM keys (RSA ones become JWK members).
            WebCryptoImport::Spki(der) => match family {
                #[cfg(feature = "alg-es256")]
                Family::P256 => ES256PublicKey::from_der(der)
                    .map(Material::P256)
                    .map_err(|_| bad_ec_point()),
                #[cfg(feature = "alg-es384")]
                Family::P384 => ES384PublicKey::from_der(der)
                    .map(Material::P384)
                    .map_err(|_| bad_ec_point()),
                #[cfg(feature = "alg-es512")]
                Family::P521 => {
                    use p521::pkcs8::DecodePublicKey as _;
                    p521::ecdsa::VerifyingKey::from_public_key_der(der)
                        .map(Material::P521)
                        .map_err(|_| bad_ec_point())
                }
                #[cfg(feature = "alg-eddsa")]
                Family::Ed25519 => Ed25519PublicKey::from_der(der)
                    .map(Material::Ed25519)
                    .map_err(|_| unusable()),
                #[cfg(feature = "alg-rsa")]
                Family::Rsa => RSAPublicKey::from_der(der)
                    .map_err(|_| unusable())
                    .and_then(rsa_material),
                // As above.
                #[cfg(not(feature = "alg-es256"))]
                Family::P256 => Err(unusable()),
                #[cfg(not(feature = "alg-es384"))]
                Family::P384 => Err(unusable()),
                #[cfg(not(feature = "alg-es512"))]
                Family::P521 => Err(unusable()),
                #[cfg(not(feature = "alg-eddsa"))]
                Family::Ed25519 => Err(unusable()),
                #[cfg(not(feature = "alg-rsa"))]
                Family::Rsa => Err(unusable()),
                Family::Hmac => Err(unusable()),
            },
        }
    }

    /// An EC key from its uncompressed SEC1 point, checked to be on the curve.
    // `point` is unused in a build without any EC family.
    #[cfg_attr(
        not(any(feature = "alg-es256", feature = "alg-es384", feature = "alg-es512")),
        allow(unused_variables)
    )]
    fn ec(family: Family, point: &[u8]) -> Result<Material, Error> {
        match family {
            #[cfg(feature = "alg-es256")]
            Family::P256 => ES256PublicKey::from_bytes(point)
                .map(Material::P256)
                .map_err(|_| bad_ec_point()),
            #[cfg(feature = "alg-es384")]
            Family::P384 => ES384PublicKey::from_bytes(point)
                .map(Material::P384)
                .map_err(|_| bad_ec_point()),
            // On the curve and not the identity, or refused.
            #[cfg(feature = "alg-es512")]
            Family::P521 => p521::ecdsa::VerifyingKey::from_sec1_bytes(point)
                .map(Material::P521)
                .map_err(|_| bad_ec_point()),
            // Families this build leaves out (`Family::from_jwk` never offers them), and the
            // families that are not EC.
            #[cfg(not(feature = "alg-es256"))]
            Family::P256 => Err(bad_ec_point()),
            #[cfg(not(feature = "alg-es384"))]
            Family::P384 => Err(bad_ec_point()),
            #[cfg(not(feature = "alg-es512"))]
            Family::P521 => Err(bad_ec_point()),
            Family::Ed25519 | Family::Rsa | Family::Hmac => Err(bad_ec_point()),
        }
    }
}

/// A key the parser accepted but the native key types refuse.
fn unusable() -> Error {
    Error::invalid_key("the key is not a usable public key of its type")
}

/// The modulus length was checked by `public.rs`.
#[cfg(feature = "alg-rsa")]
fn rsa_material(key: RSAPublicKey) -> Result<Material, Error> {
    PKey::from_rsa(key.as_ref().clone())
        .map(Material::Rsa)
        .map_err(|_| Error::invalid_key("unusable RSA public key"))
}

/// The superboring digest of a hash.
#[cfg(feature = "alg-rsa")]
fn digest(hash: Hash) -> MessageDigest {
    match hash {
        Hash::Sha256 => MessageDigest::sha256(),
        Hash::Sha384 => MessageDigest::sha384(),
        Hash::Sha512 => MessageDigest::sha512(),
    }
}

#[cfg(feature = "alg-rsa")]
fn rsa_verify(pkey: &PKey<Public>, alg: Algorithm, signing_input: &[u8], signature: &[u8]) -> bool {
    let (hash, padding, salt_len) = match alg.spec().scheme {
        Scheme::Pkcs1(hash) => (hash, Padding::PKCS1, None),
        // Stated, rather than left to superboring's default (which is the same).
        Scheme::Pss(hash) => (hash, Padding::PKCS1_PSS, Some(hash.len())),
        Scheme::Ecdsa(_) | Scheme::EdDsa | Scheme::Hmac(_) => return false,
    };
    let Ok(mut verifier) = Verifier::new(digest(hash), pkey) else {
        return false;
    };
    verifier.set_rsa_padding(padding).is_ok()
        && salt_len.is_none_or(|len| {
            i32::try_from(len).is_ok_and(|len| {
                verifier
                    .set_rsa_pss_saltlen(RsaPssSaltlen::custom(len))
                    .is_ok()
            })
        })
        && verifier.update(signing_input).is_ok()
        && verifier.verify(signature).unwrap_or(false)
}

#[cfg(feature = "hmac")]
fn hmac_verify(secret: &[u8], alg: Algorithm, signing_input: &[u8], tag: &[u8]) -> bool {
    let expected: Vec<u8> = match alg.spec().scheme {
        Scheme::Hmac(Hash::Sha256) => hmac_sha256::HMAC::mac(signing_input, secret).to_vec(),
        Scheme::Hmac(Hash::Sha384) => {
            hmac_sha512::sha384::HMAC::mac(signing_input, secret).to_vec()
        }
        Scheme::Hmac(Hash::Sha512) => hmac_sha512::HMAC::mac(signing_input, secret).to_vec(),
        Scheme::Ecdsa(_) | Scheme::EdDsa | Scheme::Pkcs1(_) | Scheme::Pss(_) => return false,
    };
    // Constant time in the tag's content; the length is public.
    expected.len() == tag.len()
        && expected
            .iter()
            .zip(tag)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}
