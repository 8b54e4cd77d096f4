//! Shared test helpers: databases (a SQLite temp file, and a fresh PostgreSQL database when
//! `CAMPAIGN_TOKEN_TEST_PG` names a server), keys and tokens, a tiny HTTP client over raw
//! TCP (so tests can send exactly the bytes they want), and the server in-process or as a
//! child process.

#![allow(dead_code)]
// Test helpers outside #[test] functions: a panic there is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use campaign_token_core::mint::{mint, SigningKey, TokenClaims};
use campaign_token_core::Algorithm;
use campaign_token_server::config::Config;
use campaign_token_server::{Clock, Server};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// 2033-05-18T03:33:20Z: the start of the in-process test campaigns.
pub const START: i64 = 2_000_000_000;
pub const START_RFC: &str = "2033-05-18T03:33:20Z";
/// START + 1 day.
pub const END: i64 = START + 86_400;
pub const END_RFC: &str = "2033-05-19T03:33:20Z";

pub const OPERATOR_TOKEN: &str = "operator-secret-0123456789";
pub const OPERATOR_ENV: &str = "CT_TEST_OPERATOR_TOKEN";

/// One signing key per test binary (its public PEM goes in the configs).
pub fn key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::generate(Algorithm::Es256).unwrap())
}

pub fn public_pem() -> String {
    key().public_pem().unwrap()
}

/// A token for `sub` in `campaign`, issued at `iat`, valid for a year, with a gift claim.
pub fn token_at(
    campaign: &str,
    sub: &str,
    iat: i64,
    cw: Option<bool>,
    label: Option<&str>,
) -> String {
    let mut claims = TokenClaims::new(sub, campaign, iat as u64, 365 * 86_400);
    if cw.is_some() || label.is_some() {
        claims = claims.with_gift(cw, label);
    }
    mint(key(), &claims).unwrap()
}

/// A token for the in-process campaigns (issued before they start).
pub fn token(campaign: &str, sub: &str, cw: Option<bool>, label: Option<&str>) -> String {
    token_at(campaign, sub, START - 3600, cw, label)
}

/// A token for the child-process campaigns (real clock).
pub fn live_token(campaign: &str, sub: &str, cw: Option<bool>, label: Option<&str>) -> String {
    token_at(
        campaign,
        sub,
        campaign_token_core::now() as i64 - 10,
        cw,
        label,
    )
}

// ---------------------------------------------------------------------------------------
// Databases.

/// A database for one test: `database = "…"` of the config.
pub struct Db {
    pub label: &'static str,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

/// The PostgreSQL admin URL, or None (with a note) when the PG half must be skipped.
/// Panics when `CAMPAIGN_TOKEN_REQUIRE_PG=1` and no server is given.
pub fn pg_admin_url() -> Option<String> {
    match std::env::var("CAMPAIGN_TOKEN_TEST_PG") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var("CAMPAIGN_TOKEN_REQUIRE_PG").as_deref() == Ok("1") {
                panic!("CAMPAIGN_TOKEN_REQUIRE_PG=1 but CAMPAIGN_TOKEN_TEST_PG is not set");
            }
            eprintln!(
                "note: CAMPAIGN_TOKEN_TEST_PG is not set: skipping the PostgreSQL half of this test"
            );
            None
        }
    }
}

/// `url` with its database name replaced by `db`.
fn with_dbname(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{db}", &base[..host_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// A fresh PostgreSQL database for one test.
pub async fn pg_database(admin: &str, test: &str) -> String {
    let (client, conn) = tokio_postgres::connect(admin, tokio_postgres::NoTls)
        .await
        .expect("connect to CAMPAIGN_TOKEN_TEST_PG");
    let task = tokio::spawn(conn);
    let mut r = [0u8; 6];
    getrandom::getrandom(&mut r).unwrap();
    let suffix: String = r.iter().map(|b| format!("{b:02x}")).collect();
    let name = format!(
        "ct_{}_{suffix}",
        test.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
    );
    client
        .batch_execute(&format!("CREATE DATABASE \"{name}\""))
        .await
        .unwrap();
    drop(client);
    let _ = task.await;
    with_dbname(admin, &name)
}

/// The databases a test runs on: SQLite always, PostgreSQL when configured.
pub async fn databases(test: &str) -> Vec<Db> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("test.db");
    let mut out = vec![Db {
        label: "sqlite",
        url: format!("sqlite:{}", path.display()),
        _dir: Some(dir),
    }];
    if let Some(admin) = pg_admin_url() {
        out.push(Db {
            label: "postgres",
            url: pg_database(&admin, test).await,
            _dir: None,
        });
    }
    out
}

