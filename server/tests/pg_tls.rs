//! PostgreSQL over TLS (rustls) against a throwaway cluster that refuses plain connections
//! (scripts/pg.sh `pg_tls_start`, named by CAMPAIGN_TOKEN_TEST_PG_TLS and its CA by
//! CAMPAIGN_TOKEN_TEST_PG_TLS_CA), and the connect timeout against a port that accepts and
//! stays silent, and a database that freezes while serving (a relay that swallows every byte):
//! a hung database is a quick error (503 database_unavailable, for the health check and
//! for participations), not a stalled server.

// Test helpers outside #[test] functions: a panic there is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use campaign_token_server::config::Config;
use campaign_token_server::{Clock, Server};
use common::*;
use serde_json::Value;

fn tls_cluster() -> Option<(String, String)> {
    match (
        std::env::var("CAMPAIGN_TOKEN_TEST_PG_TLS"),
        std::env::var("CAMPAIGN_TOKEN_TEST_PG_TLS_CA"),
    ) {
        (Ok(url), Ok(ca)) if !url.is_empty() => Some((url, ca)),
        _ => {
            assert_ne!(
                std::env::var("CAMPAIGN_TOKEN_REQUIRE_PG").as_deref(),
                Ok("1"),
                "CAMPAIGN_TOKEN_REQUIRE_PG=1 but no TLS cluster (CAMPAIGN_TOKEN_TEST_PG_TLS)"
            );
            eprintln!("note: CAMPAIGN_TOKEN_TEST_PG_TLS is not set: skipping the TLS tests");
            None
        }
    }
}

async fn start(toml: &str) -> Result<Server, String> {
    let config = Config::parse(toml, Path::new("."), &test_env).map_err(|e| e.to_string())?;
    Server::start(config, Clock::manual(START + 10))
        .await
        .map_err(|e| e.to_string())
}

/// Top-level keys go before the first table: `config_toml` ends with its top-level keys.
fn with_tls(database: &str, tls: &str, campaign: &str) -> String {
    let top = config_toml(database, &[]);
    let c = campaign_toml(
        campaign,
        "draw",
        START_RFC,
        END_RFC,
        "",
        &[("a", "Alpha", 5)],
    );
    format!("{top}{tls}\n{c}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_over_tls_require_and_verify_full() {
    let Some((url, ca)) = tls_cluster() else {
        return;
    };
    // Plain TCP is refused by the cluster: the server does not start, and says why.
    let plain = start(&with_tls(&url, "", "tls_plain")).await;
    assert!(plain.is_err(), "a TLS-only cluster accepted plain TCP");

    for (i, tls) in [
        "database_tls = \"require\"".to_owned(),
        format!("database_tls = \"verify-full\"\ndatabase_ca_file = \"{ca}\""),
    ]
    .into_iter()
    .enumerate()
    {
        let campaign = format!("tls{i}");
        let server = start(&with_tls(&url, &tls, &campaign))
            .await
            .unwrap_or_else(|e| panic!("{tls}: {e}"));
        let (s, v) = participate(
            server.addr,
            &campaign,
            &token(&campaign, "alice", Some(true), None),
        )
        .await;
        assert_eq!((s, &v["outcome"]), (200, &Value::from("won")), "{tls}: {v}");
        server.shutdown().await;
    }

    // verify-full with another CA: the certificate is refused.
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other-ca.pem");
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=another CA",
        ])
        .arg("-keyout")
        .arg(dir.path().join("other.key"))
        .arg("-out")
        .arg(&other)
        .output()
        .unwrap();
    assert!(made.status.success());
    let wrong = format!(
        "database_tls = \"verify-full\"\ndatabase_ca_file = \"{}\"",
        other.display()
    );
    assert!(
        start(&with_tls(&url, &wrong, "tls_wrong")).await.is_err(),
        "a certificate of another CA was accepted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_that_accepts_and_stays_silent_is_a_quick_error() {
    // Accepts connections and never answers: a hung database.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let url = format!("postgres://app@127.0.0.1:{port}/campaigns");
    let toml = with_tls(
        &url,
        "database_connect_timeout_seconds = 1\ndatabase_acquire_timeout_seconds = 1",
        "silent",
    );
    let started = Instant::now();
    let result = tokio::time::timeout(Duration::from_secs(60), start(&toml))
        .await
        .expect("the server waited forever for a silent database");
    assert!(result.is_err(), "started against a silent database");
    assert!(started.elapsed() < Duration::from_secs(60));
    drop(silent);
}

/// What the relay of [`relayed`] does with the connections to PostgreSQL.
const PASS: u8 = 0;
/// Swallows every byte on the connections it relays and accepts new ones without ever
/// answering, as a database whose host froze would (no reset, no close).
const HANG: u8 = 1;
/// Closes a relayed connection as soon as either side sends anything, and accepts and closes
/// new ones, as a database that was shut down would.
const CLOSE: u8 = 2;

