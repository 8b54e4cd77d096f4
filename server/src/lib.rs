//! campaign-token-server: the allocation endpoint. It verifies a campaign token again, with
//! the same core as the browser, and is the only authority on who wins.
//!
//! The binary (`main.rs`) reads the configuration and calls [`Server::start`]; tests start
//! the same server in-process with a manual [`Clock`].

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod api;
pub mod config;
pub mod http;
pub mod jwks;
pub mod metrics;
pub mod store;

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::api::AppState;
use crate::config::{Config, Database};
use crate::store::postgres::PgStore;
use crate::store::sqlite::SqliteStore;
use crate::store::Store;

/// The server's time source: the system clock, or a manual one for tests.
#[derive(Debug, Clone)]
pub enum Clock {
    /// Seconds since the epoch from the system clock.
    System,
    /// A clock that only moves when told to.
    Manual(Arc<AtomicI64>),
}

impl Clock {
    /// A manual clock set to `now`.
    pub fn manual(now: i64) -> Clock {
        Clock::Manual(Arc::new(AtomicI64::new(now)))
    }

    /// Sets a manual clock (no effect on the system clock).
    pub fn set(&self, now: i64) {
        if let Clock::Manual(t) = self {
            t.store(now, Ordering::SeqCst);
        }
    }

    /// The current time in seconds since the epoch.
    pub fn now(&self) -> i64 {
        match self {
            Clock::System => i64::try_from(campaign_token_core::now()).unwrap_or(i64::MAX),
            Clock::Manual(t) => t.load(Ordering::SeqCst),
        }
    }
}

/// Why the server did not start.
#[derive(Debug)]
pub enum StartError {
    /// The database is unusable or contradicts the configuration.
    Store(store::StoreError),
    /// A listener could not bind.
    Bind(SocketAddr, std::io::Error),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Store(e) => write!(f, "database: {e}"),
            StartError::Bind(a, e) => write!(f, "cannot listen on {a}: {e}"),
        }
    }
}

impl std::error::Error for StartError {}

/// A running server: its addresses and a handle to stop it.
pub struct Server {
    /// Address of the campaign site and API.
    pub addr: SocketAddr,
    /// Address of the integrator demo listener, if configured.
    pub integrator_addr: Option<SocketAddr>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<std::io::Result<()>>>,
}

/// Opens the configured store.
pub fn open_store(config: &Config) -> Result<Arc<dyn Store>, store::StoreError> {
    Ok(match &config.database {
        Database::Sqlite(path) => Arc::new(SqliteStore::open(path)?),
        Database::Postgres(url) => Arc::new(PgStore::connect(url, &config.pg)?),
    })
}

impl Server {
    /// Opens the database, applies migrations, binds the listeners and starts serving.
    pub async fn start(config: Config, clock: Clock) -> Result<Server, StartError> {
        if config.operator_token.is_none() {
            tracing::warn!(
                "no operator_token_env in the configuration: stats, winners and draw answer 401"
            );
        }
        let store = open_store(&config).map_err(StartError::Store)?;
        store
            .prepare(&config.campaigns)
            .await
            .map_err(StartError::Store)?;
        // The brands' JWKS, fetched once before serving (a failure is logged; tokens then get
        // 503 keys_unavailable until a fetch, retried at most once a minute, succeeds).
        let now = u64::try_from(clock.now()).unwrap_or(0);
        for c in &config.campaigns {
            if let Some(remote) = &c.remote_keys {
                remote.prefetch(now).await;
            }
        }
        let campaigns: HashMap<String, _> = config
            .campaigns
            .iter()
            .map(|c| (c.id.clone(), Arc::clone(c)))
            .collect();
        let rejected = std::num::NonZeroU32::new(config.rejected_tokens_per_minute)
            .map(|n| governor::RateLimiter::keyed(governor::Quota::per_minute(n).allow_burst(n)));
        let state = Arc::new(AppState {
            campaigns,
            store,
            operator_token: config.operator_token.clone(),
            erasure_key: config.erasure_key.clone(),
            clock,
            limits: config.http.clone(),
            rejected,
            trusted_proxy_header: config.trusted_proxy_header.clone(),
            metrics: Arc::new(metrics::Metrics::new()),
        });
        let (tx, rx) = watch::channel(false);
        let mut tasks = Vec::new();
        if let Some(days) = config.answers_retention_days {
            tasks.push(spawn_retention(Arc::clone(&state), days, rx.clone()));
        }
        let listener = bind(config.listen).map_err(|e| StartError::Bind(config.listen, e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| StartError::Bind(config.listen, e))?;
        let app = api::router(state, &config.site);
        tasks.push(spawn_serve(listener, app, config.http.clone(), rx.clone()));
        tracing::info!(%addr, campaigns = config.campaigns.len(), "campaign site and API listening");
        let mut integrator_addr = None;
        if let Some(i) = &config.integrator {
            let listener = bind(i.listen).map_err(|e| StartError::Bind(i.listen, e))?;
            let a = listener
                .local_addr()
                .map_err(|e| StartError::Bind(i.listen, e))?;
            let app = api::integrator_router(i.dirs.clone(), i.pkg.clone(), i.csp.clone());
            tasks.push(spawn_serve(listener, app, config.http.clone(), rx));
            tracing::info!(addr = %a, "integrator demo page listening");
            integrator_addr = Some(a);
        }
        Ok(Server {
            addr,
            integrator_addr,
            shutdown: tx,
            tasks,
        })
    }

    /// Stops accepting connections, lets requests in flight finish, and returns.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            match t.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "listener failed"),
                Err(e) => tracing::error!(error = %e, "listener task failed"),
            }
        }
    }
}

/// Binds with a deep accept queue: a burst of participations (a campaign going live, a
/// newsletter sent) must queue, not be reset by the kernel.
fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // Lets a restarted server take its port back at once (never shares an active port).
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}

/// How often the answers retention runs (and once at start-up).
pub const RETENTION_PERIOD: std::time::Duration = std::time::Duration::from_secs(3600);

/// The periodic task of `answers_retention_days`: at start-up, then every
/// [`RETENTION_PERIOD`], removes the answers of campaigns ended that many days ago.
fn spawn_retention(
    state: Arc<AppState>,
    days: u32,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<std::io::Result<()>> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(RETENTION_PERIOD);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    api::operator::purge_expired_answers(&state, days).await;
                }
                stopped = async { stop.wait_for(|s| *s).await.map(|_| ()) } => {
                    let _ = stopped;
                    return Ok(());
                }
            }
        }
    })
}

fn spawn_serve(
    listener: TcpListener,
    app: axum::Router,
    limits: http::HttpLimits,
    stop: watch::Receiver<bool>,
) -> JoinHandle<std::io::Result<()>> {
    tokio::spawn(http::serve(listener, app, limits, stop))
}
