//! PostgreSQL storage, for several server processes behind a load balancer.
//!
//! Participations are written in batches (group commit, like the SQLite writer): each
//! request queues its participation for this process's writer tasks
//! ([`PgOptions::writers`], each taking a pooled connection per batch); a writer takes what
//! is queued (at most [`PgOptions::max_batch`], no artificial wait) and applies it in queue
//! order in ONE READ COMMITTED transaction, then one COMMIT (one WAL flush); the answers are
//! sent only after that COMMIT returned. The batch is optimistic, without savepoints (each
//! costs round trips, and PostgreSQL's subtransactions degrade past 64 per transaction): if
//! any statement of it fails (a race lost to another process on the (campaign, sub, n)
//! uniqueness, a deadlock, any error), the whole transaction rolls
//! back, so nothing of the batch is recorded, and each participation is then applied alone
//! in its own transaction, with the retries below. Each step of the rules runs as ONE
//! statement for the whole batch, its arguments passed as arrays (`Tx::query_arrays`, the
//! batch forms in `statements.rs`), so a batch costs the same round trips whatever its size:
//! three, because its `BEGIN` and table lock travel with the first statement and its
//! `COMMIT` with the last (`in_transaction`, `Tx::commit_with_next`); one writer per
//! process is the default for that reason (fewer, larger batches).
//! A `participation_limit` refusal writes
//! nothing and does not fail the batch. The queue is bounded (4 × writers × batch): past it,
//! a request waits for room at most `database_acquire_timeout_seconds`, then is answered
//! 503 `database_unavailable`, as when no pooled connection frees up in time.
//!
//! Each transaction relies on row locks and constraints, never on its snapshot alone. Stock
//! is taken with a conditional `UPDATE … AND remaining > 0`: a concurrent updater waits for
//! the row lock and then re-checks `remaining` on the committed row, so the stock can never go
//! below zero (a `CHECK` constraint says so too); a batch takes the units it needs of a
//! prize in one such update, after locking the row and reading its latest stock. A winning
//! moment is claimed with
//! `FOR UPDATE SKIP LOCKED` and `participation_id IS NULL`, so two transactions never claim
//! the same moment. The unique constraint on (campaign, sub, n) decides replays and
//! participation limits across processes: the loser of such a race rolls back (returning any
//! stock it took) and retries, and then sees the winner's row. Participations and erasures
//! exclude each other with table locks (`Begin::Participations`).
//!
//! What is PostgreSQL's own here: the pool, the writers and their batches, the retries, the
//! advisory lock that serialises migrations between processes starting together, the
//! snapshot of the counters, and the conversion of the rules' `i64` to the width of each
//! column.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{ClientWrapper, Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio::sync::{mpsc, Mutex};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::NoTls;

use super::pg_tls::{self, PgOptions};
use super::queue::{self, Job};
use super::tx::{args, Cell, Row, Tx, Value};
use super::{rules, statements};
use super::{
    AddStock, AuditEntry, BoxFut, DisqualifyRequest, DrawError, DrawOutcome, DrawRequest, Erasure,
    FairnessView, NewParticipation, ParticipateError, Participation, PrizeStock, Stats, Store,
    StoreError, TimePoint, WinnerKey, WinnersPage,
};
use crate::config::Campaign;

/// Attempts of one allocation when it loses a uniqueness race or a deadlock.
const MAX_ATTEMPTS: u32 = 20;

/// Key of the advisory lock that serialises migrations between processes starting together.
const MIGRATION_LOCK: i64 = 0x6361_6d70_746b_6e01;

/// The PostgreSQL store.
#[derive(Clone)]
pub struct PgStore {
    db: Db,
    /// The queue of this process's writer tasks.
    writer: mpsc::Sender<Job>,
    /// How long a participation waits for room in a full queue before it is refused.
    queue_wait: Duration,
}

/// The pool, as every transaction of this process uses it (the writers included).
#[derive(Clone)]
struct Db {
    pool: Pool,
    /// Client side: a transaction (or ping) not finished within this is abandoned and its
    /// connection closed, so a database that stops answering without closing the socket
    /// (where `statement_timeout` cannot help) is a quick error, not a stalled request.
    deadline: Duration,
    /// Batches whose transaction failed and whose participations were applied one by one.
    redone: Arc<AtomicU64>,
    /// Participations the writers of this process have applied (see [`ANALYZE_AFTER`]).
    written: Arc<AtomicU64>,
    /// Whether this process has yet to run its `ANALYZE` (see [`ANALYZE_AFTER`]).
    analyze_due: Arc<AtomicBool>,
}

/// After this many participations written by a process, it runs `ANALYZE participations`
/// once. Each connection keeps a prepared statement's generic plan, made at its sixth
/// execution; on a fresh database whose tables were empty and never analysed, that plan took
/// an index on the campaign alone for the replay lookup and the sub's count, so every lookup
/// read all of the campaign's participations (the load bench on a fresh database: 1.3–1.5k
/// participations/s, 0.7–0.9 ms of PostgreSQL CPU each, instead of 5.5k/s and ~0.1 ms).
/// An `ANALYZE` invalidates the plans that depend on the table on every connection, and the
/// new ones use its statistics; autovacuum would do the same, but only a minute or more
/// later. (`plan_cache_mode = force_custom_plan` also avoids it, at ~85 µs of PostgreSQL CPU
/// per participation for planning every statement every time.)
const ANALYZE_AFTER: u64 = 200;

/// A participation of a batch: what the rules need.
type Item = (Arc<Campaign>, NewParticipation);

fn db(e: tokio_postgres::Error) -> StoreError {
    let unavailable = unreachable(&e);
    let err = StoreError::caused("postgres", e);
    if unavailable {
        err.unavailable()
    } else {
        err
    }
}

