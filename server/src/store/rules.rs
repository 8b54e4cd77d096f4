//! The allocation rules, written once for every backend over [`Tx`], an open transaction
//! that runs one statement per call (the statements are in [`super::statements`]).
//!
//! Each function here runs inside one transaction the backend opened and will commit: the
//! backend decides how that transaction is isolated (SQLite's `BEGIN IMMEDIATE` and group
//! commit, PostgreSQL's row locks and retries), these functions decide what it does. The
//! rules of a participation are listed in the [module docs](super).

use std::sync::Arc;

use campaign_token_core::fairness::draw::DrawInputs;
use campaign_token_core::fairness::{self, FairnessError};
use campaign_token_core::Eligibility;

use super::migrations;
use super::statements as sql;
use super::tx::Tx;
use super::{
    AddStock, AuditEntry, DisqualifyRequest, DrawError, DrawOutcome, DrawRequest, Erasure,
    FairnessView, NewParticipation, Outcome, ParticipateError, Participation, PrizeStock, PrizeWon,
    Stats, StoreError, TimePoint, Winner, WinnersPage,
};
use crate::config::{Campaign, CampaignKind, Prize};

/// Migrates the schema and records each campaign's prizes and winning moments; refuses a
/// configuration that contradicts what a started campaign stored.
pub(crate) async fn prepare<T: Tx>(
    tx: &mut T,
    campaigns: &[Arc<Campaign>],
) -> Result<(), StoreError> {
    let version = migrations::migrate(tx).await?;
    tracing::debug!(version, "schema up to date");
    for c in campaigns {
        record_campaign(tx, c).await?;
    }
    Ok(())
}

async fn record_campaign<T: Tx>(tx: &mut T, c: &Campaign) -> Result<(), StoreError> {
    let stored = sql::prize_quantities(tx, &c.id).await?;
    check_prizes(c, &stored)?;
    for (ord, p) in c.prizes.iter().enumerate() {
        let ord = index(ord)?;
        sql::insert_prize(tx, &c.id, &p.id, ord, &p.name, i64::from(p.quantity)).await?;
        // The name may be edited; the stock may not (checked above).
        sql::rename_prize(tx, &c.id, &p.id, &p.name, ord).await?;
    }
    let stored = sql::stored_moments(tx, &c.id).await?;
    let moments = if stored.is_empty() {
        let moments = calendar_to_store(c)?;
        for (seq, (at, prize)) in moments.iter().enumerate() {
            sql::insert_moment(tx, &c.id, index(seq)?, *at, prize).await?;
        }
        moments
    } else {
        check_moments(c, &stored)?;
        stored
    };
    if sql::fairness_row(tx, &c.id).await?.is_none() {
        let row = commitments(c, moments)?;
        sql::insert_fairness(tx, &c.id, &row).await?;
    }
    Ok(())
}

/// The winning moments to store for a campaign prepared for the first time: the listed
/// ones as configured, or, for `spread = N`, one moment drawn at random (the OS CSPRNG) in
/// each slot, given the prizes the configuration assigned to the slots in order.
fn calendar_to_store(c: &Campaign) -> Result<Vec<(i64, String)>, StoreError> {
    let Some(n) = c.spread else {
        return Ok(c
            .moments
            .iter()
            .map(|m| (m.at, m.prize_id.clone()))
            .collect());
    };
    let drawn = fairness::calendar::spread_os(c.start, c.end, n)
        .map_err(|e| StoreError::caused(&format!("campaign {}: drawing the calendar", c.id), e))?;
    if drawn.len() != c.moments.len() {
        return Err(StoreError::new(format!(
            "campaign {}: {} moments drawn for {} slots",
            c.id,
            drawn.len(),
            c.moments.len()
        )));
    }
    Ok(drawn
        .into_iter()
        .zip(&c.moments)
        .map(|(at, m)| (at, m.prize_id.clone()))
        .collect())
}

