//! `GET /metrics`: the OpenMetrics text format, which Prometheus scrapes (behind the operator
//! token; `application/openmetrics-text`), so an operator can
//! graph a campaign during a spike. Counters live here (`prometheus-client`, the Prometheus
//! project's Rust client); stock and the writer queue are read from the store at each scrape.
//!
//! - `campaign_token_participations_total{campaign, outcome, replayed}`: answered participations;
//! - `campaign_token_rejections_total{code}`: error answers of the API, by stable code;
//! - `campaign_token_request_duration_seconds{endpoint}`: request latency histogram;
//! - `campaign_token_database_errors_total`: answers `internal_error` or `database_unavailable`;
//! - `campaign_token_stock_remaining{campaign, prize}`: units left, read at the scrape;
//! - `campaign_token_writer_queue_depth`: participations waiting for this process's writer
//!   (SQLite's writer thread, or PostgreSQL's writer tasks).

use std::sync::atomic::{AtomicI64, AtomicU64};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ParticipationLabels {
    campaign: String,
    outcome: String,
    replayed: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabels {
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabels {
    endpoint: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StockLabels {
    campaign: String,
    prize: String,
}

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    participations: Family<ParticipationLabels, Counter>,
    rejections: Family<CodeLabels, Counter>,
    latency: Family<EndpointLabels, Histogram>,
    database_errors: Counter,
    stock: Family<StockLabels, Gauge<i64, AtomicI64>>,
    queue: Gauge<i64, AtomicI64>,
}

/// The stable error code of an error answer, for the rejection counter (set by `ApiError`).
#[derive(Clone, Copy, Debug)]
pub struct ErrorCodeExt(pub &'static str);

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("campaign_token");
        let participations = Family::<ParticipationLabels, Counter>::default();
        registry.register(
            "participations",
            "Answered participations, by campaign, outcome and whether it was a replay",
            participations.clone(),
        );
        let rejections = Family::<CodeLabels, Counter>::default();
        registry.register(
            "rejections",
            "Error answers of the API, by stable error code",
            rejections.clone(),
        );
        let latency = Family::<EndpointLabels, Histogram>::new_with_constructor(|| {
            // 0.5 ms to ~8 s.
            Histogram::new(exponential_buckets(0.0005, 2.0, 15))
        });
        registry.register(
            "request_duration_seconds",
            "Time to answer a request, by endpoint",
            latency.clone(),
        );
        let database_errors = Counter::<u64, AtomicU64>::default();
        registry.register(
            "database_errors",
            "Answers internal_error or database_unavailable",
            database_errors.clone(),
        );
        let stock = Family::<StockLabels, Gauge<i64, AtomicI64>>::default();
        registry.register(
            "stock_remaining",
            "Prize units left, read from the database at the scrape",
            stock.clone(),
        );
        let queue = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "writer_queue_depth",
            "Participations waiting for the SQLite writer thread (0 on PostgreSQL)",
            queue.clone(),
        );
        Metrics {
            registry,
            participations,
            rejections,
            latency,
            database_errors,
            stock,
            queue,
        }
    }

    /// Counts an answered participation.
    pub fn participation(&self, campaign: &str, outcome: &str, replayed: bool) {
        self.participations
            .get_or_create(&ParticipationLabels {
                campaign: campaign.to_owned(),
                outcome: outcome.to_owned(),
                replayed: replayed.to_string(),
            })
            .inc();
    }

    /// Sets the stock gauge of a prize (at a scrape).
    pub fn set_stock(&self, campaign: &str, prize: &str, remaining: i64) {
        self.stock
            .get_or_create(&StockLabels {
                campaign: campaign.to_owned(),
                prize: prize.to_owned(),
            })
            .set(remaining);
    }

    /// Sets the writer queue depth (at a scrape).
    pub fn set_queue_depth(&self, depth: usize) {
        self.queue.set(i64::try_from(depth).unwrap_or(i64::MAX));
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// Middleware: latency by endpoint (the route's pattern, never the raw path) and error answers
/// by code.
pub async fn track(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let endpoint = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "other".to_owned(), |p| p.as_str().to_owned());
    let start = Instant::now();
    let res = next.run(req).await;
    metrics
        .latency
        .get_or_create(&EndpointLabels { endpoint })
        .observe(start.elapsed().as_secs_f64());
    if let Some(ErrorCodeExt(code)) = res.extensions().get::<ErrorCodeExt>() {
        metrics
            .rejections
            .get_or_create(&CodeLabels {
                code: (*code).to_owned(),
            })
            .inc();
        if matches!(*code, "internal_error" | "database_unavailable") {
            metrics.database_errors.inc();
        }
    }
    res
}