/// Whether `e` says the database could not be reached or did not answer in time (the
/// connection closed or failed, the server shutting down or refusing connections, a
/// statement cancelled by `statement_timeout`), rather than a failed statement.
fn unreachable(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        Some(c) => {
            c.code().starts_with("08") // connection exception
                || *c == SqlState::ADMIN_SHUTDOWN
                || *c == SqlState::CRASH_SHUTDOWN
                || *c == SqlState::CANNOT_CONNECT_NOW
                || *c == SqlState::TOO_MANY_CONNECTIONS
                || *c == SqlState::QUERY_CANCELED
        }
        None => std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>()),
    }
}

/// No connection could be had from the pool (none free in time, or a new one failed): the
/// database is unavailable to this request.
fn pool_err(e: deadpool_postgres::PoolError) -> StoreError {
    StoreError::caused("postgres pool", e).unavailable()
}

/// Whether retrying the transaction may succeed: it lost a uniqueness race (and will now see
/// the winner's row), a serialization check or a deadlock.
fn retryable(e: &StoreError) -> bool {
    let code = std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<tokio_postgres::Error>())
        .and_then(tokio_postgres::Error::code);
    matches!(
        code,
        Some(c) if *c == SqlState::UNIQUE_VIOLATION
            || *c == SqlState::T_R_SERIALIZATION_FAILURE
            || *c == SqlState::T_R_DEADLOCK_DETECTED
    )
}

impl PgStore {
    /// A pool of connections to `url` (opened lazily) with `options` (TLS, timeouts).
    pub fn connect(url: &str, options: &PgOptions) -> Result<PgStore, StoreError> {
        let mut cfg: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::caused("postgres: invalid URL", e))?;
        cfg.connect_timeout(options.connect_timeout);
        // Server side: no statement runs longer, whatever happens to this process.
        cfg.options(format!(
            "-c statement_timeout={}",
            options.statement_timeout.as_millis()
        ));
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let mgr = match pg_tls::connector(&options.tls)? {
            None => Manager::from_config(cfg, NoTls, manager_config),
            Some(tls) => Manager::from_config(cfg, tls, manager_config),
        };
        let pool = Pool::builder(mgr)
            .max_size(options.max_connections)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(options.acquire_timeout))
            .create_timeout(Some(options.connect_timeout))
            .recycle_timeout(Some(options.connect_timeout))
            .build()
            .map_err(|e| StoreError::caused("postgres pool", e))?;
        let db = Db {
            pool,
            deadline: options.statement_timeout + options.connect_timeout,
            redone: Arc::new(AtomicU64::new(0)),
            written: Arc::new(AtomicU64::new(0)),
            analyze_due: Arc::new(AtomicBool::new(true)),
        };
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| StoreError::caused("postgres: the writers need a tokio runtime", e))?;
        let writers = options.writers.max(1);
        let max_batch = options.max_batch.max(1);
        let (writer, queue) = mpsc::channel(4 * writers * max_batch);
        let queue = Arc::new(Mutex::new(queue));
        for _ in 0..writers {
            runtime.spawn(write_loop(db.clone(), Arc::clone(&queue), max_batch));
        }
        Ok(PgStore {
            db,
            writer,
            queue_wait: options.acquire_timeout,
        })
    }

    /// How many batches failed as a whole (a race lost to another process, a deadlock, an
    /// error) and had their participations applied one by one since this store opened.
    pub fn batches_redone(&self) -> u64 {
        self.db.redone.load(Ordering::Relaxed)
    }

    async fn run<R, E: From<StoreError>>(
        &self,
        begin: Begin,
        f: impl AsyncFnOnce(&mut PgTx<'_>) -> Result<R, E>,
    ) -> Result<R, E> {
        self.db.run(begin, f).await
    }
}

impl Db {
    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(pool_err)
    }

    /// Runs `f` with a pooled connection within the deadline; past it the connection is taken
    /// out of the pool and closed (PostgreSQL rolls back whatever it was doing).
    async fn with_client<R, E: From<StoreError>>(
        &self,
        f: impl AsyncFnOnce(&mut deadpool_postgres::Object) -> Result<R, E>,
    ) -> Result<R, E> {
        let mut client = self.client().await?;
        match tokio::time::timeout(self.deadline, f(&mut client)).await {
            Ok(answer) => answer,
            Err(_) => {
                drop(deadpool_postgres::Object::take(client));
                Err(
                    StoreError::new(format!("postgres: no answer within {:?}", self.deadline))
                        .unavailable()
                        .into(),
                )
            }
        }
    }

    /// Runs `f` in one transaction on a connection of the pool.
    async fn run<R, E: From<StoreError>>(
        &self,
        begin: Begin,
        f: impl AsyncFnOnce(&mut PgTx<'_>) -> Result<R, E>,
    ) -> Result<R, E> {
        self.with_client(async |client| in_transaction(client, begin, f).await)
            .await
    }

    /// Applies a batch (see the module docs) and answers each of its participations, in
    /// order. Every answer is final: sent after the COMMIT that recorded it, or an error for
    /// a participation that is not recorded.
    async fn commit_batch(&self, items: &[Item]) -> Vec<Result<Participation, ParticipateError>> {
        let answers = self
            .with_client(async |client| {
                if let [(campaign, p)] = items {
                    // A batch of one is a participation alone: no transaction to redo.
                    return Ok(vec![participate_alone(client, campaign, p).await]);
                }
                let batch: Vec<rules::Item<'_>> = items.iter().map(|(c, p)| (&**c, p)).collect();
                let optimistic = in_transaction(client, Begin::Participations, async |tx| {
                    rules::participate_batch(tx, &batch).await
                })
                .await;
                match optimistic {
                    Ok(answers) => Ok(answers),
                    Err(e) => {
                        // Rolled back: nothing of the batch is recorded. Each alone, in order.
                        self.redone.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(
                            batch = items.len(),
                            error = %e,
                            "postgres: batch rolled back; applying each participation alone"
                        );
                        let mut answers = Vec::with_capacity(items.len());
                        for (campaign, p) in items {
                            answers.push(participate_alone(client, campaign, p).await);
                        }
                        Ok::<_, StoreError>(answers)
                    }
                }
            })
            .await;
        answers.unwrap_or_else(|e| {
            items
                .iter()
                .map(|_| Err(ParticipateError::Store(e.clone())))
                .collect()
        })
    }
}

