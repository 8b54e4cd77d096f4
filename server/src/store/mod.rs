//! Storage of participations and prize stock, behind one small trait with two real
//! implementations: SQLite (the embedded default) and PostgreSQL (several server processes).
//!
//! The allocation rules are written once, in `rules.rs`, over `tx::Tx`: an open transaction
//! whose calls are one statement each, every statement written once in `statements.rs`. They
//! run inside the backend's transaction, because that is the only place they can be applied
//! atomically:
//!
//! 1. a token already seen (same replay identity) returns its stored participation, `replayed`;
//! 2. a `sub` with `participation_limit` participations is refused;
//! 3. `cannot-win` → `not-eligible`;
//! 4. instant win: claim the earliest unclaimed winning moment at or before now → `won`,
//!    else `lost`;
//! 5. draw: `given-prize`/`any-prize` take one unit of the first prize with stock → `won`,
//!    else `lost`; `standard` → `entered-draw`.
//!
//! The unique constraint on (campaign, sub, n) makes rules 1 and 2 hold across processes (a
//! token's rows carry its sub: `statements::TOKEN_AND_COUNT` says why that suffices); stock is only ever decremented by a conditional update
//! (`remaining > 0`) inside the transaction that records the win, so a prize is never
//! allocated twice and a win is only reported after its commit.
//!
//! Each backend keeps only what differs: connections, how a transaction begins and ends
//! (both group-commit the participations queued in a process: [`sqlite`] in savepoints on
//! one writer thread; [`postgres`] in optimistic batches on a few writer tasks, redone one
//! by one when a batch fails, with row locks, an advisory lock for migrations and retries of
//! lost races). The schema is a list of numbered migrations
//! (`migrations.rs`).

use std::future::Future;
use std::pin::Pin;

use campaign_token_core::Eligibility;
use serde::Serialize;

use std::sync::Arc;

use crate::config::Campaign;

mod migrations;
pub mod pg_tls;
pub mod postgres;
mod queue;
mod rules;
pub mod sqlite;
mod statements;
mod tx;

pub use migrations::SCHEMA_VERSION;
pub use rules::erased_sub;

/// A boxed future, so that the trait stays object safe (`Box<dyn Store>`).
pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A participation to record.
#[derive(Debug, Clone)]
pub struct NewParticipation {
    /// A fresh random id.
    pub id: String,
    /// The verified token's replay identity (`Verified::replay_id`), hex: the key it is
    /// recorded under.
    pub token_hash: String,
    /// The key a server before schema 5 recorded the same text under: `text:` and SHA-256 of
    /// the token text, hex. Looked up, never written.
    pub legacy_hash: String,
    /// The token's `sub`.
    pub sub: String,
    /// The token's eligibility.
    pub eligibility: Eligibility,
    /// The token's prize label (given-prize only).
    pub token_label: Option<String>,
    /// The `answers` member of the request, as JSON text.
    pub answers: Option<String>,
    /// The token's `form` (what the brand vouches for), as JSON text.
    pub brand_form: Option<String>,
    /// The token's `optin`, as JSON text.
    pub brand_optin: Option<String>,
    /// How many participations this `sub` may have, counting this one: the token's
    /// `limit.nb` capped by the campaign's `max_participations_per_sub`, else the campaign's
    /// `participation_limit`.
    pub allowance: u32,
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
    /// A drawn winner the operator disqualified (the prize went to a replacement or back to
    /// the stock).
    Disqualified,
}

