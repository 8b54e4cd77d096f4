//! The verifiable draw (`campaign-token-draw`, version 1): winners anyone can recompute.
//!
//! Neither the operator nor the server alone chooses the winners. The seed mixes a server
//! secret committed to at the campaign's start ([`secret_commitment`]) with a public value
//! the operator named before the end and supplies at draw time (a drand round, a lottery
//! result), over the canonical candidate list and the prize units:
//!
//! ```text
//! seed = SHA-256( u32be(22) "campaign-token-draw-v1"
//!                 u32be(len) campaignId   candidatesSha256 (32 bytes)
//!                 u32be(count) { u32be(len) prizeId }*   secret (32 bytes)
//!                 u32be(len) publicSource   u32be(len) publicValue )
//! ```
//!
//! The seed keys a ChaCha20 stream ([`super::KeyStream`]). Pick `t` (0-based) is a partial
//! Fisher–Yates step over the sorted candidates: `j = t + uniform_below(n - t)`, swap
//! positions `t` and `j`, the candidate now at `t` is picked. The first picks take the prize
//! units in the order listed. A disqualification frees its winner's unit, and the next pick
//! of the same stream takes it (or, with no candidate left, the unit stays unawarded); so a
//! record is the initial draw plus its ordered disqualifications, and [`verify_draw`] replays
//! both from the record alone.
//!
//! The record names participations by id only, never by `sub`: an entrant finds themselves
//! with the participation id their participation answer gave them.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::{
    check_len, check_text, hex_32, tagged_hash, to_hex, uniform_below, Canonical, FairnessError,
    KeyStream, MAX_CANDIDATES, MAX_ID_BYTES, MAX_PRIZE_UNITS, MAX_TEXT_BYTES,
};

/// The algorithm name a record carries.
pub const DRAW_ALGORITHM: &str = "campaign-token-draw";
/// The algorithm version a record carries.
pub const DRAW_VERSION: u32 = 1;
/// Domain tag of the seed.
const SEED_TAG: &str = "campaign-token-draw-v1";
/// Domain tag of the candidate list's hash.
const CANDIDATES_TAG: &str = "campaign-token-draw-v1/candidates";
/// Domain tag of the secret's commitment.
const SECRET_TAG: &str = "campaign-token-draw-v1/secret";

/// What the server feeds a draw.
#[derive(Clone)]
pub struct DrawInputs {
    /// The campaign.
    pub campaign_id: String,
    /// The eligible participation ids, one per participant, in any order (the draw sorts
    /// them bytewise); duplicates are refused.
    pub candidates: Vec<String>,
    /// The prize units to hand out, one entry per unit, in the order the server lists its
    /// remaining stock (prize order, then unit): the first pick takes the first unit.
    pub prize_units: Vec<String>,
    /// The server secret, created at the campaign's start; [`secret_commitment`] of it was
    /// published then. The record reveals it.
    pub secret: [u8; 32],
    /// What the public value is, as named in the configuration before the end (e.g.
    /// `drand quicknet round 1234567`).
    pub public_source: String,
    /// The public value itself, exactly as published by its source (no surrounding spaces).
    pub public_value: String,
    /// When the draw is made, seconds since the Unix epoch (recorded, not hashed).
    pub drawn_at: i64,
}

impl std::fmt::Debug for DrawInputs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DrawInputs")
            .field("campaign_id", &self.campaign_id)
            .field("candidates", &self.candidates.len())
            .field("prize_units", &self.prize_units.len())
            .field("secret", &"(redacted)")
            .field("public_source", &self.public_source)
            .field("public_value", &self.public_value)
            .field("drawn_at", &self.drawn_at)
            .finish()
    }
}

/// One pick of the stream: the participation picked and the prize unit it took.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Pick {
    /// The pick's position in the stream: 0, 1, 2, …
    pub pick: u32,
    /// The participation picked.
    pub participation_id: String,
    /// The prize unit it took.
    pub prize_id: String,
}

/// A winner removed by the operator, in the order of the operator's actions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Disqualification {
    /// The winner disqualified (a current winner at that point).
    pub participation_id: String,
    /// Why (fraud, unreachable, …), as the operator wrote it.
    pub reason: String,
    /// When, seconds since the Unix epoch (recorded, not hashed).
    pub at: i64,
}

