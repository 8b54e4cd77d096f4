//! The HTTP front: connections accepted under limits an attacker cannot stretch.
//!
//! axum's own `serve` has no header, body or idle timeout and no connection cap, so a client
//! sending one byte per second could hold a connection (and, many times over, the server)
//! forever. Here each limit is explicit and in the configuration (`[http]`, docs/server.md):
//!
//! - **header read timeout**: hyper's, from when it waits for a request head until the head is
//!   complete;
//! - **keep-alive idle timeout**: a read that waits longer than this for any byte ends the
//!   connection (`tokio-io-timeout` around the socket);
//! - **body read timeout**: the whole body must arrive within it (`api::read_body`: 408);
//! - **connection cap**: at most `max_connections` connections are served at once; more wait in
//!   the kernel's accept queue;
//! - **shutdown deadline**: on shutdown, connections get this long to finish their requests,
//!   then are dropped.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tokio_io_timeout::TimeoutStream;
use tower::ServiceExt as _;

/// The HTTP limits of the configuration's `[http]` table.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// Longest wait for a complete request head (default 10 s).
    pub header_read_timeout: Duration,
    /// Longest time to receive a whole request body (default 10 s).
    pub body_read_timeout: Duration,
    /// Longest wait for any byte on a connection, between requests included (default 60 s).
    pub keep_alive_idle_timeout: Duration,
    /// Most connections served at once (default 1,024).
    pub max_connections: usize,
    /// How long shutdown waits for requests in flight before dropping connections (default 10 s).
    pub shutdown_deadline: Duration,
    /// How much of an oversized body the server reads and discards before its 413, so that a
    /// client that keeps writing reads the answer instead of a connection reset (default 16 MiB).
    pub max_drain_bytes: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
            keep_alive_idle_timeout: Duration::from_secs(60),
            max_connections: 1024,
            shutdown_deadline: Duration::from_secs(10),
            max_drain_bytes: 16 << 20,
        }
    }
}

/// Serves `app` on `listener` under `limits` until `stop` turns true, then shuts down within the
/// deadline. Each request carries the peer address (`ConnectInfo<SocketAddr>`).
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    limits: HttpLimits,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let mut connections = JoinSet::new();
    loop {
        // A permit first: past the cap, connections wait in the accept queue.
        let permit = tokio::select! {
            p = Arc::clone(&permits).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = stopped(&mut stop) => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little, never spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stopped(&mut stop) => break,
        };
        let _ = stream.set_nodelay(true);
        let mut timed = TimeoutStream::new(stream);
        timed.set_read_timeout(Some(limits.keep_alive_idle_timeout));
        let io = TokioIo::new(Box::pin(timed));
        let service = app
            .clone()
            .map_request(move |req: hyper::Request<hyper::body::Incoming>| {
                let mut req = req.map(axum::body::Body::new);
                req.extensions_mut().insert(ConnectInfo(peer));
                req
            });
        let conn = graceful.watch(builder.serve_connection(io, TowerToHyperService::new(service)));
        connections.spawn(async move {
            // Errors here are the client's (reset, timeout, malformed request): not ours to log
            // above debug.
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, %peer, "connection ended");
            }
            drop(permit);
        });
        // Reap finished connection tasks so the set does not grow.
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    if tokio::time::timeout(limits.shutdown_deadline, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            remaining = connections.len(),
            "shutdown deadline passed: dropping the remaining connections"
        );
    }
    connections.abort_all();
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// Resolves once `stop` is true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await.map(|_| ());
}

/// The client address of a request: the peer, or, behind a trusted proxy, the last address the
/// proxy appended to `header` (e.g. `X-Forwarded-For`). The header is trusted only when the
/// configuration names it.
pub fn client_ip(
    headers: &axum::http::HeaderMap,
    peer: Option<SocketAddr>,
    trusted_header: Option<&str>,
) -> Option<std::net::IpAddr> {
    if let Some(name) = trusted_header {
        let forwarded = headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse::<std::net::IpAddr>().ok())
            .next_back();
        if forwarded.is_some() {
            return forwarded;
        }
    }
    peer.map(|p| p.ip())
}
