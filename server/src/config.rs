//! The configuration file (TOML): what campaigns run, which keys they trust, where data is
//! stored and which pages are served. Everything is checked at start-up so that a typo is a
//! clear error before the first participant arrives, never a surprise during the campaign.
//!
//! Relative paths (key files, site directories, a SQLite file) are resolved against the
//! directory of the configuration file, so a config can travel with its keys and pages.

use std::collections::HashSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use campaign_token_core::{Algorithm, Backend, ErrorCode, KeySet, Policy, Verified, Verifier};

use crate::jwks::{CheckError, RemoteKeys};
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A configuration problem: a message naming the setting it concerns (field 0), and the
/// underlying error when one caused it (an unreadable file, TOML syntax, a bad key), kept for
/// [`std::error::Error::source`].
#[derive(Debug, Clone)]
pub struct ConfigError(pub String, Option<Arc<dyn std::error::Error + Send + Sync>>);

impl ConfigError {
    /// A problem found by the configuration's own checks.
    pub fn new(message: impl Into<String>) -> ConfigError {
        ConfigError(message.into(), None)
    }

    /// A problem reported by a parser or the system: `context: source`.
    pub fn caused<E>(context: &str, source: E) -> ConfigError
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        ConfigError(format!("{context}: {source}"), Some(Arc::new(source)))
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.1
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

fn err<T>(msg: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError::new(msg))
}

// ---------------------------------------------------------------------------------------
// The file, as written.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default = "default_listen")]
    listen: String,
    #[serde(default = "default_database")]
    database: String,
    #[serde(default)]
    database_max_connections: Option<usize>,
    #[serde(default)]
    database_tls: Option<String>,
    #[serde(default)]
    database_ca_file: Option<String>,
    #[serde(default)]
    database_connect_timeout_seconds: Option<f64>,
    #[serde(default)]
    database_acquire_timeout_seconds: Option<f64>,
    #[serde(default)]
    database_statement_timeout_seconds: Option<f64>,
    #[serde(default)]
    database_writers: Option<usize>,
    #[serde(default)]
    database_batch_size: Option<usize>,
    #[serde(default)]
    operator_token_env: Option<String>,
    #[serde(default)]
    erasure_key_env: Option<String>,
    #[serde(default)]
    answers_retention_days: Option<u32>,
    #[serde(default)]
    site: Option<RawSite>,
    #[serde(default)]
    integrator: Option<RawIntegrator>,
    #[serde(default)]
    http: Option<RawHttp>,
    #[serde(default, rename = "campaign")]
    campaigns: Vec<RawCampaign>,
}

/// `[http]`: the limits of docs/server.md, each optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    header_read_timeout_seconds: Option<f64>,
    body_read_timeout_seconds: Option<f64>,
    keep_alive_idle_timeout_seconds: Option<f64>,
    max_connections: Option<usize>,
    shutdown_deadline_seconds: Option<f64>,
    max_drain_bytes: Option<usize>,
    rejected_tokens_per_minute: Option<u32>,
    trusted_proxy_header: Option<String>,
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}

