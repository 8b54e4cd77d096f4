//! The verification pipeline: one function that the browser module, the token tool and the
//! allocation server all call, so that a token means the same thing everywhere.
//!
//! Order of checks (the first failure is the error reported):
//! 1. presence and size (`no_token`, `too_large`), before any parsing;
//! 2. compact structure: three canonical base64url segments, header and payload JSON
//!    objects without duplicate members (`malformed`);
//! 3. header: `crit`, `alg`, `typ`, `kid` (`unsupported_critical_header`,
//!    `unsupported_algorithm`, `malformed`);
//! 4. key selection by `kid` and `alg` (`unknown_key`, `unsupported_algorithm`), still
//!    before any cryptography;
//! 5. the signature (`bad_signature`);
//! 6. claim types (`missing_claim`, `invalid_claim`), then time, campaign and issuer
//!    (`expired`, `not_yet_valid`, `issued_in_future`, `wrong_campaign`, `wrong_issuer`).
//!
//! Claims are judged only once the signature holds: an unsigned payload is noise.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::alg::Algorithm;
use crate::claims::{Claims, Limit};
use crate::eligibility::Eligibility;
use crate::error::{Error, ErrorCode};
use crate::header::Header;
use crate::keys::{KeySet, PublicKey};
use crate::policy::Policy;
use crate::{b64, json};

/// A token that passed every check, and what it means for the page and the server.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verified {
    /// The participant.
    pub sub: String,
    /// The campaign, equal to the one configured.
    pub campaign_id: String,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// Issue time, if the token says.
    pub iat: Option<u64>,
    /// Not-before time, if the token says.
    pub nbf: Option<u64>,
    /// Issuer, if the token says.
    pub iss: Option<String>,
    /// The `gift` claim exactly as sent (including members this crate does not use).
    pub gift: Option<Map<String, Value>>,
    /// Who may win, from `gift`.
    pub eligibility: Eligibility,
    /// The prize name to show: `gift.label` where the table says so, else `None`.
    pub prize_label: Option<String>,
    /// `limit`: the participation allowance (`nb`) and whether the visitor may take part
    /// (`canPlay`), if the token says.
    pub limit: Option<Limit>,
    /// `form`: values the brand vouches for, to prefill the participation form.
    pub form: Option<Map<String, Value>>,
    /// `optin`: opt-in values (booleans) the brand vouches for, to prefill the opt-ins.
    pub optin: Option<Map<String, Value>>,
    /// `custom`: the brand's own data for the page.
    pub custom: Option<Map<String, Value>>,
    /// The algorithm the token was signed with.
    #[serde(serialize_with = "alg_name")]
    pub alg: Algorithm,
    /// The `kid` of the token's header, if any.
    pub kid: Option<String>,
    /// The token's identity for replays ([`Verified::replay_id`]).
    #[cfg(feature = "replay-id")]
    #[serde(skip)]
    replay_id: [u8; 32],
}

impl Verified {
    /// The token's identity for replay detection: SHA-256 of its signing input (the
    /// base64url header and payload, as signed). Every spelling of a token that still verifies
    /// has the same one: the ECDSA twin (r, n − s) of a signature, or any other re-encoding of
    /// the signature, changes nothing signed, and the header and payload cannot be re-encoded
    /// (one canonical base64url spelling, `Verifier::begin`) without a new signature. Two
    /// spellings of one token are one participation.
    #[cfg(feature = "replay-id")]
    pub fn replay_id(&self) -> &[u8; 32] {
        &self.replay_id
    }
}

impl Verified {
    /// Whether the visitor may take part: `false` only when the token says `limit.canPlay:
    /// false`. The page shows `data-token-access="denied"`, the server answers 403 `not_allowed`.
    pub fn can_play(&self) -> bool {
        self.limit.and_then(|l| l.can_play) != Some(false)
    }

    /// The participations this token allows its `sub` (`limit.nb`), if it says.
    pub fn participation_allowance(&self) -> Option<u32> {
        self.limit.and_then(|l| l.nb)
    }
}

fn alg_name<S: serde::Serializer>(alg: &Algorithm, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(alg.name())
}