impl Outcome {
    /// The stored and JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Won => "won",
            Outcome::Lost => "lost",
            Outcome::EnteredDraw => "entered-draw",
            Outcome::NotEligible => "not-eligible",
            Outcome::Disqualified => "disqualified",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Result<Outcome, StoreError> {
        match s {
            "won" => Ok(Outcome::Won),
            "lost" => Ok(Outcome::Lost),
            "entered-draw" => Ok(Outcome::EnteredDraw),
            "not-eligible" => Ok(Outcome::NotEligible),
            "disqualified" => Ok(Outcome::Disqualified),
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
    /// The database could not be reached or did not answer in time (not a failed rule): the
    /// API answers `503 database_unavailable` with `Retry-After`, and nothing was recorded.
    unavailable: bool,
}

impl StoreError {
    /// A failure of the store's own rules (no underlying error).
    pub fn new(message: impl Into<String>) -> StoreError {
        StoreError {
            message: message.into(),
            source: None,
            unavailable: false,
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
            unavailable: false,
        }
    }

    /// The same error, marked as the database being unreachable or not answering in time.
    #[must_use]
    pub fn unavailable(mut self) -> StoreError {
        self.unavailable = true;
        self
    }

    /// Whether the database could not be reached or did not answer in time: the transaction
    /// did not commit, and the same request may be retried later.
    pub fn is_unavailable(&self) -> bool {
        self.unavailable
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
    /// Winning moments claimed (instant win).
    pub claimed_moments: i64,
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
    /// The token's `form`: what the brand vouched for (apart from what the visitor typed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub form: Option<serde_json::Value>,
    /// The token's `optin`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub optin: Option<serde_json::Value>,
}

/// Why a draw, a disqualification or a redraw was refused.
#[derive(Debug)]
pub enum DrawError {
    /// The campaign was drawn already.
    AlreadyDrawn,
    /// The campaign has not been drawn (nothing to disqualify), or was drawn by a server
    /// that kept no verifiable record.
    NotDrawn,
    /// The participation is not a current winner of the draw.
    NotAWinner,
    /// The fairness algorithm refused an input (e.g. an empty or oversized public value or
    /// reason).
    Invalid(campaign_token_core::fairness::FairnessError),
    /// The database failed.
    Store(StoreError),
}

impl From<StoreError> for DrawError {
    fn from(e: StoreError) -> Self {
        DrawError::Store(e)
    }
}

/// An operator's draw request.
#[derive(Debug, Clone)]
pub struct DrawRequest {
    /// The operator's label, for the record and the audit log.
    pub drawn_by: String,
    /// The description of the public source, as configured before the end.
    pub public_source: String,
    /// The public value, as published by the source.
    pub public_value: String,
    /// Time of the draw.
    pub now: i64,
}

/// An operator's disqualification of a drawn winner.
#[derive(Debug, Clone)]
pub struct DisqualifyRequest {
    /// The winner's participation id.
    pub participation_id: String,
    /// Why (recorded in the draw record and the audit log).
    pub reason: String,
    /// The operator's label.
    pub by: String,
    /// Time of the disqualification.
    pub now: i64,
}

/// What a draw or a redraw answers: the current winners and the verifiable record.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DrawOutcome {
    /// The winners this action made (the draw's, or the replacement, if any).
    pub winners: Vec<Winner>,
    /// The prize unit freed and returned to the stock (a disqualification with no
    /// replacement).
    pub returned_to_stock: Option<String>,
    /// The record, for `campaign-token verify-draw`.
    pub record: campaign_token_core::fairness::draw::DrawRecord,
}

/// What the public fairness endpoint shows: commitments from the start, the revealed
/// calendar after the end, the draw record after the draw.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FairnessView {
    /// The calendar's commitment (instant win).
    pub calendar_commitment: Option<String>,
    /// The calendar revealed (instant win, after the end).
    pub calendar: Option<campaign_token_core::fairness::calendar::RevealedCalendar>,
    /// The commitment to the draw's server secret (draw campaigns).
    pub draw_secret_commitment: Option<String>,
    /// The draw record (after the draw).
    pub draw: Option<campaign_token_core::fairness::draw::DrawRecord>,
}

/// One entry of the append-only audit log.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// Its number in the campaign's log: 1, 2, …
    pub seq: i64,
    /// When, seconds since the epoch.
    pub at: i64,
    /// The operator's label.
    pub operator: String,
    /// `draw`, `disqualify`, …
    pub action: String,
    /// What was done.
    pub details: serde_json::Value,
}

/// Participations of one time bucket, per outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimePoint {
    /// Start of the bucket, seconds since the epoch.
    pub at: i64,
    /// Participations per outcome (only outcomes that occur).
    pub counts: std::collections::BTreeMap<String, i64>,
}

/// Where the next page of winners starts: (won_at, created_at, participation id).
pub type WinnerKey = (i64, i64, String);