/// The record of a draw: everything needed to recompute its winners.
///
/// JSON, camelCase, stable field names; see docs/fairness.md for an example. `picks` is
/// every pick of the stream in order (disqualified ones included); `winners` the picks
/// still winning, in pick order; `unawarded` the units nobody holds (more units than
/// candidates, or a disqualification with no candidate left), in the order they were left.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DrawRecord {
    /// Always [`DRAW_ALGORITHM`].
    pub algorithm: String,
    /// Always [`DRAW_VERSION`].
    pub version: u32,
    /// The campaign.
    pub campaign_id: String,
    /// When the draw was made, seconds since the Unix epoch.
    pub drawn_at: i64,
    /// The participation ids that could win, sorted bytewise, no duplicates.
    pub candidates: Vec<String>,
    /// [`candidates_sha256`] of `candidates`, hex.
    pub candidates_sha256: String,
    /// The prize units handed out, in order.
    pub prize_units: Vec<String>,
    /// What the public value is.
    pub public_source: String,
    /// The public value.
    pub public_value: String,
    /// The server secret, revealed, hex.
    pub secret: String,
    /// [`secret_commitment`] of the secret, as published at the start, hex.
    pub secret_commitment: String,
    /// The seed of the stream, hex.
    pub seed: String,
    /// Every pick, in stream order.
    pub picks: Vec<Pick>,
    /// The disqualifications, in order.
    pub disqualifications: Vec<Disqualification>,
    /// The current winners, in pick order.
    pub winners: Vec<Pick>,
    /// The prize units nobody holds.
    pub unawarded: Vec<String>,
}

impl DrawRecord {
    /// Parses a record from its JSON (not yet verified: see [`verify_draw`]).
    pub fn from_json(text: &str) -> Result<DrawRecord, FairnessError> {
        super::from_json(text)
    }
}

/// The outcome of a [`redraw`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redraw {
    /// The record with the disqualification and its replacement pick.
    pub record: DrawRecord,
    /// The prize unit the disqualified winner held.
    pub freed_prize: String,
    /// The replacement winner, who took `freed_prize`; `None` when no candidate was left
    /// (the unit is then in `record.unawarded`, back in stock).
    pub replacement: Option<Pick>,
}

/// The commitment to a draw secret, published at the campaign's start:
/// `SHA-256(u32be(29) "campaign-token-draw-v1/secret" || secret)`, hex.
pub fn secret_commitment(secret: &[u8; 32]) -> String {
    to_hex(&tagged_hash(SECRET_TAG, secret))
}

/// A fresh draw secret from the operating system's CSPRNG, for the campaign's start.
#[cfg(not(target_arch = "wasm32"))]
pub fn new_secret() -> Result<[u8; 32], FairnessError> {
    super::random_32()
}

/// The hash of a candidate list already in canonical order (sorted bytewise, no
/// duplicates): `SHA-256(u32be(33) "campaign-token-draw-v1/candidates" || u32be(count) ||
/// { u32be(len) id }*)`, hex.
pub fn candidates_sha256(candidates: &[String]) -> Result<String, FairnessError> {
    check_candidates(candidates)?;
    Ok(to_hex(&candidates_hash(candidates)))
}

/// Draws winners: one pick per prize unit while candidates last.
pub fn draw(inputs: DrawInputs) -> Result<DrawRecord, FairnessError> {
    let DrawInputs {
        campaign_id,
        mut candidates,
        prize_units,
        secret,
        public_source,
        public_value,
        drawn_at,
    } = inputs;
    check_len("candidates", &candidates, MAX_CANDIDATES)?;
    candidates.sort_unstable();
    let mut record = DrawRecord {
        algorithm: DRAW_ALGORITHM.to_owned(),
        version: DRAW_VERSION,
        campaign_id,
        drawn_at,
        candidates_sha256: String::new(),
        candidates,
        prize_units,
        public_source,
        public_value,
        secret: to_hex(&secret),
        secret_commitment: secret_commitment(&secret),
        seed: String::new(),
        picks: Vec::new(),
        disqualifications: Vec::new(),
        winners: Vec::new(),
        unawarded: Vec::new(),
    };
    let checked = check_inputs(&record)?;
    record.candidates_sha256 = to_hex(&checked.candidates_hash);
    record.seed = to_hex(&checked.seed);
    let outcome = replay(&record, &checked.seed)?;
    record.picks = outcome.picks;
    record.winners = outcome.winners;
    record.unawarded = outcome.unawarded;
    Ok(record)
}

