//! Producing tokens: signing keys, key generation, and minting (feature `mint`, native only).
//!
//! This is the brand side, used by the token tool, by tests, by the demo and by benchmarks,
//! so that there is one signer in the project. It is never compiled into the browser module.
//!
//! [`sign_compact`] signs arbitrary header and payload bytes: tests use it to craft hostile
//! tokens that are correctly signed but wrong in every other way.

use jwt_simple::prelude::{
    ECDSAP256KeyPairLike, ECDSAP256PublicKeyLike, ECDSAP384KeyPairLike, ECDSAP384PublicKeyLike,
    ES256KeyPair, ES384KeyPair, Ed25519KeyPair, EdDSAKeyPairLike, RSAKeyPair,
};
use p521::elliptic_curve::Generate as _;
use p521::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _, EncodePublicKey as _, LineEnding};
use serde::Serialize;
use serde_json::{json, Value};
use superboring::hash::MessageDigest;
use superboring::pkey::PKey;
use superboring::rsa::Padding;
use superboring::sign::{RsaPssSaltlen, Signer};

use crate::alg::{Algorithm, Family, Hash, Scheme};
use crate::b64;
use crate::error::Error;

/// RSA modulus size for generated keys.
pub const RSA_BITS: usize = 2048;

enum Secret {
    P256(ES256KeyPair),
    P384(ES384KeyPair),
    /// jwt-simple has no ES512: p521's own signing key.
    P521(p521::ecdsa::SigningKey),
    Ed25519(Ed25519KeyPair),
    Rsa(RSAKeyPair),
    #[cfg(feature = "hmac")]
    Hmac(Vec<u8>),
}

impl Secret {
    fn family(&self) -> Family {
        match self {
            Secret::P256(_) => Family::P256,
            Secret::P384(_) => Family::P384,
            Secret::P521(_) => Family::P521,
            Secret::Ed25519(_) => Family::Ed25519,
            Secret::Rsa(_) => Family::Rsa,
            #[cfg(feature = "hmac")]
            Secret::Hmac(_) => Family::Hmac,
        }
    }
}

/// A private key and the algorithm it signs with.
pub struct SigningKey {
    alg: Algorithm,
    kid: Option<String>,
    secret: Secret,
}

impl core::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

fn key_err(_: impl core::fmt::Debug) -> Error {
    Error::invalid_key("the private key cannot be read or used")
}

fn wrong_algorithm() -> Error {
    Error::invalid_key("the key type cannot sign with that algorithm")
}

impl SigningKey {
    /// A new random key for `alg` (asymmetric algorithms only), with its JWK thumbprint as
    /// `kid`.
    pub fn generate(alg: Algorithm) -> Result<SigningKey, Error> {
        let secret = match alg.spec().family {
            Family::P256 => Secret::P256(ES256KeyPair::generate()),
            Family::P384 => Secret::P384(ES384KeyPair::generate()),
            Family::P521 => Secret::P521(p521::ecdsa::SigningKey::try_generate().map_err(key_err)?),
            Family::Ed25519 => Secret::Ed25519(Ed25519KeyPair::generate()),
            Family::Rsa => Secret::Rsa(RSAKeyPair::generate(RSA_BITS).map_err(key_err)?),
            Family::Hmac => {
                return Err(Error::invalid_key(
                    "only asymmetric algorithms can generate a key pair",
                ))
            }
        };
        let mut key = SigningKey {
            alg,
            kid: None,
            secret,
        };
        key.kid = Some(key.thumbprint());
        Ok(key)
    }