/// A writer task: takes whatever is queued (at most `max_batch`), applies it as one batch,
/// then answers. Ends when every handle of the store is dropped.
async fn write_loop(pool: Db, queue: Arc<Mutex<mpsc::Receiver<Job>>>, max_batch: usize) {
    loop {
        let batch = {
            // One writer gathers at a time; the others apply their batches meanwhile.
            let mut queue = queue.lock().await;
            let Some(first) = queue.recv().await else {
                return;
            };
            let mut batch = vec![first];
            while batch.len() < max_batch {
                match queue.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            batch
        };
        let (items, replies): (Vec<Item>, Vec<_>) = batch
            .into_iter()
            .map(|job| ((job.campaign, job.p), job.reply))
            .unzip();
        let n = items.len();
        let batch_db = pool.clone();
        // A task of its own, so that a panic (a bug) fails this batch only: its transaction
        // is dropped, so rolled back, and the writer goes on with the next batch.
        let answers = tokio::spawn(async move { batch_db.commit_batch(&items).await })
            .await
            .unwrap_or_else(|e| {
                tracing::error!(batch = n, error = %e, "postgres: a writer's batch panicked");
                let e = StoreError::new(
                    "postgres: internal error; this participation may not be recorded",
                );
                (0..n)
                    .map(|_| Err(ParticipateError::Store(e.clone())))
                    .collect()
            });
        for (reply, answer) in replies.into_iter().zip(answers) {
            // The requester may have gone away; its participation stands.
            let _ = reply.send(answer);
        }
        let written = pool.written.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
        if written >= ANALYZE_AFTER && pool.analyze_due.swap(false, Ordering::Relaxed) {
            let analyzed = pool
                .with_client(async |client| {
                    client
                        .batch_execute("ANALYZE participations")
                        .await
                        .map_err(db)
                })
                .await;
            if let Err(e) = analyzed {
                // Again after the next batch.
                pool.analyze_due.store(true, Ordering::Relaxed);
                tracing::warn!(error = %e, "postgres: ANALYZE participations failed");
            }
        }
    }
}

/// One participation in its own transaction, retried while it loses a uniqueness race, a
/// serialization check or a deadlock (it then sees the winner's row).
async fn participate_alone(
    client: &mut ClientWrapper,
    campaign: &Campaign,
    p: &NewParticipation,
) -> Result<Participation, ParticipateError> {
    let mut last = StoreError::new("no attempt");
    for _ in 0..MAX_ATTEMPTS {
        let e = match in_transaction(client, Begin::Participations, async |tx| {
            rules::participate(tx, campaign, p).await
        })
        .await
        {
            Err(ParticipateError::Store(e)) if retryable(&e) => e,
            answer => return answer,
        };
        last = e;
    }
    Err(last.into())
}

/// How a transaction begins.
#[derive(Clone, Copy)]
enum Begin {
    /// READ COMMITTED: allocations and the draw rely on row locks and conditional updates,
    /// which see the latest committed rows.
    ReadCommitted,
    /// READ COMMITTED for recording participations: first the table's `ROW EXCLUSIVE` lock
    /// (the one an INSERT takes anyway), before the replay lookup reads its snapshot, so that
    /// an erasure (`SHARE ROW EXCLUSIVE`, see `erase`) never commits between a
    /// participation's lookup and its commit (`statements::TOKEN_AND_COUNT` says why that
    /// matters).
    Participations,
    /// One read-only REPEATABLE READ snapshot, so that counters agree with each other.
    Snapshot,
}

/// Runs `f` in one transaction; commits if it succeeds, rolls back (returning any stock it
/// took) if not.
///
/// The transaction is begun by hand, so that its `BEGIN` (and, for participations, the table
/// lock) travels with its first statement in one round trip ([`PgTx::begin`]) instead of
/// costing round trips of its own (tokio-postgres's `Transaction` awaits its `BEGIN`). Every
/// way out ends it: the `COMMIT` on success; an awaited `ROLLBACK` on an error; and, if the
/// future is dropped half-way (a panic, the deadline), [`PgTx`]'s `Drop` queues a `ROLLBACK`
/// ahead of anything the connection runs next, as tokio-postgres's `Transaction` does. So a
/// connection never goes back to the pool inside a transaction.
async fn in_transaction<R, E: From<StoreError>>(
    client: &mut ClientWrapper,
    begin: Begin,
    f: impl AsyncFnOnce(&mut PgTx<'_>) -> Result<R, E>,
) -> Result<R, E> {
    let mut tx = PgTx {
        client,
        begin: Some(match begin {
            Begin::ReadCommitted => "BEGIN ISOLATION LEVEL READ COMMITTED",
            Begin::Participations => {
                "BEGIN ISOLATION LEVEL READ COMMITTED; LOCK TABLE participations IN ROW EXCLUSIVE MODE"
            }
            Begin::Snapshot => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        }),
        open: false,
        commit_next: false,
        ended: false,
        committed: false,
    };
    match f(&mut tx).await {
        Ok(out) => {
            tx.commit().await?;
            Ok(out)
        }
        Err(e) => {
            if tx.committed {
                // The rules failed after their last statement committed (a bug: nothing
                // fallible follows it); what it wrote stands.
                tracing::error!("postgres: the rules failed after their transaction committed");
            }
            tx.rollback().await;
            Err(e)
        }
    }
}

impl Store for PgStore {
    fn prepare<'a>(&'a self, campaigns: &'a [Arc<Campaign>]) -> BoxFut<'a, Result<(), StoreError>> {
        Box::pin(self.run(Begin::ReadCommitted, async move |tx| {
            // Processes starting together migrate one after the other.
            tx.execute("SELECT pg_advisory_xact_lock($1)", args![MIGRATION_LOCK])
                .await?;
            rules::prepare(tx, campaigns).await
        }))
    }

    fn participate<'a>(
        &'a self,
        campaign: Arc<Campaign>,
        p: NewParticipation,
    ) -> BoxFut<'a, Result<Participation, ParticipateError>> {
        Box::pin(queue::through_writer(
            &self.writer,
            self.queue_wait,
            "postgres",
            campaign,
            p,
        ))
    }

    fn queue_depth(&self) -> usize {
        self.writer.max_capacity() - self.writer.capacity()
    }

    fn replay<'a>(
        &'a self,
        campaign: Arc<Campaign>,
        token_hash: String,
        legacy_hash: String,
        sub: String,
    ) -> BoxFut<'a, Result<Option<Participation>, StoreError>> {
        Box::pin(self.run(Begin::Snapshot, async move |tx| {
            rules::replay(tx, &campaign.id, &token_hash, &legacy_hash, &sub).await
        }))
    }

    fn stats<'a>(&'a self, campaign: Arc<Campaign>) -> BoxFut<'a, Result<Stats, StoreError>> {
        Box::pin(self.run(Begin::Snapshot, async move |tx| {
            rules::stats(tx, &campaign.id).await
        }))
    }

    fn draw<'a>(
        &'a self,
        campaign: Arc<Campaign>,
        request: DrawRequest,
    ) -> BoxFut<'a, Result<DrawOutcome, DrawError>> {
        Box::pin(self.run(Begin::ReadCommitted, async move |tx| {
            rules::draw(tx, &campaign, &request).await
        }))
    }

    fn disqualify<'a>(
        &'a self,
        campaign: Arc<Campaign>,
        request: DisqualifyRequest,
    ) -> BoxFut<'a, Result<DrawOutcome, DrawError>> {
        Box::pin(self.run(Begin::ReadCommitted, async move |tx| {
            rules::disqualify(tx, &campaign, &request).await
        }))
    }

    fn fairness<'a>(
        &'a self,
        campaign: Arc<Campaign>,
        now: i64,
    ) -> BoxFut<'a, Result<FairnessView, StoreError>> {
        Box::pin(self.run(Begin::Snapshot, async move |tx| {
            rules::fairness(tx, &campaign, now).await
        }))
    }

    fn audit<'a>(
        &'a self,
        campaign: Arc<Campaign>,
    ) -> BoxFut<'a, Result<Vec<AuditEntry>, StoreError>> {
        Box::pin(self.run(Begin::Snapshot, async move |tx| {
            rules::audit(tx, &campaign.id).await
        }))
    }

    fn timeseries<'a>(
        &'a self,
        campaign: Arc<Campaign>,
        width: i64,
    ) -> BoxFut<'a, Result<Vec<TimePoint>, StoreError>> {
        Box::pin(self.run(Begin::Snapshot, async move |tx| {
            rules::timeseries(tx, &campaign.id, width).await
        }))
    }

    fn winners_page<'a>(
        &'a self,
        campaign: Arc<Campaign>,
        after: Option<WinnerKey>,
        limit: i64,
    ) -> BoxFut<'a, Result<WinnersPage, StoreError>> {
        Box::pin(self.run(Begin::Snapshot, async move |tx| {
            rules::winners_page(tx, &campaign.id, after.clone(), limit).await
        }))
    }

    fn add_stock<'a>(
        &'a self,
        campaign: Arc<Campaign>,
        request: AddStock,
    ) -> BoxFut<'a, Result<Option<PrizeStock>, StoreError>> {
        Box::pin(self.run(Begin::ReadCommitted, async move |tx| {
            rules::add_stock(tx, &campaign.id, &request).await
        }))
    }

    fn erase<'a>(
        &'a self,
        campaign: Arc<Campaign>,
        request: Erasure,
    ) -> BoxFut<'a, Result<i64, StoreError>> {
        Box::pin(self.run(Begin::ReadCommitted, async move |tx| {
            // Waits for the participations being recorded and holds new ones back until this
            // commits: none of them may have looked its token up before the rename and
            // commit after it (`Begin::Participations`). Self-exclusive, so that two erasures
            // queue instead of deadlocking on the way to their row updates.
            tx.batch("LOCK TABLE participations IN SHARE ROW EXCLUSIVE MODE")
                .await?;
            rules::erase(tx, &campaign.id, &request).await
        }))
    }

    fn purge_answers<'a>(
        &'a self,
        campaign: Arc<Campaign>,
        now: i64,
        days: u32,
    ) -> BoxFut<'a, Result<i64, StoreError>> {
        Box::pin(self.run(Begin::ReadCommitted, async move |tx| {
            rules::purge_answers(tx, &campaign, now, days).await
        }))
    }

    fn ping(&self) -> BoxFut<'_, Result<(), StoreError>> {
        Box::pin(async move {
            self.db
                .with_client(async |client| {
                    client.execute(statements::PING, &[]).await.map_err(db)?;
                    Ok::<(), StoreError>(())
                })
                .await
        })
    }
}

