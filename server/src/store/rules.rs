//! The allocation rules, written once for every backend over [`Tx`], an open transaction
//! that runs one statement per call (the statements are in [`super::statements`]).
//!
//! Each function here runs inside one transaction the backend opened and will commit: the
//! backend decides how that transaction is isolated (SQLite's `BEGIN IMMEDIATE` and group
//! commit, PostgreSQL's row locks and retries), these functions decide what it does. The
//! rules of a participation are listed in the [module docs](super).

use std::sync::Arc;

use campaign_token::Eligibility;

use super::migrations;
use super::statements as sql;
use super::tx::Tx;
use super::{
    DrawError, NewParticipation, Outcome, ParticipateError, Participation, PrizeWon, Stats,
    StoreError, Winner,
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
    if !stored.is_empty() {
        return check_moments(c, &stored);
    }
    for (seq, m) in c.moments.iter().enumerate() {
        sql::insert_moment(tx, &c.id, index(seq)?, m.at, &m.prize_id).await?;
    }
    Ok(())
}

/// A position in a configured list, as stored.
fn index(i: usize) -> Result<i64, StoreError> {
    i64::try_from(i).map_err(|_| StoreError::new(format!("position {i} does not fit a column")))
}

/// Records a participation and allocates its prize, if any (rules 1–5 of the module docs).
/// Writes nothing when it answers an error.
pub(crate) async fn participate<T: Tx>(
    tx: &mut T,
    c: &Campaign,
    p: &NewParticipation,
) -> Result<Participation, ParticipateError> {
    if let Some(existing) = sql::find_by_token(tx, &c.id, &p.token_hash).await? {
        return Ok(existing);
    }
    let count = sql::count_for_sub(tx, &c.id, &p.sub).await?;
    if count >= i64::from(c.participation_limit) {
        return Err(ParticipateError::Limit);
    }
    let prize_id = if competes_now(c.kind, p.eligibility) {
        allocate_now(tx, c, p).await?
    } else {
        None
    };
    let prize = prize_id.map(|id| PrizeWon {
        label: label_for(&c.prizes, &id, p.token_label.as_deref()),
        id,
    });
    let outcome = if prize.is_some() {
        Outcome::Won
    } else {
        outcome_without_prize(c.kind, p.eligibility)
    };
    // `count` is below the participation limit, a u32: no overflow.
    sql::insert_participation(tx, &c.id, p, count + 1, outcome, prize.as_ref()).await?;
    Ok(Participation {
        participation_id: p.id.clone(),
        outcome,
        prize,
        eligibility: p.eligibility,
        replayed: false,
    })
}

/// The prize a competing participation wins now: the due winning moment's (instant win) or
/// the first prize with stock (draw campaign).
async fn allocate_now<T: Tx>(
    tx: &mut T,
    c: &Campaign,
    p: &NewParticipation,
) -> Result<Option<String>, StoreError> {
    match c.kind {
        CampaignKind::InstantWin => {
            let Some(prize) = sql::claim_moment(tx, &c.id, p.now, &p.id).await? else {
                return Ok(None);
            };
            if sql::take_unit(tx, &c.id, &prize).await? {
                Ok(Some(prize))
            } else {
                Err(StoreError::new(format!(
                    "prize {prize} has no stock left for a winning moment"
                )))
            }
        }
        CampaignKind::Draw => {
            for pr in &c.prizes {
                if sql::take_unit(tx, &c.id, &pr.id).await? {
                    return Ok(Some(pr.id.clone()));
                }
            }
            Ok(None)
        }
    }
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
    let draw = sql::draw_record(tx, campaign).await?;
    let winners = outcomes.get(Outcome::Won.as_str()).copied().unwrap_or(0);
    Ok(Stats {
        participations,
        participants,
        outcomes,
        winners,
        prizes,
        unclaimed_moments,
        draw,
    })
}

/// Winners of a campaign, in the order they won.
pub(crate) async fn winners<T: Tx>(tx: &mut T, campaign: &str) -> Result<Vec<Winner>, StoreError> {
    sql::winners(tx, campaign).await
}

/// Draws winners for the remaining stock among eligible participants who have not won, one
/// chance per participant, once per campaign.
pub(crate) async fn draw<T: Tx>(
    tx: &mut T,
    c: &Campaign,
    drawn_by: &str,
    now: i64,
) -> Result<Vec<Winner>, DrawError> {
    if !sql::insert_draw(tx, &c.id, drawn_by, now).await? {
        return Err(DrawError::AlreadyDrawn);
    }
    let units: Vec<String> = sql::stock_for_draw(tx, &c.id)
        .await?
        .into_iter()
        .flat_map(|(id, n)| std::iter::repeat_n(id, usize::try_from(n).unwrap_or(0)))
        .collect();
    let candidates = sql::draw_candidates(tx, &c.id).await?;
    let chosen = pick(one_per_sub(candidates), units.len())?;
    let mut out = Vec::with_capacity(chosen.len());
    for (cand, prize_id) in chosen.into_iter().zip(units) {
        if !sql::take_unit(tx, &c.id, &prize_id).await? {
            return Err(
                StoreError::new(format!("prize {prize_id} ran out during the draw")).into(),
            );
        }
        let prize = PrizeWon {
            label: label_for(&c.prizes, &prize_id, cand.token_label.as_deref()),
            id: prize_id,
        };
        sql::set_drawn_winner(tx, &cand.id, &prize, now).await?;
        out.push(Winner {
            participation_id: cand.id,
            sub: cand.sub,
            prize,
            won_at: now,
            drawn: true,
        });
    }
    sql::set_draw_winners(tx, &c.id, index(out.len())?).await?;
    Ok(out)
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

/// Picks up to `k` of `candidates` uniformly at random with the operating system's CSPRNG
/// (partial Fisher–Yates). Candidates must be one per participant already.
fn pick(mut candidates: Vec<Candidate>, k: usize) -> Result<Vec<Candidate>, StoreError> {
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
fn check_moments(campaign: &Campaign, stored: &[(i64, String)]) -> Result<(), StoreError> {
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