/// A key set and a policy: everything needed to verify tokens of one campaign.
#[derive(Debug)]
pub struct Verifier {
    keys: KeySet,
    policy: Policy,
}

impl Verifier {
    /// A verifier that trusts `keys` and applies `policy`.
    pub fn new(keys: KeySet, policy: Policy) -> Verifier {
        Verifier { keys, policy }
    }

    /// The policy applied.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The trusted keys.
    pub fn keys(&self) -> &KeySet {
        &self.keys
    }

    /// Verifies `token` at time `now` (seconds since the epoch; an argument so that tests
    /// and replays use fixed clocks): [`Verifier::begin`], the native signature check, then
    /// [`PendingCheck::finish`].
    ///
    /// In the browser the signature check is WebCrypto's, which is asynchronous, so the
    /// browser glue runs the same two phases around `crypto.subtle.verify` itself.
    #[cfg(feature = "native-crypto")]
    pub fn verify(&self, token: &str, now: u64) -> Result<Verified, Error> {
        self.verify_with(token, now, crate::keys::Backend::RustCrypto)
    }

    /// [`Verifier::verify`] with the native signature backend `backend` (the server uses
    /// AWS-LC, feature `aws-lc`).
    #[cfg(feature = "native-crypto")]
    pub fn verify_with(
        &self,
        token: &str,
        now: u64,
        backend: crate::keys::Backend,
    ) -> Result<Verified, Error> {
        let pending = self.begin(token)?;
        let valid = pending.key().verify_with(
            backend,
            pending.algorithm(),
            pending.signing_input(),
            pending.signature(),
        );
        pending.finish(valid, now)
    }

    /// Steps 1 to 4 of the module doc and the signature's length: everything before the
    /// cryptography. The result says which key and algorithm must check which signature over
    /// which bytes; a crypto backend answers only that, and [`PendingCheck::finish`] does the
    /// rest.
    pub fn begin<'v, 't>(&'v self, token: &'t str) -> Result<PendingCheck<'v, 't>, Error> {
        if token.is_empty() {
            return Err(Error::new(ErrorCode::NoToken, "no token was given"));
        }
        if token.len() > self.policy.max_token_bytes() {
            return Err(Error::new(
                ErrorCode::TooLarge,
                "the token is larger than allowed",
            ));
        }
        let compact = Compact::parse(token)?;
        let header = Header::parse(&compact.header)?;
        // After the header, so that an unsecured `alg: none` token (empty signature, RFC 7515
        // appendix A.5) is reported as `unsupported_algorithm`, as every `none` token is.
        if compact.signature.is_empty() {
            return Err(Error::malformed("the token has no signature"));
        }
        let key = self.keys.select(header.kid.as_deref(), header.alg)?;
        // A signature of the wrong length for its algorithm never reaches any cryptography.
        if header
            .alg
            .signature_len()
            .is_some_and(|len| len != compact.signature.len())
        {
            return Err(bad_signature());
        }
        // Ed25519's S must be reduced modulo the group order (RFC 8032 §5.1.7): BoringSSL, NSS
        // and RustCrypto refuse S + L, WebKit's libgcrypt accepts it, which would make a second
        // valid spelling of the same token. Decided here, for every backend.
        if header.alg == Algorithm::EdDsa && !ed25519_s_is_reduced(&compact.signature) {
            return Err(bad_signature());
        }
        Ok(PendingCheck {
            policy: &self.policy,
            key,
            alg: header.alg,
            signing_input: compact.signing_input,
            signature: compact.signature,
            payload: compact.payload,
            kid: header.kid,
        })
    }
}

/// Ed25519's group order L = 2^252 + 27742317777372353535851937790883648493, little-endian.
const ED25519_L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
];

/// Whether the S half of a 64-byte Ed25519 signature (`R || S`, S little-endian) is below L.
fn ed25519_s_is_reduced(signature: &[u8]) -> bool {
    let Some(s) = signature.get(32..64) else {
        return false;
    };
    // Compare from the most significant byte down; the first difference decides.
    for (a, l) in s.iter().rev().zip(ED25519_L.iter().rev()) {
        if a != l {
            return a < l;
        }
    }
    false // S == L
}