fn default_database() -> String {
    "sqlite:campaign-token.db".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSite {
    #[serde(default)]
    dirs: Vec<PathBuf>,
    #[serde(default)]
    pkg: Option<PathBuf>,
    #[serde(default)]
    integrator_origins: Vec<String>,
    #[serde(default)]
    operator: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIntegrator {
    listen: String,
    #[serde(default)]
    dir: Option<PathBuf>,
    #[serde(default)]
    dirs: Vec<PathBuf>,
    #[serde(default)]
    pkg: Option<PathBuf>,
    #[serde(default)]
    csp: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCampaign {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    start: String,
    end: String,
    #[serde(default)]
    issuers: Vec<String>,
    #[serde(default)]
    clock_tolerance_secs: Option<u64>,
    #[serde(default)]
    max_token_bytes: Option<usize>,
    #[serde(default = "one")]
    participation_limit: u32,
    #[serde(default = "hundred")]
    max_participations_per_sub: u32,
    #[serde(default)]
    keys: Vec<RawKey>,
    #[serde(default)]
    prizes: Vec<RawPrize>,
    #[serde(default)]
    calendar: Option<RawCalendar>,
    #[serde(default)]
    draw_public_source: Option<String>,
}

fn one() -> u32 {
    1
}

fn hundred() -> u32 {
    100
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKey {
    #[serde(default)]
    pem_file: Option<PathBuf>,
    #[serde(default)]
    jwks_file: Option<PathBuf>,
    #[serde(default)]
    pem: Option<String>,
    #[serde(default)]
    jwks: Option<String>,
    #[serde(default)]
    hmac_secret_env: Option<String>,
    /// The brand's JWKS endpoint (fetched and refreshed at run time, `crate::jwks`).
    #[serde(default)]
    jwks_url: Option<String>,
    /// With `jwks_url`: the CA that signs its certificate (instead of the Mozilla roots).
    #[serde(default)]
    ca_file: Option<PathBuf>,
    /// With `jwks_url`: the whole fetch's timeout (default the page's, 10 s).
    #[serde(default)]
    timeout_seconds: Option<u64>,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    alg: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrize {
    id: String,
    name: String,
    quantity: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCalendar {
    #[serde(default)]
    spread: Option<u32>,
    #[serde(default)]
    moments: Vec<RawMoment>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawMoment {
    At(String),
    Detailed {
        at: String,
        #[serde(default)]
        prize: Option<String>,
    },
}

// ---------------------------------------------------------------------------------------
// The checked configuration.

/// Where participations are stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// A SQLite file (created when missing).
    Sqlite(PathBuf),
    /// A PostgreSQL URL (or `key=value` connection string).
    Postgres(String),
}

/// The campaign site: directories mounted at `/` (first match wins) and at `/pkg`.
#[derive(Debug, Clone, Default)]
pub struct Site {
    /// Directories served at `/`, tried in order.
    pub dirs: Vec<PathBuf>,
    /// Directory served at `/pkg` (the npm package build), if any.
    pub pkg: Option<PathBuf>,
    /// Origins allowed to frame the campaign page (`frame-ancestors`).
    pub integrator_origins: Vec<String>,
    /// The built operator console (scripts/build-operator.sh), served at `/operator/`
    /// with [`crate::api::OPERATOR_CSP`], if any.
    pub operator: Option<PathBuf>,
}

/// The optional second listener that serves the integrator's demo page.
#[derive(Debug, Clone)]
pub struct Integrator {
    /// Address of the second listener.
    pub listen: SocketAddr,
    /// Directories served at `/`, tried in order.
    pub dirs: Vec<PathBuf>,
    /// Directory served at `/pkg`, if any.
    pub pkg: Option<PathBuf>,
    /// Content-Security-Policy for the integrator page, if any.
    pub csp: Option<String>,
}

/// How a campaign decides its winners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CampaignKind {
    /// Winning moments: the first eligible participant at or after a moment wins its prize.
    InstantWin,
    /// Prizes at once for `given-prize`/`any-prize` while stock lasts, a draw for the rest.
    Draw,
}

impl CampaignKind {
    /// The name used in the configuration and in stats.
    pub fn as_str(self) -> &'static str {
        match self {
            CampaignKind::InstantWin => "instant-win",
            CampaignKind::Draw => "draw",
        }
    }
}

/// A prize and its stock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prize {
    /// Stable id.
    pub id: String,
    /// Name shown when the token gives no label.
    pub name: String,
    /// Number of units.
    pub quantity: u32,
}

/// One winning moment of an instant-win calendar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moment {
    /// Seconds since the epoch.
    pub at: i64,
    /// The prize it gives.
    pub prize_id: String,
}

/// A checked campaign.
#[derive(Debug)]
pub struct Campaign {
    /// The id tokens name in `campaignId` and the API names in its path.
    pub id: String,
    /// Instant win or draw.
    pub kind: CampaignKind,
    /// First second of the campaign.
    pub start: i64,
    /// First second after the campaign.
    pub end: i64,
    /// Participations allowed per `sub`.
    pub participation_limit: u32,
    /// The cap on a token's `limit.nb` (default 100).
    pub max_participations_per_sub: u32,
    /// Prizes, in the order they are allocated.
    pub prizes: Vec<Prize>,
    /// Winning moments (instant win only), in time order. For `calendar.spread = N` these
    /// are N placeholders in slot order: their prizes are final, their times are the slots'
    /// starts; the real moments are drawn at random when the store first prepares the
    /// campaign ([`Campaign::spread`]) and are kept only in the database.
    pub moments: Vec<Moment>,
    /// `calendar.spread = N`: the moments are drawn at random once, by the store.
    pub spread: Option<u32>,
    /// The public source of the draw's randomness, named before the end (draw campaigns):
    /// e.g. `drand quicknet round 1234567`. The operator supplies its value at draw time.
    pub draw_public_source: Option<String>,
    /// The token verifier (the core's, as in the browser), with the configured keys.
    pub verifier: Verifier,
    /// Keys from the brand's `jwks_url`, if configured: tried for tokens whose `kid` none of
    /// the configured keys has.
    pub remote_keys: Option<Arc<RemoteKeys>>,
}

impl Campaign {
    /// Verifies `token` at `now`: with the configured keys, then, for a `kid` none of them
    /// has, with the brand's JWKS (`jwks_url`). AWS-LC checks the signature (core's
    /// `Backend::AwsLc`): the server verifies every participation, and its throughput follows
    /// its signature backend (docs/benchmarks.md).
    pub async fn verify(&self, token: &str, now: i64) -> Result<Verified, CheckError> {
        let now = u64::try_from(now).unwrap_or(0);
        let Some(remote) = &self.remote_keys else {
            return Ok(self.verifier.verify_with(token, now, Backend::AwsLc)?);
        };
        if !self.verifier.keys().is_empty() {
            match self.verifier.verify_with(token, now, Backend::AwsLc) {
                Err(e) if e.code() == ErrorCode::UnknownKey => {}
                other => return Ok(other?),
            }
        }
        remote.verify(token, now).await
    }
}

/// The checked configuration.
#[derive(Debug)]
pub struct Config {
    /// Address of the campaign site and API.
    pub listen: SocketAddr,
    /// Storage.
    pub database: Database,
    /// Largest PostgreSQL pool (default 16).
    pub database_max_connections: usize,
    /// PostgreSQL connection options: pool size, TLS, timeouts.
    pub pg: crate::store::pg_tls::PgOptions,
    /// The operator bearer token, read from the environment variable the file names.
    pub operator_token: Option<String>,
    /// The key of erasure's HMAC-SHA-256, read from the environment variable
    /// `erasure_key_env` names (at least 32 bytes); `None`: a random key the server creates
    /// once and keeps in the database (`server_secrets`).
    pub erasure_key: Option<Vec<u8>>,
    /// Days after a campaign's end when its participations' answers are removed; `None`
    /// keeps them.
    pub answers_retention_days: Option<u32>,
    /// The campaign site.
    pub site: Site,
    /// The integrator demo listener.
    pub integrator: Option<Integrator>,
    /// The campaigns.
    pub campaigns: Vec<Arc<Campaign>>,
    /// HTTP limits (`[http]`).
    pub http: crate::http::HttpLimits,
    /// Rejected tokens allowed per client address per minute (0: no limit; default 60).
    pub rejected_tokens_per_minute: u32,
    /// The header a trusted reverse proxy puts the client address in; unset, the peer address.
    pub trusted_proxy_header: Option<String>,
}

impl Config {
    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::caused(&format!("cannot read {}", path.display()), e))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Config::parse(&text, base, &|name| std::env::var(name).ok())
    }

    /// Checks a configuration given as text; relative paths are resolved against `base` and
    /// environment variables are read through `env` (so tests need not touch the process
    /// environment).
    pub fn parse(
        text: &str,
        base: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let raw: RawConfig =
            toml::from_str(text).map_err(|e| ConfigError::caused("invalid configuration", e))?;
        let resolve = |p: &Path| -> PathBuf {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };
        let listen = parse_addr("listen", &raw.listen)?;
        let database = parse_database(&raw.database, &resolve)?;
        let database_max_connections = raw.database_max_connections.unwrap_or(16);
        if !(1..=1000).contains(&database_max_connections) {
            return err("database_max_connections must be between 1 and 1000");
        }
        let pg = pg_options(&raw, database_max_connections, &resolve)?;
        let operator_token = match &raw.operator_token_env {
            None => None,
            Some(name) => match env(name) {
                Some(v) if v.len() >= 16 => Some(v),
                Some(_) => {
                    return err(format!(
                        "operator_token_env: the variable {name} must hold at least 16 characters"
                    ))
                }
                None => {
                    return err(format!(
                        "operator_token_env: the environment variable {name} is not set"
                    ))
                }
            },
        };
        let erasure_key = match &raw.erasure_key_env {
            None => None,
            Some(name) => match env(name) {
                Some(v) if v.len() >= 32 => Some(v.into_bytes()),
                Some(_) => {
                    return err(format!(
                        "erasure_key_env: the variable {name} must hold at least 32 bytes"
                    ))
                }
                None => {
                    return err(format!(
                        "erasure_key_env: the environment variable {name} is not set"
                    ))
                }
            },
        };
        if raw.answers_retention_days == Some(0) {
            return err("answers_retention_days must be at least 1 (omit it to keep answers)");
        }
        let site = match raw.site {
            None => Site::default(),
            Some(s) => {
                let dirs: Vec<PathBuf> = s.dirs.iter().map(|d| resolve(d)).collect();
                for d in &dirs {
                    if !d.is_dir() {
                        return err(format!("site.dirs: {} is not a directory", d.display()));
                    }
                }
                let pkg = s.pkg.map(|p| resolve(&p));
                if let Some(p) = &pkg {
                    if !p.is_dir() {
                        return err(format!("site.pkg: {} is not a directory", p.display()));
                    }
                }
                for o in &s.integrator_origins {
                    check_origin(o)?;
                }
                let operator = s.operator.map(|p| resolve(&p));
                if let Some(p) = &operator {
                    if !p.join("index.html").is_file() {
                        return err(format!(
                            "site.operator: {} has no index.html (build it with scripts/build-operator.sh)",
                            p.display()
                        ));
                    }
                }
                Site {
                    dirs,
                    pkg,
                    integrator_origins: s.integrator_origins,
                    operator,
                }
            }
        };
        let integrator = match raw.integrator {
            None => None,
            Some(i) => {
                let dirs: Vec<PathBuf> = i.dirs.iter().chain(&i.dir).map(|d| resolve(d)).collect();
                if dirs.is_empty() {
                    return err("integrator: give `dir` or `dirs` (the integrator page)");
                }
                for d in &dirs {
                    if !d.is_dir() {
                        return err(format!("integrator: {} is not a directory", d.display()));
                    }
                }
                let pkg = i.pkg.map(|p| resolve(&p));
                if let Some(p) = &pkg {
                    if !p.is_dir() {
                        return err(format!(
                            "integrator.pkg: {} is not a directory",
                            p.display()
                        ));
                    }
                }
                if let Some(csp) = &i.csp {
                    check_header_value("integrator.csp", csp)?;
                }
                Some(Integrator {
                    listen: parse_addr("integrator.listen", &i.listen)?,
                    dirs,
                    pkg,
                    csp: i.csp,
                })
            }
        };
        if raw.campaigns.is_empty() {
            return err("no campaign: add at least one [[campaign]] table");
        }
        let mut seen = HashSet::new();
        let mut campaigns = Vec::new();
        for c in raw.campaigns {
            if !seen.insert(c.id.clone()) {
                return err(format!("campaign {}: the id is used twice", c.id));
            }
            campaigns.push(Arc::new(parse_campaign(c, &resolve, env)?));
        }
        let raw_http = raw.http.unwrap_or_default();
        let (http, rejected_tokens_per_minute, trusted_proxy_header) = http_limits(raw_http)?;
        Ok(Config {
            listen,
            database,
            database_max_connections,
            pg,
            operator_token,
            erasure_key,
            answers_retention_days: raw.answers_retention_days,
            site,
            integrator,
            campaigns,
            http,
            rejected_tokens_per_minute,
            trusted_proxy_header,
        })
    }
}

