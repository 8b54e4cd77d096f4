//! Fair by construction: the algorithms that let anyone check who won, and why.
//!
//! Two parts, both pure (time and randomness are arguments) and both specified byte for byte
//! in `docs/fairness.md`, so that an auditor can reimplement them in another language:
//!
//! - [`calendar`]: instant-win moments drawn at random, one in each of N equal slots of the
//!   campaign, and a salted SHA-256 commitment to the list that is published at the start
//!   and opened at the end (`campaign-token-calendar-v1`).
//! - [`draw`]: a draw whose winners follow from a server secret committed at the start, a
//!   public value named before the end, and the candidate list, through SHA-256 and a
//!   ChaCha20 stream with rejection sampling (`campaign-token-draw`, version 1).
//!   Disqualifications and replacement picks continue the same stream and live in the same
//!   record, so [`draw::verify_draw`] recomputes all of it from the record alone.
//!
//! Invariants every function here keeps: no panic on any input (records are hostile), sizes
//! are bounded by the `MAX_*` constants, every byte string that is hashed is length-prefixed
//! after a versioned domain tag, and every random integer is drawn without modulo bias.
//!
//! This module is compiled with the `fairness` feature (server and token tool only); the
//! operating-system random generator ([`OsRandom`]) is native only.

pub mod calendar;
pub mod draw;

use core::fmt;

use chacha20::cipher::{KeyIvInit, StreamCipher};
use chacha20::ChaCha20;
use serde::ser::SerializeStruct;
use sha2::{Digest, Sha256};

/// Most candidates a draw takes (and a record may list).
pub const MAX_CANDIDATES: usize = 1_000_000;
/// Most prize units a draw hands out.
pub const MAX_PRIZE_UNITS: usize = 1_000_000;
/// Most moments in a calendar.
pub const MAX_MOMENTS: usize = 1_000_000;
/// Longest id (campaign, participation, prize), in UTF-8 bytes.
pub const MAX_ID_BYTES: usize = 1024;
/// Longest free text (public value, its source, a disqualification reason), in UTF-8 bytes.
pub const MAX_TEXT_BYTES: usize = 4096;
/// Most consecutive rejections [`uniform_below`] accepts before it gives up. A sound source
/// is rejected with probability below 1/2 per word, so reaching this bound means a broken
/// source (probability below 2^-1000 otherwise); it keeps a constant source from looping.
pub const MAX_REJECTIONS: u32 = 1000;

/// Why a fairness computation or check failed.
///
/// [`FairnessError::code`] is stable (the token tool prints it); messages may improve.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FairnessError {
    /// An input or a record field is not well-formed: wrong hex, empty or oversized text,
    /// duplicate or unsorted ids, an unknown algorithm, a list over its bound.
    Invalid {
        /// The field, as named in the record's JSON (`candidates[3]`, `salt`, …).
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The text is not a record at all: not JSON, or not the record's shape (a missing,
    /// unknown or duplicate field, a wrong type).
    Malformed {
        /// What the JSON parser said.
        reason: String,
    },
    /// A value recomputed from the record differs from the value the record states.
    Mismatch {
        /// The field that differs (`seed`, `winners[0].participationId`, …).
        field: String,
        /// What the algorithm gives.
        recomputed: String,
        /// What the record says.
        recorded: String,
    },
    /// A disqualification names someone who is not a current winner of the draw.
    NotAWinner {
        /// The participation id given.
        participation_id: String,
    },
    /// The random source failed (the OS generator, or a source that only ever gives
    /// rejected values).
    RandomUnavailable {
        /// What failed.
        reason: String,
    },
}

impl FairnessError {
    /// The stable machine-readable code: `invalid`, `malformed`, `mismatch`,
    /// `not_a_winner` or `random_unavailable`.
    pub fn code(&self) -> &'static str {
        match self {
            FairnessError::Invalid { .. } => "invalid",
            FairnessError::Malformed { .. } => "malformed",
            FairnessError::Mismatch { .. } => "mismatch",
            FairnessError::NotAWinner { .. } => "not_a_winner",
            FairnessError::RandomUnavailable { .. } => "random_unavailable",
        }
    }

    /// The field concerned, for [`FairnessError::Invalid`] and [`FairnessError::Mismatch`].
    pub fn field(&self) -> Option<&str> {
        match self {
            FairnessError::Invalid { field, .. } | FairnessError::Mismatch { field, .. } => {
                Some(field)
            }
            FairnessError::Malformed { .. }
            | FairnessError::NotAWinner { .. }
            | FairnessError::RandomUnavailable { .. } => None,
        }
    }

    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> FairnessError {
        FairnessError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn mismatch(
        field: impl Into<String>,
        recomputed: impl Into<String>,
        recorded: impl Into<String>,
    ) -> FairnessError {
        FairnessError::Mismatch {
            field: field.into(),
            recomputed: recomputed.into(),
            recorded: recorded.into(),
        }
    }
}