fn bad_signature() -> Error {
    Error::new(ErrorCode::BadSignature, "the signature does not verify")
}

/// A token whose size, structure, header and key selection passed, awaiting its signature
/// check ([`Verifier::begin`]). Its claims are not readable: they mean nothing until the
/// signature holds, and [`PendingCheck::finish`] is the only way on.
pub struct PendingCheck<'v, 't> {
    policy: &'v Policy,
    key: PublicKey<'v>,
    alg: Algorithm,
    signing_input: &'t str,
    signature: Vec<u8>,
    payload: Map<String, Value>,
    kid: Option<String>,
}

impl core::fmt::Debug for PendingCheck<'_, '_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PendingCheck")
            .field("alg", &self.alg)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl<'v, 't> PendingCheck<'v, 't> {
    /// The token's algorithm, which the selected key accepts.
    #[inline]
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The trusted key that must check the signature.
    #[inline]
    pub fn key(&self) -> PublicKey<'v> {
        self.key
    }

    /// `header.payload`: the bytes the signature covers.
    #[inline]
    pub fn signing_input(&self) -> &'t [u8] {
        self.signing_input.as_bytes()
    }

    /// The decoded signature (of the length its algorithm requires).
    #[inline]
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// Steps 5 and 6 of the module doc: `bad_signature` unless `signature_valid` (the crypto
    /// backend's verdict for [`PendingCheck::key`] on this signature), then the claims at
    /// time `now` (seconds since the epoch).
    pub fn finish(self, signature_valid: bool, now: u64) -> Result<Verified, Error> {
        finish(
            self.policy,
            self.payload,
            self.alg,
            self.kid,
            self.signing_input,
            signature_valid,
            now,
        )
    }

    /// This check detached from the borrows of its token and verifier, for a backend whose
    /// signature check outlives them (the browser's WebCrypto answers later, in another
    /// call): [`Verifier::finish`] ends it, with the verifier it came from.
    pub fn into_owned(self) -> OwnedCheck {
        OwnedCheck {
            key: self.key.index(),
            alg: self.alg,
            payload: self.payload,
            kid: self.kid,
            #[cfg(feature = "replay-id")]
            signing_input: self.signing_input.to_owned(),
        }
    }
}

/// A [`PendingCheck`] that owns what its end needs ([`PendingCheck::into_owned`]): the
/// selected key's index and algorithm, and the decoded payload, still unreadable.
pub struct OwnedCheck {
    key: usize,
    alg: Algorithm,
    payload: Map<String, Value>,
    kid: Option<String>,
    #[cfg(feature = "replay-id")]
    signing_input: String,
}