/// The PostgreSQL connection options, each checked.
fn pg_options(
    raw: &RawConfig,
    max_connections: usize,
    resolve: &dyn Fn(&Path) -> PathBuf,
) -> Result<crate::store::pg_tls::PgOptions, ConfigError> {
    use crate::store::pg_tls::{PgOptions, PgTls};
    let d = PgOptions::default();
    let secs = |name: &str, v: Option<f64>, default: std::time::Duration| match v {
        None => Ok(default),
        Some(s) if s.is_finite() && (0.1..=3600.0).contains(&s) => {
            Ok(std::time::Duration::from_secs_f64(s))
        }
        Some(_) => err(format!("{name} must be between 0.1 and 3600 seconds")),
    };
    let tls = match (raw.database_tls.as_deref(), &raw.database_ca_file) {
        (None | Some("disable"), None) => PgTls::Disable,
        (Some("require"), None) => PgTls::Require,
        (Some("verify-full"), Some(ca)) => PgTls::VerifyFull(resolve(Path::new(ca))),
        (Some("verify-full"), None) => {
            return err("database_tls = \"verify-full\" needs database_ca_file (the CA's PEM)")
        }
        (None | Some("disable" | "require"), Some(_)) => {
            return err("database_ca_file is only for database_tls = \"verify-full\"")
        }
        (Some(other), _) => {
            return err(format!(
                "database_tls `{other}`: use \"disable\", \"require\" or \"verify-full\""
            ))
        }
    };
    let writers = raw.database_writers.unwrap_or(d.writers);
    if !(1..=max_connections).contains(&writers) {
        return err(format!(
            "database_writers must be between 1 and database_max_connections ({max_connections})"
        ));
    }
    let max_batch = raw.database_batch_size.unwrap_or(d.max_batch);
    if !(1..=1024).contains(&max_batch) {
        return err("database_batch_size must be between 1 and 1024");
    }
    Ok(PgOptions {
        max_connections,
        tls,
        writers,
        max_batch,
        connect_timeout: secs(
            "database_connect_timeout_seconds",
            raw.database_connect_timeout_seconds,
            d.connect_timeout,
        )?,
        acquire_timeout: secs(
            "database_acquire_timeout_seconds",
            raw.database_acquire_timeout_seconds,
            d.acquire_timeout,
        )?,
        statement_timeout: secs(
            "database_statement_timeout_seconds",
            raw.database_statement_timeout_seconds,
            d.statement_timeout,
        )?,
    })
}