impl fmt::Display for FairnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FairnessError::Invalid { field, reason } => write!(f, "{field}: {reason}"),
            FairnessError::Malformed { reason } => write!(f, "not a record: {reason}"),
            FairnessError::Mismatch {
                field,
                recomputed,
                recorded,
            } => write!(
                f,
                "{field} does not match: the record says {recorded}, recomputed {recomputed}"
            ),
            FairnessError::NotAWinner { participation_id } => {
                write!(f, "{participation_id} is not a current winner of this draw")
            }
            FairnessError::RandomUnavailable { reason } => {
                write!(f, "no random numbers: {reason}")
            }
        }
    }
}

impl std::error::Error for FairnessError {}

/// `{"code", "message", "field"?, "recomputed"?, "recorded"?}`, as the token tool prints it.
impl serde::Serialize for FairnessError {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("FairnessError", 5)?;
        s.serialize_field("code", self.code())?;
        s.serialize_field("message", &self.to_string())?;
        match self {
            FairnessError::Invalid { field, .. } => s.serialize_field("field", field)?,
            FairnessError::Mismatch {
                field,
                recomputed,
                recorded,
            } => {
                s.serialize_field("field", field)?;
                s.serialize_field("recomputed", recomputed)?;
                s.serialize_field("recorded", recorded)?;
            }
            FairnessError::NotAWinner { participation_id } => {
                s.serialize_field("participationId", participation_id)?;
            }
            FairnessError::Malformed { .. } | FairnessError::RandomUnavailable { .. } => {}
        }
        s.end()
    }
}

// ---------------------------------------------------------------------------------------
// Randomness.

/// A source of random bytes. The algorithms take one as an argument so that tests (and
/// auditors) can replay them; production code passes [`OsRandom`].
pub trait RandomSource {
    /// Fills `buf` with random bytes.
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), FairnessError>;

    /// The next 64-bit word: 8 bytes from [`RandomSource::fill`], little-endian.
    fn next_u64(&mut self) -> Result<u64, FairnessError> {
        let mut word = [0u8; 8];
        self.fill(&mut word)?;
        Ok(u64::from_le_bytes(word))
    }
}

/// The operating system's CSPRNG (`getrandom`). Native builds only.
#[cfg(not(target_arch = "wasm32"))]
#[derive(Debug, Default, Clone, Copy)]
pub struct OsRandom;

#[cfg(not(target_arch = "wasm32"))]
impl RandomSource for OsRandom {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), FairnessError> {
        getrandom::getrandom(buf).map_err(|e| FairnessError::RandomUnavailable {
            reason: format!("the system random generator failed: {e}"),
        })
    }
}

/// 32 fresh bytes from the OS CSPRNG: a draw secret or a calendar salt.
#[cfg(not(target_arch = "wasm32"))]
pub fn random_32() -> Result<[u8; 32], FairnessError> {
    let mut bytes = [0u8; 32];
    OsRandom.fill(&mut bytes)?;
    Ok(bytes)
}

/// The draw's deterministic stream: the ChaCha20 keystream of RFC 8439 with the 32-byte
/// seed as key, an all-zero 96-bit nonce and the block counter starting at 0 (that is, the
/// encryption of zero bytes). Words are read as consecutive little-endian `u64`s.
pub struct KeyStream {
    cipher: ChaCha20,
}

impl KeyStream {
    /// The stream for `seed`.
    pub fn new(seed: [u8; 32]) -> KeyStream {
        let nonce = [0u8; 12];
        KeyStream {
            cipher: ChaCha20::new(&seed.into(), &nonce.into()),
        }
    }
}

impl fmt::Debug for KeyStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The state is key material; never print it.
        f.write_str("KeyStream(..)")
    }
}

impl RandomSource for KeyStream {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), FairnessError> {
        buf.fill(0);
        // Only after 2^32 blocks (256 GiB) does RFC 8439's 32-bit counter run out.
        self.cipher
            .try_apply_keystream(buf)
            .map_err(|_| FairnessError::RandomUnavailable {
                reason: "the ChaCha20 keystream is exhausted".into(),
            })
    }
}