impl core::fmt::Debug for OwnedCheck {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("OwnedCheck")
            .field("alg", &self.alg)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl OwnedCheck {
    /// The token's algorithm, which the selected key accepts.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The index in the verifier's key set ([`PublicKey::index`]) of the key that must check
    /// the signature.
    pub fn key_index(&self) -> usize {
        self.key
    }
}

impl Verifier {
    /// [`PendingCheck::finish`] for a check detached by [`PendingCheck::into_owned`] from
    /// this verifier's [`Verifier::begin`] (the caller keeps them together: the policy applied
    /// is this verifier's).
    pub fn finish(
        &self,
        check: OwnedCheck,
        signature_valid: bool,
        now: u64,
    ) -> Result<Verified, Error> {
        #[cfg(feature = "replay-id")]
        let signing_input = check.signing_input.as_str();
        #[cfg(not(feature = "replay-id"))]
        let signing_input = "";
        finish(
            &self.policy,
            check.payload,
            check.alg,
            check.kid,
            signing_input,
            signature_valid,
            now,
        )
    }
}

/// Steps 5 and 6, for [`PendingCheck::finish`] and [`Verifier::finish`].
fn finish(
    policy: &Policy,
    payload: Map<String, Value>,
    alg: Algorithm,
    kid: Option<String>,
    #[cfg_attr(not(feature = "replay-id"), allow(unused_variables))] signing_input: &str,
    signature_valid: bool,
    now: u64,
) -> Result<Verified, Error> {
    if !signature_valid {
        return Err(bad_signature());
    }
    let claims = Claims::parse(payload)?;
    policy.check(&claims, now)?;
    let (eligibility, label) = Eligibility::of(claims.gift.as_ref());
    let prize_label = label.map(str::to_owned);
    Ok(Verified {
        sub: claims.sub,
        campaign_id: claims.campaign_id,
        exp: claims.exp,
        iat: claims.iat,
        nbf: claims.nbf,
        iss: claims.iss,
        gift: claims.gift_raw,
        eligibility,
        prize_label,
        limit: claims.limit,
        form: claims.form,
        optin: claims.optin,
        custom: claims.custom,
        alg,
        kid,
        #[cfg(feature = "replay-id")]
        replay_id: {
            use sha2::Digest as _;
            sha2::Sha256::digest(signing_input.as_bytes()).into()
        },
    })
}

/// A token's header and payload, decoded but **not verified**: for display and debugging.
#[derive(Debug, Clone, Serialize)]
pub struct Unverified {
    /// The protected header.
    pub header: Map<String, Value>,
    /// The payload (claims).
    pub payload: Map<String, Value>,
    /// Length of the signature in bytes.
    pub signature_bytes: usize,
}

/// Decodes a token without verifying anything but its structure. Never use the result to
/// make a decision: anyone can write any claims into an unsigned token.
pub fn inspect(token: &str) -> Result<Unverified, Error> {
    if token.is_empty() {
        return Err(Error::new(ErrorCode::NoToken, "no token was given"));
    }
    let c = Compact::parse(token)?;
    Ok(Unverified {
        header: c.header,
        payload: c.payload,
        signature_bytes: c.signature.len(),
    })
}

/// The three parts of a compact JWS, decoded.
struct Compact<'a> {
    signing_input: &'a str,
    header: Map<String, Value>,
    payload: Map<String, Value>,
    signature: Vec<u8>,
}

impl<'a> Compact<'a> {
    fn parse(token: &'a str) -> Result<Compact<'a>, Error> {
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Error::malformed(
                "a token has exactly three dot-separated parts",
            ));
        };
        let signing_input = token.get(..h.len() + 1 + p.len()).ok_or(Error::malformed(
            "a token has exactly three dot-separated parts",
        ))?;
        let object = |segment: &str, what: &'static str| -> Result<Map<String, Value>, Error> {
            let bytes = b64::decode(segment).ok_or(Error::malformed(what))?;
            match json::parse(&bytes) {
                Ok(Value::Object(map)) => Ok(map),
                _ => Err(Error::malformed(
                    "the header and payload must be JSON objects without repeated members",
                )),
            }
        };
        let header = object(h, "the header is not canonical base64url")?;
        let payload = object(p, "the payload is not canonical base64url")?;
        let signature =
            b64::decode(s).ok_or(Error::malformed("the signature is not canonical base64url"))?;
        Ok(Compact {
            signing_input,
            header,
            payload,
            signature,
        })
    }
}

/// The current time in seconds since the epoch, for native callers (the browser module
/// reads `Date.now()` instead).
#[cfg(not(target_arch = "wasm32"))]
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::{ed25519_s_is_reduced, ED25519_L};

    /// `R || S` with R zero and S the little-endian number `s`.
    fn signature(s: [u8; 32]) -> Vec<u8> {
        let mut sig = vec![0; 32];
        sig.extend_from_slice(&s);
        sig
    }

    #[test]
    fn ed25519_s_must_be_below_the_group_order() {
        let mut below = ED25519_L;
        below[0] -= 1;
        let mut above = ED25519_L;
        above[0] += 1;
        let mut high = [0; 32];
        high[31] = 0x20; // 2^253 > L
        assert!(ed25519_s_is_reduced(&signature([0; 32])));
        assert!(ed25519_s_is_reduced(&signature(below)));
        assert!(!ed25519_s_is_reduced(&signature(ED25519_L)));
        assert!(!ed25519_s_is_reduced(&signature(above)));
        assert!(!ed25519_s_is_reduced(&signature(high)));
        assert!(!ed25519_s_is_reduced(&[0; 40]), "too short");
    }
}