/// A TCP relay to the database of `url`, and the URL through it; set its mode (PASS, HANG,
/// CLOSE) to make the database freeze or go away, and PASS to bring it back.
async fn relayed(url: &str) -> (String, std::sync::Arc<std::sync::atomic::AtomicU8>) {
    use std::sync::atomic::{AtomicU8, Ordering};
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn pump(
        mut from: tokio::net::tcp::OwnedReadHalf,
        mut to: tokio::net::tcp::OwnedWriteHalf,
        mode: Arc<AtomicU8>,
    ) {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match from.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => match mode.load(Ordering::SeqCst) {
                    HANG => {}
                    CLOSE => return,
                    _ => {
                        if to.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                },
            }
        }
    }

    let cfg: tokio_postgres::Config = url.parse().unwrap();
    let host = match &cfg.get_hosts()[0] {
        tokio_postgres::config::Host::Tcp(h) => h.clone(),
        #[allow(unreachable_patterns)]
        _ => "127.0.0.1".to_string(),
    };
    let port = cfg.get_ports().first().copied().unwrap_or(5432);
    let upstream = tokio::net::lookup_host((host.as_str(), port))
        .await
        .unwrap()
        .next()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mode = Arc::new(AtomicU8::new(PASS));
    let flag = mode.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((client, _)) = listener.accept().await {
            match flag.load(Ordering::SeqCst) {
                HANG => held.push(client),
                CLOSE => drop(client),
                _ => {
                    let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
                        continue;
                    };
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    tokio::spawn(pump(cr, sw, flag.clone()));
                    tokio::spawn(pump(sr, cw, flag.clone()));
                }
            }
        }
    });
    let through = format!(
        "postgres://{}@{addr}/{}{}",
        cfg.get_user().unwrap_or("postgres"),
        cfg.get_dbname().unwrap_or("postgres"),
        match url.split_once('?') {
            Some((_, q)) => format!("?{q}"),
            None => String::new(),
        }
    );
    (through, mode)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_that_hangs_while_serving_is_a_quick_503() {
    let Some(admin) = pg_admin_url() else {
        return;
    };
    let url = pg_database(&admin, "hangs").await;
    let (relayed, mode) = relayed(&url).await;
    let toml = with_tls(
        &relayed,
        "database_connect_timeout_seconds = 1\ndatabase_acquire_timeout_seconds = 1\n\
         database_statement_timeout_seconds = 1",
        "hangs",
    );
    let h = Harness::start(&toml, START + 10).await;
    let (s, v) = request(h.addr(), "GET", "/healthz", &[], b"").await;
    assert_eq!(s, 200, "healthy first: {v}");
    let (s, v) = h
        .participate("hangs", &token("hangs", "before", None, None))
        .await;
    assert_eq!(s, 200, "{v}");

    mode.store(HANG, std::sync::atomic::Ordering::SeqCst);
    // Deadline 2 s (statement + connect timeouts); 60 s would mean it never gave up.
    let started = Instant::now();
    let (s, v) = request(h.addr(), "GET", "/healthz", &[], b"").await;
    assert_eq!(s, 503, "{v}");
    assert_eq!(v["error"]["code"], "database_unavailable", "{v}");
    let (s, v) = h
        .participate("hangs", &token("hangs", "after", None, None))
        .await;
    assert_eq!(s, 503, "a hung database answered {s}: {v}");
    assert_eq!(v["error"]["code"], "database_unavailable", "{v}");
    assert!(started.elapsed() < Duration::from_secs(50));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_that_goes_away_answers_503_with_retry_after_and_loses_nothing() {
    let Some(admin) = pg_admin_url() else {
        return;
    };
    let url = pg_database(&admin, "goes_away").await;
    let (relayed, mode) = relayed(&url).await;
    let toml = with_tls(
        &relayed,
        "database_connect_timeout_seconds = 1\ndatabase_acquire_timeout_seconds = 1\n\
         database_statement_timeout_seconds = 1",
        "goes_away",
    );
    let h = Harness::start(&toml, START + 10).await;
    let before = token("goes_away", "before", None, None);
    let (s, v) = h.participate("goes_away", &before).await;
    assert_eq!(s, 200, "{v}");

    // The database goes away: its connections close, new ones are refused.
    mode.store(CLOSE, std::sync::atomic::Ordering::SeqCst);
    let after = token("goes_away", "after", None, None);
    let body = serde_json::to_vec(&serde_json::json!({ "token": after })).unwrap();
    let (s, head, body) = raw(
        h.addr(),
        "POST",
        "/api/campaigns/goes_away/participations",
        &[("Content-Type", "application/json")],
        &body,
        true,
    )
    .await;
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    assert_eq!(s, 503, "{head}\n{v}");
    assert_eq!(v["error"]["code"], "database_unavailable", "{v}");
    assert!(
        head.to_ascii_lowercase().contains("retry-after: 5"),
        "no Retry-After: {head}"
    );

    // Back: the refused participation was not recorded, so its retry is a first participation,
    // and the earlier one is still there (a replay).
    mode.store(PASS, std::sync::atomic::Ordering::SeqCst);
    let mut answer = (0, Value::Null);
    for _ in 0..20 {
        answer = h.participate("goes_away", &after).await;
        if answer.0 == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(answer.0, 200, "{}", answer.1);
    assert_eq!(answer.1["replayed"], false, "{}", answer.1);
    let (s, v) = h.participate("goes_away", &before).await;
    assert_eq!((s, &v["replayed"]), (200, &Value::Bool(true)), "{v}");
    h.stop().await;
}