/// Disqualifies a current winner and draws a replacement from the same stream.
///
/// Verifies `record` first (the server never extends a record that does not verify), then
/// appends the disqualification and replays: the freed unit goes to the next pick.
pub fn redraw(
    record: &DrawRecord,
    participation_id: &str,
    reason: &str,
    at: i64,
) -> Result<Redraw, FairnessError> {
    let winners = verify_draw(record)?;
    check_text("reason", reason, MAX_TEXT_BYTES)?;
    let freed_prize = winners
        .iter()
        .find(|w| w.participation_id == participation_id)
        .map(|w| w.prize_id.clone())
        .ok_or_else(|| FairnessError::NotAWinner {
            participation_id: participation_id.to_owned(),
        })?;
    let mut next = record.clone();
    next.disqualifications.push(Disqualification {
        participation_id: participation_id.to_owned(),
        reason: reason.to_owned(),
        at,
    });
    let seed = hex_32("seed", &record.seed)?;
    let outcome = replay(&next, &seed)?;
    let replacement = outcome.picks.get(record.picks.len()).cloned();
    next.picks = outcome.picks;
    next.winners = outcome.winners;
    next.unawarded = outcome.unawarded;
    Ok(Redraw {
        record: next,
        freed_prize,
        replacement,
    })
}

/// Recomputes a record from its inputs alone and returns its winners if everything it
/// states matches: the algorithm and version, the candidate list's hash, the secret against
/// its commitment, the seed, every pick (disqualifications replayed in order), the winners
/// and the unawarded units. The first difference is the error.
///
/// That `secretCommitment` is the one published at the start, and `publicValue` the one
/// its source published, is for the auditor to compare (`campaign-token verify-draw
/// --secret-commitment HEX` does the first).
pub fn verify_draw(record: &DrawRecord) -> Result<Vec<Pick>, FairnessError> {
    let checked = check_inputs(record)?;
    let stated = hex_32("candidatesSha256", &record.candidates_sha256)?;
    if stated != checked.candidates_hash {
        return Err(FairnessError::mismatch(
            "candidatesSha256",
            to_hex(&checked.candidates_hash),
            &record.candidates_sha256,
        ));
    }
    let stated = hex_32("secretCommitment", &record.secret_commitment)?;
    let recomputed = tagged_hash(SECRET_TAG, &checked.secret);
    if stated != recomputed {
        return Err(FairnessError::mismatch(
            "secretCommitment",
            to_hex(&recomputed),
            &record.secret_commitment,
        ));
    }
    let stated = hex_32("seed", &record.seed)?;
    if stated != checked.seed {
        return Err(FairnessError::mismatch(
            "seed",
            to_hex(&checked.seed),
            &record.seed,
        ));
    }
    let outcome = replay(record, &checked.seed)?;
    compare_picks("picks", &outcome.picks, &record.picks)?;
    compare_picks("winners", &outcome.winners, &record.winners)?;
    compare_list("unawarded", &outcome.unawarded, &record.unawarded)?;
    Ok(outcome.winners)
}

// ---------------------------------------------------------------------------------------

/// The record's inputs, checked, with the values derived from them.
struct Checked {
    candidates_hash: [u8; 32],
    secret: [u8; 32],
    seed: [u8; 32],
}

