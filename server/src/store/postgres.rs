//! PostgreSQL storage, for several server processes behind a load balancer.
//!
//! Each allocation is one READ COMMITTED transaction. Stock is taken with a conditional
//! `UPDATE prizes SET remaining = remaining - 1 WHERE … AND remaining > 0`: a concurrent
//! updater waits for the row lock and then re-checks `remaining` on the committed row, so
//! the stock can never go below zero (a `CHECK` constraint says so too). A winning moment is
//! claimed with `FOR UPDATE SKIP LOCKED` and `participation_id IS NULL`, so two transactions
//! never claim the same moment. Unique constraints on (campaign, token hash) and
//! (campaign, sub, n) decide replays and participation limits across processes: the loser
//! of such a race rolls back (returning any stock it took) and retries, and then sees the
//! winner's row.

use std::sync::Arc;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::error::SqlState;
use tokio_postgres::{NoTls, Transaction};

use super::{
    check_moments, check_prizes, competes_now, label_for, one_per_sub, outcome_without_prize,
    parse_eligibility, pick, BoxFut, Candidate, DrawError, DrawRecord, NewParticipation, Outcome,
    ParticipateError, Participation, PrizeStock, PrizeWon, Stats, Store, StoreError, Winner,
    SCHEMA,
};
use crate::config::{Campaign, CampaignKind};

/// Attempts of one allocation when it loses a uniqueness race or a deadlock.
const MAX_ATTEMPTS: u32 = 20;

/// Key of the advisory lock that serialises migrations between processes starting together.
const MIGRATION_LOCK: i64 = 0x6361_6d70_746b_6e01;

/// The PostgreSQL store.
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
}

/// A database error, and whether retrying the transaction may succeed.
struct PgErr {
    retry: bool,
    err: StoreError,
}

impl From<tokio_postgres::Error> for PgErr {
    fn from(e: tokio_postgres::Error) -> Self {
        let retry = matches!(
            e.code(),
            Some(c) if *c == SqlState::UNIQUE_VIOLATION
                || *c == SqlState::T_R_SERIALIZATION_FAILURE
                || *c == SqlState::T_R_DEADLOCK_DETECTED
        );
        PgErr {
            retry,
            err: StoreError::caused("postgres", e),
        }
    }
}

impl From<StoreError> for PgErr {
    fn from(err: StoreError) -> Self {
        PgErr { retry: false, err }
    }
}

fn db(e: tokio_postgres::Error) -> StoreError {
    StoreError::caused("postgres", e)
}

fn pool_err(e: deadpool_postgres::PoolError) -> StoreError {
    StoreError::caused("postgres pool", e)
}

impl PgStore {
    /// A pool of at most `max` connections to `url` (connections open lazily).
    pub fn connect(url: &str, max: usize) -> Result<PgStore, StoreError> {
        let cfg: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::caused("postgres: invalid URL", e))?;
        let mgr = Manager::from_config(
            cfg,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(mgr)
            .max_size(max)
            .build()
            .map_err(|e| StoreError::caused("postgres pool", e))?;
        Ok(PgStore { pool })
    }
}

/// Outcome of one attempt of an allocation.
enum Attempt {
    Done(Participation),
    Limit,
}