/// A page of winners, in the order of [`Store::winners_page`].
#[derive(Debug, Clone)]
pub struct WinnersPage {
    /// The winners of this page.
    pub winners: Vec<Winner>,
    /// Where the next page starts; `None` after the last page.
    pub next: Option<WinnerKey>,
}

/// An operator's addition of units to a prize.
#[derive(Debug, Clone)]
pub struct AddStock {
    /// The prize.
    pub prize_id: String,
    /// Units to add (positive).
    pub add: i64,
    /// The operator's label.
    pub by: String,
    /// When.
    pub now: i64,
}

/// An erasure request for one participant.
#[derive(Debug, Clone)]
pub struct Erasure {
    /// The participant.
    pub sub: String,
    /// The configured erasure key; `None` uses the key stored in the database.
    pub key: Option<Vec<u8>>,
    /// The operator's label.
    pub by: String,
    /// When.
    pub now: i64,
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
    /// The participation already recorded for a token (its replay identity, its text key
    /// before schema 5, its sub), if any (a replay after the campaign ended is answered from
    /// it).
    fn replay<'a>(
        &'a self,
        campaign: Arc<Campaign>,
        token_hash: String,
        legacy_hash: String,
        sub: String,
    ) -> BoxFut<'a, Result<Option<Participation>, StoreError>>;
    /// Counters of a campaign.
    fn stats<'a>(&'a self, campaign: Arc<Campaign>) -> BoxFut<'a, Result<Stats, StoreError>>;
    /// Draws winners for the remaining prizes among eligible participants who have not won
    /// (one chance per participant), once per campaign.
    fn draw<'a>(
        &'a self,
        campaign: Arc<Campaign>,
        request: DrawRequest,
    ) -> BoxFut<'a, Result<DrawOutcome, DrawError>>;
    /// Disqualifies a drawn winner and draws a replacement from the same verifiable stream
    /// (or returns the unit to the stock), updating the winners and the record together.
    fn disqualify<'a>(
        &'a self,
        campaign: Arc<Campaign>,
        request: DisqualifyRequest,
    ) -> BoxFut<'a, Result<DrawOutcome, DrawError>>;
    /// What the fairness endpoint publishes at `now`.
    fn fairness<'a>(
        &'a self,
        campaign: Arc<Campaign>,
        now: i64,
    ) -> BoxFut<'a, Result<FairnessView, StoreError>>;
    /// The audit log of a campaign.
    fn audit<'a>(
        &'a self,
        campaign: Arc<Campaign>,
    ) -> BoxFut<'a, Result<Vec<AuditEntry>, StoreError>>;
    /// Participations per bucket of `width` seconds and outcome (non-empty buckets,
    /// ascending).
    fn timeseries<'a>(
        &'a self,
        campaign: Arc<Campaign>,
        width: i64,
    ) -> BoxFut<'a, Result<Vec<TimePoint>, StoreError>>;
    /// At most `limit` winners after `after` (keyset pagination: memory bounded by `limit`).
    fn winners_page<'a>(
        &'a self,
        campaign: Arc<Campaign>,
        after: Option<WinnerKey>,
        limit: i64,
    ) -> BoxFut<'a, Result<WinnersPage, StoreError>>;
    /// Adds units to a prize (audited); `None` for an unknown prize.
    fn add_stock<'a>(
        &'a self,
        campaign: Arc<Campaign>,
        request: AddStock,
    ) -> BoxFut<'a, Result<Option<PrizeStock>, StoreError>>;
    /// Erases a participant (audited); answers the participations changed.
    fn erase<'a>(
        &'a self,
        campaign: Arc<Campaign>,
        request: Erasure,
    ) -> BoxFut<'a, Result<i64, StoreError>>;
    /// Removes the answers of a campaign ended `days` days before `now` (audited);
    /// answers the participations changed.
    fn purge_answers<'a>(
        &'a self,
        campaign: Arc<Campaign>,
        now: i64,
        days: u32,
    ) -> BoxFut<'a, Result<i64, StoreError>>;
    /// Whether the database answers.
    fn ping(&self) -> BoxFut<'_, Result<(), StoreError>>;
    /// Participations waiting to be written (the writers' queue of this process).
    fn queue_depth(&self) -> usize {
        0
    }
}