/// `[http]` with its defaults, each value checked.
fn http_limits(
    raw: RawHttp,
) -> Result<(crate::http::HttpLimits, u32, Option<String>), ConfigError> {
    let d = crate::http::HttpLimits::default();
    let secs = |name: &str, v: Option<f64>, default: std::time::Duration| match v {
        None => Ok(default),
        Some(s) if s.is_finite() && (0.1..=3600.0).contains(&s) => {
            Ok(std::time::Duration::from_secs_f64(s))
        }
        Some(_) => err(format!("http.{name} must be between 0.1 and 3600 seconds")),
    };
    let limits = crate::http::HttpLimits {
        header_read_timeout: secs(
            "header_read_timeout_seconds",
            raw.header_read_timeout_seconds,
            d.header_read_timeout,
        )?,
        body_read_timeout: secs(
            "body_read_timeout_seconds",
            raw.body_read_timeout_seconds,
            d.body_read_timeout,
        )?,
        keep_alive_idle_timeout: secs(
            "keep_alive_idle_timeout_seconds",
            raw.keep_alive_idle_timeout_seconds,
            d.keep_alive_idle_timeout,
        )?,
        max_connections: match raw.max_connections {
            None => d.max_connections,
            Some(n) if (1..=1_000_000).contains(&n) => n,
            Some(_) => return err("http.max_connections must be between 1 and 1000000"),
        },
        shutdown_deadline: secs(
            "shutdown_deadline_seconds",
            raw.shutdown_deadline_seconds,
            d.shutdown_deadline,
        )?,
        max_drain_bytes: match raw.max_drain_bytes {
            None => d.max_drain_bytes,
            Some(n) if n <= 1 << 30 => n,
            Some(_) => return err("http.max_drain_bytes must be at most 1 GiB"),
        },
    };
    let trusted = match raw.trusted_proxy_header {
        None => None,
        Some(h) if axum::http::HeaderName::from_bytes(h.as_bytes()).is_ok() => Some(h),
        Some(h) => {
            return err(format!(
                "http.trusted_proxy_header `{h}` is not a header name"
            ))
        }
    };
    Ok((
        limits,
        raw.rejected_tokens_per_minute.unwrap_or(60),
        trusted,
    ))
}