/// Checks every input field of a record (not the derived ones) and computes the candidate
/// hash and the seed.
fn check_inputs(record: &DrawRecord) -> Result<Checked, FairnessError> {
    if record.algorithm != DRAW_ALGORITHM {
        return Err(FairnessError::invalid(
            "algorithm",
            format!("expected {DRAW_ALGORITHM}"),
        ));
    }
    if record.version != DRAW_VERSION {
        return Err(FairnessError::invalid(
            "version",
            format!("expected {DRAW_VERSION}"),
        ));
    }
    check_text("campaignId", &record.campaign_id, MAX_ID_BYTES)?;
    check_candidates(&record.candidates)?;
    check_len("prizeUnits", &record.prize_units, MAX_PRIZE_UNITS)?;
    for (i, unit) in record.prize_units.iter().enumerate() {
        check_text(&format!("prizeUnits[{i}]"), unit, MAX_ID_BYTES)?;
    }
    check_public("publicSource", &record.public_source)?;
    check_public("publicValue", &record.public_value)?;
    let secret = hex_32("secret", &record.secret)?;
    // Each disqualification needs a distinct winner, so there are never more than
    // candidates; the bound keeps a hostile list from being walked.
    check_len(
        "disqualifications",
        &record.disqualifications,
        record.candidates.len(),
    )?;
    for (i, d) in record.disqualifications.iter().enumerate() {
        check_text(
            &format!("disqualifications[{i}].participationId"),
            &d.participation_id,
            MAX_ID_BYTES,
        )?;
        check_text(
            &format!("disqualifications[{i}].reason"),
            &d.reason,
            MAX_TEXT_BYTES,
        )?;
    }
    let candidates_hash = candidates_hash(&record.candidates);
    let mut c = Canonical::new(SEED_TAG);
    c.bytes(record.campaign_id.as_bytes());
    c.raw(&candidates_hash);
    c.count(record.prize_units.len());
    for unit in &record.prize_units {
        c.bytes(unit.as_bytes());
    }
    c.raw(&secret);
    c.bytes(record.public_source.as_bytes());
    c.bytes(record.public_value.as_bytes());
    Ok(Checked {
        candidates_hash,
        secret,
        seed: c.finish(),
    })
}

/// The public value and its source: non-empty, bounded, without surrounding whitespace
/// (a pasted newline would silently change the seed).
fn check_public(field: &str, text: &str) -> Result<(), FairnessError> {
    check_text(field, text, MAX_TEXT_BYTES)?;
    if text.trim() != text {
        return Err(FairnessError::invalid(
            field,
            "must not start or end with whitespace",
        ));
    }
    Ok(())
}

/// Bounded, every id valid, strictly increasing bytewise (sorted, no duplicates).
fn check_candidates(candidates: &[String]) -> Result<(), FairnessError> {
    check_len("candidates", candidates, MAX_CANDIDATES)?;
    let mut previous: Option<&String> = None;
    for (i, id) in candidates.iter().enumerate() {
        let field = format!("candidates[{i}]");
        check_text(&field, id, MAX_ID_BYTES)?;
        match previous {
            Some(p) if p == id => {
                return Err(FairnessError::invalid(
                    field,
                    format!("duplicate participation id {id}"),
                ))
            }
            Some(p) if p > id => {
                return Err(FairnessError::invalid(
                    field,
                    "out of canonical order (candidates are sorted bytewise)",
                ))
            }
            _ => {}
        }
        previous = Some(id);
    }
    Ok(())
}

fn candidates_hash(candidates: &[String]) -> [u8; 32] {
    let mut c = Canonical::new(CANDIDATES_TAG);
    c.count(candidates.len());
    for id in candidates {
        c.bytes(id.as_bytes());
    }
    c.finish()
}

/// Everything a record derives from its inputs and disqualifications.
struct Outcome {
    picks: Vec<Pick>,
    winners: Vec<Pick>,
    unawarded: Vec<String>,
}

