//! A closed-loop load generator for the allocation server, bounded in requests and time,
//! loopback only.
//!
//! `loadgen --targets 127.0.0.1:8001[,127.0.0.1:8002] --path /api/campaigns/ID/participations
//!          --tokens FILE --concurrency 64 --max-requests N --max-seconds S`
//!
//! Each of the `concurrency` clients keeps one HTTP/1.1 keep-alive connection (clients are
//! spread round-robin over the targets, which is how two server processes share the load)
//! and posts one unused pre-minted token after another, so every request is a fresh
//! participation. Prints one JSON object: throughput, latency percentiles, statuses and
//! outcomes. A hand-rolled client keeps the generator's own CPU cost low: it shares two
//! cores with the server it measures.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

struct Opts {
    targets: Vec<SocketAddr>,
    path: String,
    tokens: Vec<String>,
    concurrency: usize,
    max_requests: usize,
    max_seconds: f64,
}

#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    statuses: BTreeMap<u16, u64>,
    outcomes: BTreeMap<String, u64>,
    io_errors: u64,
}

fn parse_args() -> Res<Opts> {
    let mut args = std::env::args().skip(1);
    let (mut targets, mut path, mut tokens) = (Vec::new(), String::new(), String::new());
    let (mut concurrency, mut max_requests, mut max_seconds) = (64, 10_000, 10.0);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--targets" => {
                for t in value.split(',') {
                    let addr: SocketAddr = t.parse()?;
                    // Loopback only: this tool must never become a load test of someone else.
                    if !addr.ip().is_loopback() {
                        return Err(format!("{addr} is not a loopback address").into());
                    }
                    targets.push(addr);
                }
            }
            "--path" => path = value,
            "--tokens" => tokens = value,
            "--concurrency" => concurrency = value.parse()?,
            "--max-requests" => max_requests = value.parse()?,
            "--max-seconds" => max_seconds = value.parse()?,
            _ => return Err(format!("unknown flag {flag}").into()),
        }
    }
    if targets.is_empty() || path.is_empty() || tokens.is_empty() {
        return Err("--targets, --path and --tokens are required".into());
    }
    let tokens: Vec<String> = std::fs::read_to_string(&tokens)?
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    let max_requests = max_requests.min(tokens.len());
    Ok(Opts { targets, path, tokens, concurrency, max_requests, max_seconds })
}

/// Reads one HTTP/1.1 response (Content-Length or chunked body). Returns status and body.
async fn read_response(conn: &mut TcpStream, buf: &mut Vec<u8>) -> Res<(u16, Vec<u8>, bool)> {
    buf.clear();
    let mut chunk = [0u8; 8192];
    let header_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = conn.read(&mut chunk).await?;
        if n == 0 {
            return Err("connection closed".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = std::str::from_utf8(&buf[..header_end])?.to_ascii_lowercase();
    let status: u16 = head.get(9..12).ok_or("bad status line")?.parse()?;
    let close = head.contains("\r\nconnection: close");
    let length = head
        .split("\r\n")
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| v.trim().parse::<usize>())
        .transpose()?;
    match length {
        Some(len) => {
            while buf.len() < header_end + len {
                let n = conn.read(&mut chunk).await?;
                if n == 0 {
                    return Err("connection closed in body".into());
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            Ok((status, buf[header_end..header_end + len].to_vec(), close))
        }
        None if head.contains("transfer-encoding: chunked") => {
            while !buf[header_end..].windows(5).any(|w| w == b"0\r\n\r\n") {
                let n = conn.read(&mut chunk).await?;
                if n == 0 {
                    return Err("connection closed in body".into());
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            Ok((status, buf[header_end..].to_vec(), close))
        }
        None => Ok((status, Vec::new(), close)),
    }
}

fn outcome_of(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("outcome")
                .and_then(|o| o.as_str().map(str::to_owned))
                .or_else(|| v.pointer("/error/code").and_then(|c| c.as_str().map(|c| format!("error:{c}"))))
        })
        .unwrap_or_else(|| "unparsed".into())
}

async fn client(opts: Arc<Opts>, target: SocketAddr, next: Arc<AtomicUsize>, deadline: Instant) -> Tally {
    let mut tally = Tally::default();
    let mut conn: Option<TcpStream> = None;
    let mut buf = Vec::with_capacity(16 * 1024);
    loop {
        if Instant::now() >= deadline {
            break;
        }
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= opts.max_requests {
            break;
        }
        let body = format!("{{\"token\":\"{}\"}}", opts.tokens[i]);
        let request = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
            opts.path, target, body.len(), body
        );
        let started = Instant::now();
        let attempt = async {
            if conn.is_none() {
                let c = TcpStream::connect(target).await?;
                c.set_nodelay(true)?;
                conn = Some(c);
            }
            let c = conn.as_mut().ok_or("no connection")?;
            c.write_all(request.as_bytes()).await?;
            read_response(c, &mut buf).await
        };
        match tokio::time::timeout(Duration::from_secs(10), attempt).await {
            Ok(Ok((status, body, close))) => {
                let us = started.elapsed().as_micros().min(u32::MAX as u128) as u32;
                tally.latencies_us.push(us);
                *tally.statuses.entry(status).or_default() += 1;
                *tally.outcomes.entry(outcome_of(&body)).or_default() += 1;
                if close {
                    conn = None;
                }
            }
            _ => {
                tally.io_errors += 1;
                conn = None;
            }
        }
    }
    tally
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)] as f64 / 1000.0
}

fn main() -> Res<()> {
    let opts = Arc::new(parse_args()?);
    // One worker thread: the server under test needs the rest of this small machine.
    let threads: usize = std::env::var("LOADGEN_THREADS").ok().and_then(|v| v.parse().ok()).unwrap_or(1);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build()?;
    let report = rt.block_on(async {
        let next = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let deadline = started + Duration::from_secs_f64(opts.max_seconds);
        let tasks: Vec<_> = (0..opts.concurrency)
            .map(|c| {
                let target = opts.targets[c % opts.targets.len()];
                tokio::spawn(client(opts.clone(), target, next.clone(), deadline))
            })
            .collect();
        let mut all = Tally::default();
        for t in tasks {
            let t = t.await?;
            all.latencies_us.extend(t.latencies_us);
            all.io_errors += t.io_errors;
            for (k, v) in t.statuses {
                *all.statuses.entry(k).or_default() += v;
            }
            for (k, v) in t.outcomes {
                *all.outcomes.entry(k).or_default() += v;
            }
        }
        let elapsed = started.elapsed().as_secs_f64();
        all.latencies_us.sort_unstable();
        let n = all.latencies_us.len();
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(serde_json::json!({
            "targets": opts.targets.iter().map(|t| t.to_string()).collect::<Vec<_>>(),
            "concurrency": opts.concurrency,
            "maxRequests": opts.max_requests,
            "maxSeconds": opts.max_seconds,
            "responses": n,
            "ioErrors": all.io_errors,
            "seconds": elapsed,
            "perSecond": n as f64 / elapsed,
            "ok": all.statuses.get(&200).copied().unwrap_or(0),
            "okPerSecond": all.statuses.get(&200).copied().unwrap_or(0) as f64 / elapsed,
            "p50Ms": percentile(&all.latencies_us, 0.50),
            "p99Ms": percentile(&all.latencies_us, 0.99),
            "maxMs": percentile(&all.latencies_us, 1.0),
            "statuses": all.statuses.iter().map(|(k, v)| (k.to_string(), *v)).collect::<BTreeMap<_, _>>(),
            "outcomes": all.outcomes,
        }))
    })?;
    println!("{report}");
    Ok(())
}