fn parse_addr(what: &str, s: &str) -> Result<SocketAddr, ConfigError> {
    s.parse().map_err(|_| {
        ConfigError::new(format!(
            "{what}: `{s}` is not an address like 127.0.0.1:8080"
        ))
    })
}

fn parse_database(s: &str, resolve: &dyn Fn(&Path) -> PathBuf) -> Result<Database, ConfigError> {
    if let Some(path) = s.strip_prefix("sqlite:") {
        let path = path.strip_prefix("//").unwrap_or(path);
        if path.is_empty() {
            return err("database: `sqlite:` needs a file path, e.g. sqlite:campaign-token.db");
        }
        Ok(Database::Sqlite(resolve(Path::new(path))))
    } else if s.starts_with("postgres://") || s.starts_with("postgresql://") {
        s.parse::<tokio_postgres::Config>()
            .map_err(|e| ConfigError::caused("database: invalid PostgreSQL URL", e))?;
        Ok(Database::Postgres(s.to_owned()))
    } else {
        err("database: expected sqlite:PATH or postgres://…")
    }
}

/// The core's exact-origin rule (also the page's and the integrator's): an origin that is not
/// exactly what browsers report could never match, and would also break `frame-ancestors`.
fn check_origin(o: &str) -> Result<(), ConfigError> {
    if campaign_token_core::origin::is_exact_origin(o) {
        Ok(())
    } else {
        err(format!(
            "site.integrator_origins: `{o}` is not an origin like https://brand.example (no path, no wildcard)"
        ))
    }
}