impl Store for PgStore {
    fn prepare<'a>(&'a self, campaigns: &'a [Arc<Campaign>]) -> BoxFut<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut client = self.pool.get().await.map_err(pool_err)?;
            let tx = client.transaction().await.map_err(db)?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
                .await
                .map_err(db)?;
            for stmt in SCHEMA {
                tx.batch_execute(stmt).await.map_err(db)?;
            }
            for c in campaigns {
                let stored: Vec<(String, i64)> = tx
                    .query(
                        "SELECT id, quantity FROM prizes WHERE campaign = $1",
                        &[&c.id],
                    )
                    .await
                    .map_err(db)?
                    .iter()
                    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                    .collect::<Result<_, tokio_postgres::Error>>()
                    .map_err(db)?;
                check_prizes(c, &stored)?;
                for (ord, p) in c.prizes.iter().enumerate() {
                    let ord = i32::try_from(ord).unwrap_or(i32::MAX);
                    let q = i64::from(p.quantity);
                    tx.execute(
                        "INSERT INTO prizes (campaign, id, ord, name, quantity, remaining)
                         VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT DO NOTHING",
                        &[&c.id, &p.id, &ord, &p.name, &q],
                    )
                    .await
                    .map_err(db)?;
                    tx.execute(
                        "UPDATE prizes SET name = $3, ord = $4 WHERE campaign = $1 AND id = $2",
                        &[&c.id, &p.id, &p.name, &ord],
                    )
                    .await
                    .map_err(db)?;
                }
                let stored: Vec<(i64, String)> = tx
                    .query(
                        "SELECT at, prize_id FROM moments WHERE campaign = $1 ORDER BY seq",
                        &[&c.id],
                    )
                    .await
                    .map_err(db)?
                    .iter()
                    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                    .collect::<Result<_, tokio_postgres::Error>>()
                    .map_err(db)?;
                if stored.is_empty() {
                    for (seq, m) in c.moments.iter().enumerate() {
                        let seq = i32::try_from(seq).unwrap_or(i32::MAX);
                        tx.execute(
                            "INSERT INTO moments (campaign, seq, at, prize_id) VALUES ($1, $2, $3, $4)",
                            &[&c.id, &seq, &m.at, &m.prize_id],
                        )
                        .await
                        .map_err(db)?;
                    }
                } else {
                    check_moments(c, &stored)?;
                }
            }
            tx.commit().await.map_err(db)
        })
    }

    fn participate<'a>(
        &'a self,
        campaign: Arc<Campaign>,
        p: NewParticipation,
    ) -> BoxFut<'a, Result<Participation, ParticipateError>> {
        Box::pin(async move {
            let mut client = self.pool.get().await.map_err(pool_err)?;
            let mut last = StoreError::new("no attempt");
            for _ in 0..MAX_ATTEMPTS {
                let tx = client.transaction().await.map_err(db)?;
                match participate_once(&tx, &campaign, &p).await {
                    Ok(attempt) => {
                        match tx.commit().await {
                            Ok(()) => {}
                            Err(e) => {
                                let e = PgErr::from(e);
                                if e.retry {
                                    last = e.err;
                                    continue;
                                }
                                return Err(e.err.into());
                            }
                        }
                        return match attempt {
                            Attempt::Done(x) => Ok(x),
                            Attempt::Limit => Err(ParticipateError::Limit),
                        };
                    }
                    Err(e) => {
                        // Dropping `tx` rolls back (and returns any stock taken).
                        drop(tx);
                        if !e.retry {
                            return Err(e.err.into());
                        }
                        last = e.err;
                    }
                }
            }
            Err(last.into())
        })
    }

    fn stats<'a>(&'a self, campaign: Arc<Campaign>) -> BoxFut<'a, Result<Stats, StoreError>> {
        Box::pin(async move {
            let mut client = self.pool.get().await.map_err(pool_err)?;
            // One snapshot for all counters.
            let tx = client
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await
                .map_err(db)?;
            let id = &campaign.id;
            let row = tx
                .query_one(
                    "SELECT COUNT(*), COUNT(DISTINCT sub) FROM participations WHERE campaign = $1",
                    &[id],
                )
                .await
                .map_err(db)?;
            let participations: i64 = row.try_get(0).map_err(db)?;
            let participants: i64 = row.try_get(1).map_err(db)?;
            let mut outcomes = std::collections::BTreeMap::new();
            for r in tx
                .query(
                    "SELECT outcome, COUNT(*) FROM participations WHERE campaign = $1 GROUP BY outcome",
                    &[id],
                )
                .await
                .map_err(db)?
            {
                outcomes.insert(r.try_get::<_, String>(0).map_err(db)?, r.try_get(1).map_err(db)?);
            }
            let mut prizes = Vec::new();
            for r in tx
                .query(
                    "SELECT id, name, quantity, remaining FROM prizes WHERE campaign = $1 ORDER BY ord",
                    &[id],
                )
                .await
                .map_err(db)?
            {
                prizes.push(PrizeStock {
                    id: r.try_get(0).map_err(db)?,
                    name: r.try_get(1).map_err(db)?,
                    quantity: r.try_get(2).map_err(db)?,
                    remaining: r.try_get(3).map_err(db)?,
                });
            }
            let unclaimed_moments: i64 = tx
                .query_one(
                    "SELECT COUNT(*) FROM moments WHERE campaign = $1 AND participation_id IS NULL",
                    &[id],
                )
                .await
                .map_err(db)?
                .try_get(0)
                .map_err(db)?;
            let draw = match tx
                .query_opt(
                    "SELECT drawn_by, drawn_at, winners FROM draws WHERE campaign = $1",
                    &[id],
                )
                .await
                .map_err(db)?
            {
                None => None,
                Some(r) => Some(DrawRecord {
                    drawn_by: r.try_get(0).map_err(db)?,
                    drawn_at: r.try_get(1).map_err(db)?,
                    winners: r.try_get(2).map_err(db)?,
                }),
            };
            tx.commit().await.map_err(db)?;
            let winners = outcomes.get("won").copied().unwrap_or(0);
            Ok(Stats {
                participations,
                participants,
                outcomes,
                winners,
                prizes,
                unclaimed_moments,
                draw,
            })
        })
    }

    fn winners<'a>(
        &'a self,
        campaign: Arc<Campaign>,
    ) -> BoxFut<'a, Result<Vec<Winner>, StoreError>> {
        Box::pin(async move {
            let client = self.pool.get().await.map_err(pool_err)?;
            let rows = client
                .query(
                    "SELECT id, sub, prize_id, prize_label, won_at, drawn FROM participations
                     WHERE campaign = $1 AND outcome = 'won' ORDER BY won_at, created_at, id",
                    &[&campaign.id],
                )
                .await
                .map_err(db)?;
            rows.iter()
                .map(|r| {
                    Ok(Winner {
                        participation_id: r.try_get(0)?,
                        sub: r.try_get(1)?,
                        prize: PrizeWon {
                            id: r.try_get(2)?,
                            label: r.try_get(3)?,
                        },
                        won_at: r.try_get(4)?,
                        drawn: r.try_get::<_, i32>(5)? != 0,
                    })
                })
                .collect::<Result<_, tokio_postgres::Error>>()
                .map_err(db)
        })
    }

    fn draw<'a>(
        &'a self,
        campaign: Arc<Campaign>,
        drawn_by: &'a str,
        now: i64,
    ) -> BoxFut<'a, Result<Vec<Winner>, DrawError>> {
        Box::pin(async move {
            let mut client = self.pool.get().await.map_err(pool_err)?;
            let tx = client.transaction().await.map_err(db)?;
            let out = draw_in(&tx, &campaign, drawn_by, now).await?;
            tx.commit().await.map_err(db)?;
            Ok(out)
        })
    }

    fn ping(&self) -> BoxFut<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let client = self.pool.get().await.map_err(pool_err)?;
            client.execute("SELECT 1", &[]).await.map_err(db)?;
            Ok(())
        })
    }
}