    /// A key from a PKCS#8 PEM private key. `alg` picks among the algorithms the key type
    /// allows (RSA: RS256 by default); `None` takes the key type's default.
    pub fn from_pem(pem: &str, alg: Option<Algorithm>) -> Result<SigningKey, Error> {
        let pem = pem.trim();
        let candidates: Vec<Algorithm> = match alg {
            Some(a) => vec![a],
            // Each key type's default algorithm (`Algorithm::family_default`).
            None => Algorithm::ASYMMETRIC
                .into_iter()
                .filter(|a| a.family_default() == *a)
                .collect(),
        };
        for alg in candidates {
            let secret = match alg.spec().family {
                Family::P256 => ES256KeyPair::from_pem(pem).ok().map(Secret::P256),
                Family::P384 => ES384KeyPair::from_pem(pem).ok().map(Secret::P384),
                Family::P521 => p521::ecdsa::SigningKey::from_pkcs8_pem(pem)
                    .ok()
                    .map(Secret::P521),
                Family::Ed25519 => Ed25519KeyPair::from_pem(pem).ok().map(Secret::Ed25519),
                Family::Rsa => RSAKeyPair::from_pem(pem).ok().map(Secret::Rsa),
                Family::Hmac => None,
            };
            if let Some(secret) = secret {
                let mut key = SigningKey {
                    alg,
                    kid: None,
                    secret,
                };
                key.kid = Some(key.thumbprint());
                return Ok(key);
            }
        }
        Err(Error::invalid_key(
            "not a PKCS#8 PEM private key of the expected type (EC P-256/P-384/P-521, Ed25519, \
             RSA)",
        ))
    }

    /// An HMAC key (server-side tests and brands that share a secret with the server).
    #[cfg(feature = "hmac")]
    pub fn hmac(alg: Algorithm, secret: &[u8]) -> Result<SigningKey, Error> {
        if !alg.is_hmac() {
            return Err(Error::invalid_key(
                "an HMAC key signs with HS256, HS384 or HS512",
            ));
        }
        Ok(SigningKey {
            alg,
            kid: None,
            secret: Secret::Hmac(secret.to_vec()),
        })
    }

    /// Replaces the `kid` (default: the RFC 7638 thumbprint of the public key).
    pub fn with_kid(mut self, kid: Option<String>) -> SigningKey {
        self.kid = kid;
        self
    }

    /// The algorithm this key signs with.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// Signs with another algorithm of the same key type (RSA: RS*/PS*).
    pub fn with_algorithm(mut self, alg: Algorithm) -> Result<SigningKey, Error> {
        if !self.secret.family().accepts(alg) {
            return Err(wrong_algorithm());
        }
        self.alg = alg;
        Ok(self)
    }

    /// The key id put in token headers and in the JWK.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The private key as PKCS#8 PEM.
    pub fn private_pem(&self) -> Result<String, Error> {
        match &self.secret {
            Secret::P256(k) => k.to_pem().map_err(key_err),
            Secret::P384(k) => k.to_pem().map_err(key_err),
            Secret::P521(k) => k
                .to_pkcs8_pem(LineEnding::LF)
                .map(|pem| pem.to_string())
                .map_err(key_err),
            Secret::Ed25519(k) => Ok(k.to_pem()),
            Secret::Rsa(k) => k.to_pem().map_err(key_err),
            #[cfg(feature = "hmac")]
            Secret::Hmac(_) => Err(Error::invalid_key("an HMAC secret has no PEM form")),
        }
    }

    /// The public key as SPKI PEM.
    pub fn public_pem(&self) -> Result<String, Error> {
        match &self.secret {
            Secret::P256(k) => k.public_key().to_pem().map_err(key_err),
            Secret::P384(k) => k.public_key().to_pem().map_err(key_err),
            Secret::P521(k) => k
                .verifying_key()
                .to_public_key_pem(LineEnding::LF)
                .map_err(key_err),
            Secret::Ed25519(k) => Ok(k.public_key().to_pem()),
            Secret::Rsa(k) => k.public_key().to_pem().map_err(key_err),
            #[cfg(feature = "hmac")]
            Secret::Hmac(_) => Err(Error::invalid_key("an HMAC secret has no public key")),
        }
    }

    /// The public key as a JWK with `kid`, `alg` and `use: "sig"`.
    pub fn public_jwk(&self) -> Value {
        let mut jwk = self.thumbprint_members();
        if let Some(obj) = jwk.as_object_mut() {
            if let Some(kid) = &self.kid {
                obj.insert("kid".into(), kid.as_str().into());
            }
            obj.insert("alg".into(), self.alg.name().into());
            obj.insert("use".into(), "sig".into());
        }
        jwk
    }

    /// A JWKS holding just this key.
    pub fn public_jwks(&self) -> Value {
        json!({ "keys": [self.public_jwk()] })
    }

