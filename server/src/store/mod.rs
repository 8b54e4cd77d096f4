//! Storage of participations and prize stock, behind one small trait with two real
//! implementations: SQLite (the embedded default) and PostgreSQL (several server processes).
//!
//! The allocation rules live inside each implementation's transaction, because that is the
//! only place they can be applied atomically. They are the same for both:
//!
//! 1. a token already seen (same SHA-256) returns its stored participation, `replayed`;
//! 2. a `sub` with `participation_limit` participations is refused;
//! 3. `cannot-win` → `not-eligible`;
//! 4. instant win: claim the earliest unclaimed winning moment at or before now → `won`,
//!    else `lost`;
//! 5. draw: `given-prize`/`any-prize` take one unit of the first prize with stock → `won`,
//!    else `lost`; `standard` → `entered-draw`.
//!
//! Unique constraints on (campaign, token hash) and (campaign, sub, n) make rules 1 and 2
//! hold across processes; stock is only ever decremented by a conditional update
//! (`remaining > 0`) inside the transaction that records the win, so a prize is never
//! allocated twice and a win is only reported after its commit.

use std::future::Future;
use std::pin::Pin;

use campaign_token::Eligibility;
use serde::Serialize;

use std::sync::Arc;

use crate::config::{Campaign, CampaignKind, Prize};

pub mod postgres;
pub mod sqlite;

/// A boxed future, so that the trait stays object safe (`Box<dyn Store>`).
pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Schema version written by the migrations (for the logs).
pub const SCHEMA_VERSION: i64 = 1;

/// A participation to record.
#[derive(Debug, Clone)]
pub struct NewParticipation {
    /// A fresh random id.
    pub id: String,
    /// SHA-256 of the token text, hex.
    pub token_hash: String,
    /// The token's `sub`.
    pub sub: String,
    /// The token's eligibility.
    pub eligibility: Eligibility,
    /// The token's prize label (given-prize only).
    pub token_label: Option<String>,
    /// The `answers` member of the request, as JSON text.
    pub answers: Option<String>,
    /// Time of the request, seconds since the epoch.
    pub now: i64,
}

/// What became of a participation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// A prize was allocated.
    Won,
    /// Eligible, but no prize (no stock, no due winning moment).
    Lost,
    /// A `standard` participant in a draw campaign, waiting for the draw.
    EnteredDraw,
    /// `cannot-win`.
    NotEligible,
}

impl Outcome {
    /// The stored and JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Won => "won",
            Outcome::Lost => "lost",
            Outcome::EnteredDraw => "entered-draw",
            Outcome::NotEligible => "not-eligible",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Result<Outcome, StoreError> {
        match s {
            "won" => Ok(Outcome::Won),
            "lost" => Ok(Outcome::Lost),
            "entered-draw" => Ok(Outcome::EnteredDraw),
            "not-eligible" => Ok(Outcome::NotEligible),
            other => Err(StoreError::new(format!("unknown stored outcome `{other}`"))),
        }
    }
}

/// Parses a stored eligibility.
pub fn parse_eligibility(s: &str) -> Result<Eligibility, StoreError> {
    serde_json::from_value(serde_json::Value::String(s.to_owned()))
        .map_err(|_| StoreError::new(format!("unknown stored eligibility `{s}`")))
}

/// A prize as won: its id and the label shown (the token's label for `given-prize`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrizeWon {
    /// Prize id.
    pub id: String,
    /// Label shown.
    pub label: String,
}

/// A recorded participation, as answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Participation {
    /// Its id.
    pub participation_id: String,
    /// The outcome.
    pub outcome: Outcome,
    /// The prize, when won.
    pub prize: Option<PrizeWon>,
    /// The token's eligibility.
    pub eligibility: Eligibility,
    /// Whether this answer repeats an earlier one for the same token.
    pub replayed: bool,
}

/// Why a participation was not recorded.
#[derive(Debug)]
pub enum ParticipateError {
    /// The `sub` has used up its participations.
    Limit,
    /// The database failed.
    Store(StoreError),
}