/// The secrets and commitments of a campaign, created once: the calendar sealed with a
/// random salt (instant win), a random draw secret (draw).
fn commitments(c: &Campaign, moments: Vec<(i64, String)>) -> Result<sql::FairnessRow, StoreError> {
    let failed =
        |what: &str, e: FairnessError| StoreError::caused(&format!("campaign {}: {what}", c.id), e);
    match c.kind {
        CampaignKind::InstantWin => {
            let sealed = fairness::calendar::seal_os(&c.id, fair_moments(moments))
                .map_err(|e| failed("sealing the calendar", e))?;
            Ok((Some(sealed.salt), Some(sealed.commitment), None, None))
        }
        CampaignKind::Draw => {
            let secret =
                fairness::draw::new_secret().map_err(|e| failed("creating the draw secret", e))?;
            let commitment = fairness::draw::secret_commitment(&secret);
            Ok((
                None,
                None,
                Some(fairness::to_hex(&secret)),
                Some(commitment),
            ))
        }
    }
}

fn fair_moments(moments: Vec<(i64, String)>) -> Vec<fairness::calendar::Moment> {
    moments
        .into_iter()
        .map(|(at, prize_id)| fairness::calendar::Moment { at, prize_id })
        .collect()
}

/// A position in a configured list, as stored.
fn index(i: usize) -> Result<i64, StoreError> {
    i64::try_from(i).map_err(|_| StoreError::new(format!("position {i} does not fit a column")))
}

/// The participation recorded for a token (replay identity, text key, sub), answered as a
/// replay.
pub(crate) async fn replay<T: Tx>(
    tx: &mut T,
    campaign: &str,
    token_hash: &str,
    legacy_hash: &str,
    sub: &str,
) -> Result<Option<Participation>, StoreError> {
    sql::find_by_token(tx, campaign, token_hash, legacy_hash, sub).await
}

/// Records a participation and allocates its prize, if any (rules 1–5 of the module docs).
/// Writes nothing when it answers an error.
pub(crate) async fn participate<T: Tx>(
    tx: &mut T,
    c: &Campaign,
    p: &NewParticipation,
) -> Result<Participation, ParticipateError> {
    apply(tx, &[(c, p)], true)
        .await?
        .pop()
        .unwrap_or_else(|| Err(StoreError::new("a participation got no answer").into()))
}

/// A participation with its campaign.
pub(crate) type Item<'a> = (&'a Campaign, &'a NewParticipation);

