//! SQLite storage: one file, WAL journal, `synchronous=FULL` (a win is answered only after
//! its commit reached the disk), and `BEGIN IMMEDIATE` so that an allocation takes the write
//! lock before it reads the stock. Several processes may share the file: `busy_timeout`
//! makes them wait for each other instead of failing.
//!
//! Participations use group commit: one writer thread of this process owns a connection and
//! is fed by a channel. The participations queued when it is ready (at most [`MAX_BATCH`], no
//! artificial wait) are applied in queue order in ONE `BEGIN IMMEDIATE` transaction, each in
//! its own SAVEPOINT (a participation that fails rolls back only itself), then one COMMIT
//! (one fsync); the answers are sent only after that COMMIT returned, so a `won` is never
//! answered for an allocation that is not on disk. If the COMMIT (or the transaction) fails,
//! every participation of the batch gets an error and none was recorded. The queue is bounded
//! ([`QUEUE_CAPACITY`]): past it, requests wait for room (backpressure) instead of growing
//! memory. A panic while applying a batch (a bug) rolls that batch back, answers each of its
//! participations with an error, and the writer goes on with the next batch.
//!
//! The other calls (prepare, stats, winners, draw, ping) take a second connection of this
//! process (an async mutex) and run on tokio's blocking pool; the draw competes with the
//! writer for SQLite's write lock through `busy_timeout`, as a second process would.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Mutex};

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::{
    check_moments, check_prizes, competes_now, label_for, one_per_sub, outcome_without_prize,
    parse_eligibility, pick, BoxFut, Candidate, DrawError, DrawRecord, NewParticipation, Outcome,
    ParticipateError, Participation, PrizeStock, PrizeWon, Stats, Store, StoreError, Winner,
    SCHEMA,
};
use crate::config::Campaign;

/// The SQLite store.
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    writer: mpsc::Sender<Job>,
}

/// Most participations committed together.
pub const MAX_BATCH: usize = 256;

/// Most participations waiting for the writer; more wait for room.
pub const QUEUE_CAPACITY: usize = 4 * MAX_BATCH;

/// What the writer does with a batch (the real one is [`commit_batch`]; tests inject others).
type ApplyBatch = fn(&mut Connection, &[Job]) -> Vec<Result<Participation, ParticipateError>>;

/// A participation queued for the writer thread, with where to send its answer.
struct Job {
    campaign: Arc<Campaign>,
    p: NewParticipation,
    reply: oneshot::Sender<Result<Participation, ParticipateError>>,
}

fn db(e: rusqlite::Error) -> StoreError {
    StoreError::caused("sqlite", e)
}

impl SqliteStore {
    /// Opens (or creates) the database file.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_with(path, commit_batch)
    }

    fn open_with(path: &Path, apply: ApplyBatch) -> Result<SqliteStore, StoreError> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir).map_err(|e| {
                    StoreError::caused(&format!("sqlite: cannot create {}", dir.display()), e)
                })?;
            }
        }
        let conn = connect(path)?;
        let write_conn = connect(path)?;
        let (writer, queue) = mpsc::channel(QUEUE_CAPACITY);
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || write_loop(write_conn, queue, apply))
            .map_err(|e| StoreError::caused("sqlite: cannot start the writer thread", e))?;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
            writer,
        })
    }

    /// Runs `f` with the connection on the blocking pool.
    fn with<T, E, F>(&self, f: F) -> BoxFut<'static, Result<T, E>>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        Box::pin(async move {
            // Wait for the connection as a task, not as a blocked thread: a burst of requests
            // then queues here instead of filling tokio's blocking pool.
            let mut guard = conn.lock_owned().await;
            tokio::task::spawn_blocking(move || f(&mut guard))
                .await
                .map_err(|e| E::from(StoreError::caused("sqlite task failed", e)))?
        })
    }
}