/// A uniform integer in `0..n` (n ≥ 1) by rejection sampling, without modulo bias.
///
/// Reads a word `w` (see [`RandomSource::next_u64`]); with `r = 2^64 mod n`, accepts `w`
/// when `w < 2^64 - r` and returns `w mod n`, otherwise reads the next word. Every call reads
/// at least one word, even for `n = 1`. After [`MAX_REJECTIONS`] rejections in a row it fails
/// rather than loop on a broken source.
pub fn uniform_below(source: &mut impl RandomSource, n: u64) -> Result<u64, FairnessError> {
    if n == 0 {
        return Err(FairnessError::invalid("n", "cannot draw below 0"));
    }
    // r = 2^64 mod n, computed without 128-bit arithmetic: (2^64 - 1) mod n, plus one, mod n.
    let r = (u64::MAX % n + 1) % n;
    // Accept w < 2^64 - r, i.e. w <= 2^64 - 1 - r.
    let last_accepted = u64::MAX - r;
    for _ in 0..=MAX_REJECTIONS {
        let w = source.next_u64()?;
        if w <= last_accepted {
            return Ok(w % n);
        }
    }
    Err(FairnessError::RandomUnavailable {
        reason: format!("the source was rejected {MAX_REJECTIONS} times in a row"),
    })
}

// ---------------------------------------------------------------------------------------
// Canonical encodings and hex.

/// Feeds SHA-256 with the canonical encoding of docs/fairness.md: byte strings as a 4-byte
/// big-endian length then the bytes, counts as 4-byte big-endian integers, times as 8-byte
/// big-endian two's complement, fixed-size values (hashes, secrets, salts) raw.
pub(crate) struct Canonical {
    hash: Sha256,
}

impl Canonical {
    /// Starts an encoding with its domain tag (itself length-prefixed).
    pub(crate) fn new(tag: &str) -> Canonical {
        let mut c = Canonical {
            hash: Sha256::new(),
        };
        c.bytes(tag.as_bytes());
        c
    }

    /// A length-prefixed byte string. Callers bound lengths far below 2^32 first.
    pub(crate) fn bytes(&mut self, b: &[u8]) {
        self.count(b.len());
        self.hash.update(b);
    }

    /// A count or length, as 4 big-endian bytes (saturating; callers bound it first).
    pub(crate) fn count(&mut self, n: usize) {
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        self.hash.update(n.to_be_bytes());
    }

    /// A signed time, as 8 big-endian bytes.
    pub(crate) fn time(&mut self, t: i64) {
        self.hash.update(t.to_be_bytes());
    }

    /// Fixed-size bytes, without a length.
    pub(crate) fn raw(&mut self, b: &[u8]) {
        self.hash.update(b);
    }

    pub(crate) fn finish(self) -> [u8; 32] {
        self.hash.finalize().into()
    }
}