/// A PostgreSQL transaction as the rules' [`Tx`]. Statements are prepared once per
/// connection (deadpool's statement cache), which also tells each parameter's type.
struct PgTx<'c> {
    client: &'c ClientWrapper,
    /// The `BEGIN` (with the participations' table lock, [`Begin::Participations`]) not sent
    /// yet: it goes with the first statement, pipelined (one round trip), ahead of it on the
    /// connection. PostgreSQL runs a connection's messages in order, so the statement (and
    /// its snapshot) starts only once the transaction has begun and the lock is granted,
    /// exactly as if each had been awaited on its own. If the `BEGIN` or the lock fails, the
    /// statement fails too (aborted transaction, or none); the error answered is theirs.
    begin: Option<&'static str>,
    /// Whether the `BEGIN` was sent and neither `COMMIT` nor `ROLLBACK` yet.
    open: bool,
    /// The next statement is the last: its `COMMIT` goes with it ([`Tx::commit_with_next`]).
    commit_next: bool,
    /// The `COMMIT` was sent with the last statement: no statement may follow.
    ended: bool,
    /// That statement succeeded and its `COMMIT` answered: the transaction is committed.
    committed: bool,
}

impl PgTx<'_> {
    /// What to send with the next statement: the `BEGIN`, if not sent yet (then the
    /// transaction is open: from here on, every way out must end it), and whether the
    /// `COMMIT` follows it (then the transaction ends with it, committed if the statement
    /// succeeded, rolled back by PostgreSQL if not). An error after the last statement.
    fn next_statement(&mut self) -> Result<(Option<&'static str>, bool), StoreError> {
        if self.ended {
            return Err(StoreError::new(
                "postgres: a statement after the transaction's last (committed with it)",
            ));
        }
        let begin = self.begin.take();
        self.open |= begin.is_some();
        let commit = std::mem::take(&mut self.commit_next) && self.open;
        if commit {
            self.open = false;
            self.ended = true;
        }
        Ok((begin, commit))
    }

    /// Commits; the answers go out only after this returned. A transaction that ran no
    /// statement was never begun: nothing to send.
    async fn commit(&mut self) -> Result<(), StoreError> {
        if !self.open {
            // Never begun, or committed with its last statement (`ended`).
            return Ok(());
        }
        // A COMMIT ends the transaction however it goes (on a failed transaction PostgreSQL
        // rolls back); if its answer is lost, the connection is gone with it.
        self.open = false;
        self.client.batch_execute("COMMIT").await.map_err(db)
    }

    /// Rolls back, awaited. If the `ROLLBACK` could not be sent or answered, the transaction
    /// stays marked open, so that `Drop` queues another ahead of the connection's next use
    /// (a broken connection is discarded by the pool's recycling check).
    async fn rollback(&mut self) {
        if !self.open {
            return;
        }
        match self.client.batch_execute("ROLLBACK").await {
            Ok(()) => self.open = false,
            Err(e) => tracing::warn!(error = %e, "postgres: ROLLBACK failed"),
        }
    }
}

