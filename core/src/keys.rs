//! Trusted keys: one PEM public key, or a JWKS of several selected by `kid` (rotation).
//!
//! Only keys configured here are ever trusted; keys a token carries (`jwk`, `jku`, `x5c`, …)
//! are ignored. Loading is strict and loud: private key material, shared secrets in a public
//! key set, weak RSA moduli and duplicate `kid`s are configuration errors (`invalid_key`),
//! because each of them is a mistake a brand would want to hear about before going live.
//!
//! Every public key is parsed once, here (`public.rs`), into the public form WebCrypto imports
//! ([`WebCryptoImport`]: SPKI DER or JWK members), by the same rules in every build. Which
//! backend checks signatures with it is the caller's choice:
//! - **the browser module** hands that form to WebCrypto (`src/crypto.rs` of the
//!   `campaign-token` crate): `crypto.subtle.verify`, the platform's native, constant-time
//!   implementation, with no crypto code in the downloaded module (see docs/benchmarks.md);
//! - **the native backend** (feature `native-crypto`: the token tool, the allocation server,
//!   tests) builds from that same form the verifying keys inside jwt-simple's key types
//!   (RustCrypto `p256`/`p384`, `ed25519-compact`, `superboring` for RSA) and RustCrypto
//!   `p521`'s, and calls them directly ([`PublicKey::verify`]).
//!
//! The features only add: a build with `native-crypto` still has every key's public form.
//!
//! Either way the JWS framing, key selection and every rule about which key is acceptable are
//! this module's and `verify`'s, so that each rule has one implementation.

use serde_json::Value;

#[cfg(feature = "aws-lc")]
mod aws_lc;
mod curve;
#[cfg(feature = "native-crypto")]
mod native;
mod public;

use public::Parsed;
pub use public::WebCryptoImport;

use crate::alg::{Algorithm, Family};
use crate::error::{Error, ErrorCode};
use crate::{b64, json};

// Each key family can be left out of a build (features `alg-*`, all on by default) so that a
// brand signing with one algorithm ships a smaller wasm module. A token or key of a family
// left out is then treated like an unsupported one.
#[cfg(not(any(
    feature = "alg-es256",
    feature = "alg-es384",
    feature = "alg-es512",
    feature = "alg-eddsa",
    feature = "alg-rsa"
)))]
compile_error!(
    "enable at least one key family: alg-es256, alg-es384, alg-es512, alg-eddsa or alg-rsa"
);

/// Most keys a set may hold. Rotation needs two or three; a huge set is a mistake.
const MAX_KEYS: usize = 64;

/// One trusted key: its `kid` if any, the algorithm it is pinned to if its JWK said so, its
/// family, its public form, and in a build with the native backend its verifying key.
struct Key {
    kid: Option<String>,
    pinned: Option<Algorithm>,
    family: Family,
    /// The length of an HMAC secret (0 for public keys).
    secret_len: usize,
    /// What WebCrypto imports and the native key is built from; `None` for an HMAC secret,
    /// which has no public form.
    import: Option<WebCryptoImport>,
    #[cfg(feature = "native-crypto")]
    native: native::Material,
    /// The same key for AWS-LC (feature `aws-lc`, the server's backend).
    #[cfg(feature = "aws-lc")]
    aws: aws_lc::AwsKey,
}

impl Key {
    /// A trusted public key, with its native verifying key where the build has the backend,
    /// made from the public form: both backends check with the key the rules here accepted.
    fn public(
        kid: Option<String>,
        pinned: Option<Algorithm>,
        parsed: Parsed,
    ) -> Result<Key, Error> {
        let (family, import) = parsed.into_parts();
        Ok(Key {
            kid,
            pinned,
            family,
            secret_len: 0,
            #[cfg(feature = "native-crypto")]
            native: native::Material::from_import(family, &import)?,
            #[cfg(feature = "aws-lc")]
            aws: aws_lc::AwsKey::from_import(family, Some(&import))?,
            import: Some(import),
        })
    }

    fn accepts(&self, alg: Algorithm) -> bool {
        self.family.accepts(alg)
            && self.pinned.is_none_or(|p| p == alg)
            // An unpinned secret serves the HMAC algorithms its length is enough for.
            && (!alg.is_hmac() || self.secret_len >= hmac_min_len(alg))
    }
}

