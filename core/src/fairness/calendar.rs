//! Instant-win calendars: winning moments drawn at random, and the commitment to them.
//!
//! [`spread`] places one uniformly random instant in each of N equal slots of the campaign
//! window, so nobody can predict a moment from the rules (start, end, number of prizes).
//! [`seal`] commits to the final list: `SHA-256` over a domain tag, a random 32-byte salt
//! and the canonical list. The server publishes the commitment from the start and keeps the
//! salt and the list secret until the end; then it publishes the [`RevealedCalendar`], which
//! anyone checks with [`verify_calendar`] (`campaign-token verify-calendar`).
//!
//! The salt must stay secret until the end as well: a spread calendar has few possible
//! lists (for one moment in a one-day window, 86,400), so without a secret salt the
//! commitment could be opened by trying them all.
//!
//! Times are integer seconds since the Unix epoch (the server's unit), as `i64`.

use serde::{Deserialize, Serialize};

use super::{
    check_len, check_text, hex_32, to_hex, uniform_below, Canonical, FairnessError, RandomSource,
    MAX_ID_BYTES, MAX_MOMENTS,
};

/// The algorithm name of a revealed calendar, and the domain tag of its commitment.
pub const CALENDAR_ALGORITHM: &str = "campaign-token-calendar-v1";

/// One winning moment: the first eligible participation at or after `at` wins one unit of
/// the prize `prize_id`.
///
/// Moments are ordered by `at`, then by `prize_id` bytewise: the canonical order of a
/// calendar.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Moment {
    /// Seconds since the Unix epoch.
    pub at: i64,
    /// The prize unit this moment gives.
    pub prize_id: String,
}

/// A calendar once the campaign has ended: everything needed to check its commitment.
///
/// JSON (camelCase): `{"algorithm": "campaign-token-calendar-v1", "campaignId",
/// "moments": [{"at", "prizeId"}], "salt": hex, "commitment": hex}`. Before the end only
/// `commitment` may be published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RevealedCalendar {
    /// Always [`CALENDAR_ALGORITHM`].
    pub algorithm: String,
    /// The campaign.
    pub campaign_id: String,
    /// The moments, in canonical order.
    pub moments: Vec<Moment>,
    /// The 32-byte salt, 64 lowercase hex digits.
    pub salt: String,
    /// The commitment published at the start, 64 lowercase hex digits.
    pub commitment: String,
}

impl RevealedCalendar {
    /// Parses a revealed calendar from its JSON (not yet verified: see [`verify_calendar`]).
    pub fn from_json(text: &str) -> Result<RevealedCalendar, FairnessError> {
        super::from_json(text)
    }
}

/// N random moments in `[start, end)`: one uniformly random second in each of N equal
/// slots, in increasing order.
///
/// Slot `i` (0-based) is `[start + ⌊i·S/N⌋, start + ⌊(i+1)·S/N⌋)` with `S = end - start`:
/// the slots cover the window exactly, and their widths differ by at most one second when
/// N does not divide S. The moment in slot `i` is its start plus
/// [`uniform_below`]`(width)`, slots taken in order from the one `source`.
///
/// Errors: `n` of 0 or above [`MAX_MOMENTS`], `end <= start`, or a window shorter than `n`
/// seconds (a slot would be empty).
pub fn spread(
    start: i64,
    end: i64,
    n: u32,
    source: &mut impl RandomSource,
) -> Result<Vec<i64>, FairnessError> {
    let count = usize::try_from(n).unwrap_or(usize::MAX);
    if n == 0 || count > MAX_MOMENTS {
        return Err(FairnessError::invalid(
            "spread",
            format!("must be between 1 and {MAX_MOMENTS}"),
        ));
    }
    if end <= start {
        return Err(FairnessError::invalid("end", "must be after the start"));
    }
    // i128: the span of two i64s and its products with N cannot overflow.
    let span = i128::from(end) - i128::from(start);
    let slots = i128::from(n);
    if span < slots {
        return Err(FairnessError::invalid(
            "spread",
            format!("{n} moments need a window of at least {n} seconds"),
        ));
    }
    let mut moments = Vec::with_capacity(count);
    for i in 0..slots {
        let from = i128::from(start) + i * span / slots;
        let to = i128::from(start) + (i + 1) * span / slots;
        // 1 <= width <= span < 2^64, since span >= N.
        let width = u64::try_from(to - from)
            .map_err(|_| FairnessError::invalid("spread", "slot width out of range"))?;
        let offset = uniform_below(source, width)?;
        let at = i64::try_from(from + i128::from(offset))
            .map_err(|_| FairnessError::invalid("spread", "moment out of range"))?;
        moments.push(at);
    }
    Ok(moments)
}