    /// The JWK members RFC 7638 hashes, in its order.
    fn thumbprint_members(&self) -> Value {
        let spec = self.secret.family().spec();
        let ec = |point: Vec<u8>| {
            let coords = point.get(1..).unwrap_or_default();
            let (x, y) = coords.split_at(coords.len() / 2);
            json!({"crv": spec.crv, "kty": spec.kty, "x": b64::encode(x), "y": b64::encode(y)})
        };
        match &self.secret {
            Secret::P256(k) => ec(k.public_key().public_key().to_bytes_uncompressed()),
            Secret::P384(k) => ec(k.public_key().public_key().to_bytes_uncompressed()),
            Secret::P521(k) => ec(k.verifying_key().to_sec1_point(false).as_bytes().to_vec()),
            Secret::Ed25519(k) => {
                json!({"crv": "Ed25519", "kty": "OKP", "x": b64::encode(&k.public_key().to_bytes())})
            }
            Secret::Rsa(k) => {
                let c = k.public_key().to_components();
                json!({"e": b64::encode(&c.e), "kty": "RSA", "n": b64::encode(&c.n)})
            }
            #[cfg(feature = "hmac")]
            Secret::Hmac(_) => json!({"kty": "oct"}),
        }
    }

    /// RFC 7638 JWK thumbprint (SHA-256, base64url).
    fn thumbprint(&self) -> String {
        // serde_json's map keeps keys sorted, which is the order RFC 7638 asks for.
        let canonical = self.thumbprint_members().to_string();
        b64::encode(&hmac_sha256::Hash::hash(canonical.as_bytes()))
    }

    /// Signs `input` with this key's algorithm; the raw JWS signature bytes.
    fn sign(&self, input: &[u8]) -> Result<Vec<u8>, Error> {
        match &self.secret {
            Secret::P256(k) => {
                use p256::ecdsa::signature::Signer as _;
                let sig: p256::ecdsa::Signature = k.key_pair().as_ref().sign(input);
                Ok(sig.to_bytes().to_vec())
            }
            Secret::P384(k) => {
                use p384::ecdsa::signature::Signer as _;
                let sig: p384::ecdsa::Signature = k.key_pair().as_ref().sign(input);
                Ok(sig.to_bytes().to_vec())
            }
            Secret::P521(k) => {
                use p521::ecdsa::signature::Signer as _;
                // RFC 6979 deterministic nonce, SHA-512; r || s, 132 bytes.
                let sig: p521::ecdsa::Signature = k.sign(input);
                Ok(sig.to_bytes().to_vec())
            }
            Secret::Ed25519(k) => Ok(k.key_pair().as_ref().sk.sign(input, None).to_vec()),
            Secret::Rsa(k) => {
                let (hash, padding, salt_len) = match self.alg.spec().scheme {
                    Scheme::Pkcs1(hash) => (hash, Padding::PKCS1, None),
                    Scheme::Pss(hash) => (hash, Padding::PKCS1_PSS, Some(hash.len())),
                    Scheme::Ecdsa(_) | Scheme::EdDsa | Scheme::Hmac(_) => {
                        return Err(wrong_algorithm())
                    }
                };
                let digest = match hash {
                    Hash::Sha256 => MessageDigest::sha256(),
                    Hash::Sha384 => MessageDigest::sha384(),
                    Hash::Sha512 => MessageDigest::sha512(),
                };
                let pkey = PKey::from_rsa(k.as_ref().clone()).map_err(key_err)?;
                let mut signer = Signer::new(digest, &pkey).map_err(key_err)?;
                signer.set_rsa_padding(padding).map_err(key_err)?;
                if let Some(len) = salt_len {
                    let len = i32::try_from(len).map_err(key_err)?;
                    signer
                        .set_rsa_pss_saltlen(RsaPssSaltlen::custom(len))
                        .map_err(key_err)?;
                }
                signer.update(input).map_err(key_err)?;
                signer.sign_to_vec().map_err(key_err)
            }
            #[cfg(feature = "hmac")]
            Secret::Hmac(secret) => match self.alg.spec().scheme {
                Scheme::Hmac(Hash::Sha256) => Ok(hmac_sha256::HMAC::mac(input, secret).to_vec()),
                Scheme::Hmac(Hash::Sha384) => {
                    Ok(hmac_sha512::sha384::HMAC::mac(input, secret).to_vec())
                }
                Scheme::Hmac(Hash::Sha512) => Ok(hmac_sha512::HMAC::mac(input, secret).to_vec()),
                Scheme::Ecdsa(_) | Scheme::EdDsa | Scheme::Pkcs1(_) | Scheme::Pss(_) => {
                    Err(wrong_algorithm())
                }
            },
        }
    }
}

