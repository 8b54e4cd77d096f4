//! The allocation server binary: `campaign-token-server --config campaign.toml`.
//!
//! Exit codes: 0 after a graceful shutdown (SIGTERM or SIGINT), 1 when the server fails to
//! start or run (database, port), 2 for a bad command line or configuration.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use campaign_token_server::config::Config;
use campaign_token_server::{Clock, Server};
use clap::Parser;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::prelude::*;

/// Verifies campaign tokens and allocates prizes; serves the campaign site.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// The configuration file (TOML).
    #[arg(long, value_name = "PATH")]
    config: PathBuf,
    /// Listen on this address instead of the configuration's `listen`.
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    // RUST_LOG-style targets ("info", "campaign_token_server=debug,info"); info by default.
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO));
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_target(false)
                .with_writer(std::io::stderr)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
        )
        .with(filter)
        .init();

    let mut config = match Config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {}: {e}", args.config.display());
            return ExitCode::from(2);
        }
    };
    if let Some(listen) = &args.listen {
        match listen.parse() {
            Ok(a) => config.listen = a,
            Err(_) => {
                eprintln!("error: --listen `{listen}` is not an address like 127.0.0.1:8080");
                return ExitCode::from(2);
            }
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(run(config))
}

async fn run(config: Config) -> ExitCode {
    // Before the server answers anything: a SIGTERM that arrives as soon as /healthz says
    // ready must start a graceful shutdown, not kill the process with the default action.
    let signals = match Signals::register() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("cannot listen for shutdown signals: {e}");
            return ExitCode::from(1);
        }
    };
    let server = match Server::start(config, Clock::System).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(1);
        }
    };
    println!("listening on http://{}", server.addr);
    if let Some(a) = server.integrator_addr {
        println!("integrator demo on http://{a}");
    }
    signals.recv().await;
    tracing::info!("shutting down: finishing requests in flight");
    server.shutdown().await;
    tracing::info!("stopped");
    ExitCode::SUCCESS
}

/// SIGINT and SIGTERM, registered once so that none is missed between start-up and the wait.
struct Signals {
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl Signals {
    #[cfg(unix)]
    fn register() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
        })
    }

    #[cfg(not(unix))]
    fn register() -> std::io::Result<Signals> {
        Ok(Signals {})
    }

    #[cfg(unix)]
    async fn recv(mut self) {
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
        }
    }

    #[cfg(not(unix))]
    async fn recv(self) {
        let _ = tokio::signal::ctrl_c().await;
    }
}
