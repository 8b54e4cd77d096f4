//! PostgreSQL storage, for several server processes behind a load balancer.
//!
//! Each allocation is one READ COMMITTED transaction running `rules::participate`. Stock is
//! taken with a conditional `UPDATE … AND remaining > 0`: a concurrent updater waits for the
//! row lock and then re-checks `remaining` on the committed row, so the stock can never go
//! below zero (a `CHECK` constraint says so too). A winning moment is claimed with
//! `FOR UPDATE SKIP LOCKED` and `participation_id IS NULL`, so two transactions never claim
//! the same moment. Unique constraints on (campaign, token hash) and (campaign, sub, n)
//! decide replays and participation limits across processes: the loser of such a race rolls
//! back (returning any stock it took) and retries, and then sees the winner's row.
//!
//! What is PostgreSQL's own here: the pool, the retries, the advisory lock that serialises
//! migrations between processes starting together, the snapshot of the counters, and the
//! conversion of the rules' `i64` to the width of each column.

use std::sync::Arc;

use deadpool_postgres::{
    ClientWrapper, Manager, ManagerConfig, Pool, RecyclingMethod, Transaction,
};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::NoTls;

use super::pg_tls::{self, PgOptions};
use super::tx::{Cell, Row, Tx, Value};
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
    pool: Pool,
    /// Client side: a transaction (or ping) not finished within this is abandoned and its
    /// connection closed, so a database that stops answering without closing the socket
    /// (where `statement_timeout` cannot help) is a quick error, not a stalled request.
    deadline: std::time::Duration,
}

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
        Ok(PgStore {
            pool,
            deadline: options.statement_timeout + options.connect_timeout,
        })
    }
}

impl PgStore {
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
}

/// How a transaction begins.
#[derive(Clone, Copy)]
enum Begin {
    /// READ COMMITTED: allocations and the draw rely on row locks and conditional updates,
    /// which see the latest committed rows.
    ReadCommitted,
    /// One read-only REPEATABLE READ snapshot, so that counters agree with each other.
    Snapshot,
}

/// Runs `f` in one transaction; commits if it succeeds, rolls back (returning any stock it
/// took) if not.
async fn in_transaction<R, E: From<StoreError>>(
    client: &mut ClientWrapper,
    begin: Begin,
    f: impl AsyncFnOnce(&mut PgTx<'_>) -> Result<R, E>,
) -> Result<R, E> {
    let mut builder = client.build_transaction();
    if let Begin::Snapshot = begin {
        builder = builder
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true);
    }
    let mut tx = PgTx(builder.start().await.map_err(db)?);
    let out = f(&mut tx).await?;
    tx.0.commit().await.map_err(db)?;
    Ok(out)
}

impl Store for PgStore {
    fn prepare<'a>(&'a self, campaigns: &'a [Arc<Campaign>]) -> BoxFut<'a, Result<(), StoreError>> {
        Box::pin(self.run(Begin::ReadCommitted, async move |tx| {
            // Processes starting together migrate one after the other.
            tx.0.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
                .await
                .map_err(db)?;
            rules::prepare(tx, campaigns).await
        }))
    }

    fn participate<'a>(
        &'a self,
        campaign: Arc<Campaign>,
        p: NewParticipation,
    ) -> BoxFut<'a, Result<Participation, ParticipateError>> {
        Box::pin(async move {
            self.with_client(async |client| {
                let mut last = StoreError::new("no attempt");
                for _ in 0..MAX_ATTEMPTS {
                    let e = match in_transaction(client, Begin::ReadCommitted, async |tx| {
                        rules::participate(tx, &campaign, &p).await
                    })
                    .await
                    {
                        Err(ParticipateError::Store(e)) if retryable(&e) => e,
                        answer => return answer,
                    };
                    last = e;
                }
                Err(last.into())
            })
            .await
        })
    }

    fn replay<'a>(
        &'a self,
        campaign: Arc<Campaign>,
        token_hash: String,
        legacy_hash: String,
    ) -> BoxFut<'a, Result<Option<Participation>, StoreError>> {
        Box::pin(self.run(Begin::Snapshot, async move |tx| {
            rules::replay(tx, &campaign.id, &token_hash, &legacy_hash).await
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
            self.with_client(async |client| {
                client.execute(statements::PING, &[]).await.map_err(db)?;
                Ok::<(), StoreError>(())
            })
            .await
        })
    }
}

/// A PostgreSQL transaction as the rules' [`Tx`]. Statements are prepared once per
/// connection (deadpool's statement cache), which also tells each parameter's type.
struct PgTx<'c>(Transaction<'c>);

/// An argument converted to the type PostgreSQL declared for its parameter: the rules speak
/// `i64`, and an `INTEGER` column takes an `i32` only if the value fits (an error, never a
/// truncation, if it does not).
fn bind<'a>(
    types: &[Type],
    args: &'a [Value<'a>],
) -> Result<Vec<Box<dyn ToSql + Sync + Send + 'a>>, StoreError> {
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
    let mut out: Vec<Box<dyn ToSql + Sync + Send + 'a>> = Vec::with_capacity(args.len());
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

impl PgTx<'_> {
    /// Runs `sql` with `args` bound to the types PostgreSQL declared for them.
    async fn rows(
        &self,
        sql: &str,
        args: &[Value<'_>],
    ) -> Result<Vec<tokio_postgres::Row>, StoreError> {
        let stmt = self.0.prepare_cached(sql).await.map_err(db)?;
        let args = bind(stmt.params(), args)?;
        let refs: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| &**a as _).collect();
        self.0.query(&stmt, &refs).await.map_err(db)
    }
}

impl Tx for PgTx<'_> {
    async fn execute(&mut self, sql: &'static str, args: &[Value<'_>]) -> Result<u64, StoreError> {
        let stmt = self.0.prepare_cached(sql).await.map_err(db)?;
        let args = bind(stmt.params(), args)?;
        let refs: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| &**a as _).collect();
        self.0.execute(&stmt, &refs).await.map_err(db)
    }

    async fn query(
        &mut self,
        sql: &'static str,
        args: &[Value<'_>],
    ) -> Result<Vec<Row>, StoreError> {
        self.rows(sql, args).await?.iter().map(row).collect()
    }

    async fn batch(&mut self, sql: &'static str) -> Result<(), StoreError> {
        self.0.batch_execute(sql).await.map_err(db)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