async fn participate_once(
    tx: &Transaction<'_>,
    c: &Campaign,
    p: &NewParticipation,
) -> Result<Attempt, PgErr> {
    if let Some(r) = tx
        .query_opt(
            "SELECT id, outcome, eligibility, prize_id, prize_label FROM participations
             WHERE campaign = $1 AND token_hash = $2",
            &[&c.id, &p.token_hash],
        )
        .await?
    {
        let prize = match (
            r.try_get::<_, Option<String>>(3)?,
            r.try_get::<_, Option<String>>(4)?,
        ) {
            (Some(id), Some(label)) => Some(PrizeWon { id, label }),
            _ => None,
        };
        return Ok(Attempt::Done(Participation {
            participation_id: r.try_get(0)?,
            outcome: Outcome::parse(r.try_get(1)?)?,
            prize,
            eligibility: parse_eligibility(r.try_get(2)?)?,
            replayed: true,
        }));
    }
    let count: i64 = tx
        .query_one(
            "SELECT COUNT(*) FROM participations WHERE campaign = $1 AND sub = $2",
            &[&c.id, &p.sub],
        )
        .await?
        .try_get(0)?;
    if count >= i64::from(c.participation_limit) {
        return Ok(Attempt::Limit);
    }
    let mut prize_id: Option<String> = None;
    if competes_now(c.kind, p.eligibility) {
        match c.kind {
            CampaignKind::InstantWin => {
                if let Some(r) = tx
                    .query_opt(
                        "UPDATE moments SET participation_id = $3
                         WHERE campaign = $1 AND participation_id IS NULL AND seq = (
                             SELECT seq FROM moments
                             WHERE campaign = $1 AND participation_id IS NULL AND at <= $2
                             ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED)
                         RETURNING prize_id",
                        &[&c.id, &p.now, &p.id],
                    )
                    .await?
                {
                    let id: String = r.try_get(0)?;
                    if !take_unit(tx, &c.id, &id).await? {
                        return Err(StoreError::new(format!(
                            "prize {id} has no stock left for a winning moment"
                        ))
                        .into());
                    }
                    prize_id = Some(id);
                }
            }
            CampaignKind::Draw => {
                for pr in &c.prizes {
                    if take_unit(tx, &c.id, &pr.id).await? {
                        prize_id = Some(pr.id.clone());
                        break;
                    }
                }
            }
        }
    }
    let prize = prize_id.map(|id| PrizeWon {
        label: label_for(&c.prizes, &id, p.token_label.as_deref()),
        id,
    });
    let outcome = if prize.is_some() {
        Outcome::Won
    } else {
        outcome_without_prize(c.kind, p.eligibility)
    };
    let n = i32::try_from(count + 1).unwrap_or(i32::MAX);
    let won_at = prize.as_ref().map(|_| p.now);
    tx.execute(
        "INSERT INTO participations (id, campaign, token_hash, sub, n, eligibility, token_label,
            outcome, prize_id, prize_label, won_at, answers, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        &[
            &p.id,
            &c.id,
            &p.token_hash,
            &p.sub,
            &n,
            &p.eligibility.as_str(),
            &p.token_label,
            &outcome.as_str(),
            &prize.as_ref().map(|x| x.id.as_str()),
            &prize.as_ref().map(|x| x.label.as_str()),
            &won_at,
            &p.answers,
            &p.now,
        ],
    )
    .await?;
    Ok(Attempt::Done(Participation {
        participation_id: p.id.clone(),
        outcome,
        prize,
        eligibility: p.eligibility,
        replayed: false,
    }))
}