impl From<StoreError> for ParticipateError {
    fn from(e: StoreError) -> Self {
        ParticipateError::Store(e)
    }
}

/// A database failure (logged, answered as 500/503): what failed and, when a driver or the
/// system reported it, that error as the [`source`](std::error::Error::source), so a caller
/// can tell a lost race (PostgreSQL's retry) from a broken disk without parsing text.
///
/// The message already ends with the source's text (`sqlite: disk I/O error`), because the
/// server logs errors with `Display`; `Clone` because one failed group commit answers every
/// participation of its batch with the same error.
#[derive(Debug, Clone)]
pub struct StoreError {
    message: String,
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl StoreError {
    /// A failure of the store's own rules (no underlying error).
    pub fn new(message: impl Into<String>) -> StoreError {
        StoreError {
            message: message.into(),
            source: None,
        }
    }

    /// A failure reported by a driver or the system: `context: source`.
    pub fn caused<E>(context: &str, source: E) -> StoreError
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        StoreError {
            message: format!("{context}: {source}"),
            source: Some(Arc::new(source)),
        }
    }
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Stock of one prize.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrizeStock {
    /// Prize id.
    pub id: String,
    /// Prize name.
    pub name: String,
    /// Units configured.
    pub quantity: i64,
    /// Units not yet allocated.
    pub remaining: i64,
}

/// The draw of a campaign, once made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DrawRecord {
    /// Who asked for it.
    pub drawn_by: String,
    /// When, seconds since the epoch.
    pub drawn_at: i64,
    /// Winners drawn.
    pub winners: i64,
}

/// Counters of a campaign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// Participations recorded.
    pub participations: i64,
    /// Distinct participants.
    pub participants: i64,
    /// Participations per outcome.
    pub outcomes: std::collections::BTreeMap<String, i64>,
    /// Winners (participations with a prize).
    pub winners: i64,
    /// Prize stock.
    pub prizes: Vec<PrizeStock>,
    /// Winning moments not yet claimed (instant win).
    pub unclaimed_moments: i64,
    /// The draw, if made.
    pub draw: Option<DrawRecord>,
}

/// A winner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Winner {
    /// Participation id.
    pub participation_id: String,
    /// The participant.
    pub sub: String,
    /// The prize.
    pub prize: PrizeWon,
    /// When the prize was allocated.
    pub won_at: i64,
    /// Whether it was allocated by the draw.
    pub drawn: bool,
}

/// Why a draw was refused.
#[derive(Debug)]
pub enum DrawError {
    /// The campaign was drawn already.
    AlreadyDrawn,
    /// The database failed.
    Store(StoreError),
}

impl From<StoreError> for DrawError {
    fn from(e: StoreError) -> Self {
        DrawError::Store(e)
    }
}

/// The storage of the server. Each method is one transaction.
pub trait Store: Send + Sync {
    /// Applies the migrations (idempotently) and records the campaigns' prizes and winning
    /// moments; refuses a configuration that contradicts what is stored.
    fn prepare<'a>(&'a self, campaigns: &'a [Arc<Campaign>]) -> BoxFut<'a, Result<(), StoreError>>;
    /// Records a participation and allocates a prize under the rules of the module docs.
    fn participate<'a>(
        &'a self,
        campaign: Arc<Campaign>,
        p: NewParticipation,
    ) -> BoxFut<'a, Result<Participation, ParticipateError>>;
    /// Counters of a campaign.
    fn stats<'a>(&'a self, campaign: Arc<Campaign>) -> BoxFut<'a, Result<Stats, StoreError>>;
    /// Winners of a campaign, in the order they won.
    fn winners<'a>(
        &'a self,
        campaign: Arc<Campaign>,
    ) -> BoxFut<'a, Result<Vec<Winner>, StoreError>>;
    /// Draws winners for the remaining prizes among eligible participants who have not won
    /// (one chance per participant), once per campaign.
    fn draw<'a>(
        &'a self,
        campaign: Arc<Campaign>,
        drawn_by: &'a str,
        now: i64,
    ) -> BoxFut<'a, Result<Vec<Winner>, DrawError>>;
    /// Whether the database answers.
    fn ping(&self) -> BoxFut<'_, Result<(), StoreError>>;
}