/// A native signature backend ([`PublicKey::verify_with`], [`crate::Verifier::verify_with`]).
#[cfg(feature = "native-crypto")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Pure Rust: jwt-simple's key types, RustCrypto, superboring (feature `native-crypto`).
    /// The token tool's and the browser fallback module's.
    RustCrypto,
    /// AWS-LC through aws-lc-rs (feature `aws-lc`): the allocation server's, several times
    /// faster (docs/benchmarks.md).
    #[cfg(feature = "aws-lc")]
    AwsLc,
}

#[cfg(feature = "native-crypto")]
impl Backend {
    /// Every backend in this build.
    pub const ALL: &'static [Backend] = &[
        Backend::RustCrypto,
        #[cfg(feature = "aws-lc")]
        Backend::AwsLc,
    ];

    /// Its name in logs and reports.
    pub fn name(self) -> &'static str {
        match self {
            Backend::RustCrypto => "rustcrypto",
            #[cfg(feature = "aws-lc")]
            Backend::AwsLc => "aws-lc-rs",
        }
    }
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
                    .map(|k| (k.kid.as_deref(), k.family.spec().name)),
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
        let key = Key::public(kid, None, parse_pem(pem)?)?;
        self.push(key)
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
        if secret.len() < Family::Hmac.spec().min_key_len {
            return Err(Error::invalid_key(
                "an HMAC secret must be at least 32 bytes (HS256), 48 (HS384) or 64 (HS512)",
            ));
        }
        if alg.is_some_and(|a| secret.len() < hmac_min_len(a)) {
            return Err(Error::invalid_key(
                "an HMAC secret must be at least as long as its hash: 32 bytes for HS256, 48 \
                 for HS384, 64 for HS512 (RFC 7518 §3.2)",
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
            family: Family::Hmac,
            import: None,
            secret_len: secret.len(),
            native: native::Material::hmac(secret),
            #[cfg(feature = "aws-lc")]
            aws: aws_lc::AwsKey::None,
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

    /// The keys, in order.
    pub fn iter(&self) -> impl Iterator<Item = PublicKey<'_>> {
        self.keys
            .iter()
            .enumerate()
            .map(|(index, key)| PublicKey { index, key })
    }

    /// Chooses the key for a token's `kid` and `alg` (`unknown_key`,
    /// `unsupported_algorithm`), before any cryptography runs.
    pub(crate) fn select(&self, kid: Option<&str>, alg: Algorithm) -> Result<PublicKey<'_>, Error> {
        let index = match (kid, self.keys.as_slice()) {
            // A single key without a kid (a PEM) is the key, whatever kid the token names.
            (_, [only]) if only.kid.is_none() => 0,
            (Some(kid), keys) => keys
                .iter()
                .position(|k| k.kid.as_deref() == Some(kid))
                .ok_or(Error::new(
                    ErrorCode::UnknownKey,
                    "no configured key has the token's kid",
                ))?,
            (None, [_]) => 0,
            (None, _) => {
                return Err(Error::new(
                    ErrorCode::UnknownKey,
                    "several keys are configured and the token names none (kid)",
                ))
            }
        };
        match self.keys.get(index) {
            Some(key) if key.accepts(alg) => Ok(PublicKey { index, key }),
            _ => Err(Error::new(
                ErrorCode::UnsupportedAlgorithm,
                "the token's alg does not match the selected key",
            )),
        }
    }
}

/// One trusted key of a [`KeySet`], as a crypto backend sees it: public data only.
///
/// It gives what WebCrypto imports ([`PublicKey::webcrypto_import`]) in every build, and with
/// the native backend (feature `native-crypto`) checks signatures itself (`PublicKey::verify`).
#[derive(Clone, Copy)]
pub struct PublicKey<'a> {
    index: usize,
    key: &'a Key,
}

impl core::fmt::Debug for PublicKey<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never print key material (an HMAC secret in particular).
        f.debug_struct("PublicKey")
            .field("index", &self.index)
            .field("kid", &self.key.kid)
            .field("family", &self.key.family.spec().name)
            .finish()
    }
}