fn check_header_value(what: &str, v: &str) -> Result<(), ConfigError> {
    if v.chars().all(|c| c == ' ' || c.is_ascii_graphic()) {
        Ok(())
    } else {
        err(format!(
            "{what}: only printable ASCII is allowed in a header"
        ))
    }
}

fn parse_time(what: &str, s: &str) -> Result<i64, ConfigError> {
    OffsetDateTime::parse(s, &Rfc3339)
        .map(OffsetDateTime::unix_timestamp)
        .map_err(|e| {
            ConfigError(
                format!("{what}: `{s}` is not an RFC 3339 time like 2026-06-01T00:00:00Z"),
                Some(Arc::new(e)),
            )
        })
}

fn parse_campaign(
    c: RawCampaign,
    resolve: &dyn Fn(&Path) -> PathBuf,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Campaign, ConfigError> {
    let id = c.id;
    let here = |msg: String| ConfigError::new(format!("campaign {id}: {msg}"));
    if id.is_empty()
        || id.len() > 128
        || !id
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch))
    {
        return Err(here(
            "the id must be 1 to 128 characters of letters, digits, `-`, `_` or `.`".into(),
        ));
    }
    let kind = match c.kind.as_str() {
        "instant-win" => CampaignKind::InstantWin,
        "draw" => CampaignKind::Draw,
        other => {
            return Err(here(format!(
                "type `{other}` is unknown (instant-win or draw)"
            )))
        }
    };
    let start = parse_time("start", &c.start).map_err(|e| here(e.0))?;
    let end = parse_time("end", &c.end).map_err(|e| here(e.0))?;
    if end <= start {
        return Err(here("end must be after start".into()));
    }
    if c.max_participations_per_sub == 0 {
        return Err(here("max_participations_per_sub must be at least 1".into()));
    }
    if c.participation_limit == 0 {
        return Err(here("participation_limit must be at least 1".into()));
    }
    if c.prizes.is_empty() {
        return Err(here(
            "no prize: add at least one [[campaign.prizes]]".into(),
        ));
    }
    let mut prize_ids = HashSet::new();
    let mut prizes = Vec::new();
    for p in c.prizes {
        if p.id.is_empty() || p.id.len() > 128 || !prize_ids.insert(p.id.clone()) {
            return Err(here(format!(
                "prize id `{}` is empty, too long or repeated",
                p.id
            )));
        }
        if p.name.trim().is_empty() {
            return Err(here(format!("prize {} has no name", p.id)));
        }
        if p.quantity == 0 || p.quantity > 1_000_000 {
            return Err(here(format!(
                "prize {} needs a quantity from 1 to 1000000",
                p.id
            )));
        }
        prizes.push(Prize {
            id: p.id,
            name: p.name,
            quantity: p.quantity,
        });
    }
    let spread = c.calendar.as_ref().and_then(|cal| cal.spread);
    let draw_public_source = match (kind, c.draw_public_source) {
        (_, None) => None,
        (CampaignKind::InstantWin, Some(_)) => {
            return Err(here(
                "draw_public_source applies to draw campaigns only (remove it)".into(),
            ))
        }
        (CampaignKind::Draw, Some(s)) => {
            let s = s.trim().to_owned();
            if s.is_empty() || s.len() > 1024 {
                return Err(here("draw_public_source must be 1 to 1024 bytes".into()));
            }
            Some(s)
        }
    };
    let moments = match (kind, c.calendar) {
        (CampaignKind::Draw, Some(_)) => {
            return Err(here("a draw campaign has no calendar (remove it)".into()))
        }
        (CampaignKind::Draw, None) => Vec::new(),
        (CampaignKind::InstantWin, None) => {
            return Err(here(
                "an instant-win campaign needs a calendar: `calendar = { spread = N }` or explicit moments".into(),
            ))
        }
        (CampaignKind::InstantWin, Some(cal)) => {
            build_calendar(cal, start, end, &prizes).map_err(|e| here(e.0))?
        }
    };
    if c.keys.is_empty() {
        return Err(here(
            "no trusted key: add a [[campaign.keys]] with pem_file, jwks_file, pem, jwks, jwks_url or hmac_secret_env".into(),
        ));
    }
    let mut keys = KeySet::new();
    let mut remote = None;
    for (i, k) in c.keys.into_iter().enumerate() {
        if let Some(url) = k.jwks_url.clone() {
            if remote.is_some() {
                return Err(here(format!("keys[{i}]: only one jwks_url per campaign")));
            }
            remote = Some(
                RemoteKeySource::check(url, k, resolve)
                    .map_err(|e| here(format!("keys[{i}]: {}", e.0)))?,
            );
            continue;
        }
        add_key(&mut keys, k, resolve, env).map_err(|e| here(format!("keys[{i}]: {}", e.0)))?;
    }
    if remote.is_some() && keys.kids().any(|k| k.is_none()) {
        return Err(here(
            "with jwks_url, every other key needs a kid (a key without one would answer every token)".into(),
        ));
    }
    let mut policy = Policy::new(id.clone())
        .map_err(|e| here(e.message().into()))?
        .with_issuers(c.issuers);
    if let Some(t) = c.clock_tolerance_secs {
        policy = policy
            .with_clock_tolerance(t)
            .map_err(|e| here(e.message().into()))?;
    }
    if let Some(b) = c.max_token_bytes {
        policy = policy
            .with_max_token_bytes(b)
            .map_err(|e| here(e.message().into()))?;
    }
    let remote_keys = match remote {
        None => None,
        Some(r) => Some(Arc::new(
            RemoteKeys::new(&r.url, policy.clone(), r.timeout, r.ca_pem.as_deref())
                .map_err(|e| here(format!("keys: {}", e.0)))?,
        )),
    };
    Ok(Campaign {
        id,
        kind,
        start,
        end,
        participation_limit: c.participation_limit,
        max_participations_per_sub: c.max_participations_per_sub,
        prizes,
        moments,
        spread,
        draw_public_source,
        remote_keys,
        verifier: Verifier::new(keys, policy),
    })
}