impl Drop for PgTx<'_> {
    /// Dropped with the transaction open (a panic, a future dropped at the deadline): queues
    /// a `ROLLBACK` without waiting for it. Polling the request once sends it (tokio-postgres
    /// sends a request when its future is first polled, and runs a connection's requests in
    /// that order), so it runs before whatever the connection is used for next; its answer
    /// is discarded. This is what tokio-postgres's own `Transaction` does when dropped.
    fn drop(&mut self) {
        if self.open {
            let rollback = self.client.batch_execute("ROLLBACK");
            let _ = futures_util::FutureExt::now_or_never(rollback);
        }
    }
}

/// An argument converted to the type PostgreSQL declared for its parameter: the rules speak
/// `i64`, and an `INTEGER` column takes an `i32` only if the value fits (an error, never a
/// truncation, if it does not).
fn bind<'a>(types: &[Type], args: &'a [Value<'a>]) -> Result<Bound<'a>, StoreError> {
    if types.len() != args.len() {
        return Err(StoreError::new(format!(
            "postgres: the statement takes {} arguments, {} given",
            types.len(),
            args.len()
        )));
    }
    let narrow = |v: i64, i: usize| {
        i32::try_from(v).map_err(|_| {
            StoreError::new(format!(
                "postgres: {v} does not fit the INTEGER parameter ${}",
                i + 1
            ))
        })
    };
    let mut out: Bound<'a> = Vec::with_capacity(args.len());
    for (i, (ty, arg)) in types.iter().zip(args).enumerate() {
        out.push(match (ty, *arg) {
            (&Type::INT8, Value::Int(v)) => Box::new(v),
            (&Type::INT8, Value::Null) => Box::new(None::<i64>),
            (&Type::INT4, Value::Int(v)) => Box::new(narrow(v, i)?),
            (&Type::INT4, Value::Null) => Box::new(None::<i32>),
            (&Type::TEXT | &Type::VARCHAR, Value::Text(s)) => Box::new(s),
            (&Type::TEXT | &Type::VARCHAR, Value::Null) => Box::new(None::<&str>),
            (ty, arg) => {
                return Err(StoreError::new(format!(
                    "postgres: cannot pass {arg:?} as parameter ${} of type {ty}",
                    i + 1
                )))
            }
        });
    }
    Ok(out)
}

/// The argument lists of a batch as array arguments, for [`Tx::query_arrays`]: parameter
/// `$k` (declared `text[]`, `bigint[]` or `integer[]`) gets the `k`-th argument of every
/// list, in order, each converted as [`bind`] converts it (an `INTEGER` only if it fits).
fn bind_arrays<'a>(types: &[Type], lists: &'a [Vec<Value<'a>>]) -> Result<Bound<'a>, StoreError> {
    if let Some(list) = lists.iter().find(|l| l.len() != types.len()) {
        return Err(StoreError::new(format!(
            "postgres: the statement takes {} arrays, a list has {} arguments",
            types.len(),
            list.len()
        )));
    }
    let column = |k: usize| lists.iter().filter_map(move |l| l.get(k).copied());
    let wrong = |k: usize, ty: &Type, arg: Value<'_>| {
        StoreError::new(format!(
            "postgres: cannot pass {arg:?} in the array parameter ${} of type {ty}",
            k + 1
        ))
    };
    let mut out: Bound<'a> = Vec::with_capacity(types.len());
    for (k, ty) in types.iter().enumerate() {
        out.push(match *ty {
            Type::TEXT_ARRAY | Type::VARCHAR_ARRAY => Box::new(
                column(k)
                    .map(|v| match v {
                        Value::Text(s) => Ok(Some(s)),
                        Value::Null => Ok(None),
                        v => Err(wrong(k, ty, v)),
                    })
                    .collect::<Result<Vec<Option<&'a str>>, _>>()?,
            ),
            Type::INT8_ARRAY => Box::new(
                column(k)
                    .map(|v| match v {
                        Value::Int(i) => Ok(Some(i)),
                        Value::Null => Ok(None),
                        v => Err(wrong(k, ty, v)),
                    })
                    .collect::<Result<Vec<Option<i64>>, _>>()?,
            ),
            Type::INT4_ARRAY => Box::new(
                column(k)
                    .map(|v| match v {
                        Value::Int(i) => i32::try_from(i).map(Some).map_err(|_| {
                            StoreError::new(format!(
                                "postgres: {i} does not fit the integer[] parameter ${}",
                                k + 1
                            ))
                        }),
                        Value::Null => Ok(None),
                        v => Err(wrong(k, ty, v)),
                    })
                    .collect::<Result<Vec<Option<i32>>, _>>()?,
            ),
            ref ty => {
                return Err(StoreError::new(format!(
                    "postgres: parameter ${} of an array statement is {ty}, not an array",
                    k + 1
                )))
            }
        });
    }
    Ok(out)
}

/// A result row, every integer widened to `i64`.
fn row(r: &tokio_postgres::Row) -> Result<Row, StoreError> {
    let mut cells = Vec::with_capacity(r.len());
    for (i, col) in r.columns().iter().enumerate() {
        let cell = match *col.type_() {
            Type::INT8 => r.try_get::<_, Option<i64>>(i).map_err(db)?.map(Cell::Int),
            Type::INT4 => r
                .try_get::<_, Option<i32>>(i)
                .map_err(db)?
                .map(|v| Cell::Int(v.into())),
            Type::TEXT | Type::VARCHAR => r
                .try_get::<_, Option<String>>(i)
                .map_err(db)?
                .map(Cell::Text),
            ref ty => {
                return Err(StoreError::new(format!(
                    "postgres: unexpected column type {ty} for `{}`",
                    col.name()
                )))
            }
        };
        cells.push(cell.unwrap_or(Cell::Null));
    }
    Ok(Row(cells))
}

/// The arguments of one statement, converted for PostgreSQL ([`bind`]).
type Bound<'a> = Vec<Box<dyn ToSql + Sync + Send + 'a>>;

impl PgTx<'_> {
    /// `sql` prepared (cached) and each argument list of a pipelined step bound to it.
    async fn prepare_each<'a>(
        &self,
        sql: &str,
        args: &'a [Vec<Value<'a>>],
    ) -> Result<(tokio_postgres::Statement, Vec<Bound<'a>>), StoreError> {
        let stmt = self.client.prepare_cached(sql).await.map_err(db)?;
        let bound = args
            .iter()
            .map(|a| bind(stmt.params(), a))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((stmt, bound))
    }

    /// Runs `statement` (a request on `self.client`, not yet polled) with what goes with
    /// it ([`PgTx::next_statement`], [`pipelined`]).
    async fn send<T>(
        &mut self,
        statement: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, StoreError> {
        let (begin, commit) = self.next_statement()?;
        let out = pipelined(self.client, begin, commit, statement).await?;
        self.committed |= commit;
        Ok(out)
    }

    /// Runs `sql` with `args` bound to the types PostgreSQL declared for them.
    async fn rows(
        &mut self,
        sql: &str,
        args: &[Value<'_>],
    ) -> Result<Vec<tokio_postgres::Row>, StoreError> {
        let stmt = self.client.prepare_cached(sql).await.map_err(db)?;
        let args = bind(stmt.params(), args)?;
        let refs: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| &**a as _).collect();
        let client = self.client;
        self.send(client.query(&stmt, &refs)).await
    }
}