/// The `gift` claim as minted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Gift {
    /// Can win.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cw: Option<bool>,
    /// Prize name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// The claims of a token to mint. Times are seconds since the epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenClaims {
    /// The participant.
    pub sub: String,
    /// Issuer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Issued at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// Not before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Expiry.
    pub exp: u64,
    /// The campaign.
    pub campaign_id: String,
    /// Who may win and which prize they are shown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gift: Option<Gift>,
    /// `form`: values that prefill the participation form (docs/token.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub form: Option<serde_json::Map<String, Value>>,
    /// `optin`: opt-in values (booleans).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub optin: Option<serde_json::Map<String, Value>>,
}

impl TokenClaims {
    /// Claims for `sub` in `campaign_id`, issued at `now` and valid for `ttl_secs`.
    pub fn new(
        sub: impl Into<String>,
        campaign_id: impl Into<String>,
        now: u64,
        ttl_secs: u64,
    ) -> Self {
        TokenClaims {
            sub: sub.into(),
            iss: None,
            iat: Some(now),
            nbf: None,
            exp: now.saturating_add(ttl_secs),
            campaign_id: campaign_id.into(),
            gift: None,
            form: None,
            optin: None,
        }
    }

    /// Sets the `gift` claim.
    pub fn with_gift(mut self, cw: Option<bool>, label: Option<&str>) -> Self {
        self.gift = Some(Gift {
            cw,
            label: label.map(str::to_owned),
        });
        self
    }

    /// Sets the issuer.
    pub fn with_issuer(mut self, iss: impl Into<String>) -> Self {
        self.iss = Some(iss.into());
        self
    }
}

/// Mints a token: header `{"alg","typ":"JWT","kid"}` and `claims`, signed by `key`.
pub fn mint(key: &SigningKey, claims: &TokenClaims) -> Result<String, Error> {
    let mut header = json!({"alg": key.alg.name(), "typ": "JWT"});
    if let (Some(kid), Some(obj)) = (&key.kid, header.as_object_mut()) {
        obj.insert("kid".into(), kid.as_str().into());
    }
    let payload = serde_json::to_vec(claims).map_err(key_err)?;
    sign_compact(key, header.to_string().as_bytes(), &payload)
}

/// Signs arbitrary header and payload bytes with `key` (whatever the header claims) and
/// returns the compact token. For tests that need correctly signed hostile tokens.
pub fn sign_compact(key: &SigningKey, header: &[u8], payload: &[u8]) -> Result<String, Error> {
    let mut token = b64::encode(header);
    token.push('.');
    token.push_str(&b64::encode(payload));
    let signature = key.sign(token.as_bytes())?;
    token.push('.');
    token.push_str(&b64::encode(&signature));
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{KeySet, Policy, Verifier};

    #[test]
    fn every_algorithm_round_trips_through_pem_and_jwks() {
        for alg in Algorithm::ASYMMETRIC {
            let key = SigningKey::generate(alg).unwrap();
            let claims =
                TokenClaims::new("u1", "c1", 1_000, 600).with_gift(Some(true), Some("Spa"));
            let token = mint(&key, &claims).unwrap();
            for keys in [
                KeySet::from_pem(&key.public_pem().unwrap()).unwrap(),
                KeySet::from_jwks(&key.public_jwks().to_string()).unwrap(),
            ] {
                let v = Verifier::new(keys, Policy::new("c1").unwrap());
                let got = v
                    .verify(&token, 1_100)
                    .unwrap_or_else(|e| panic!("{alg}: {e}"));
                assert_eq!(got.prize_label.as_deref(), Some("Spa"));
                assert_eq!(got.alg, alg);
            }
            let again = SigningKey::from_pem(&key.private_pem().unwrap(), Some(alg)).unwrap();
            assert_eq!(again.kid(), key.kid(), "{alg}: thumbprint is stable");
        }
    }
}