impl Store for SqliteStore {
    fn prepare<'a>(&'a self, campaigns: &'a [Arc<Campaign>]) -> BoxFut<'a, Result<(), StoreError>> {
        let campaigns: Vec<Arc<Campaign>> = campaigns.to_vec();
        self.with(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db)?;
            for stmt in SCHEMA {
                tx.execute_batch(stmt).map_err(db)?;
            }
            for c in &campaigns {
                let stored: Vec<(String, i64)> = {
                    let mut q = tx
                        .prepare("SELECT id, quantity FROM prizes WHERE campaign = ?1")
                        .map_err(db)?;
                    let rows = q
                        .query_map([&c.id], |r| Ok((r.get(0)?, r.get(1)?)))
                        .map_err(db)?;
                    rows.collect::<Result<_, _>>().map_err(db)?
                };
                check_prizes(c, &stored)?;
                for (ord, p) in c.prizes.iter().enumerate() {
                    tx.execute(
                        "INSERT INTO prizes (campaign, id, ord, name, quantity, remaining)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?5) ON CONFLICT DO NOTHING",
                        params![c.id, p.id, ord as i64, p.name, i64::from(p.quantity)],
                    )
                    .map_err(db)?;
                    // The name may be edited; the stock may not (checked above).
                    tx.execute(
                        "UPDATE prizes SET name = ?3, ord = ?4 WHERE campaign = ?1 AND id = ?2",
                        params![c.id, p.id, p.name, ord as i64],
                    )
                    .map_err(db)?;
                }
                let stored: Vec<(i64, String)> = {
                    let mut q = tx
                        .prepare(
                            "SELECT at, prize_id FROM moments WHERE campaign = ?1 ORDER BY seq",
                        )
                        .map_err(db)?;
                    let rows = q
                        .query_map([&c.id], |r| Ok((r.get(0)?, r.get(1)?)))
                        .map_err(db)?;
                    rows.collect::<Result<_, _>>().map_err(db)?
                };
                if stored.is_empty() {
                    for (seq, m) in c.moments.iter().enumerate() {
                        tx.execute(
                            "INSERT INTO moments (campaign, seq, at, prize_id) VALUES (?1, ?2, ?3, ?4)",
                            params![c.id, seq as i64, m.at, m.prize_id],
                        )
                        .map_err(db)?;
                    }
                } else {
                    check_moments(c, &stored)?;
                }
            }
            tx.commit().map_err(db)
        })
    }

    fn participate<'a>(
        &'a self,
        campaign: Arc<Campaign>,
        p: NewParticipation,
    ) -> BoxFut<'a, Result<Participation, ParticipateError>> {
        let writer = self.writer.clone();
        Box::pin(async move {
            let (reply, answer) = oneshot::channel();
            writer
                .send(Job { campaign, p, reply })
                .await
                .map_err(|_| StoreError::new("sqlite: the writer thread has stopped"))?;
            answer.await.map_err(|_| {
                ParticipateError::from(StoreError::new(
                    "sqlite: the writer thread stopped before answering",
                ))
            })?
        })
    }

    fn stats<'a>(&'a self, campaign: Arc<Campaign>) -> BoxFut<'a, Result<Stats, StoreError>> {
        let id = campaign.id.clone();
        self.with(move |conn| stats(conn, &id))
    }

    fn winners<'a>(
        &'a self,
        campaign: Arc<Campaign>,
    ) -> BoxFut<'a, Result<Vec<Winner>, StoreError>> {
        let id = campaign.id.clone();
        self.with(move |conn| winners(conn, &id))
    }

    fn draw<'a>(
        &'a self,
        campaign: Arc<Campaign>,
        drawn_by: &'a str,
        now: i64,
    ) -> BoxFut<'a, Result<Vec<Winner>, DrawError>> {
        let by = drawn_by.to_owned();
        self.with(move |conn| draw(conn, &campaign, &by, now))
    }

    fn ping(&self) -> BoxFut<'_, Result<(), StoreError>> {
        self.with(|conn| conn.query_row("SELECT 1", [], |_| Ok(())).map_err(db))
    }
}