/// Takes one unit of a prize if it has stock left (waits for a concurrent taker's commit).
async fn take_unit(tx: &Transaction<'_>, campaign: &str, prize: &str) -> Result<bool, PgErr> {
    let n = tx
        .execute(
            "UPDATE prizes SET remaining = remaining - 1
             WHERE campaign = $1 AND id = $2 AND remaining > 0",
            &[&campaign, &prize],
        )
        .await?;
    Ok(n == 1)
}

async fn draw_in(
    tx: &Transaction<'_>,
    c: &Campaign,
    by: &str,
    now: i64,
) -> Result<Vec<Winner>, DrawError> {
    let inserted = tx
        .execute(
            "INSERT INTO draws (campaign, drawn_by, drawn_at, winners) VALUES ($1, $2, $3, 0)
             ON CONFLICT DO NOTHING",
            &[&c.id, &by, &now],
        )
        .await
        .map_err(db)?;
    if inserted != 1 {
        return Err(DrawError::AlreadyDrawn);
    }
    // Lock the stock: a late participation on another process waits for the draw.
    let mut units: Vec<String> = Vec::new();
    for r in tx
        .query(
            "SELECT id, remaining FROM prizes WHERE campaign = $1 ORDER BY ord FOR UPDATE",
            &[&c.id],
        )
        .await
        .map_err(db)?
    {
        let id: String = r.try_get(0).map_err(db)?;
        let n: i64 = r.try_get(1).map_err(db)?;
        units.extend(std::iter::repeat_n(id, usize::try_from(n).unwrap_or(0)));
    }
    let mut candidates = Vec::new();
    for r in tx
        .query(
            "SELECT p.id, p.sub, p.token_label FROM participations p
             WHERE p.campaign = $1 AND p.eligibility <> 'cannot-win' AND p.outcome <> 'won'
               AND NOT EXISTS (SELECT 1 FROM participations w
                               WHERE w.campaign = p.campaign AND w.sub = p.sub
                                 AND w.outcome = 'won')
             ORDER BY p.created_at, p.id",
            &[&c.id],
        )
        .await
        .map_err(db)?
    {
        candidates.push(Candidate {
            id: r.try_get(0).map_err(db)?,
            sub: r.try_get(1).map_err(db)?,
            token_label: r.try_get(2).map_err(db)?,
        });
    }
    let chosen = pick(one_per_sub(candidates), units.len())?;
    let mut out = Vec::with_capacity(chosen.len());
    for (cand, prize_id) in chosen.into_iter().zip(units) {
        let took = take_unit(tx, &c.id, &prize_id).await.map_err(|e| e.err)?;
        if !took {
            return Err(
                StoreError::new(format!("prize {prize_id} ran out during the draw")).into(),
            );
        }
        let label = label_for(&c.prizes, &prize_id, cand.token_label.as_deref());
        tx.execute(
            "UPDATE participations SET outcome = 'won', prize_id = $2, prize_label = $3,
                won_at = $4, drawn = 1 WHERE id = $1",
            &[&cand.id, &prize_id, &label, &now],
        )
        .await
        .map_err(db)?;
        out.push(Winner {
            participation_id: cand.id,
            sub: cand.sub,
            prize: PrizeWon {
                id: prize_id,
                label,
            },
            won_at: now,
            drawn: true,
        });
    }
    let n = i64::try_from(out.len()).unwrap_or(i64::MAX);
    tx.execute(
        "UPDATE draws SET winners = $2 WHERE campaign = $1",
        &[&c.id, &n],
    )
    .await
    .map_err(db)?;
    Ok(out)
}