/// A checked `jwks_url` key entry.
struct RemoteKeySource {
    url: String,
    timeout: Duration,
    ca_pem: Option<String>,
}

impl RemoteKeySource {
    fn check(
        url: String,
        k: RawKey,
        resolve: &dyn Fn(&Path) -> PathBuf,
    ) -> Result<RemoteKeySource, ConfigError> {
        if k.pem_file.is_some()
            || k.jwks_file.is_some()
            || k.pem.is_some()
            || k.jwks.is_some()
            || k.hmac_secret_env.is_some()
        {
            return err(
                "give exactly one of pem_file, jwks_file, pem, jwks, jwks_url, hmac_secret_env",
            );
        }
        if k.kid.is_some() || k.alg.is_some() {
            return err("kid and alg come from the JWKS itself; remove them here");
        }
        let ca_pem = match &k.ca_file {
            None => None,
            Some(p) => Some(crate::jwks::read_ca(&resolve(p)).map_err(|e| ConfigError::new(e.0))?),
        };
        Ok(RemoteKeySource {
            url,
            timeout: Duration::from_secs(
                k.timeout_seconds
                    .unwrap_or(campaign_token_core::jwks::FETCH_TIMEOUT_SECS),
            ),
            ca_pem,
        })
    }
}

/// Builds the winning moments. Each moment gives one unit of a prize: moments that name a
/// prize take it, the others take the remaining units in the prizes' order. `spread = N`
/// gives N placeholders at the starts of N equal slots between start and end (slot `i` is
/// `[start + ⌊i·S/N⌋, start + ⌊(i+1)·S/N⌋)`): the store draws the real moments at random,
/// one in each slot, when it first prepares the campaign (docs/fairness.md).
fn build_calendar(
    cal: RawCalendar,
    start: i64,
    end: i64,
    prizes: &[Prize],
) -> Result<Vec<Moment>, ConfigError> {
    let mut wanted: Vec<(i64, Option<String>)> = Vec::new();
    match (cal.spread, cal.moments.is_empty()) {
        (Some(_), false) => return err("calendar: give either spread or moments, not both"),
        (None, true) => return err("calendar: give spread = N or a list of moments"),
        (Some(n), true) => {
            if n == 0 {
                return err("calendar: spread must be at least 1");
            }
            let span = i128::from(end) - i128::from(start);
            if span < i128::from(n) {
                return err(format!(
                    "calendar: spread = {n} needs a campaign of at least {n} seconds"
                ));
            }
            for i in 0..i128::from(n) {
                let offset = i * span / i128::from(n);
                let at = i64::try_from(i128::from(start) + offset)
                    .or_else(|_| err("calendar: a slot is out of range"))?;
                wanted.push((at, None));
            }
        }
        (None, false) => {
            for m in cal.moments {
                let (at, prize) = match m {
                    RawMoment::At(at) => (at, None),
                    RawMoment::Detailed { at, prize } => (at, prize),
                };
                let at = parse_time("calendar moment", &at)?;
                if at < start || at >= end {
                    return err(format!(
                        "calendar: the moment at {at} (unix) is outside the campaign"
                    ));
                }
                wanted.push((at, prize));
            }
        }
    }
    // Units left per prize after the moments that name one.
    let mut left: Vec<(String, u32)> = prizes.iter().map(|p| (p.id.clone(), p.quantity)).collect();
    for (_, prize) in &wanted {
        if let Some(id) = prize {
            match left.iter_mut().find(|(pid, _)| pid == id) {
                None => return err(format!("calendar: unknown prize `{id}`")),
                Some((_, 0)) => {
                    return err(format!(
                        "calendar: more moments name prize `{id}` than its quantity"
                    ))
                }
                Some((_, n)) => *n -= 1,
            }
        }
    }
    let mut moments = Vec::with_capacity(wanted.len());
    for (at, prize) in wanted {
        let prize_id = match prize {
            Some(id) => id,
            None => match left.iter_mut().find(|(_, n)| *n > 0) {
                Some((id, n)) => {
                    *n -= 1;
                    id.clone()
                }
                None => return err("calendar: more winning moments than prizes"),
            },
        };
        moments.push(Moment { at, prize_id });
    }
    moments.sort_by_key(|m| m.at);
    Ok(moments)
}