/// The label shown for a prize won: the token's label for `given-prize`, else the prize name.
pub(crate) fn label_for(prizes: &[Prize], prize_id: &str, token_label: Option<&str>) -> String {
    match token_label {
        Some(l) => l.to_owned(),
        None => prizes
            .iter()
            .find(|p| p.id == prize_id)
            .map_or_else(|| prize_id.to_owned(), |p| p.name.clone()),
    }
}

/// The outcome for an eligibility when no prize is allocated.
pub(crate) fn outcome_without_prize(kind: CampaignKind, e: Eligibility) -> Outcome {
    match (e, kind) {
        (Eligibility::CannotWin, _) => Outcome::NotEligible,
        (Eligibility::Standard, CampaignKind::Draw) => Outcome::EnteredDraw,
        _ => Outcome::Lost,
    }
}

/// Whether this participation competes for a prize immediately (instant-win moment or
/// first-come stock).
pub(crate) fn competes_now(kind: CampaignKind, e: Eligibility) -> bool {
    match kind {
        CampaignKind::InstantWin => e.may_win(),
        CampaignKind::Draw => matches!(e, Eligibility::GivenPrize | Eligibility::AnyPrize),
    }
}

/// A draw candidate: one per participant.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    pub id: String,
    pub sub: String,
    pub token_label: Option<String>,
}

/// Picks up to `k` of `candidates` uniformly at random with the operating system's CSPRNG
/// (partial Fisher–Yates). Candidates must be one per participant already.
pub(crate) fn pick(mut candidates: Vec<Candidate>, k: usize) -> Result<Vec<Candidate>, StoreError> {
    let k = k.min(candidates.len());
    for i in 0..k {
        let span = candidates.len() - i;
        let j = i + random_below(span)?;
        candidates.swap(i, j);
    }
    candidates.truncate(k);
    Ok(candidates)
}

/// A uniform random integer in `0..n` (n ≥ 1), without modulo bias.
fn random_below(n: usize) -> Result<usize, StoreError> {
    let n = n as u64;
    let zone = u64::MAX - (u64::MAX % n);
    for _ in 0..64 {
        let mut b = [0u8; 8];
        getrandom::getrandom(&mut b)
            .map_err(|e| StoreError::caused("the system random generator failed", e))?;
        let v = u64::from_le_bytes(b);
        if v < zone {
            return Ok((v % n) as usize);
        }
    }
    Err(StoreError::new("the system random generator looks broken"))
}

/// Keeps the first participation of each `sub` (candidates arrive in participation order).
pub(crate) fn one_per_sub(rows: Vec<Candidate>) -> Vec<Candidate> {
    let mut seen = std::collections::HashSet::new();
    rows.into_iter()
        .filter(|c| seen.insert(c.sub.clone()))
        .collect()
}