impl<'a> PublicKey<'a> {
    /// The key's position in its set: stable for the set's life, so a backend can cache
    /// what it derives from the key (an imported `CryptoKey`) under it.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The key's `kid`, if it has one.
    pub fn kid(&self) -> Option<&'a str> {
        self.key.kid.as_deref()
    }

    /// Whether the key may check a token signed with `alg` (its family, and its pinned
    /// `alg` if its JWK named one).
    pub fn accepts(&self, alg: Algorithm) -> bool {
        self.key.accepts(alg)
    }

    /// One algorithm the key accepts (its pinned one, else its family's first), `None` for a
    /// family without one in this build: what a backend can test the key with when the set is
    /// configured, before any token arrives.
    pub fn probe_algorithm(&self) -> Option<Algorithm> {
        self.key.pinned.or(self.key.family.default_algorithm())
    }

    /// The key's family (curve, RSA, HMAC secret), which says how a backend imports it.
    pub fn family(&self) -> Family {
        self.key.family
    }

    /// Checks `signature` over `signing_input` with this key and `alg`. Any failure
    /// (including a wrong length, or an `alg` the key does not accept) is just `false`.
    /// This is the native backend (feature `native-crypto`).
    #[cfg(feature = "native-crypto")]
    pub fn verify(&self, alg: Algorithm, signing_input: &[u8], signature: &[u8]) -> bool {
        alg.signature_len().is_none_or(|len| len == signature.len())
            && self.key.accepts(alg)
            && self.key.native.verify(alg, signing_input, signature)
    }

    /// Checks a signature like [`PublicKey::verify`], with the backend `backend`. HMAC
    /// secrets are always checked by the native backend.
    #[cfg(feature = "native-crypto")]
    pub fn verify_with(
        &self,
        backend: Backend,
        alg: Algorithm,
        signing_input: &[u8],
        signature: &[u8],
    ) -> bool {
        match backend {
            Backend::RustCrypto => self.verify(alg, signing_input, signature),
            #[cfg(feature = "aws-lc")]
            Backend::AwsLc => {
                alg.signature_len().is_none_or(|len| len == signature.len())
                    && self.key.accepts(alg)
                    && self
                        .key
                        .aws
                        .verify(alg, signing_input, signature)
                        .unwrap_or_else(|| self.key.native.verify(alg, signing_input, signature))
            }
        }
    }

    /// What WebCrypto imports (`crypto.subtle.importKey`) for this key, in every build (the
    /// native backend's key is made from it). `None` for an HMAC secret, never handed out.
    pub fn webcrypto_import(&self) -> Option<&'a WebCryptoImport> {
        self.key.import.as_ref()
    }

    /// The WebCrypto `namedCurve` of an EC key (`P-256`, `P-384`, `P-521`), else `None`.
    pub fn curve(&self) -> Option<&'static str> {
        self.family().spec().crv
    }
}

/// The error for a PEM that is not a public key of a family this build supports.
#[cfg_attr(not(feature = "pem"), allow(dead_code))]
fn unsupported_pem() -> Error {
    Error::invalid_key(
        "not a supported PEM public key (EC P-256, P-384 or P-521, Ed25519 or RSA ≥ 2048 \
         bits, as far as this build includes them)",
    )
}

/// Encodings of the Ed25519 points of small order (1, 2, 4, 8), compared without the sign bit
/// of x (the last byte's top bit), as libsodium's blocklist: a public key among them lets
/// some verifiers accept a signature that signs nothing (`S = 0`), whatever the message.
#[cfg(feature = "alg-eddsa")]
const ED25519_SMALL_ORDER: [[u8; 32]; 7] = {
    const fn ff(first: u8) -> [u8; 32] {
        let mut b = [0xff; 32];
        b[0] = first;
        b[31] = 0x7f;
        b
    }
    let mut one = [0; 32];
    one[0] = 1;
    [
        [0; 32],
        one,
        [
            0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef,
            0x98, 0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88,
            0x6d, 0x53, 0xfc, 0x05,
        ],
        [
            0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10,
            0x67, 0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77,
            0x92, 0xac, 0x03, 0x7a,
        ],
        ff(0xec), // p - 1
        ff(0xed), // p (non-canonical 0)
        ff(0xee), // p + 1 (non-canonical 1)
    ]
};