/// Runs `statement` between `begin` (a pending [`PgTx::begin`]) and, if `commit`, the
/// `COMMIT`, all sent in one round trip, in that order; answers once all have answered, the
/// `BEGIN`'s error first, then the statement's, then the `COMMIT`'s. If the statement
/// fails, the transaction is aborted and PostgreSQL answers its `COMMIT` with a rollback:
/// nothing is committed.
async fn pipelined<T>(
    client: &ClientWrapper,
    begin: Option<&'static str>,
    commit: bool,
    statement: impl Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, StoreError> {
    if begin.is_none() && !commit {
        return statement.await.map_err(db);
    }
    // `join3` polls them in this order, so their messages are queued on the connection in
    // this order (tokio-postgres sends a request when its future is first polled, and runs
    // requests in that order). "BEGIN …; LOCK …" is one simple-query message: one
    // transaction block, which stays open after it.
    let begin = async {
        match begin {
            Some(sql) => client.batch_execute(sql).await,
            None => Ok(()),
        }
    };
    let end = async {
        if commit {
            client.batch_execute("COMMIT").await
        } else {
            Ok(())
        }
    };
    let (begun, out, committed) = futures_util::future::join3(begin, statement, end).await;
    begun.map_err(db)?;
    let out = out.map_err(db)?;
    committed.map_err(db)?;
    Ok(out)
}

impl Tx for PgTx<'_> {
    async fn execute(&mut self, sql: &'static str, args: &[Value<'_>]) -> Result<u64, StoreError> {
        let stmt = self.client.prepare_cached(sql).await.map_err(db)?;
        let args = bind(stmt.params(), args)?;
        let refs: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| &**a as _).collect();
        let client = self.client;
        self.send(client.execute(&stmt, &refs)).await
    }

    async fn query(
        &mut self,
        sql: &'static str,
        args: &[Value<'_>],
    ) -> Result<Vec<Row>, StoreError> {
        self.rows(sql, args).await?.iter().map(row).collect()
    }

    async fn batch(&mut self, sql: &'static str) -> Result<(), StoreError> {
        let client = self.client;
        self.send(client.batch_execute(sql)).await
    }

    async fn query_many(
        &mut self,
        sql: &'static str,
        args: &[Vec<Value<'_>>],
    ) -> Result<Vec<Vec<Row>>, StoreError> {
        if args.is_empty() {
            return Ok(Vec::new());
        }
        let (stmt, bound) = self.prepare_each(sql, args).await?;
        let refs: Vec<Vec<&(dyn ToSql + Sync)>> = bound
            .iter()
            .map(|b| b.iter().map(|a| &**a as _).collect())
            .collect();
        // Polled together, the queries are sent together (tokio-postgres pipelines them on
        // the connection) and run in this order; their answers come back in the same order.
        let client = self.client;
        let answers = self
            .send(futures_util::future::try_join_all(
                refs.iter().map(|r| client.query(&stmt, r)),
            ))
            .await?;
        answers
            .iter()
            .map(|rows| rows.iter().map(row).collect())
            .collect()
    }

    fn commit_with_next(&mut self) {
        self.commit_next = true;
    }

    fn has_arrays(&self) -> bool {
        true
    }

    async fn query_arrays(
        &mut self,
        sql: &'static str,
        args: &[Vec<Value<'_>>],
    ) -> Result<Vec<Row>, StoreError> {
        let stmt = self.client.prepare_cached(sql).await.map_err(db)?;
        let arrays = bind_arrays(stmt.params(), args)?;
        let refs: Vec<&(dyn ToSql + Sync)> = arrays.iter().map(|a| &**a as _).collect();
        let client = self.client;
        let rows = self.send(client.query(&stmt, &refs)).await?;
        rows.iter().map(row).collect()
    }

    async fn execute_many(
        &mut self,
        sql: &'static str,
        args: &[Vec<Value<'_>>],
    ) -> Result<Vec<u64>, StoreError> {
        if args.is_empty() {
            return Ok(Vec::new());
        }
        let (stmt, bound) = self.prepare_each(sql, args).await?;
        let refs: Vec<Vec<&(dyn ToSql + Sync)>> = bound
            .iter()
            .map(|b| b.iter().map(|a| &**a as _).collect())
            .collect();
        let client = self.client;
        self.send(futures_util::future::try_join_all(
            refs.iter().map(|r| client.execute(&stmt, r)),
        ))
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store whose pool has ONE connection, on the cluster of `CAMPAIGN_TOKEN_TEST_PG`
    /// (`None`: skipped, unless `CAMPAIGN_TOKEN_REQUIRE_PG=1`). No tables are needed.
    fn one_connection() -> Option<PgStore> {
        let url = match std::env::var("CAMPAIGN_TOKEN_TEST_PG") {
            Ok(url) if !url.is_empty() => url,
            _ => {
                assert_ne!(
                    std::env::var("CAMPAIGN_TOKEN_REQUIRE_PG").as_deref(),
                    Ok("1"),
                    "CAMPAIGN_TOKEN_REQUIRE_PG=1 but CAMPAIGN_TOKEN_TEST_PG is not set"
                );
                return None;
            }
        };
        let options = PgOptions {
            max_connections: 1,
            ..PgOptions::default()
        };
        Some(PgStore::connect(&url, &options).unwrap())
    }

    /// Whether the pool's connection is inside a transaction block: `SAVEPOINT` is refused
    /// outside one (25P01), and accepted (then rolled back here) inside one.
    async fn in_a_transaction(store: &PgStore) -> bool {
        store
            .db
            .with_client(async |client| {
                let answer = client.batch_execute("SAVEPOINT probe").await;
                if answer.is_ok() {
                    client.batch_execute("ROLLBACK").await.map_err(db)?;
                    return Ok::<_, StoreError>(true);
                }
                let code = answer.err().and_then(|e| e.code().cloned());
                assert_eq!(code, Some(SqlState::NO_ACTIVE_SQL_TRANSACTION));
                Ok(false)
            })
            .await
            .unwrap()
    }

    const INSERT: &str = "INSERT INTO probe_rows VALUES (1)";

    /// An empty temporary table `probe_rows` on the pool's connection, and one named
    /// `participations` for [`Begin::Participations`] to lock.
    async fn reset_rows(store: &PgStore) {
        store
            .db
            .with_client(async |client| {
                client
                    .batch_execute(
                        "CREATE TEMP TABLE IF NOT EXISTS probe_rows (x integer);
                         CREATE TEMP TABLE IF NOT EXISTS participations (x integer);
                         DELETE FROM probe_rows",
                    )
                    .await
                    .map_err(db)
            })
            .await
            .unwrap();
    }

    /// The rows of `probe_rows`.
    async fn rows(store: &PgStore) -> i64 {
        store
            .db
            .with_client(async |client| {
                let row = client
                    .query_one("SELECT COUNT(*) FROM probe_rows", &[])
                    .await
                    .map_err(db)?;
                Ok::<i64, StoreError>(row.get(0))
            })
            .await
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_connection_never_goes_back_to_the_pool_inside_a_transaction() {
        let Some(store) = one_connection() else {
            return;
        };
        let probe = "SELECT pg_advisory_xact_lock(7)";
        reset_rows(&store).await;
        for begin in [Begin::Participations, Begin::ReadCommitted, Begin::Snapshot] {
            // Committed: the BEGIN went with the statement, the COMMIT ended it.
            let ok = store
                .db
                .run(begin, async |tx| tx.execute(probe, &[]).await)
                .await;
            assert_eq!(ok.map_err(|e| e.to_string()), Ok(1));
            assert!(!in_a_transaction(&store).await, "after a commit");
            // An error of the rules after a statement ran: rolled back, awaited.
            let failed: Result<(), StoreError> = store
                .db
                .run(begin, async |tx| {
                    tx.execute(probe, &[]).await?;
                    Err(StoreError::new("the rules refuse"))
                })
                .await;
            assert!(failed.is_err());
            assert!(
                !in_a_transaction(&store).await,
                "after an error of the rules"
            );
            // The first statement itself fails (sent with the BEGIN): rolled back.
            let failed = store
                .db
                .run(begin, async |tx| tx.batch("SELECT 1/0").await)
                .await;
            assert!(failed.is_err());
            assert!(!in_a_transaction(&store).await, "after a failed statement");
            // A panic half-way (a bug): the dropped transaction queues its ROLLBACK before the
            // connection goes back to the pool.
            let db = store.db.clone();
            let panicked = tokio::spawn(async move {
                db.run(begin, async |tx| {
                    tx.execute(probe, &[]).await?;
                    #[allow(clippy::panic)]
                    if tx.open {
                        panic!("a bug in the middle of a transaction");
                    }
                    Ok::<_, StoreError>(())
                })
                .await
            })
            .await;
            assert!(panicked.is_err_and(|e| e.is_panic()));
            assert!(!in_a_transaction(&store).await, "after a panic");
            // The COMMIT sent with the last statement: committed if it succeeds, nothing if it
            // fails, and the transaction over either way. (A temporary table: this session's,
            // writable in a read-only transaction too.)
            reset_rows(&store).await;
            let ok = store
                .db
                .run(begin, async |tx| {
                    tx.execute(INSERT, &[]).await?;
                    tx.commit_with_next();
                    tx.execute(INSERT, &[]).await
                })
                .await;
            assert_eq!(ok.map_err(|e| e.to_string()), Ok(1));
            assert!(
                !in_a_transaction(&store).await,
                "after a commit with the last"
            );
            assert_eq!(rows(&store).await, 2, "both committed");
            reset_rows(&store).await;
            let failed = store
                .db
                .run(begin, async |tx| {
                    tx.execute(INSERT, &[]).await?;
                    tx.commit_with_next();
                    tx.batch("SELECT 1/0").await
                })
                .await;
            assert!(failed.is_err());
            assert!(
                !in_a_transaction(&store).await,
                "after a failed last statement"
            );
            assert_eq!(
                rows(&store).await,
                0,
                "a failed last statement commits nothing"
            );
            // BEGIN, the only statement and COMMIT in one round trip; no statement after it.
            let after_last = store
                .db
                .run(begin, async |tx| {
                    tx.commit_with_next();
                    tx.execute(INSERT, &[]).await?;
                    tx.execute(INSERT, &[]).await
                })
                .await;
            assert!(after_last.is_err_and(|e| e.to_string().contains("after the transaction")));
            assert!(
                !in_a_transaction(&store).await,
                "after a statement after the last"
            );
            assert_eq!(rows(&store).await, 1, "the last statement's commit stands");
            // Nothing began: no round trip at all, and nothing left open.
            let nothing = store.db.run(begin, async |_| Ok::<_, StoreError>(())).await;
            assert!(nothing.is_ok());
            assert!(
                !in_a_transaction(&store).await,
                "after an empty transaction"
            );
        }
    }

    #[test]
    fn integers_are_narrowed_to_the_declared_column_width_with_a_check() {
        let fits = bind(
            &[Type::INT4, Type::INT8],
            &[Value::Int(7), Value::Int(1 << 40)],
        );
        assert!(fits.is_ok());
        let too_wide = bind(&[Type::INT4], &[Value::Int(1 << 40)]);
        assert!(too_wide.is_err(), "never truncated or saturated");
        let nulls = bind(
            &[Type::INT4, Type::INT8, Type::TEXT],
            &[Value::Null, Value::Null, Value::Null],
        );
        assert!(nulls.is_ok());
        assert!(bind(&[Type::INT8], &[Value::Text("x")]).is_err());
        assert!(bind(&[Type::INT8], &[]).is_err(), "argument count checked");
    }

    #[test]
    fn array_arguments_are_columns_of_the_lists_converted_with_the_same_checks() {
        let lists = vec![
            vec![Value::Text("a"), Value::Int(1), Value::Int(2)],
            vec![Value::Null, Value::Null, Value::Int(3)],
        ];
        let types = [Type::TEXT_ARRAY, Type::INT8_ARRAY, Type::INT4_ARRAY];
        assert_eq!(bind_arrays(&types, &lists).map(|b| b.len()).ok(), Some(3));
        let too_wide = vec![vec![Value::Int(1 << 40)]];
        assert!(bind_arrays(&[Type::INT4_ARRAY], &too_wide).is_err());
        let text_as_int = vec![vec![Value::Text("x")]];
        assert!(bind_arrays(&[Type::INT8_ARRAY], &text_as_int).is_err());
        let short = vec![vec![Value::Int(1)], vec![]];
        assert!(
            bind_arrays(&[Type::INT8_ARRAY], &short).is_err(),
            "every list complete"
        );
        assert!(
            bind_arrays(&[Type::INT8], &[vec![Value::Int(1)]]).is_err(),
            "arrays only"
        );
    }
}
