//! The HTTP front under the attacks of issue 10: slow headers, slow bodies and idle
//! connections are closed within their configured timeouts; a hundred slow connections do not
//! stop a valid participation; SIGTERM returns within the shutdown deadline with a slow client
//! connected; a client that keeps writing an oversized body reads its 413 (Node's fetch); and
//! an address that keeps sending rejected tokens is slowed down while valid tokens still pass.
//!
//! Bounds are generous (several times the configured timeouts) so that a loaded machine cannot
//! make these tests flaky: they check that connections are closed, not how fast.

// Test helpers outside #[test] functions: a panic there is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Command;

const HTTP: &str = "[http]\nheader_read_timeout_seconds = 1\nbody_read_timeout_seconds = 1\n\
    keep_alive_idle_timeout_seconds = 2\nmax_connections = 200\nshutdown_deadline_seconds = 2\n\
    rejected_tokens_per_minute = 5\n";

fn config(db: &str) -> String {
    let campaign = draw_campaign("c1", "participation_limit = 50", &[("a", "Alpha", 100)]);
    // Top-level keys first: TOML puts every key after `[http]` in that table.
    format!("{}{HTTP}{campaign}", config_toml(db, &[]))
}

/// Waits until the server closes `s` (EOF or reset); returns how long it took, or None after
/// `limit`. Whatever the server sent first (a 408, say) is returned too.
async fn closed_within(s: &mut TcpStream, limit: Duration) -> Option<(Duration, String)> {
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(limit.saturating_sub(start.elapsed()), s.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => {
                return Some((start.elapsed(), String::from_utf8_lossy(&got).into_owned()))
            }
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// Sends `bytes` one at a time, one per `every`, until the server stops accepting them.
fn trickle(mut w: tokio::net::tcp::OwnedWriteHalf, bytes: Vec<u8>, every: Duration) {
    tokio::spawn(async move {
        for b in bytes {
            if w.write_all(&[b]).await.is_err() {
                return;
            }
            tokio::time::sleep(every).await;
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_headers_slow_bodies_and_idle_connections_are_closed() {
    let db = databases("slow").await.remove(0);
    let h = Harness::start(&config(&db.url), START + 10).await;
    let limit = Duration::from_secs(15);

    // Headers, one byte a second: closed by the 1 s header timeout.
    let s = TcpStream::connect(h.addr()).await.unwrap();
    let (mut r, w) = s.into_split();
    trickle(
        w,
        b"POST /api/campaigns/c1/participations HTTP/1.1\r\nHost: x\r\n".to_vec(),
        Duration::from_secs(1),
    );
    let mut buf = [0u8; 256];
    let closed = tokio::time::timeout(limit, async {
        while let Ok(n) = r.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "a slow header was still open after {limit:?}"
    );

    // A body, one byte a second: answered 408 and closed by the 1 s body timeout.
    let mut s = TcpStream::connect(h.addr()).await.unwrap();
    s.write_all(b"POST /api/campaigns/c1/participations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{").await.unwrap();
    let (mut r, w) = s.into_split();
    trickle(w, vec![b' '; 99], Duration::from_secs(1));
    let mut got = Vec::new();
    let done = tokio::time::timeout(limit, async {
        loop {
            match r.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(done.is_ok(), "a slow body was still open after {limit:?}");
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("request_timeout"), "{text}");

    // A kept-alive connection that says nothing more: closed by the idle timeout.
    let mut s = TcpStream::connect(h.addr()).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let closed = closed_within(&mut s, limit).await;
    let (_, first) = closed.expect("an idle connection was still open");
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_idle_kept_alive_connection_is_closed_by_the_idle_timeout_alone() {
    // The header timeout is long here, so only the idle timer can close the connection (with
    // the shared config above, hyper's 1 s header timeout would close it too).
    let db = databases("idle_alone").await.remove(0);
    let campaign = draw_campaign("c1", "", &[("a", "Alpha", 1)]);
    let cfg = format!(
        "{}[http]\nheader_read_timeout_seconds = 120\nbody_read_timeout_seconds = 120\n\
         keep_alive_idle_timeout_seconds = 1\nshutdown_deadline_seconds = 2\n{campaign}",
        config_toml(&db.url, &[])
    );
    let h = Harness::start(&cfg, START + 10).await;
    let mut s = TcpStream::connect(h.addr()).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (_, first) = closed_within(&mut s, Duration::from_secs(30))
        .await
        .expect("an idle kept-alive connection was still open after 30 s");
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_slow_connections_do_not_stop_a_valid_participation() {
    let db = databases("hundred_slow").await.remove(0);
    let h = Harness::start(&config(&db.url), START + 10).await;
    let mut slow = Vec::new();
    for _ in 0..100 {
        let s = TcpStream::connect(h.addr()).await.unwrap();
        let (r, w) = s.into_split();
        trickle(
            w,
            b"POST /api/campaigns/c1/participations HTTP/1.1\r\n".to_vec(),
            Duration::from_millis(700),
        );
        slow.push(r);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (s, v) = tokio::time::timeout(
        Duration::from_secs(30),
        h.participate("c1", &token("c1", "alice", Some(true), None)),
    )
    .await
    .expect("a valid participation waited behind slow connections");
    assert_eq!((s, &v["outcome"]), (200, &Value::from("won")), "{v}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rejected_tokens_from_one_address_are_slowed_down_and_valid_ones_still_pass() {
    let db = databases("rate").await.remove(0);
    let h = Harness::start(&config(&db.url), START + 10).await;
    let forged = {
        let t = token("c1", "mallory", Some(true), None);
        let (input, _) = t.rsplit_once('.').unwrap();
        format!("{input}.{}", "A".repeat(86))
    };
    let mut codes = Vec::new();
    for _ in 0..8 {
        let (s, e) = h.participate("c1", &forged).await;
        codes.push((
            s,
            e["error"]["code"].as_str().unwrap_or_default().to_owned(),
        ));
    }
    assert_eq!(
        codes[..5].iter().filter(|(s, _)| *s == 401).count(),
        5,
        "{codes:?}"
    );
    assert!(
        codes[5..]
            .iter()
            .all(|(s, c)| *s == 429 && c == "rate_limited"),
        "{codes:?}"
    );
    let (status, head, _) = raw(
        h.addr(),
        "POST",
        "/api/campaigns/c1/participations",
        &[("Content-Type", "application/json")],
        serde_json::json!({ "token": forged })
            .to_string()
            .as_bytes(),
        true,
    )
    .await;
    assert_eq!(status, 429);
    assert!(head.to_ascii_lowercase().contains("retry-after:"), "{head}");
    // The same address with a valid token: answered.
    let (s, v) = h
        .participate("c1", &token("c1", "alice", Some(true), None))
        .await;
    assert_eq!((s, &v["outcome"]), (200, &Value::from("won")), "{v}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_returns_within_the_shutdown_deadline_with_a_slow_client_connected() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("t.db").display());
    // Long timeouts, so only the shutdown deadline (2 s) can end the slow client's connection.
    let campaign = campaign_toml(
        "c",
        "draw",
        "2020-01-01T00:00:00Z",
        "2099-01-01T00:00:00Z",
        "",
        &[("a", "Alpha", 1)],
    );
    let cfg = format!(
        "{}[http]\nheader_read_timeout_seconds = 600\nbody_read_timeout_seconds = 600\n\
         keep_alive_idle_timeout_seconds = 600\nshutdown_deadline_seconds = 2\n{campaign}",
        config_toml(&db, &[])
    );
    let (mut child, addr) = spawn_binary(dir.path(), "limits", &cfg).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"POST /api/campaigns/c/participations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{").await.unwrap();
    let (_r, w) = s.into_split();
    trickle(w, vec![b' '; 99], Duration::from_secs(1));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &child.id().unwrap().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("SIGTERM did not return: a slow client held the server")
        .unwrap();
    assert_eq!(status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_ten_megabyte_body_written_without_pause_gets_its_413_in_node_fetch() {
    let db = databases("big_body").await.remove(0);
    let h = Harness::start(&config(&db.url), START + 10).await;
    let script = r#"
        const url = process.argv[1];
        const body = '{"token":"' + 'x'.repeat(10 * 1024 * 1024) + '"}';
        const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
        console.log(JSON.stringify({ status: r.status, body: await r.json() }));
    "#;
    let url = format!("http://{}/api/campaigns/c1/participations", h.addr());
    let out = Command::new("node")
        .args(["--input-type=module", "-e", script, &url])
        .output()
        .await
        .expect("node (20 or later) runs the fetch");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "node's fetch failed: {}{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["status"], 413, "{v}");
    assert_eq!(v["body"]["error"]["code"], "body_too_large");
    h.stop().await;
}