/// Opens one connection with the store's settings.
fn connect(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(db)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(db)?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .map_err(db)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::new(format!(
            "sqlite: could not switch {} to WAL (got {mode})",
            path.display()
        )));
    }
    conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")
        .map_err(db)?;
    Ok(conn)
}

/// The writer thread: takes whatever is queued (at most [`MAX_BATCH`]), commits it as one
/// transaction, then answers. Ends when every handle of the store is dropped.
fn write_loop(mut conn: Connection, mut queue: mpsc::Receiver<Job>, apply: ApplyBatch) {
    while let Some(first) = queue.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        tracing::debug!(batch = batch.len(), "sqlite: group commit");
        // A panic unwinds through the transaction, whose drop rolls it back: nothing of the
        // batch is recorded, so each participation gets an error and may be retried.
        let answers =
            catch_unwind(AssertUnwindSafe(|| apply(&mut conn, &batch))).unwrap_or_else(|_| {
                tracing::error!(
                    batch = batch.len(),
                    "sqlite: the writer panicked; batch rolled back"
                );
                let e =
                    StoreError::new("sqlite: internal error; this participation was not recorded");
                batch
                    .iter()
                    .map(|_| Err(ParticipateError::Store(e.clone())))
                    .collect()
            });
        for (job, answer) in batch.into_iter().zip(answers) {
            // The requester may have gone away; its participation stands.
            let _ = job.reply.send(answer);
        }
    }
}

/// Applies `jobs` in order in one transaction, each in its own savepoint, and commits. The
/// answers are final only because this returns after the COMMIT: on any failure of the
/// transaction itself, every job gets an error.
fn commit_batch(
    conn: &mut Connection,
    jobs: &[Job],
) -> Vec<Result<Participation, ParticipateError>> {
    let fail_all = |e: StoreError| -> Vec<Result<Participation, ParticipateError>> {
        jobs.iter()
            .map(|_| Err(ParticipateError::Store(e.clone())))
            .collect()
    };
    let mut tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => return fail_all(db(e)),
    };
    let mut answers = Vec::with_capacity(jobs.len());
    for job in jobs {
        let mut sp = match tx.savepoint() {
            Ok(sp) => sp,
            Err(e) => return fail_all(db(e)),
        };
        sp.set_drop_behavior(rusqlite::DropBehavior::Rollback);
        let answer = participate(&sp, &job.campaign, &job.p);
        let closed = if answer.is_ok() {
            sp.commit()
        } else {
            // ROLLBACK TO + RELEASE: this participation leaves no trace.
            sp.finish()
        };
        if let Err(e) = closed {
            return fail_all(db(e));
        }
        if tx.is_autocommit() {
            // SQLite rolled the whole transaction back (e.g. I/O error, disk full).
            return fail_all(StoreError::new(
                "sqlite: the group-commit transaction was rolled back",
            ));
        }
        answers.push(answer);
    }
    match tx.commit() {
        Ok(()) => answers,
        Err(e) => fail_all(db(e)),
    }
}