/// Records a batch of participations in one transaction, each answered as [`participate`]
/// would answer it alone, one after the other. The participations whose `sub` and tokens
/// appear only once in the batch are applied together, each step's statements for all of
/// them sent at once ([`Tx::query_many`]: one round trip per step on PostgreSQL, not one
/// per participation); one that shares its `sub` or a token with an earlier one is applied
/// afterwards, alone, so that it sees their rows (a replay, the sub's count).
///
/// `Err` when a statement failed: the backend rolls the transaction back and nothing of the
/// batch is recorded. A `participation_limit` refusal writes nothing and is an answer.
pub(crate) async fn participate_batch<T: Tx>(
    tx: &mut T,
    batch: &[Item<'_>],
) -> Result<Vec<Result<Participation, ParticipateError>>, StoreError> {
    let mut seen = std::collections::HashSet::new();
    let (mut together, mut after) = (Vec::new(), Vec::new());
    for (i, (c, p)) in batch.iter().enumerate() {
        let keys = [
            (c.id.as_str(), "sub", p.sub.as_str()),
            (c.id.as_str(), "token", p.token_hash.as_str()),
            (c.id.as_str(), "token", p.legacy_hash.as_str()),
        ];
        let fresh = keys.iter().all(|k| !seen.contains(k));
        seen.extend(keys);
        if fresh {
            together.push(i);
        } else {
            after.push(i);
        }
    }
    let mut answers: Vec<Option<Result<Participation, ParticipateError>>> =
        batch.iter().map(|_| None).collect();
    let items: Vec<Item<'_>> = together
        .iter()
        .filter_map(|&i| batch.get(i).copied())
        .collect();
    let last = after.is_empty();
    for (i, answer) in together.iter().zip(apply(tx, &items, last).await?) {
        if let Some(slot) = answers.get_mut(*i) {
            *slot = Some(answer);
        }
    }
    let n_after = after.len();
    for (k, i) in after.into_iter().enumerate() {
        let (Some(item), Some(slot)) = (batch.get(i), answers.get(i)) else {
            continue;
        };
        debug_assert!(slot.is_none());
        let last = k + 1 == n_after;
        let answer = apply(tx, std::slice::from_ref(item), last).await?.pop();
        if let Some(slot) = answers.get_mut(i) {
            *slot = answer;
        }
    }
    Ok(answers
        .into_iter()
        .map(|a| a.unwrap_or_else(|| Err(StoreError::new("a participation got no answer").into())))
        .collect())
}

/// The rules of a participation for `items`, no two of which share a `sub` or a token (so
/// that no step of one depends on another's), each step for all of them at once. `last`: no
/// statement follows these in the transaction, so the `INSERT`, if any, is its last
/// ([`Tx::commit_with_next`]).
async fn apply<T: Tx>(
    tx: &mut T,
    items: &[Item<'_>],
    last: bool,
) -> Result<Vec<Result<Participation, ParticipateError>>, StoreError> {
    // The replay lookup and the sub's count come from one statement, so from one snapshot
    // even under READ COMMITTED (PostgreSQL): a count at the limit that does not include this
    // token means the limit is reached by *other* tokens of this sub, so
    // `participation_limit` never answers a concurrent post of this same token.
    let keys: Vec<(&str, &NewParticipation)> =
        items.iter().map(|(c, p)| (c.id.as_str(), *p)).collect();
    let read = sql::tokens_and_counts(tx, &keys).await?;
    let mut answers: Vec<Option<Result<Participation, ParticipateError>>> =
        items.iter().map(|_| None).collect();
    // (position, item, participations of its sub so far)
    let mut fresh = Vec::new();
    for (i, (item, (existing, count))) in items.iter().zip(read).enumerate() {
        let answer = match existing {
            Some(existing) => Ok(existing),
            // The allowance is the token's own (limit.nb, capped), so a sub's later token
            // with a higher nb allows the extra participations: one entry per purchase.
            None if count >= i64::from(item.1.allowance) => Err(ParticipateError::Limit),
            None => {
                fresh.push((i, *item, count));
                continue;
            }
        };
        if let Some(slot) = answers.get_mut(i) {
            *slot = Some(answer);
        }
    }
    let competing: Vec<Item<'_>> = fresh.iter().map(|(_, item, _)| *item).collect();
    let prize_ids = allocate_now(tx, &competing).await?;
    let prizes: Vec<Option<PrizeWon>> = fresh
        .iter()
        .zip(prize_ids)
        .map(|((_, (c, p), _), id)| {
            id.map(|id| PrizeWon {
                label: label_for(&c.prizes, &id, p.token_label.as_deref()),
                id,
            })
        })
        .collect();
    let mut records: Vec<sql::Record<'_>> = Vec::with_capacity(fresh.len());
    for ((_, (c, p), count), prize) in fresh.iter().zip(&prizes) {
        let outcome = if prize.is_some() {
            Outcome::Won
        } else {
            outcome_without_prize(c.kind, p.eligibility)
        };
        // `count` is below the participation limit, a u32: no overflow.
        records.push((c.id.as_str(), *p, count + 1, outcome, prize.as_ref()));
    }
    if last && !records.is_empty() {
        // Nothing below runs a statement: the INSERT may carry the COMMIT.
        tx.commit_with_next();
    }
    sql::insert_participations(tx, &records).await?;
    for ((i, (_, p), _), (record, prize)) in fresh.iter().zip(records.iter().zip(&prizes)) {
        if let Some(slot) = answers.get_mut(*i) {
            *slot = Some(Ok(Participation {
                participation_id: p.id.clone(),
                outcome: record.3,
                prize: prize.clone(),
                eligibility: p.eligibility,
                replayed: false,
            }));
        }
    }
    Ok(answers
        .into_iter()
        .map(|a| a.unwrap_or_else(|| Err(StoreError::new("a participation got no answer").into())))
        .collect())
}

/// The prize each participation wins now, if it competes now: the due winning moment's
/// (instant win) or the first prize with stock (draw campaign), in the order of `items`.
async fn allocate_now<T: Tx>(
    tx: &mut T,
    items: &[Item<'_>],
) -> Result<Vec<Option<String>>, StoreError> {
    let mut won: Vec<Option<String>> = items.iter().map(|_| None).collect();
    let competes = |kind: CampaignKind| {
        move |(i, (c, p)): (usize, &Item<'_>)| {
            (c.kind == kind && competes_now(c.kind, p.eligibility)).then_some(i)
        }
    };
    let item = |i: usize| {
        items
            .get(i)
            .ok_or_else(|| StoreError::new("a participation of the batch vanished"))
    };
    // Instant win: claim the due moment, then take its prize's unit.
    let instant: Vec<usize> = items
        .iter()
        .enumerate()
        .filter_map(competes(CampaignKind::InstantWin))
        .collect();
    let mut claims = Vec::with_capacity(instant.len());
    for &i in &instant {
        let (c, p) = item(i)?;
        claims.push((c.id.as_str(), p.now, p.id.as_str()));
    }
    let claimed: Vec<(usize, String)> = instant
        .into_iter()
        .zip(sql::claim_moments(tx, &claims).await?)
        .filter_map(|(i, prize)| prize.map(|prize| (i, prize)))
        .collect();
    let mut takes = Vec::with_capacity(claimed.len());
    for (i, prize) in &claimed {
        takes.push((item(*i)?.0.id.as_str(), prize.as_str()));
    }
    let taken = sql::take_units(tx, &takes).await?;
    for ((i, prize), ok) in claimed.iter().zip(taken) {
        if !ok {
            return Err(StoreError::new(format!(
                "prize {prize} has no stock left for a winning moment"
            )));
        }
        if let Some(slot) = won.get_mut(*i) {
            *slot = Some(prize.clone());
        }
    }
    // Draw: the first prize with stock, in configured order; a participation that finds no
    // stock in one prize tries the next.
    let mut waiting: Vec<usize> = items
        .iter()
        .enumerate()
        .filter_map(competes(CampaignKind::Draw))
        .collect();
    let mut rank = 0;
    while !waiting.is_empty() {
        let mut trying: Vec<(usize, &Prize)> = Vec::with_capacity(waiting.len());
        for &i in &waiting {
            if let Some(prize) = item(i)?.0.prizes.get(rank) {
                trying.push((i, prize));
            }
        }
        let mut takes = Vec::with_capacity(trying.len());
        for (i, prize) in &trying {
            takes.push((item(*i)?.0.id.as_str(), prize.id.as_str()));
        }
        waiting.clear();
        for ((i, prize), ok) in trying.into_iter().zip(sql::take_units(tx, &takes).await?) {
            if ok {
                if let Some(slot) = won.get_mut(i) {
                    *slot = Some(prize.id.clone());
                }
            } else {
                waiting.push(i);
            }
        }
        rank += 1;
    }
    Ok(won)
}

/// Counters of a campaign (the backend gives the transaction one snapshot).
pub(crate) async fn stats<T: Tx>(tx: &mut T, campaign: &str) -> Result<Stats, StoreError> {
    let (participations, participants) = sql::count_participations(tx, campaign).await?;
    let outcomes: std::collections::BTreeMap<String, i64> = sql::outcome_counts(tx, campaign)
        .await?
        .into_iter()
        .collect();
    let prizes = sql::prize_stock(tx, campaign).await?;
    let unclaimed_moments = sql::unclaimed_moments(tx, campaign).await?;
    let claimed_moments = sql::claimed_moments(tx, campaign).await?;
    let draw = sql::draw_record(tx, campaign).await?;
    let winners = outcomes.get(Outcome::Won.as_str()).copied().unwrap_or(0);
    Ok(Stats {
        participations,
        participants,
        outcomes,
        winners,
        prizes,
        unclaimed_moments,
        claimed_moments,
        draw,
    })
}

/// Draws winners for the remaining stock among eligible participants who have not won, one
/// chance per participant, once per campaign, with the verifiable draw of docs/fairness.md:
/// the campaign's secret and the operator's public value decide; the record is stored with
/// the winners, and the action in the audit log.
pub(crate) async fn draw<T: Tx>(
    tx: &mut T,
    c: &Campaign,
    req: &DrawRequest,
) -> Result<DrawOutcome, DrawError> {
    if !sql::insert_draw(tx, &c.id, &req.drawn_by, req.now).await? {
        return Err(DrawError::AlreadyDrawn);
    }
    let mut prize_units = Vec::new();
    for (id, n) in sql::stock_for_draw(tx, &c.id).await? {
        let n = usize::try_from(n).map_err(|_| StoreError::new("negative stock"))?;
        prize_units.extend(std::iter::repeat_n(id, n));
    }
    let candidates = one_per_sub(sql::draw_candidates(tx, &c.id).await?);
    let secret = draw_secret(tx, c).await?;
    let record = fairness::draw::draw(DrawInputs {
        campaign_id: c.id.clone(),
        candidates: candidates.iter().map(|x| x.id.clone()).collect(),
        prize_units,
        secret,
        public_source: req.public_source.clone(),
        public_value: req.public_value.clone(),
        drawn_at: req.now,
    })
    .map_err(DrawError::Invalid)?;
    let labels: std::collections::HashMap<&str, &Candidate> =
        candidates.iter().map(|x| (x.id.as_str(), x)).collect();
    let mut out = Vec::with_capacity(record.winners.len());
    for w in &record.winners {
        let cand = labels
            .get(w.participation_id.as_str())
            .ok_or_else(|| StoreError::new("the draw picked someone not in its candidates"))?;
        let winner = award(
            tx,
            c,
            &cand.id,
            &cand.sub,
            cand.token_label.as_deref(),
            &w.prize_id,
            req.now,
        )
        .await?;
        out.push(winner);
    }
    save_record(tx, &c.id, &record).await?;
    let details = serde_json::json!({
        "publicSource": record.public_source,
        "publicValue": record.public_value,
        "candidates": record.candidates.len(),
        "candidatesSha256": record.candidates_sha256,
        "winners": record.winners,
        "unawarded": record.unawarded,
    });
    audit_entry(tx, &c.id, req.now, &req.drawn_by, "draw", &details).await?;
    Ok(DrawOutcome {
        winners: out,
        returned_to_stock: None,
        record,
    })
}

/// Gives a drawn winner its prize unit: takes it from the stock and marks the participation.
async fn award<T: Tx>(
    tx: &mut T,
    c: &Campaign,
    participation: &str,
    sub: &str,
    token_label: Option<&str>,
    prize_id: &str,
    now: i64,
) -> Result<Winner, StoreError> {
    if !sql::take_unit(tx, &c.id, prize_id).await? {
        return Err(StoreError::new(format!(
            "prize {prize_id} ran out during the draw"
        )));
    }
    let prize = PrizeWon {
        label: label_for(&c.prizes, prize_id, token_label),
        id: prize_id.to_owned(),
    };
    sql::set_drawn_winner(tx, participation, &prize, now).await?;
    Ok(Winner {
        participation_id: participation.to_owned(),
        sub: sub.to_owned(),
        prize,
        won_at: now,
        drawn: true,
        // Read with the winners (`GET …/winners`); the draw's answer names who won.
        form: None,
        optin: None,
    })
}

/// The campaign's draw secret, created at its first preparation.
async fn draw_secret<T: Tx>(tx: &mut T, c: &Campaign) -> Result<[u8; 32], StoreError> {
    let hex = sql::fairness_row(tx, &c.id)
        .await?
        .and_then(|row| row.2)
        .ok_or_else(|| StoreError::new(format!("campaign {}: no draw secret stored", c.id)))?;
    fairness::hex_32("drawSecret", &hex)
        .map_err(|e| StoreError::caused("the stored draw secret", e))
}

async fn save_record<T: Tx>(
    tx: &mut T,
    campaign: &str,
    record: &fairness::draw::DrawRecord,
) -> Result<(), StoreError> {
    let json = serde_json::to_string(record)
        .map_err(|e| StoreError::caused("serialising the draw record", e))?;
    sql::set_draw_record(tx, campaign, &json, index(record.winners.len())?).await
}

async fn audit_entry<T: Tx>(
    tx: &mut T,
    campaign: &str,
    at: i64,
    operator: &str,
    action: &str,
    details: &serde_json::Value,
) -> Result<(), StoreError> {
    sql::append_audit(tx, campaign, at, operator, action, &details.to_string()).await
}

/// Disqualifies a current winner of the draw and replaces them from the same stream
/// ([`fairness::draw::redraw`]); a unit nobody is left to take goes back to the stock.
pub(crate) async fn disqualify<T: Tx>(
    tx: &mut T,
    c: &Campaign,
    req: &DisqualifyRequest,
) -> Result<DrawOutcome, DrawError> {
    let Some(Some(json)) = sql::draw_record_json(tx, &c.id).await? else {
        return Err(DrawError::NotDrawn);
    };
    let record = fairness::draw::DrawRecord::from_json(&json)
        .map_err(|e| StoreError::caused("the stored draw record", e))?;
    let redraw = match fairness::draw::redraw(&record, &req.participation_id, &req.reason, req.now)
    {
        Ok(r) => r,
        Err(FairnessError::NotAWinner { .. }) => return Err(DrawError::NotAWinner),
        Err(e @ FairnessError::Invalid { .. }) => return Err(DrawError::Invalid(e)),
        Err(e) => return Err(StoreError::caused("the stored draw record", e).into()),
    };
    if !sql::set_disqualified(tx, &c.id, &req.participation_id).await? {
        return Err(StoreError::new("a winner of the draw record is not a stored winner").into());
    }
    // The freed unit: back to the stock, then to the replacement if there is one.
    sql::return_unit(tx, &c.id, &redraw.freed_prize).await?;
    let mut winners = Vec::new();
    let mut returned = Some(redraw.freed_prize.clone());
    if let Some(pick) = &redraw.replacement {
        let (sub, label) = sql::sub_and_label(tx, &c.id, &pick.participation_id)
            .await?
            .ok_or_else(|| StoreError::new("the replacement is not a stored participation"))?;
        winners.push(
            award(
                tx,
                c,
                &pick.participation_id,
                &sub,
                label.as_deref(),
                &pick.prize_id,
                req.now,
            )
            .await?,
        );
        returned = None;
    }
    save_record(tx, &c.id, &redraw.record).await?;
    let details = serde_json::json!({
        "participationId": req.participation_id,
        "reason": req.reason,
        "freedPrize": redraw.freed_prize,
        "replacement": redraw.replacement,
    });
    audit_entry(tx, &c.id, req.now, &req.by, "disqualify", &details).await?;
    Ok(DrawOutcome {
        winners,
        returned_to_stock: returned,
        record: redraw.record,
    })
}

/// What the fairness endpoint publishes at `now`: the commitments always; the calendar
/// (moments and salt) only once the campaign has ended; the draw record once drawn.
pub(crate) async fn fairness<T: Tx>(
    tx: &mut T,
    c: &Campaign,
    now: i64,
) -> Result<FairnessView, StoreError> {
    let (salt, calendar_commitment, _, draw_secret_commitment) =
        sql::fairness_row(tx, &c.id).await?.unwrap_or_default();
    let calendar = match (&salt, &calendar_commitment) {
        (Some(salt), Some(commitment)) if now >= c.end => {
            let salt = fairness::hex_32("salt", salt)
                .map_err(|e| StoreError::caused("the stored calendar salt", e))?;
            let moments = fair_moments(sql::stored_moments(tx, &c.id).await?);
            let sealed = fairness::calendar::seal(&c.id, moments, salt)
                .map_err(|e| StoreError::caused("sealing the stored calendar", e))?;
            if sealed.commitment != *commitment {
                return Err(StoreError::new(format!(
                    "campaign {}: the stored calendar no longer matches its commitment",
                    c.id
                )));
            }
            Some(sealed)
        }
        _ => None,
    };
    let draw = match sql::published_draw_record(tx, &c.id).await? {
        Some(json) => Some(
            fairness::draw::DrawRecord::from_json(&json)
                .map_err(|e| StoreError::caused("the stored draw record", e))?,
        ),
        None => None,
    };
    Ok(FairnessView {
        calendar_commitment,
        calendar,
        draw_secret_commitment,
        draw,
    })
}

/// The audit log of a campaign, in order.
pub(crate) async fn audit<T: Tx>(
    tx: &mut T,
    campaign: &str,
) -> Result<Vec<AuditEntry>, StoreError> {
    sql::audit_log(tx, campaign).await
}

/// The label shown for a prize won: the token's label for `given-prize`, else the prize name.
fn label_for(prizes: &[Prize], prize_id: &str, token_label: Option<&str>) -> String {
    match token_label {
        Some(l) => l.to_owned(),
        None => prizes
            .iter()
            .find(|p| p.id == prize_id)
            .map_or_else(|| prize_id.to_owned(), |p| p.name.clone()),
    }
}

/// The outcome for an eligibility when no prize is allocated.
fn outcome_without_prize(kind: CampaignKind, e: Eligibility) -> Outcome {
    match (e, kind) {
        (Eligibility::CannotWin, _) => Outcome::NotEligible,
        (Eligibility::Standard, CampaignKind::Draw) => Outcome::EnteredDraw,
        _ => Outcome::Lost,
    }
}

/// Whether this participation competes for a prize immediately (instant-win moment or
/// first-come stock).
fn competes_now(kind: CampaignKind, e: Eligibility) -> bool {
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

/// Keeps the first participation of each `sub` (candidates arrive in participation order).
fn one_per_sub(rows: Vec<Candidate>) -> Vec<Candidate> {
    let mut seen = std::collections::HashSet::new();
    rows.into_iter()
        .filter(|c| seen.insert(c.sub.clone()))
        .collect()
}

/// What `prepare` must find (or create) for a campaign.
fn check_prizes(campaign: &Campaign, stored: &[(String, i64)]) -> Result<(), StoreError> {
    for p in &campaign.prizes {
        match stored.iter().find(|(id, _)| *id == p.id) {
            Some((_, q)) if *q != i64::from(p.quantity) => {
                return Err(StoreError::new(format!(
                    "campaign {}: prize {} is stored with quantity {q} (besides the units added \
                     through the operator API) but configured with {}; the configured stock of a \
                     started campaign cannot change: add units with POST \
                     /api/campaigns/{{id}}/prizes/{{prizeId}}/stock",
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
fn check_moments(campaign: &Campaign, stored: &[(i64, String)]) -> Result<(), StoreError> {
    // A spread calendar's moments were drawn at random: only their prizes are configured.
    let spread = campaign.spread.is_some();
    let same = stored.len() == campaign.moments.len()
        && stored
            .iter()
            .zip(&campaign.moments)
            .all(|((at, prize), m)| (spread || *at == m.at) && *prize == m.prize_id);
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

// ---------------------------------------------------------------------------------------
// Operator API.

/// Participations per bucket of `width` seconds and outcome: only non-empty buckets,
/// ascending.
pub(crate) async fn timeseries<T: Tx>(
    tx: &mut T,
    campaign: &str,
    width: i64,
) -> Result<Vec<TimePoint>, StoreError> {
    if width <= 0 {
        return Err(StoreError::new("a time series bucket must be positive"));
    }
    let mut out: Vec<TimePoint> = Vec::new();
    for (at, outcome, n) in sql::timeseries(tx, campaign, width).await? {
        let point = match out.last_mut() {
            Some(last) if last.at == at => last,
            _ => {
                out.push(TimePoint {
                    at,
                    counts: std::collections::BTreeMap::new(),
                });
                out.last_mut()
                    .ok_or_else(|| StoreError::new("a time series point vanished"))?
            }
        };
        point.counts.insert(outcome, n);
    }
    Ok(out)
}

/// One page of winners, after `after` (the previous page's `next`).
pub(crate) async fn winners_page<T: Tx>(
    tx: &mut T,
    campaign: &str,
    after: Option<super::WinnerKey>,
    limit: i64,
) -> Result<WinnersPage, StoreError> {
    let after = after.unwrap_or((i64::MIN, i64::MIN, String::new()));
    let rows = sql::winners_after(tx, campaign, &after, limit).await?;
    let full = i64::try_from(rows.len()).map_or(true, |n| n >= limit);
    let next = if full {
        rows.last().map(|(_, k)| k.clone())
    } else {
        None
    };
    Ok(WinnersPage {
        winners: rows.into_iter().map(|(w, _)| w).collect(),
        next,
    })
}

/// Adds units to a prize of a campaign and writes the audit entry; `None` for an unknown
/// prize. The units join the stock at once: a participation that commits after this
/// transaction may take them; one that committed before never saw them.
pub(crate) async fn add_stock<T: Tx>(
    tx: &mut T,
    campaign: &str,
    req: &AddStock,
) -> Result<Option<PrizeStock>, StoreError> {
    if req.add <= 0 {
        return Err(StoreError::new("units to add must be positive"));
    }
    let Some(stock) = sql::add_units(tx, campaign, &req.prize_id, req.add).await? else {
        return Ok(None);
    };
    let details = serde_json::json!({
        "prizeId": stock.id,
        "added": req.add,
        "quantity": stock.quantity,
        "remaining": stock.remaining,
    });
    audit_entry(tx, campaign, req.now, &req.by, "add-stock", &details).await?;
    Ok(Some(stock))
}

/// The name of the erasure key in `server_secrets`.
const ERASURE_KEY: &str = "erasure-hmac-key";

/// The erasure key: the configured one, else the one stored in the database (created from
/// the OS CSPRNG on first use).
async fn erasure_key<T: Tx>(tx: &mut T, configured: Option<&[u8]>) -> Result<Vec<u8>, StoreError> {
    if let Some(k) = configured {
        return Ok(k.to_vec());
    }
    if sql::server_secret(tx, ERASURE_KEY).await?.is_none() {
        let mut key = [0u8; 32];
        getrandom::getrandom(&mut key)
            .map_err(|e| StoreError::new(format!("creating the erasure key: {e}")))?;
        sql::insert_server_secret(tx, ERASURE_KEY, &fairness::to_hex(&key)).await?;
    }
    let hex = sql::server_secret(tx, ERASURE_KEY)
        .await?
        .ok_or_else(|| StoreError::new("the erasure key was not stored"))?;
    Ok(fairness::hex_32("erasureKey", &hex)
        .map_err(|e| StoreError::caused("the stored erasure key", e))?
        .to_vec())
}

/// What an erased `sub` becomes: `erased:` and the hex HMAC-SHA-256 of campaign and sub
/// under the erasure key (the same person erased twice maps to the same value, so counts of
/// distinct participants stay true; the value cannot be reversed without the key).
pub fn erased_sub(key: &[u8], campaign: &str, sub: &str) -> String {
    let mut input = Vec::with_capacity(campaign.len() + sub.len() + 1);
    input.extend_from_slice(campaign.as_bytes());
    input.push(0);
    input.extend_from_slice(sub.as_bytes());
    format!(
        "erased:{}",
        fairness::to_hex(&hmac_sha256::HMAC::mac(&input, key))
    )
}

/// Erases a participant: the `sub` of each of its participations replaced by its keyed
/// hash, its answers removed; outcomes, prizes, counts and the draw record (which names
/// participation ids, never subs) stay. The audit entry holds the count, not the sub.
pub(crate) async fn erase<T: Tx>(
    tx: &mut T,
    campaign: &str,
    req: &Erasure,
) -> Result<i64, StoreError> {
    let key = erasure_key(tx, req.key.as_deref()).await?;
    let replacement = erased_sub(&key, campaign, &req.sub);
    let n = sql::erase_sub(tx, campaign, &req.sub, &replacement).await?;
    let n = i64::try_from(n).map_err(|_| StoreError::new("too many rows erased"))?;
    let details = serde_json::json!({ "participations": n });
    audit_entry(tx, campaign, req.now, &req.by, "erasure", &details).await?;
    Ok(n)
}

/// Applies the retention of answers: once a campaign ended `days` days ago, its answers are
/// removed (and the purge is audited, by `retention`, with the count). Answers the count.
pub(crate) async fn purge_answers<T: Tx>(
    tx: &mut T,
    c: &Campaign,
    now: i64,
    days: u32,
) -> Result<i64, StoreError> {
    let due = c.end.saturating_add(i64::from(days).saturating_mul(86_400));
    if now < due {
        return Ok(0);
    }
    let n = sql::purge_answers(tx, &c.id).await?;
    let n = i64::try_from(n).map_err(|_| StoreError::new("too many rows purged"))?;
    if n > 0 {
        let details = serde_json::json!({ "participations": n, "retentionDays": days });
        audit_entry(tx, &c.id, now, "retention", "purge-answers", &details).await?;
    }
    Ok(n)
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