/// Lowercase hex.
pub fn to_hex(bytes: &[u8]) -> String {
    use fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// 32 bytes from exactly 64 lowercase hex digits (the only spelling records use, so that
/// one value has one text). `field` names the value in the error.
pub fn hex_32(field: &str, text: &str) -> Result<[u8; 32], FairnessError> {
    fn digit(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    let bad = || FairnessError::invalid(field, "expected 64 lowercase hex digits (32 bytes)");
    if text.len() != 64 {
        return Err(bad());
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(text.as_bytes().chunks_exact(2)) {
        match pair {
            [hi, lo] => *byte = (digit(*hi).ok_or_else(bad)? << 4) | digit(*lo).ok_or_else(bad)?,
            _ => return Err(bad()),
        }
    }
    Ok(out)
}

/// Parses a record (a draw record, a revealed calendar) from JSON text. serde refuses
/// unknown and duplicate fields; sizes are checked by the verification that follows.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, FairnessError> {
    serde_json::from_str(text).map_err(|e| FairnessError::Malformed {
        reason: e.to_string(),
    })
}

/// Checks an id or a text: non-empty, at most `max` bytes.
pub(crate) fn check_text(field: &str, text: &str, max: usize) -> Result<(), FairnessError> {
    if text.is_empty() {
        return Err(FairnessError::invalid(field, "must not be empty"));
    }
    if text.len() > max {
        return Err(FairnessError::invalid(
            field,
            format!("longer than {max} bytes"),
        ));
    }
    Ok(())
}

/// Checks a list's length against its bound.
pub(crate) fn check_len<T>(field: &str, list: &[T], max: usize) -> Result<(), FairnessError> {
    if list.len() > max {
        return Err(FairnessError::invalid(
            field,
            format!("more than {max} entries"),
        ));
    }
    Ok(())
}

/// SHA-256 of `tag` (length-prefixed) then `bytes` (raw): the commitment to a secret.
pub(crate) fn tagged_hash(tag: &str, bytes: &[u8]) -> [u8; 32] {
    let mut c = Canonical::new(tag);
    c.raw(bytes);
    c.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Replays fixed words.
    struct Words(Vec<u64>);

    impl RandomSource for Words {
        fn fill(&mut self, _: &mut [u8]) -> Result<(), FairnessError> {
            unreachable!("next_u64 is overridden")
        }
        fn next_u64(&mut self) -> Result<u64, FairnessError> {
            if self.0.is_empty() {
                return Err(FairnessError::RandomUnavailable {
                    reason: "no more words".into(),
                });
            }
            Ok(self.0.remove(0))
        }
    }

    #[test]
    fn uniform_below_rejects_exactly_the_biased_tail() {
        // 2^64 mod 3 = 1: only u64::MAX is rejected.
        assert_eq!(uniform_below(&mut Words(vec![u64::MAX, 5]), 3), Ok(2));
        // The largest accepted word: 2^64 - 2 ≡ 2 (mod 3).
        assert_eq!(uniform_below(&mut Words(vec![u64::MAX - 1]), 3), Ok(2));
        // n = 2^63 + 1: 2^64 mod n = 2^63 - 1, so words from 2^63 + 1 up are rejected.
        let n = (1u64 << 63) + 1;
        assert_eq!(uniform_below(&mut Words(vec![1 << 63]), n), Ok(1 << 63));
        assert_eq!(uniform_below(&mut Words(vec![(1 << 63) + 1, 7]), n), Ok(7));
        // Powers of two reject nothing; n = 1 still reads one word.
        assert_eq!(
            uniform_below(&mut Words(vec![u64::MAX]), 1 << 32),
            Ok(u64::from(u32::MAX))
        );
        let mut one = Words(vec![9, 4]);
        assert_eq!(uniform_below(&mut one, 1), Ok(0));
        assert_eq!(one.0, vec![4]);
    }

    #[test]
    fn uniform_below_gives_up_on_a_constant_rejected_source() {
        let words = vec![u64::MAX; (MAX_REJECTIONS + 1) as usize];
        assert!(matches!(
            uniform_below(&mut Words(words), 3),
            Err(FairnessError::RandomUnavailable { .. })
        ));
        assert!(uniform_below(&mut Words(vec![1]), 0).is_err());
    }

    #[test]
    fn the_stream_is_rfc_8439_chacha20() {
        // RFC 8439 appendix A.1, test vector #1: key 0, nonce 0, block counter 0.
        let mut s = KeyStream::new([0; 32]);
        let mut block = [0u8; 64];
        s.fill(&mut block).unwrap();
        assert_eq!(
            to_hex(&block),
            "76b8e0ada0f13d90405d6ae55386bd28bdd219b8a08ded1aa836efcc8b770dc7\
             da41597c5157488d7724e03fb8d84a376a43b8f41518a11cc387b669b2ee6586"
        );
        // Words continue the same keystream (block 1 starts at byte 64).
        let mut s = KeyStream::new([0; 32]);
        assert_eq!(
            s.next_u64().unwrap(),
            u64::from_le_bytes([0x76, 0xb8, 0xe0, 0xad, 0xa0, 0xf1, 0x3d, 0x90])
        );
    }

    #[test]
    fn hex_is_strict_lowercase() {
        let h = "00".repeat(31) + "ff";
        assert_eq!(hex_32("x", &h).unwrap()[31], 0xff);
        assert!(hex_32("x", &h.to_uppercase()).is_err());
        assert!(hex_32("x", &h[2..]).is_err());
        assert!(hex_32("x", &(h.clone() + "00")).is_err());
        assert!(hex_32("x", &("zz".to_owned() + &h[2..])).is_err());
        // Multi-byte characters are not hex digits and do not split a pair.
        assert!(hex_32("x", &("é".to_owned() + &h[2..])).is_err());
        assert_eq!(to_hex(&hex_32("x", &h).unwrap()), h);
    }
}
