//! Native key material: jwt-simple's key types, whose RustCrypto / superboring verifying keys
//! check signatures here (the token tool, the allocation server, native tests), and RustCrypto
//! `p521`'s verifying key for ES512, which jwt-simple lacks.

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

use super::bad_ec_point;
use crate::alg::{Algorithm, Family};
#[cfg(any(feature = "alg-rsa", feature = "hmac"))]
use crate::alg::{Hash, Scheme};
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
    pub(super) fn family(&self) -> Family {
        match self {
            #[cfg(feature = "alg-es256")]
            Material::P256(_) => Family::P256,
            #[cfg(feature = "alg-es384")]
            Material::P384(_) => Family::P384,
            #[cfg(feature = "alg-es512")]
            Material::P521(_) => Family::P521,
            #[cfg(feature = "alg-eddsa")]
            Material::Ed25519(_) => Family::Ed25519,
            #[cfg(feature = "alg-rsa")]
            Material::Rsa(_) => Family::Rsa,
            #[cfg(feature = "hmac")]
            Material::Hmac(_) => Family::Hmac,
        }
    }

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

    /// An EC key from its JWK coordinates (checked to be a point on the curve).
    pub(super) fn ec(family: Family, x: &[u8], y: &[u8]) -> Result<Material, Error> {
        // `point` is unused in a build without any EC family.
        #[cfg_attr(
            not(any(feature = "alg-es256", feature = "alg-es384", feature = "alg-es512")),
            allow(unused_variables)
        )]
        let point = super::ec_point(family, x, y)?;
        match family {
            #[cfg(feature = "alg-es256")]
            Family::P256 => ES256PublicKey::from_bytes(&point)
                .map(Material::P256)
                .map_err(|_| bad_ec_point()),
            #[cfg(feature = "alg-es384")]
            Family::P384 => ES384PublicKey::from_bytes(&point)
                .map(Material::P384)
                .map_err(|_| bad_ec_point()),
            // On the curve and not the identity, or refused.
            #[cfg(feature = "alg-es512")]
            Family::P521 => p521::ecdsa::VerifyingKey::from_sec1_bytes(&point)
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

    #[cfg(feature = "alg-eddsa")]
    pub(super) fn ed25519(x: &[u8]) -> Result<Material, Error> {
        super::check_ed25519(x)?;
        Ed25519PublicKey::from_bytes(x)
            .map(Material::Ed25519)
            .map_err(|_| Error::invalid_key("an Ed25519 JWK is not a valid public key"))
    }

    #[cfg(feature = "alg-rsa")]
    pub(super) fn rsa(n: &[u8], e: &[u8]) -> Result<Material, Error> {
        let key = RSAPublicKey::from_components(n, e)
            .map_err(|_| Error::invalid_key("an RSA JWK is not a valid public key"))?;
        rsa_material(key)
    }

    #[cfg(feature = "pem")]
    pub(super) fn from_pem(pem: &str) -> Result<Material, Error> {
        #[cfg(feature = "alg-es256")]
        if let Ok(k) = ES256PublicKey::from_pem(pem) {
            return Ok(Material::P256(k));
        }
        #[cfg(feature = "alg-es384")]
        if let Ok(k) = ES384PublicKey::from_pem(pem) {
            return Ok(Material::P384(k));
        }
        #[cfg(feature = "alg-es512")]
        {
            use p521::pkcs8::DecodePublicKey as _;
            // SPKI with the secp521r1 curve OID, and a point on the curve.
            if let Ok(k) = p521::ecdsa::VerifyingKey::from_public_key_pem(pem) {
                return Ok(Material::P521(k));
            }
        }
        #[cfg(feature = "alg-eddsa")]
        if let Ok(k) = Ed25519PublicKey::from_pem(pem) {
            super::check_ed25519(&k.to_bytes())?;
            return Ok(Material::Ed25519(k));
        }
        #[cfg(feature = "alg-rsa")]
        if let Ok(k) = RSAPublicKey::from_pem(pem) {
            return rsa_material(k);
        }
        Err(super::unsupported_pem())
    }
}

#[cfg(feature = "alg-rsa")]
fn rsa_material(key: RSAPublicKey) -> Result<Material, Error> {
    super::check_rsa_modulus(&key.to_components().n)?;
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