/// The SQL schema, shared by both databases (types chosen to mean the same in both).
pub(crate) const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS prizes (
        campaign TEXT NOT NULL,
        id TEXT NOT NULL,
        ord INTEGER NOT NULL,
        name TEXT NOT NULL,
        quantity BIGINT NOT NULL,
        remaining BIGINT NOT NULL CHECK (remaining >= 0),
        PRIMARY KEY (campaign, id))",
    "CREATE TABLE IF NOT EXISTS moments (
        campaign TEXT NOT NULL,
        seq INTEGER NOT NULL,
        at BIGINT NOT NULL,
        prize_id TEXT NOT NULL,
        participation_id TEXT UNIQUE,
        PRIMARY KEY (campaign, seq))",
    "CREATE TABLE IF NOT EXISTS participations (
        id TEXT PRIMARY KEY,
        campaign TEXT NOT NULL,
        token_hash TEXT NOT NULL,
        sub TEXT NOT NULL,
        n INTEGER NOT NULL,
        eligibility TEXT NOT NULL,
        token_label TEXT,
        outcome TEXT NOT NULL,
        prize_id TEXT,
        prize_label TEXT,
        won_at BIGINT,
        drawn INTEGER NOT NULL DEFAULT 0,
        answers TEXT,
        created_at BIGINT NOT NULL,
        UNIQUE (campaign, token_hash),
        UNIQUE (campaign, sub, n))",
    "CREATE INDEX IF NOT EXISTS participations_outcome ON participations (campaign, outcome)",
    "CREATE TABLE IF NOT EXISTS draws (
        campaign TEXT PRIMARY KEY,
        drawn_by TEXT NOT NULL,
        drawn_at BIGINT NOT NULL,
        winners BIGINT NOT NULL)",
];

/// What `prepare` must find (or create) for a campaign.
pub(crate) fn check_prizes(
    campaign: &Campaign,
    stored: &[(String, i64)],
) -> Result<(), StoreError> {
    for p in &campaign.prizes {
        match stored.iter().find(|(id, _)| *id == p.id) {
            Some((_, q)) if *q != i64::from(p.quantity) => {
                return Err(StoreError::new(format!(
                    "campaign {}: prize {} is stored with quantity {q} but configured with {}; \
                     the stock of a started campaign cannot change (use a new campaign id or database)",
                    campaign.id, p.id, p.quantity
                )))
            }
            _ => {}
        }
    }
    if let Some((id, _)) = stored
        .iter()
        .find(|(id, _)| !campaign.prizes.iter().any(|p| p.id == *id))
    {
        return Err(StoreError::new(format!(
            "campaign {}: prize {id} is stored but no longer configured",
            campaign.id
        )));
    }
    Ok(())
}

/// Checks stored winning moments against the configured calendar.
pub(crate) fn check_moments(
    campaign: &Campaign,
    stored: &[(i64, String)],
) -> Result<(), StoreError> {
    let same = stored.len() == campaign.moments.len()
        && stored
            .iter()
            .zip(&campaign.moments)
            .all(|((at, prize), m)| *at == m.at && *prize == m.prize_id);
    if same {
        Ok(())
    } else {
        Err(StoreError::new(format!(
            "campaign {}: the stored prize calendar differs from the configured one; \
             the calendar of a started campaign cannot change",
            campaign.id
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cands(n: usize) -> Vec<Candidate> {
        (0..n)
            .map(|i| Candidate {
                id: format!("p{i}"),
                sub: format!("s{i}"),
                token_label: None,
            })
            .collect()
    }

    #[test]
    fn the_draw_picks_distinct_candidates_and_never_more_than_asked() {
        for (n, k) in [(0, 3), (2, 5), (10, 3), (10, 10)] {
            let got = pick(cands(n), k).unwrap();
            assert_eq!(got.len(), k.min(n));
            let ids: std::collections::HashSet<_> = got.iter().map(|c| c.id.clone()).collect();
            assert_eq!(ids.len(), got.len(), "no one is drawn twice");
        }
    }

    #[test]
    fn every_candidate_can_be_drawn() {
        // 5 candidates, 1 pick, 400 rounds: each is missed with probability (4/5)^400.
        let mut seen = std::collections::HashSet::new();
        for _ in 0..400 {
            seen.insert(pick(cands(5), 1).unwrap()[0].id.clone());
        }
        assert_eq!(seen.len(), 5);
    }

    #[test]
    fn one_chance_per_participant() {
        let mut rows = cands(3);
        rows.push(Candidate {
            id: "again".into(),
            sub: "s1".into(),
            token_label: None,
        });
        let kept: Vec<String> = one_per_sub(rows).into_iter().map(|c| c.id).collect();
        assert_eq!(kept, ["p0", "p1", "p2"]);
    }
}