// ---------------------------------------------------------------------------------------
// Configurations.

/// A `[[campaign]]` table with the test key.
pub fn campaign_toml(
    id: &str,
    kind: &str,
    start: &str,
    end: &str,
    extra: &str,
    prizes: &[(&str, &str, u32)],
) -> String {
    let mut s = format!(
        "[[campaign]]\nid = \"{id}\"\ntype = \"{kind}\"\nstart = \"{start}\"\nend = \"{end}\"\n{extra}\n\
         [[campaign.keys]]\npem = '''\n{}'''\n",
        public_pem()
    );
    for (pid, name, q) in prizes {
        s.push_str(&format!(
            "[[campaign.prizes]]\nid = \"{pid}\"\nname = \"{name}\"\nquantity = {q}\n"
        ));
    }
    s
}

/// A draw campaign running from START to END with the test key.
pub fn draw_campaign(id: &str, extra: &str, prizes: &[(&str, &str, u32)]) -> String {
    campaign_toml(id, "draw", START_RFC, END_RFC, extra, prizes)
}

/// A whole configuration: database, operator token, campaigns.
pub fn config_toml(database: &str, campaigns: &[String]) -> String {
    let mut s = format!(
        "listen = \"127.0.0.1:0\"\ndatabase = \"{database}\"\noperator_token_env = \"{OPERATOR_ENV}\"\n"
    );
    for c in campaigns {
        s.push_str(c);
    }
    s
}

pub const HMAC_ENV: &str = "CT_TEST_HMAC_SECRET";
pub const HMAC_SECRET: &str = "a shared secret of at least 32 bytes, server side only";

pub fn test_env(name: &str) -> Option<String> {
    match name {
        OPERATOR_ENV => Some(OPERATOR_TOKEN.to_owned()),
        HMAC_ENV => Some(HMAC_SECRET.to_owned()),
        _ => None,
    }
}

/// A server running in this process with a manual clock at `now`.
pub struct Harness {
    pub server: Server,
    pub clock: Clock,
}

impl Harness {
    pub async fn start(toml: &str, now: i64) -> Harness {
        let config = Config::parse(toml, Path::new("."), &test_env).unwrap();
        let clock = Clock::manual(now);
        let server = Server::start(config, clock.clone()).await.unwrap();
        Harness { server, clock }
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    pub async fn participate(&self, campaign: &str, token: &str) -> (u16, Value) {
        participate(self.addr(), campaign, token).await
    }

    pub async fn operator_get(&self, campaign: &str, what: &str) -> Value {
        let (s, v) = request(
            self.addr(),
            "GET",
            &format!("/api/campaigns/{campaign}/{what}"),
            &[("Authorization", &format!("Bearer {OPERATOR_TOKEN}"))],
            b"",
        )
        .await;
        assert_eq!(s, 200, "{what}: {v}");
        v
    }

    pub async fn stop(self) {
        self.server.shutdown().await;
    }
}

// ---------------------------------------------------------------------------------------
// HTTP over raw TCP.

/// Sends one HTTP/1.1 request (Connection: close) and returns the status and JSON body
/// (`Value::Null` when the body is not JSON).
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Value) {
    let (status, head, body) = raw(addr, method, path, headers, body, true).await;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(&body)
    } else {
        body
    };
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// The body of a chunked transfer.
pub fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = b
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size line");
        let size =
            usize::from_str_radix(std::str::from_utf8(&b[..eol]).unwrap().trim(), 16).unwrap();
        b = &b[eol + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}