/// One participation, inside the writer's transaction (its savepoint); commits nothing.
fn participate(
    tx: &Connection,
    c: &Campaign,
    p: &NewParticipation,
) -> Result<Participation, ParticipateError> {
    if let Some(existing) = find_by_token(tx, &c.id, &p.token_hash)? {
        return Ok(existing);
    }
    let count: i64 = tx
        .query_row(
            "SELECT COUNT(*) FROM participations WHERE campaign = ?1 AND sub = ?2",
            params![c.id, p.sub],
            |r| r.get(0),
        )
        .map_err(db)?;
    if count >= i64::from(c.participation_limit) {
        return Err(ParticipateError::Limit);
    }
    let mut prize: Option<PrizeWon> = None;
    if competes_now(c.kind, p.eligibility) {
        let prize_id: Option<String> = match c.kind {
            crate::config::CampaignKind::InstantWin => {
                let due: Option<(i64, String)> = tx
                    .query_row(
                        "SELECT seq, prize_id FROM moments
                         WHERE campaign = ?1 AND participation_id IS NULL AND at <= ?2
                         ORDER BY seq LIMIT 1",
                        params![c.id, p.now],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()
                    .map_err(db)?;
                match due {
                    None => None,
                    Some((seq, prize_id)) => {
                        let n = tx
                            .execute(
                                "UPDATE moments SET participation_id = ?3
                                 WHERE campaign = ?1 AND seq = ?2 AND participation_id IS NULL",
                                params![c.id, seq, p.id],
                            )
                            .map_err(db)?;
                        if n != 1 {
                            return Err(
                                StoreError::new("a winning moment was claimed twice").into()
                            );
                        }
                        take_unit(tx, &c.id, &prize_id)?;
                        Some(prize_id)
                    }
                }
            }
            crate::config::CampaignKind::Draw => {
                let mut won = None;
                for pr in &c.prizes {
                    if take_unit_if_any(tx, &c.id, &pr.id)? {
                        won = Some(pr.id.clone());
                        break;
                    }
                }
                won
            }
        };
        prize = prize_id.map(|id| PrizeWon {
            label: label_for(&c.prizes, &id, p.token_label.as_deref()),
            id,
        });
    }
    let outcome = if prize.is_some() {
        Outcome::Won
    } else {
        outcome_without_prize(c.kind, p.eligibility)
    };
    tx.execute(
        "INSERT INTO participations (id, campaign, token_hash, sub, n, eligibility, token_label,
            outcome, prize_id, prize_label, won_at, answers, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        params![
            p.id,
            c.id,
            p.token_hash,
            p.sub,
            count + 1,
            p.eligibility.as_str(),
            p.token_label,
            outcome.as_str(),
            prize.as_ref().map(|x| x.id.as_str()),
            prize.as_ref().map(|x| x.label.as_str()),
            prize.as_ref().map(|_| p.now),
            p.answers,
            p.now,
        ],
    )
    .map_err(db)?;
    Ok(Participation {
        participation_id: p.id.clone(),
        outcome,
        prize,
        eligibility: p.eligibility,
        replayed: false,
    })
}

/// id, outcome, eligibility, prize id, prize label.
type StoredRow = (String, String, String, Option<String>, Option<String>);

fn find_by_token(
    tx: &Connection,
    campaign: &str,
    token_hash: &str,
) -> Result<Option<Participation>, StoreError> {
    let row: Option<StoredRow> = tx
        .query_row(
            "SELECT id, outcome, eligibility, prize_id, prize_label FROM participations
             WHERE campaign = ?1 AND token_hash = ?2",
            params![campaign, token_hash],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .optional()
        .map_err(db)?;
    row.map(|(id, outcome, eligibility, prize_id, prize_label)| {
        Ok(Participation {
            participation_id: id,
            outcome: Outcome::parse(&outcome)?,
            prize: match (prize_id, prize_label) {
                (Some(id), Some(label)) => Some(PrizeWon { id, label }),
                _ => None,
            },
            eligibility: parse_eligibility(&eligibility)?,
            replayed: true,
        })
    })
    .transpose()
}

/// Takes one unit of a prize that must have stock (a winning moment's prize).
fn take_unit(tx: &Connection, campaign: &str, prize: &str) -> Result<(), StoreError> {
    if take_unit_if_any(tx, campaign, prize)? {
        Ok(())
    } else {
        Err(StoreError::new(format!(
            "prize {prize} has no stock left for a winning moment"
        )))
    }
}

fn take_unit_if_any(tx: &Connection, campaign: &str, prize: &str) -> Result<bool, StoreError> {
    let n = tx
        .execute(
            "UPDATE prizes SET remaining = remaining - 1
             WHERE campaign = ?1 AND id = ?2 AND remaining > 0",
            params![campaign, prize],
        )
        .map_err(db)?;
    Ok(n == 1)
}

fn stats(conn: &mut Connection, campaign: &str) -> Result<Stats, StoreError> {
    let tx = conn.transaction().map_err(db)?;
    let (participations, participants): (i64, i64) = tx
        .query_row(
            "SELECT COUNT(*), COUNT(DISTINCT sub) FROM participations WHERE campaign = ?1",
            [campaign],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(db)?;
    let mut outcomes = std::collections::BTreeMap::new();
    {
        let mut q = tx
            .prepare(
                "SELECT outcome, COUNT(*) FROM participations WHERE campaign = ?1 GROUP BY outcome",
            )
            .map_err(db)?;
        let rows = q
            .query_map([campaign], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })
            .map_err(db)?;
        for row in rows {
            let (k, v) = row.map_err(db)?;
            outcomes.insert(k, v);
        }
    }
    let prizes: Vec<PrizeStock> = {
        let mut q = tx
            .prepare(
                "SELECT id, name, quantity, remaining FROM prizes WHERE campaign = ?1 ORDER BY ord",
            )
            .map_err(db)?;
        let rows = q
            .query_map([campaign], |r| {
                Ok(PrizeStock {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    quantity: r.get(2)?,
                    remaining: r.get(3)?,
                })
            })
            .map_err(db)?;
        rows.collect::<Result<_, _>>().map_err(db)?
    };
    let unclaimed_moments: i64 = tx
        .query_row(
            "SELECT COUNT(*) FROM moments WHERE campaign = ?1 AND participation_id IS NULL",
            [campaign],
            |r| r.get(0),
        )
        .map_err(db)?;
    let draw = tx
        .query_row(
            "SELECT drawn_by, drawn_at, winners FROM draws WHERE campaign = ?1",
            [campaign],
            |r| {
                Ok(DrawRecord {
                    drawn_by: r.get(0)?,
                    drawn_at: r.get(1)?,
                    winners: r.get(2)?,
                })
            },
        )
        .optional()
        .map_err(db)?;
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
}

fn winners(conn: &mut Connection, campaign: &str) -> Result<Vec<Winner>, StoreError> {
    let mut q = conn
        .prepare(
            "SELECT id, sub, prize_id, prize_label, won_at, drawn FROM participations
             WHERE campaign = ?1 AND outcome = 'won' ORDER BY won_at, created_at, id",
        )
        .map_err(db)?;
    let rows = q
        .query_map([campaign], |r| {
            Ok(Winner {
                participation_id: r.get(0)?,
                sub: r.get(1)?,
                prize: PrizeWon {
                    id: r.get(2)?,
                    label: r.get(3)?,
                },
                won_at: r.get(4)?,
                drawn: r.get::<_, i64>(5)? != 0,
            })
        })
        .map_err(db)?;
    rows.collect::<Result<_, _>>().map_err(db)
}

fn draw(conn: &mut Connection, c: &Campaign, by: &str, now: i64) -> Result<Vec<Winner>, DrawError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db)?;
    let inserted = tx
        .execute(
            "INSERT INTO draws (campaign, drawn_by, drawn_at, winners) VALUES (?1, ?2, ?3, 0)
             ON CONFLICT DO NOTHING",
            params![c.id, by, now],
        )
        .map_err(db)?;
    if inserted != 1 {
        return Err(DrawError::AlreadyDrawn);
    }
    let units: Vec<(String, i64)> = {
        let mut q = tx
            .prepare("SELECT id, remaining FROM prizes WHERE campaign = ?1 ORDER BY ord")
            .map_err(db)?;
        let rows = q
            .query_map([&c.id], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(db)?;
        rows.collect::<Result<_, _>>().map_err(db)?
    };
    let units: Vec<String> = units
        .into_iter()
        .flat_map(|(id, n)| std::iter::repeat_n(id, usize::try_from(n).unwrap_or(0)))
        .collect();
    let candidates: Vec<Candidate> = {
        let mut q = tx
            .prepare(
                "SELECT p.id, p.sub, p.token_label FROM participations p
                 WHERE p.campaign = ?1 AND p.eligibility <> 'cannot-win' AND p.outcome <> 'won'
                   AND NOT EXISTS (SELECT 1 FROM participations w
                                   WHERE w.campaign = p.campaign AND w.sub = p.sub
                                     AND w.outcome = 'won')
                 ORDER BY p.created_at, p.id",
            )
            .map_err(db)?;
        let rows = q
            .query_map([&c.id], |r| {
                Ok(Candidate {
                    id: r.get(0)?,
                    sub: r.get(1)?,
                    token_label: r.get(2)?,
                })
            })
            .map_err(db)?;
        rows.collect::<Result<_, _>>().map_err(db)?
    };
    let chosen = pick(one_per_sub(candidates), units.len())?;
    let mut out = Vec::with_capacity(chosen.len());
    for (cand, prize_id) in chosen.into_iter().zip(units) {
        take_unit(&tx, &c.id, &prize_id)?;
        let label = label_for(&c.prizes, &prize_id, cand.token_label.as_deref());
        tx.execute(
            "UPDATE participations SET outcome = 'won', prize_id = ?2, prize_label = ?3,
                won_at = ?4, drawn = 1 WHERE id = ?1",
            params![cand.id, prize_id, label, now],
        )
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
    tx.execute(
        "UPDATE draws SET winners = ?2 WHERE campaign = ?1",
        params![c.id, out.len() as i64],
    )
    .map_err(db)?;
    tx.commit().map_err(db)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]

    use super::*;
    use campaign_token::Eligibility;

    const CONFIG: &str = r#"
listen = "127.0.0.1:0"
database = "sqlite:unused.db"
[[campaign]]
id = "c"
type = "draw"
start = "2020-01-01T00:00:00Z"
end = "2040-01-01T00:00:00Z"
participation_limit = 2
[[campaign.keys]]
hmac_secret_env = "K"
alg = "HS256"
kid = "hs"
[[campaign.prizes]]
id = "a"
name = "Alpha"
quantity = 2
"#;

    fn campaign() -> Arc<Campaign> {
        let env = |_: &str| Some("a shared secret of at least 32 bytes, for tests".to_owned());
        let cfg = crate::config::Config::parse(CONFIG, Path::new("."), &env).unwrap();
        Arc::clone(&cfg.campaigns[0])
    }

    fn job(
        c: &Arc<Campaign>,
        id: &str,
        token: &str,
        sub: &str,
    ) -> (
        Job,
        oneshot::Receiver<Result<Participation, ParticipateError>>,
    ) {
        let (reply, answer) = oneshot::channel();
        let p = NewParticipation {
            id: id.into(),
            token_hash: token.into(),
            sub: sub.into(),
            eligibility: Eligibility::AnyPrize,
            token_label: None,
            answers: None,
            now: 1_800_000_000,
        };
        (
            Job {
                campaign: Arc::clone(c),
                p,
                reply,
            },
            answer,
        )
    }

    async fn prepared() -> (tempfile::TempDir, std::path::PathBuf, Arc<Campaign>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let c = campaign();
        let store = SqliteStore::open(&path).unwrap();
        store.prepare(std::slice::from_ref(&c)).await.unwrap();
        (dir, path, c)
    }

    #[tokio::test]
    async fn one_batch_applies_replays_and_limits_in_queue_order() {
        let (_dir, path, c) = prepared().await;
        let jobs: Vec<Job> = [
            ("p1", "t1", "alice"), // wins the first unit
            ("p2", "t1", "alice"), // a replay of p1 in the same batch
            ("p3", "t2", "alice"), // alice's second participation: the last unit
            ("p4", "t3", "alice"), // past alice's limit: rolled back alone
            ("p5", "t4", "bob"),   // no stock left
            ("p6", "t4", "bob"),   // a replay of p5
        ]
        .into_iter()
        .map(|(id, t, sub)| job(&c, id, t, sub).0)
        .collect();
        let mut conn = connect(&path).unwrap();
        let answers = commit_batch(&mut conn, &jobs);
        let ok = |i: usize| match &answers[i] {
            Ok(p) => p.clone(),
            Err(e) => panic!("job {i}: {e:?}"),
        };
        assert_eq!(
            (ok(0).participation_id.as_str(), ok(0).outcome),
            ("p1", Outcome::Won)
        );
        assert!(!ok(0).replayed);
        assert_eq!(ok(1).participation_id, "p1");
        assert!(ok(1).replayed);
        assert_eq!(ok(1).prize, ok(0).prize);
        assert_eq!(ok(2).outcome, Outcome::Won);
        assert!(matches!(answers[3], Err(ParticipateError::Limit)));
        assert_eq!(ok(4).outcome, Outcome::Lost);
        assert_eq!(
            (ok(5).participation_id.as_str(), ok(5).replayed),
            ("p5", true)
        );

        let s = stats(&mut conn, "c").unwrap();
        assert_eq!(s.participations, 3);
        assert_eq!(s.winners, 2);
        assert_eq!(s.prizes[0].remaining, 0);
    }

    #[tokio::test]
    async fn a_batch_whose_transaction_fails_answers_errors_and_records_nothing() {
        let (_dir, path, c) = prepared().await;
        let blocker = connect(&path).unwrap();
        blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
        let mut conn = connect(&path).unwrap();
        conn.busy_timeout(std::time::Duration::ZERO).unwrap();
        let jobs: Vec<Job> = (0..3)
            .map(|i| job(&c, &format!("p{i}"), &format!("t{i}"), &format!("s{i}")).0)
            .collect();
        let answers = commit_batch(&mut conn, &jobs);
        assert!(answers
            .iter()
            .all(|a| matches!(a, Err(ParticipateError::Store(_)))));
        blocker.execute_batch("ROLLBACK").unwrap();
        let s = stats(&mut conn, "c").unwrap();
        assert_eq!((s.participations, s.prizes[0].remaining), (0, 2));
    }

    #[tokio::test]
    async fn answers_come_back_through_the_writer_thread() {
        let (_dir, path, c) = prepared().await;
        let store = SqliteStore::open(&path).unwrap();
        let tasks: Vec<_> = (0..50)
            .map(|i| {
                let store = store.clone();
                let c = Arc::clone(&c);
                let mut p = job(&c, &format!("p{i}"), &format!("t{i}"), &format!("s{i}"))
                    .0
                    .p;
                if i % 2 == 1 {
                    p.token_hash = format!("t{}", i - 1); // a replay of its neighbour
                }
                tokio::spawn(async move { store.participate(c, p).await })
            })
            .collect();
        let mut won = 0;
        for t in tasks {
            let p = t.await.unwrap().unwrap();
            if p.outcome == Outcome::Won && !p.replayed {
                won += 1;
            }
        }
        assert_eq!(won, 2);
        let s = store.stats(Arc::clone(&c)).await.unwrap();
        assert_eq!((s.participations, s.prizes[0].remaining), (25, 0));
    }

    #[tokio::test]
    async fn a_panic_in_a_batch_fails_that_batch_only_and_the_writer_goes_on() {
        let (_dir, path, c) = prepared().await;
        // Panics in the middle of the first batch, after its first participation was applied
        // inside the transaction; applies later batches for real.
        fn flaky(
            conn: &mut Connection,
            jobs: &[Job],
        ) -> Vec<Result<Participation, ParticipateError>> {
            if jobs.iter().any(|j| j.p.id == "boom") {
                let tx = conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .unwrap();
                participate(&tx, &jobs[0].campaign, &jobs[0].p).unwrap();
                panic!("injected");
            }
            commit_batch(conn, jobs)
        }
        let store = SqliteStore::open_with(&path, flaky).unwrap();
        let boom = job(&c, "boom", "t-boom", "alice").0.p;
        assert!(matches!(
            store.participate(Arc::clone(&c), boom).await,
            Err(ParticipateError::Store(_))
        ));
        let next = job(&c, "p1", "t1", "bob").0.p;
        let p = store.participate(Arc::clone(&c), next).await.unwrap();
        assert_eq!(p.outcome, Outcome::Won);
        let s = store.stats(Arc::clone(&c)).await.unwrap();
        // The panicked batch left nothing: only bob's participation and win are stored.
        assert_eq!((s.participations, s.winners), (1, 1));
    }
}