fn add_key(
    keys: &mut KeySet,
    k: RawKey,
    resolve: &dyn Fn(&Path) -> PathBuf,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    let sources = [
        k.pem_file.is_some(),
        k.jwks_file.is_some(),
        k.pem.is_some(),
        k.jwks.is_some(),
        k.hmac_secret_env.is_some(),
    ];
    if sources.iter().filter(|s| **s).count() != 1 {
        return err(
            "give exactly one of pem_file, jwks_file, pem, jwks, jwks_url, hmac_secret_env",
        );
    }
    if k.ca_file.is_some() || k.timeout_seconds.is_some() {
        return err("ca_file and timeout_seconds apply only to jwks_url");
    }
    let read = |p: &Path| -> Result<String, ConfigError> {
        let p = resolve(p);
        std::fs::read_to_string(&p)
            .map_err(|e| ConfigError::caused(&format!("cannot read {}", p.display()), e))
    };
    let key_err =
        |e: campaign_token_core::Error| ConfigError(e.message().into(), Some(Arc::new(e)));
    let alg = match &k.alg {
        None => None,
        Some(a) => Some(
            Algorithm::from_name(a)
                .ok_or_else(|| ConfigError::new(format!("unknown alg `{a}`")))?,
        ),
    };
    if alg.is_some() && k.hmac_secret_env.is_none() {
        return err("alg applies only to hmac_secret_env (public keys carry their algorithm)");
    }
    if let Some(p) = &k.pem_file {
        keys.add_pem(k.kid, &read(p)?).map_err(key_err)
    } else if let Some(p) = &k.jwks_file {
        if k.kid.is_some() {
            return err("kid comes from the JWKS itself; remove it here");
        }
        keys.add_jwks(&read(p)?).map_err(key_err)
    } else if let Some(pem) = &k.pem {
        keys.add_pem(k.kid, pem).map_err(key_err)
    } else if let Some(jwks) = &k.jwks {
        if k.kid.is_some() {
            return err("kid comes from the JWKS itself; remove it here");
        }
        keys.add_jwks(jwks).map_err(key_err)
    } else if let Some(name) = &k.hmac_secret_env {
        let secret = env(name).ok_or_else(|| {
            ConfigError::new(format!(
                "hmac_secret_env: the environment variable {name} is not set"
            ))
        })?;
        keys.add_hmac_secret(k.kid, alg, secret.as_bytes())
            .map_err(key_err)
    } else {
        err("no key source")
    }
}
