//! The AWS-LC signature backend (feature `aws-lc`), for the allocation server.
//!
//! Measured through the whole pipeline (`./scripts/bench.sh --only native`, docs/benchmarks.md),
//! aws-lc-rs checks ES256 about 4× faster than the pure-Rust backend (RustCrypto through
//! jwt-simple), RSA 5–6×, ES384 3×, and it has P-521, which ring lacks. The server verifies
//! every participation, so its throughput follows its signature backend; the token tool and the
//! browser's fallback module keep the pure-Rust one.
//!
//! Keys are made from the same public form the rules accepted (`public.rs`) and WebCrypto
//! imports, and parsed once, when the key set is built: an EC or Ed25519 key AWS-LC refuses
//! is `invalid_key` then, as it is for the other backends. HMAC secrets stay with the native
//! backend (`native.rs`).

use aws_lc_rs::signature::{self as s, ParsedPublicKey, RsaParameters, RsaPublicKeyComponents};

use super::{b64, Error, WebCryptoImport};
use crate::alg::{Algorithm, Family, Hash, Scheme};

pub(super) enum AwsKey {
    /// EC and Ed25519 keys, parsed for their one algorithm.
    Parsed(ParsedPublicKey),
    /// RSA modulus and exponent: one key serves six algorithms.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// HMAC secrets: checked by the native backend.
    None,
}

fn unusable() -> Error {
    Error::invalid_key("the key is not a valid public key of its type")
}

/// A base64url member of a JWK's public members, decoded.
fn jwk_member(members: &[(&'static str, String)], name: &str) -> Result<Vec<u8>, Error> {
    members
        .iter()
        .find(|(n, _)| *n == name)
        .and_then(|(_, v)| b64::decode(v))
        .ok_or_else(unusable)
}

impl AwsKey {
    pub(super) fn from_import(
        family: Family,
        import: Option<&WebCryptoImport>,
    ) -> Result<AwsKey, Error> {
        let Some(import) = import else {
            return Ok(AwsKey::None);
        };
        // The raw key: from JWK members, or the end of an SPKI, whose subject public key is its
        // last element and which `public.rs` checked is `04 || x || y` (EC) or 32 bytes (Ed25519).
        let raw = |len: usize| -> Result<Vec<u8>, Error> {
            match import {
                WebCryptoImport::Jwk(members) => {
                    let member = |name: &str| jwk_member(members, name);
                    if family == Family::Ed25519 {
                        member("x")
                    } else {
                        let mut point = vec![4];
                        point.extend(member("x")?);
                        point.extend(member("y")?);
                        Ok(point)
                    }
                }
                WebCryptoImport::Spki(der) => der
                    .len()
                    .checked_sub(len)
                    .and_then(|start| der.get(start..))
                    .map(<[u8]>::to_vec)
                    .ok_or_else(unusable),
            }
        };
        let coordinates = family.spec().coordinate_len;
        let parsed = |alg: &'static s::EcdsaVerificationAlgorithm| -> Result<AwsKey, Error> {
            let point = raw(1 + 2 * coordinates)?;
            ParsedPublicKey::new(alg, &point)
                .map(AwsKey::Parsed)
                .map_err(|_| unusable())
        };
        match family {
            Family::P256 => parsed(&s::ECDSA_P256_SHA256_FIXED),
            Family::P384 => parsed(&s::ECDSA_P384_SHA384_FIXED),
            Family::P521 => parsed(&s::ECDSA_P521_SHA512_FIXED),
            Family::Ed25519 => ParsedPublicKey::new(&s::ED25519, &raw(32)?)
                .map(AwsKey::Parsed)
                .map_err(|_| unusable()),
            Family::Rsa => match import {
                WebCryptoImport::Jwk(members) => {
                    let member = |name: &str| jwk_member(members, name);
                    Ok(AwsKey::Rsa {
                        n: member("n")?,
                        e: member("e")?,
                    })
                }
                // `public.rs` turns every RSA PEM into JWK members.
                WebCryptoImport::Spki(_) => Err(unusable()),
            },
            Family::Hmac => Ok(AwsKey::None),
        }
    }

    /// Checks `signature` over `signing_input` with `alg`, which the caller has checked the key
    /// accepts. `None` when this backend does not hold the key (HMAC): the native one decides.
    pub(super) fn verify(
        &self,
        alg: Algorithm,
        signing_input: &[u8],
        signature: &[u8],
    ) -> Option<bool> {
        match self {
            AwsKey::Parsed(key) => Some(key.verify_sig(signing_input, signature).is_ok()),
            AwsKey::Rsa { n, e } => {
                let params: &'static RsaParameters = match alg.spec().scheme {
                    Scheme::Pkcs1(Hash::Sha256) => &s::RSA_PKCS1_2048_8192_SHA256,
                    Scheme::Pkcs1(Hash::Sha384) => &s::RSA_PKCS1_2048_8192_SHA384,
                    Scheme::Pkcs1(Hash::Sha512) => &s::RSA_PKCS1_2048_8192_SHA512,
                    Scheme::Pss(Hash::Sha256) => &s::RSA_PSS_2048_8192_SHA256,
                    Scheme::Pss(Hash::Sha384) => &s::RSA_PSS_2048_8192_SHA384,
                    Scheme::Pss(Hash::Sha512) => &s::RSA_PSS_2048_8192_SHA512,
                    _ => return Some(false),
                };
                Some(
                    RsaPublicKeyComponents { n, e }
                        .verify(params, signing_input, signature)
                        .is_ok(),
                )
            }
            AwsKey::None => None,
        }
    }
}