/// [`spread`] with the operating system's CSPRNG: what the server calls once, when it first
/// prepares an instant-win campaign.
#[cfg(not(target_arch = "wasm32"))]
pub fn spread_os(start: i64, end: i64, n: u32) -> Result<Vec<i64>, FairnessError> {
    spread(start, end, n, &mut super::OsRandom)
}

/// The commitment to a calendar: SHA-256 of its canonical encoding (docs/fairness.md):
///
/// ```text
/// u32be(26) "campaign-token-calendar-v1"  salt (32 bytes)
/// u32be(len) campaignId  u32be(count)  { i64be(at)  u32be(len) prizeId }*
/// ```
///
/// The moments must already be in canonical order ([`Moment`]'s `Ord`), and every id
/// non-empty and at most [`MAX_ID_BYTES`].
pub fn commitment(
    campaign_id: &str,
    moments: &[Moment],
    salt: &[u8; 32],
) -> Result<[u8; 32], FairnessError> {
    check_text("campaignId", campaign_id, MAX_ID_BYTES)?;
    check_len("moments", moments, MAX_MOMENTS)?;
    let mut previous: Option<&Moment> = None;
    for (i, m) in moments.iter().enumerate() {
        check_text(&format!("moments[{i}].prizeId"), &m.prize_id, MAX_ID_BYTES)?;
        if previous.is_some_and(|p| p > m) {
            return Err(FairnessError::invalid(
                format!("moments[{i}]"),
                "out of canonical order (moments are sorted by at, then by prizeId)",
            ));
        }
        previous = Some(m);
    }
    let mut c = Canonical::new(CALENDAR_ALGORITHM);
    c.raw(salt);
    c.bytes(campaign_id.as_bytes());
    c.count(moments.len());
    for m in moments {
        c.time(m.at);
        c.bytes(m.prize_id.as_bytes());
    }
    Ok(c.finish())
}

/// Sorts `moments` into canonical order and commits to them with `salt`. The server keeps
/// the result private until the campaign ends and publishes only its `commitment` before.
pub fn seal(
    campaign_id: &str,
    mut moments: Vec<Moment>,
    salt: [u8; 32],
) -> Result<RevealedCalendar, FairnessError> {
    check_len("moments", &moments, MAX_MOMENTS)?;
    moments.sort();
    let commitment = commitment(campaign_id, &moments, &salt)?;
    Ok(RevealedCalendar {
        algorithm: CALENDAR_ALGORITHM.to_owned(),
        campaign_id: campaign_id.to_owned(),
        moments,
        salt: to_hex(&salt),
        commitment: to_hex(&commitment),
    })
}

/// [`seal`] with a fresh salt from the operating system's CSPRNG.
#[cfg(not(target_arch = "wasm32"))]
pub fn seal_os(campaign_id: &str, moments: Vec<Moment>) -> Result<RevealedCalendar, FairnessError> {
    seal(campaign_id, moments, super::random_32()?)
}

/// Checks a revealed calendar against its commitment: the algorithm is known, the moments
/// are in canonical order, and the commitment recomputed from the campaign id, the moments
/// and the salt is the one stated. A changed moment, prize, salt, campaign or order fails.
///
/// That the stated commitment is the one published at the start is for the auditor to
/// compare (`campaign-token verify-calendar --commitment HEX` does it).
pub fn verify_calendar(revealed: &RevealedCalendar) -> Result<(), FairnessError> {
    if revealed.algorithm != CALENDAR_ALGORITHM {
        return Err(FairnessError::invalid(
            "algorithm",
            format!("expected {CALENDAR_ALGORITHM}"),
        ));
    }
    let salt = hex_32("salt", &revealed.salt)?;
    let stated = hex_32("commitment", &revealed.commitment)?;
    let recomputed = commitment(&revealed.campaign_id, &revealed.moments, &salt)?;
    if recomputed != stated {
        return Err(FairnessError::mismatch(
            "commitment",
            to_hex(&recomputed),
            &revealed.commitment,
        ));
    }
    Ok(())
}