/// Refuses an Ed25519 public key that is not 32 bytes or is a point of small order: such a
/// key verifies forgeries in some implementations, and is never a brand's real key. Checked
/// here so that the browser (WebCrypto) and native builds agree.
#[cfg(feature = "alg-eddsa")]
fn check_ed25519(x: &[u8]) -> Result<(), Error> {
    let weak = x.len() == 32
        && ED25519_SMALL_ORDER.iter().any(|bad| {
            bad.iter().zip(x).enumerate().all(|(i, (b, k))| {
                if i == 31 {
                    b & 0x7f == k & 0x7f
                } else {
                    b == k
                }
            })
        });
    if x.len() != 32 || weak {
        return Err(Error::invalid_key(
            "an Ed25519 key is not a valid public key (wrong length, or a point of small order)",
        ));
    }
    Ok(())
}

/// The shortest secret for an HMAC algorithm: its hash's length (RFC 7518 §3.2).
fn hmac_min_len(alg: Algorithm) -> usize {
    match alg.spec().scheme {
        crate::alg::Scheme::Hmac(hash) => hash.len(),
        _ => 0,
    }
}

/// Refuses an RSA modulus shorter than the table's minimum (`n` big-endian, leading zeros
/// allowed).
#[cfg(feature = "alg-rsa")]
fn check_rsa_modulus(n: &[u8]) -> Result<(), Error> {
    // Counted in bits, not bytes: a 2041-bit modulus has 256 significant bytes too.
    let mut significant = n.iter().skip_while(|b| **b == 0);
    let bits = match significant.next() {
        Some(first) => (significant.count() + 1) * 8 - first.leading_zeros() as usize,
        None => 0,
    };
    if bits < Family::Rsa.spec().min_key_len * 8 {
        return Err(Error::invalid_key(
            "RSA keys must have a modulus of at least 2048 bits",
        ));
    }
    Ok(())
}

#[cfg(not(feature = "pem"))]
fn parse_pem(_pem: &str) -> Result<Parsed, Error> {
    Err(Error::invalid_key(
        "this build accepts JWK/JWKS keys only (built without the `pem` feature): configure \
         the JWKS (`campaign-token keygen` writes jwks.json)",
    ))
}

#[cfg(feature = "pem")]
fn parse_pem(pem: &str) -> Result<Parsed, Error> {
    Parsed::from_pem(pem)
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
    let symmetric = || {
        Error::invalid_key(
            "a symmetric (oct) key in a public key set: never publish a shared secret",
        )
    };
    let family = match (text("kty")?, text("crv")?) {
        (None, _) => return Err(Error::invalid_key("a JWK has no kty")),
        (Some("oct"), _) => return Err(symmetric()),
        (Some(kty), crv) => match Family::from_jwk(kty, crv) {
            Some(family) => family,
            // Other key types and curves (secp256k1, X25519, …) are not for us, nor are
            // families this build leaves out (features `alg-*`): skip them.
            None => return Ok(None),
        },
    };
    let parsed = match family {
        Family::P256 | Family::P384 | Family::P521 => {
            Parsed::ec(family, &bytes("x")?, &bytes("y")?)?
        }
        #[cfg(feature = "alg-eddsa")]
        Family::Ed25519 => Parsed::ed25519(&bytes("x")?)?,
        #[cfg(feature = "alg-rsa")]
        Family::Rsa => Parsed::rsa(&bytes("n")?, &bytes("e")?)?,
        // `Family::from_jwk` never offers a family this build leaves out.
        #[cfg(not(feature = "alg-eddsa"))]
        Family::Ed25519 => return Ok(None),
        #[cfg(not(feature = "alg-rsa"))]
        Family::Rsa => return Ok(None),
        Family::Hmac => return Err(symmetric()),
    };
    let key = Key::public(kid, pinned, parsed)?;
    if pinned.is_some_and(|alg| !key.family.accepts(alg)) {
        return Err(Error::invalid_key(
            "a JWK's alg does not match its key type",
        ));
    }
    Ok(Some(key))
}

fn bad_ec_point() -> Error {
    Error::invalid_key("an EC JWK is not a valid point on its curve")
}

/// The uncompressed SEC1 point `04 || x || y` of an EC family, each coordinate exactly as
/// long as the table says.
fn ec_point(family: Family, x: &[u8], y: &[u8]) -> Result<Vec<u8>, Error> {
    let len = family.spec().coordinate_len;
    if x.len() != len || y.len() != len || !curve::is_on_curve(family, x, y) {
        return Err(bad_ec_point());
    }
    let mut point = Vec::with_capacity(1 + 2 * len);
    point.push(0x04);
    point.extend_from_slice(x);
    point.extend_from_slice(y);
    Ok(point)
}