/// Sends a request; returns status, header block and body. With `length` false the body is
/// sent chunked.
pub async fn raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    length: bool,
) -> (u16, String, Vec<u8>) {
    tokio::time::timeout(Duration::from_secs(60), async {
        let mut s = TcpStream::connect(addr).await?;
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if length {
            head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
            s.write_all(head.as_bytes()).await?;
            // The server may answer (413) and close before reading everything.
            let _ = s.write_all(body).await;
        } else {
            head.push_str("Transfer-Encoding: chunked\r\n\r\n");
            s.write_all(head.as_bytes()).await?;
            for chunk in body.chunks(1024) {
                if s.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                    .await
                    .is_err()
                    || s.write_all(chunk).await.is_err()
                    || s.write_all(b"\r\n").await.is_err()
                {
                    break;
                }
            }
            let _ = s.write_all(b"0\r\n\r\n").await;
        }
        let mut buf = Vec::new();
        // A reset after the answer (the server closed with unread input) is fine.
        let read = s.read_to_end(&mut buf).await;
        if buf.is_empty() {
            read?;
        }
        let split = buf
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| {
                std::io::Error::other(format!(
                    "no HTTP answer: {:?}",
                    String::from_utf8_lossy(&buf)
                ))
            })?;
        let head = String::from_utf8_lossy(&buf[..split]).into_owned();
        let status: u16 = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other("no status"))?;
        Ok::<_, std::io::Error>((status, head, buf[split + 4..].to_vec()))
    })
    .await
    .expect("request timed out")
    .expect("request failed")
}

/// Like [`request`] but returns an error instead of panicking (the server may be killed).
pub async fn try_participate(
    addr: SocketAddr,
    campaign: &str,
    token: &str,
) -> Option<(u16, Value)> {
    let body = serde_json::json!({ "token": token }).to_string();
    let fut = async {
        let mut s = TcpStream::connect(addr).await.ok()?;
        let req = format!(
            "POST /api/campaigns/{campaign}/participations HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).await.ok()?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.ok()?;
        let split = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&buf[..split]).into_owned();
        let status: u16 = head.split(' ').nth(1)?.parse().ok()?;
        let v: Value = serde_json::from_slice(&buf[split + 4..]).ok()?;
        Some((status, v))
    };
    tokio::time::timeout(Duration::from_secs(60), fut)
        .await
        .ok()
        .flatten()
}

pub async fn participate(addr: SocketAddr, campaign: &str, token: &str) -> (u16, Value) {
    let body = serde_json::json!({ "token": token }).to_string();
    request(
        addr,
        "POST",
        &format!("/api/campaigns/{campaign}/participations"),
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
    .await
}

/// The built server binary on `config` (written to `dir/<name>.toml`), once it prints the
/// address it listens on; its stdout is drained from then on. Killed when dropped.
pub async fn spawn_binary(
    dir: &Path,
    name: &str,
    config: &str,
) -> (tokio::process::Child, SocketAddr) {
    use tokio::io::AsyncBufReadExt;
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, config).unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_campaign-token-server"))
        .arg("--config")
        .arg(&path)
        .env(OPERATOR_ENV, OPERATOR_TOKEN)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(a) = line.strip_prefix("listening on http://") {
                return a.parse::<SocketAddr>().unwrap();
            }
        }
        panic!("the server exited before listening");
    })
    .await
    .expect("the server did not start");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, addr)
}

// ---------------------------------------------------------------------------------------
// Logs.

/// Everything the server logs in this test binary, at every level (a global subscriber set
/// on first use).
pub fn logs() -> std::sync::Arc<std::sync::Mutex<Vec<u8>>> {
    use std::sync::{Arc, Mutex};
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    Arc::clone(LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&buf);
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || LogSink(Arc::clone(&sink)))
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        buf
    }))
}

/// Where [`logs`] writes.
pub struct LogSink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogSink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
