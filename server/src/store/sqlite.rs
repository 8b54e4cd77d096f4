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
//! memory, at most [`LOCK_WAIT`] (as long as for another process's write lock), then are
//! answered 503 `database_unavailable` with nothing recorded (a writer stuck on a disk that
//! does not answer). A panic while applying a batch (a bug) rolls that batch back, answers each of its
//! participations with an error, and the writer goes on with the next batch.
//!
//! The other calls (prepare, stats, winners, draw, ping) take a second connection of this
//! process (an async mutex) and run on tokio's blocking pool; the draw competes with the
//! writer for SQLite's write lock through `busy_timeout`, as a second process would.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::{mpsc, Mutex};

use super::queue::{self, Job};
use super::tx::{sqlite_text, Cell, Row, Tx, Value};
use super::{rules, statements};
use super::{
    AddStock, AuditEntry, BoxFut, DisqualifyRequest, DrawError, DrawOutcome, DrawRequest, Erasure,
    FairnessView, NewParticipation, ParticipateError, Participation, PrizeStock, Stats, Store,
    StoreError, TimePoint, WinnerKey, WinnersPage,
};
use crate::config::Campaign;

/// The SQLite store.
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    writer: mpsc::Sender<Job>,
    /// How long a participation waits for room in the writer's queue.
    queue_wait: Duration,
}

/// How long a connection waits for the write lock (`busy_timeout`) and a participation for
/// room in the writer's queue; past it, 503 `database_unavailable`.
pub const LOCK_WAIT: Duration = Duration::from_secs(10);

/// Most participations committed together.
pub const MAX_BATCH: usize = 256;

/// Most participations waiting for the writer; more wait for room.
pub const QUEUE_CAPACITY: usize = 4 * MAX_BATCH;

/// What the writer does with a batch (the real one is [`commit_batch`]; tests inject others).
type ApplyBatch = fn(&mut Connection, &[Job]) -> Vec<Result<Participation, ParticipateError>>;

fn db(e: rusqlite::Error) -> StoreError {
    // The write lock not had within `busy_timeout` (another process holds it): unavailable
    // for now, not a failed rule.
    let busy = matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    );
    let err = StoreError::caused("sqlite", e);
    if busy {
        err.unavailable()
    } else {
        err
    }
}

impl SqliteStore {
    /// Opens (or creates) the database file.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_with(path, commit_batch, LOCK_WAIT)
    }

    fn open_with(
        path: &Path,
        apply: ApplyBatch,
        queue_wait: Duration,
    ) -> Result<SqliteStore, StoreError> {
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
            queue_wait,
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
            in_transaction(conn, TransactionBehavior::Immediate, async |tx| {
                rules::prepare(tx, &campaigns).await
            })
        })
    }

    fn participate<'a>(
        &'a self,
        campaign: Arc<Campaign>,
        p: NewParticipation,
    ) -> BoxFut<'a, Result<Participation, ParticipateError>> {
        Box::pin(queue::through_writer(
            &self.writer,
            self.queue_wait,
            "sqlite",
            campaign,
            p,
        ))
    }

    fn replay<'a>(
        &'a self,
        campaign: Arc<Campaign>,
        token_hash: String,
        legacy_hash: String,
        sub: String,
    ) -> BoxFut<'a, Result<Option<Participation>, StoreError>> {
        self.with(move |conn| {
            run_ready(rules::replay(
                &mut SqliteTx(conn),
                &campaign.id,
                &token_hash,
                &legacy_hash,
                &sub,
            ))
        })
    }

    fn stats<'a>(&'a self, campaign: Arc<Campaign>) -> BoxFut<'a, Result<Stats, StoreError>> {
        self.with(move |conn| stats(conn, &campaign.id))
    }

    fn queue_depth(&self) -> usize {
        self.writer.max_capacity() - self.writer.capacity()
    }

    fn draw<'a>(
        &'a self,
        campaign: Arc<Campaign>,
        request: DrawRequest,
    ) -> BoxFut<'a, Result<DrawOutcome, DrawError>> {
        self.with(move |conn| {
            in_transaction(conn, TransactionBehavior::Immediate, async |tx| {
                rules::draw(tx, &campaign, &request).await
            })
        })
    }

    fn disqualify<'a>(
        &'a self,
        campaign: Arc<Campaign>,
        request: DisqualifyRequest,
    ) -> BoxFut<'a, Result<DrawOutcome, DrawError>> {
        self.with(move |conn| {
            in_transaction(conn, TransactionBehavior::Immediate, async |tx| {
                rules::disqualify(tx, &campaign, &request).await
            })
        })
    }

    fn fairness<'a>(
        &'a self,
        campaign: Arc<Campaign>,
        now: i64,
    ) -> BoxFut<'a, Result<FairnessView, StoreError>> {
        self.with(move |conn| {
            in_transaction(conn, TransactionBehavior::Deferred, async |tx| {
                rules::fairness(tx, &campaign, now).await
            })
        })
    }

    fn audit<'a>(
        &'a self,
        campaign: Arc<Campaign>,
    ) -> BoxFut<'a, Result<Vec<AuditEntry>, StoreError>> {
        self.with(move |conn| run_ready(rules::audit(&mut SqliteTx(conn), &campaign.id)))
    }

    fn timeseries<'a>(
        &'a self,
        campaign: Arc<Campaign>,
        width: i64,
    ) -> BoxFut<'a, Result<Vec<TimePoint>, StoreError>> {
        self.with(move |conn| {
            run_ready(rules::timeseries(&mut SqliteTx(conn), &campaign.id, width))
        })
    }

    fn winners_page<'a>(
        &'a self,
        campaign: Arc<Campaign>,
        after: Option<WinnerKey>,
        limit: i64,
    ) -> BoxFut<'a, Result<WinnersPage, StoreError>> {
        self.with(move |conn| {
            run_ready(rules::winners_page(
                &mut SqliteTx(conn),
                &campaign.id,
                after,
                limit,
            ))
        })
    }

    fn add_stock<'a>(
        &'a self,
        campaign: Arc<Campaign>,
        request: AddStock,
    ) -> BoxFut<'a, Result<Option<PrizeStock>, StoreError>> {
        self.with(move |conn| {
            in_transaction(conn, TransactionBehavior::Immediate, async |tx| {
                rules::add_stock(tx, &campaign.id, &request).await
            })
        })
    }

    fn erase<'a>(
        &'a self,
        campaign: Arc<Campaign>,
        request: Erasure,
    ) -> BoxFut<'a, Result<i64, StoreError>> {
        self.with(move |conn| {
            in_transaction(conn, TransactionBehavior::Immediate, async |tx| {
                rules::erase(tx, &campaign.id, &request).await
            })
        })
    }

    fn purge_answers<'a>(
        &'a self,
        campaign: Arc<Campaign>,
        now: i64,
        days: u32,
    ) -> BoxFut<'a, Result<i64, StoreError>> {
        self.with(move |conn| {
            in_transaction(conn, TransactionBehavior::Immediate, async |tx| {
                rules::purge_answers(tx, &campaign, now, days).await
            })
        })
    }

    fn ping(&self) -> BoxFut<'_, Result<(), StoreError>> {
        self.with(|conn| conn.query_row(statements::PING, [], |_| Ok(())).map_err(db))
    }
}