/// The stream's picks over a checked record: the initial draw, then each disqualification
/// in order with its replacement. The one place the pick and redraw order is written.
fn replay(record: &DrawRecord, seed: &[u8; 32]) -> Result<Outcome, FairnessError> {
    let mut picker = Picker {
        pool: record.candidates.iter().map(String::as_str).collect(),
        made: 0,
        stream: KeyStream::new(*seed),
    };
    let mut picks: Vec<Pick> = Vec::new();
    let mut unawarded = Vec::new();
    // Current winners: id → index in `picks`. Ids are unique, so each maps to at most one
    // pick; an id leaves the map when disqualified. Keys borrow from the record.
    let mut winning: HashMap<&str, usize> = HashMap::new();
    for unit in &record.prize_units {
        match picker.next(unit)? {
            Some((id, p)) => {
                winning.insert(id, picks.len());
                picks.push(p);
            }
            None => unawarded.push(unit.clone()),
        }
    }
    let mut disqualified = vec![false; picks.len()];
    for (i, d) in record.disqualifications.iter().enumerate() {
        let Some(index) = winning.remove(d.participation_id.as_str()) else {
            return Err(FairnessError::invalid(
                format!("disqualifications[{i}].participationId"),
                format!(
                    "{} is not a current winner at that point",
                    d.participation_id
                ),
            ));
        };
        let unit = match (picks.get(index), disqualified.get_mut(index)) {
            (Some(p), Some(flag)) => {
                *flag = true;
                p.prize_id.clone()
            }
            _ => return Err(FairnessError::invalid("picks", "internal index error")),
        };
        match picker.next(&unit)? {
            Some((id, p)) => {
                winning.insert(id, picks.len());
                picks.push(p);
                disqualified.push(false);
            }
            None => unawarded.push(unit),
        }
    }
    let winners = picks
        .iter()
        .zip(&disqualified)
        .filter(|(_, &out)| !out)
        .map(|(p, _)| p.clone())
        .collect();
    Ok(Outcome {
        picks,
        winners,
        unawarded,
    })
}

/// The partial Fisher–Yates shuffle the picks walk.
struct Picker<'a> {
    /// The candidates; positions below `made` hold the picks, in order.
    pool: Vec<&'a str>,
    made: usize,
    stream: KeyStream,
}

impl<'a> Picker<'a> {
    /// Pick number `made` for `prize_id` (with the picked id, borrowed from the record), or
    /// `None` once every candidate is picked.
    fn next(&mut self, prize_id: &str) -> Result<Option<(&'a str, Pick)>, FairnessError> {
        let left = self.pool.len().saturating_sub(self.made);
        if left == 0 {
            return Ok(None);
        }
        let offset = uniform_below(&mut self.stream, left as u64)?;
        let j = self.made + usize::try_from(offset).unwrap_or(0);
        if j >= self.pool.len() {
            return Err(FairnessError::invalid("picks", "internal index error"));
        }
        self.pool.swap(self.made, j);
        let (Some(&id), Ok(pick)) = (self.pool.get(self.made), u32::try_from(self.made)) else {
            return Err(FairnessError::invalid("picks", "internal index error"));
        };
        let pick = Pick {
            pick,
            participation_id: id.to_owned(),
            prize_id: prize_id.to_owned(),
        };
        self.made += 1;
        Ok(Some((id, pick)))
    }
}

/// Compares recomputed picks with the record's, naming the first field that differs.
fn compare_picks(field: &str, recomputed: &[Pick], recorded: &[Pick]) -> Result<(), FairnessError> {
    for (i, (r, s)) in recomputed.iter().zip(recorded).enumerate() {
        let differs = |name: &str, a: &str, b: &str| {
            FairnessError::mismatch(format!("{field}[{i}].{name}"), a, b)
        };
        if r.pick != s.pick {
            return Err(differs("pick", &r.pick.to_string(), &s.pick.to_string()));
        }
        if r.participation_id != s.participation_id {
            return Err(differs(
                "participationId",
                &r.participation_id,
                &s.participation_id,
            ));
        }
        if r.prize_id != s.prize_id {
            return Err(differs("prizeId", &r.prize_id, &s.prize_id));
        }
    }
    if recomputed.len() != recorded.len() {
        return Err(FairnessError::mismatch(
            field,
            format!("{} entries", recomputed.len()),
            format!("{} entries", recorded.len()),
        ));
    }
    Ok(())
}

fn compare_list(
    field: &str,
    recomputed: &[String],
    recorded: &[String],
) -> Result<(), FairnessError> {
    for (i, (r, s)) in recomputed.iter().zip(recorded).enumerate() {
        if r != s {
            return Err(FairnessError::mismatch(format!("{field}[{i}]"), r, s));
        }
    }
    if recomputed.len() != recorded.len() {
        return Err(FairnessError::mismatch(
            field,
            format!("{} entries", recomputed.len()),
            format!("{} entries", recorded.len()),
        ));
    }
    Ok(())
}