/// Opens one connection with the store's settings.
fn connect(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(db)?;
    conn.busy_timeout(LOCK_WAIT).map_err(db)?;
    // Room for every statement of the rules, so none is parsed twice.
    conn.set_prepared_statement_cache_capacity(64);
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
        let answer = run_ready(rules::participate(
            &mut SqliteTx(&sp),
            &job.campaign,
            &job.p,
        ));
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

/// Counters of a campaign, from one read transaction (one snapshot of the WAL).
fn stats(conn: &mut Connection, campaign: &str) -> Result<Stats, StoreError> {
    in_transaction(conn, TransactionBehavior::Deferred, async |tx| {
        rules::stats(tx, campaign).await
    })
}

/// Runs `f` in a transaction begun with `behavior`, committed if `f` succeeds (dropped, so
/// rolled back, if not).
fn in_transaction<T, E>(
    conn: &mut Connection,
    behavior: TransactionBehavior,
    f: impl AsyncFnOnce(&mut SqliteTx<'_>) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<StoreError>,
{
    let tx = conn.transaction_with_behavior(behavior).map_err(db)?;
    let out = run_ready(f(&mut SqliteTx(&tx)))?;
    tx.commit().map_err(db)?;
    Ok(out)
}

/// Drives a future of the rules over [`SqliteTx`] to its end. SQLite answers synchronously,
/// so such a future completes on its first poll; one that does not is a bug, answered as an
/// error rather than a hang.
fn run_ready<T, E: From<StoreError>>(f: impl Future<Output = Result<T, E>>) -> Result<T, E> {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => {
            Err(StoreError::new("sqlite: a statement did not complete synchronously").into())
        }
    }
}

/// A SQLite connection inside a transaction or savepoint, as the rules' [`Tx`].
struct SqliteTx<'c>(&'c Connection);

impl rusqlite::ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match *self {
            Value::Null => ValueRef::Null,
            Value::Int(v) => ValueRef::Integer(v),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
        }))
    }
}

fn cell(v: ValueRef<'_>) -> Result<Cell, StoreError> {
    match v {
        ValueRef::Null => Ok(Cell::Null),
        ValueRef::Integer(i) => Ok(Cell::Int(i)),
        ValueRef::Text(t) => String::from_utf8(t.to_vec())
            .map(Cell::Text)
            .map_err(|e| StoreError::caused("sqlite: a text column is not UTF-8", e)),
        ValueRef::Real(_) | ValueRef::Blob(_) => Err(StoreError::new(format!(
            "sqlite: unexpected {} column",
            v.data_type()
        ))),
    }
}

impl Tx for SqliteTx<'_> {
    async fn execute(&mut self, sql: &'static str, args: &[Value<'_>]) -> Result<u64, StoreError> {
        let mut stmt = self.0.prepare_cached(&sqlite_text(sql)).map_err(db)?;
        let n = stmt.execute(rusqlite::params_from_iter(args)).map_err(db)?;
        u64::try_from(n).map_err(|e| StoreError::caused("sqlite: row count", e))
    }

    async fn query(
        &mut self,
        sql: &'static str,
        args: &[Value<'_>],
    ) -> Result<Vec<Row>, StoreError> {
        let mut stmt = self.0.prepare_cached(&sqlite_text(sql)).map_err(db)?;
        let width = stmt.column_count();
        let mut rows = stmt.query(rusqlite::params_from_iter(args)).map_err(db)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(db)? {
            let cells = (0..width)
                .map(|i| cell(r.get_ref(i).map_err(db)?))
                .collect::<Result<_, _>>()?;
            out.push(Row(cells));
        }
        Ok(out)
    }

    async fn batch(&mut self, sql: &'static str) -> Result<(), StoreError> {
        self.0.execute_batch(sql).map_err(db)
    }
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
    use crate::store::Outcome;
    use campaign_token_core::Eligibility;
    use tokio::sync::oneshot;

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
            legacy_hash: format!("text:{token}"),
            sub: sub.into(),
            eligibility: Eligibility::AnyPrize,
            token_label: None,
            answers: None,
            brand_form: None,
            brand_optin: None,
            allowance: c.participation_limit,
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
        // The write lock held by another connection past busy_timeout: the database is
        // unavailable for now (503 database_unavailable), not a failed rule.
        assert!(answers
            .iter()
            .all(|a| matches!(a, Err(ParticipateError::Store(e)) if e.is_unavailable())));
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
                    // A replay of its neighbour: the same token, so the same sub.
                    p.token_hash = format!("t{}", i - 1);
                    p.sub = format!("s{}", i - 1);
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
                run_ready(rules::participate(
                    &mut SqliteTx(&tx),
                    &jobs[0].campaign,
                    &jobs[0].p,
                ))
                .unwrap();
                panic!("injected");
            }
            commit_batch(conn, jobs)
        }
        let store = SqliteStore::open_with(&path, flaky, LOCK_WAIT).unwrap();
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

    /// Holds the writer (as a disk that stops answering would) until the test opens it.
    static WRITER_HELD: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);
    /// Set once the writer is held with its first batch.
    static WRITER_IN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

    #[tokio::test]
    async fn a_full_writer_queue_answers_database_unavailable_and_records_nothing() {
        use std::sync::atomic::Ordering;
        let (_dir, path, c) = prepared().await;
        fn held(
            conn: &mut Connection,
            jobs: &[Job],
        ) -> Vec<Result<Participation, ParticipateError>> {
            WRITER_IN.store(true, Ordering::SeqCst);
            while WRITER_HELD.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(2));
            }
            commit_batch(conn, jobs)
        }
        let store = SqliteStore::open_with(&path, held, Duration::from_millis(50)).unwrap();
        let post = |i: usize| {
            let (store, c) = (store.clone(), Arc::clone(&c));
            let p = job(&c, &format!("p{i}"), &format!("t{i}"), &format!("s{i}"))
                .0
                .p;
            tokio::spawn(async move { store.participate(c, p).await })
        };
        // One batch in the writer, then a full queue (a wait for a state, not a timed check).
        let mut waiting = vec![post(0)];
        for _ in 0..2000 {
            if WRITER_IN.load(Ordering::SeqCst) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        assert!(
            WRITER_IN.load(Ordering::SeqCst),
            "the writer took the first batch"
        );
        waiting.extend((1..=QUEUE_CAPACITY).map(post));
        for _ in 0..2000 {
            if store.writer.capacity() == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        assert_eq!(store.writer.capacity(), 0, "the queue is full");
        // (Bounded so that a store without the deadline fails here instead of hanging.)
        let late = job(&c, "late", "t-late", "late").0.p;
        let refused = tokio::time::timeout(
            Duration::from_secs(60),
            store.participate(Arc::clone(&c), late),
        )
        .await
        .expect("the participation waited for room without a deadline");
        assert!(
            matches!(&refused, Err(ParticipateError::Store(e)) if e.is_unavailable()),
            "{refused:?}"
        );
        WRITER_HELD.store(false, Ordering::SeqCst);
        for w in waiting {
            w.await.unwrap().unwrap();
        }
        let s = store.stats(Arc::clone(&c)).await.unwrap();
        assert_eq!(
            s.participations,
            QUEUE_CAPACITY as i64 + 1,
            "all but the refused one"
        );
    }
}
