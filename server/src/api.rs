//! The HTTP API of docs/CONTRACTS.md: participations, operator endpoints, health, and the
//! static campaign site with its security headers.
//!
//! Every answer to hostile input is a JSON error with a stable code; nothing here panics on
//! a request.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use campaign_token_core::ErrorCode;
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tower::ServiceExt;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::config::{Campaign, Site};
use crate::jwks::CheckError;
use crate::store::{NewParticipation, ParticipateError, Store, StoreError};
use crate::Clock;

mod fairness;
pub mod operator;

/// Largest request body accepted (participation and draw requests).
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// What the handlers share.
pub struct AppState {
    /// Campaigns by id.
    pub campaigns: HashMap<String, Arc<Campaign>>,
    /// Storage.
    pub store: Arc<dyn Store>,
    /// Operator bearer token (operator endpoints refuse everything without one).
    pub operator_token: Option<String>,
    /// The erasure HMAC key from the configuration (`None`: the key kept in the database).
    pub erasure_key: Option<Vec<u8>>,
    /// Time source.
    pub clock: Clock,
    /// HTTP limits (body read timeout, how much of an oversized body to drain).
    pub limits: crate::http::HttpLimits,
    /// Per-address limit on rejected tokens, if enabled.
    pub rejected: Option<RejectedLimiter>,
    /// The header a trusted proxy puts the client address in (`[http] trusted_proxy_header`).
    pub trusted_proxy_header: Option<String>,
    /// Counters for `GET /metrics`.
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// Counts rejected tokens per client address (GCRA, `governor`).
pub type RejectedLimiter = governor::DefaultKeyedRateLimiter<std::net::IpAddr>;

/// Every error answer of the API, rendered as `{"error": {"code", "message", "claim"?}}`.
///
/// Each variant carries its own stable code, HTTP status and message, so a handler only
/// says *what* went wrong; codes are part of docs/CONTRACTS.md and never change.
#[derive(Debug)]
#[non_exhaustive]
pub enum ApiError {
    /// `404 not_found`: no route and no file for a non-GET request.
    NotFound,
    /// `404 unknown_campaign`: no campaign with the path's id runs here.
    UnknownCampaign,
    /// `413 body_too_large`: the body exceeds [`MAX_BODY_BYTES`].
    BodyTooLarge,
    /// `415 unsupported_media_type`: a POST body not declared `Content-Type: application/json`.
    UnsupportedMediaType,
    /// `408 request_timeout`: the body did not arrive within `[http] body_read_timeout_seconds`.
    RequestTimeout,
    /// `429 rate_limited`: this address sent too many rejected tokens; retry after the seconds.
    RateLimited(u64),
    /// `400 bad_request`: the body is not what the endpoint reads; the message says why.
    BadRequest(std::borrow::Cow<'static, str>),
    /// `401`/`403` with the core's code: the token was rejected (`wrong_campaign` is 403,
    /// every other rejection 401).
    Token(campaign_token_core::Error),
    /// `409 campaign_not_started`.
    CampaignNotStarted,
    /// `409 campaign_ended`.
    CampaignEnded,
    /// `409 participation_limit`: this `sub` has used its participations.
    ParticipationLimit,
    /// `403 not_allowed`: the token says `limit.canPlay: false`.
    NotAllowed,
    /// `401 unauthorized` (with `WWW-Authenticate: Bearer`): no or wrong operator token.
    Unauthorized,
    /// `409 not_a_draw_campaign`: instant-win campaigns have no draw.
    NotADrawCampaign,
    /// `409 campaign_not_ended`: the draw waits for the end of the campaign.
    CampaignNotEnded,
    /// `409 already_drawn`.
    AlreadyDrawn,
    /// `409 not_drawn`: disqualification needs a verifiable draw first.
    NotDrawn,
    /// `404 not_a_winner`: the participation is not a current winner of the draw.
    NotAWinner,
    /// `404 unknown_prize`: the campaign has no prize with the path's id.
    UnknownPrize,
    /// `409 no_public_source`: the configuration names no `draw_public_source`.
    NoPublicSource,
    /// `503 database_unavailable`: the database could not be reached or did not answer in
    /// time (the health check, or a request that needed it; nothing was recorded).
    DatabaseUnavailable,
    /// `503 keys_unavailable`: the campaign's `jwks_url` has not answered with a key set yet.
    KeysUnavailable,
    /// `500 internal_error`: logged where it happened; the client may retry.
    Internal,
}

impl ApiError {
    /// `400 bad_request` with a message saying what the endpoint reads.
    pub fn bad_request(message: impl Into<std::borrow::Cow<'static, str>>) -> ApiError {
        ApiError::BadRequest(message.into())
    }

    /// Logs an internal failure and answers `500 internal_error` without its details.
    fn internal(what: &str, e: &dyn std::fmt::Display) -> ApiError {
        tracing::error!(error = %e, "{what} failed");
        ApiError::Internal
    }

    /// A failure of the store: `503 database_unavailable` when the database could not be
    /// reached or did not answer in time, else `500 internal_error`; logged either way.
    fn store(what: &str, e: &StoreError) -> ApiError {
        if e.is_unavailable() {
            tracing::warn!(error = %e, "{what}: the database is unavailable");
            ApiError::DatabaseUnavailable
        } else {
            ApiError::internal(what, e)
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::NotFound | ApiError::UnknownCampaign => StatusCode::NOT_FOUND,
            ApiError::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Token(e) if e.code() == ErrorCode::WrongCampaign => StatusCode::FORBIDDEN,
            ApiError::NotAllowed => StatusCode::FORBIDDEN,
            ApiError::Token(_) | ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::CampaignNotStarted
            | ApiError::CampaignEnded
            | ApiError::ParticipationLimit
            | ApiError::NotADrawCampaign
            | ApiError::CampaignNotEnded
            | ApiError::AlreadyDrawn
            | ApiError::NotDrawn
            | ApiError::NoPublicSource => StatusCode::CONFLICT,
            ApiError::NotAWinner | ApiError::UnknownPrize => StatusCode::NOT_FOUND,
            ApiError::DatabaseUnavailable | ApiError::KeysUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable code (token rejections keep the core's [`ErrorCode`]).
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::NotFound => "not_found",
            ApiError::UnknownCampaign => "unknown_campaign",
            ApiError::BodyTooLarge => "body_too_large",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::RequestTimeout => "request_timeout",
            ApiError::RateLimited(_) => "rate_limited",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Token(e) => e.code().as_str(),
            ApiError::CampaignNotStarted => "campaign_not_started",
            ApiError::CampaignEnded => "campaign_ended",
            ApiError::ParticipationLimit => "participation_limit",
            ApiError::NotAllowed => "not_allowed",
            ApiError::Unauthorized => "unauthorized",
            ApiError::NotADrawCampaign => "not_a_draw_campaign",
            ApiError::CampaignNotEnded => "campaign_not_ended",
            ApiError::AlreadyDrawn => "already_drawn",
            ApiError::NotDrawn => "not_drawn",
            ApiError::NotAWinner => "not_a_winner",
            ApiError::UnknownPrize => "unknown_prize",
            ApiError::NoPublicSource => "no_public_source",
            ApiError::DatabaseUnavailable => "database_unavailable",
            ApiError::KeysUnavailable => "keys_unavailable",
            ApiError::Internal => "internal_error",
        }
    }

    /// A human sentence; wording may change, the code will not.
    pub fn message(&self) -> &str {
        match self {
            ApiError::NotFound => "no such resource",
            ApiError::UnknownCampaign => "no campaign with this id runs here",
            ApiError::BodyTooLarge => "the request body is larger than 16 KiB",
            ApiError::UnsupportedMediaType => {
                "the request body must be JSON, sent with `Content-Type: application/json`"
            }
            ApiError::RequestTimeout => "the request body did not arrive in time",
            ApiError::RateLimited(_) => {
                "too many rejected tokens from this address: retry later (see Retry-After)"
            }
            ApiError::BadRequest(m) => m,
            ApiError::Token(e) => e.message(),
            ApiError::CampaignNotStarted => "the campaign has not started yet",
            ApiError::CampaignEnded => "the campaign has ended",
            ApiError::ParticipationLimit => {
                "this participant has used all their participations in this campaign"
            }
            ApiError::NotAllowed => {
                "the brand's token says this visitor may not take part (limit.canPlay is false)"
            }
            ApiError::Unauthorized => {
                "operator endpoints need `Authorization: Bearer <operator token>`"
            }
            ApiError::NotADrawCampaign => {
                "instant-win campaigns have no draw: the calendar decides"
            }
            ApiError::CampaignNotEnded => "the draw happens once the campaign has ended",
            ApiError::AlreadyDrawn => {
                "this campaign has been drawn already (see its stats and winners)"
            }
            ApiError::NotDrawn => "this campaign has no verifiable draw yet",
            ApiError::NotAWinner => "this participation is not a current winner of the draw",
            ApiError::UnknownPrize => "this campaign has no prize with this id",
            ApiError::NoPublicSource => {
                "the configuration names no draw_public_source: name it (before the end) and restart"
            }
            ApiError::DatabaseUnavailable => "the database does not answer",
            ApiError::KeysUnavailable => {
                "the brand's key set (jwks_url) could not be fetched yet: retry in a minute"
            }
            ApiError::Internal => {
                "the server could not complete the request; retry with the same token"
            }
        }
    }

    /// The `{"code", "message", "claim"?}` object.
    fn body(&self) -> Value {
        let mut err = json!({"code": self.code(), "message": self.message()});
        if let (ApiError::Token(e), Some(obj)) = (self, err.as_object_mut()) {
            if let Some(claim) = e.claim_name() {
                obj.insert("claim".into(), claim.into());
            }
        }
        err
    }
}

impl From<campaign_token_core::Error> for ApiError {
    fn from(e: campaign_token_core::Error) -> ApiError {
        ApiError::Token(e)
    }
}

/// `Retry-After` of `503 database_unavailable`: soon, but not in a tight loop.
pub const DATABASE_RETRY_AFTER_SECS: u64 = 5;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = (self.status(), Json(json!({ "error": self.body() }))).into_response();
        res.extensions_mut()
            .insert(crate::metrics::ErrorCodeExt(self.code()));
        if matches!(self, ApiError::Unauthorized) {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let ApiError::RateLimited(secs) = self {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        if matches!(self, ApiError::DatabaseUnavailable) {
            res.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(DATABASE_RETRY_AFTER_SECS),
            );
        }
        if matches!(self, ApiError::KeysUnavailable) {
            // The JWKS is asked again at most once a minute (core::jwks::MIN_TTL).
            res.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(campaign_token_core::jwks::MIN_TTL),
            );
        }
        res
    }
}

/// The `{id}` parameter of a route, by name (routes may have more parameters).
#[derive(serde::Deserialize)]
struct IdParam {
    id: String,
}

/// The campaign named by the path's `{id}`; rejects with `unknown_campaign`.
pub struct CampaignPath(pub Arc<Campaign>);

impl FromRequestParts<Arc<AppState>> for CampaignPath {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        // An id that does not percent-decode to UTF-8 can name no campaign; axum's own
        // rejection would be plain text, so it gets the API's JSON `bad_request` (same 400).
        let Path(IdParam { id }) = Path::<IdParam>::from_request_parts(parts, state)
            .await
            .map_err(|_| {
                ApiError::bad_request("the campaign id in the path is not UTF-8").into_response()
            })?;
        match state.campaigns.get(&id) {
            Some(c) => Ok(CampaignPath(Arc::clone(c))),
            None => Err(ApiError::UnknownCampaign.into_response()),
        }
    }
}

/// An operator request on the path's campaign: the bearer token is checked first
/// (`unauthorized`), then the campaign looked up (`unknown_campaign`), so an unauthenticated
/// caller learns nothing about which campaigns exist.
pub struct OperatorCampaign(pub Arc<Campaign>);

impl FromRequestParts<Arc<AppState>> for OperatorCampaign {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        operator(state, &parts.headers).map_err(IntoResponse::into_response)?;
        let CampaignPath(c) = CampaignPath::from_request_parts(parts, state).await?;
        Ok(OperatorCampaign(c))
    }
}

/// The router of the campaign listener: API, health, and the campaign site.
pub fn router(state: Arc<AppState>, site: &Site) -> Router {
    let api = Router::new()
        .route("/api/campaigns/{id}/participations", post(participate))
        .route("/api/campaigns/{id}/stats", get(stats))
        .route("/api/campaigns/{id}/winners", get(operator::winners_json))
        .route("/api/campaigns/{id}/draw", post(fairness::draw))
        .route("/api/campaigns/{id}/fairness", get(fairness::fairness))
        .route(
            "/api/campaigns/{id}/winners/{participation}/disqualify",
            post(fairness::disqualify),
        )
        .route("/api/campaigns/{id}/audit", get(fairness::audit))
        .route("/api/campaigns", get(operator::campaigns))
        .route("/api/campaigns/{id}/timeseries", get(operator::timeseries))
        .route(
            "/api/campaigns/{id}/winners.csv",
            get(operator::winners_csv),
        )
        .route(
            "/api/campaigns/{id}/prizes/{prize}/stock",
            post(operator::add_stock),
        )
        .route("/api/campaigns/{id}/erasure", post(operator::erasure))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route_layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state.metrics),
            crate::metrics::track,
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .with_state(state);
    let mut app = api;
    if let Some(pkg) = &site.pkg {
        app = app.nest_service("/pkg", ServeDir::new(pkg));
    }
    if let Some(dir) = &site.operator {
        // The console's own policy: it has no wasm, is never framed, and talks only to
        // this origin. Set here, so the campaign page's policy below does not replace it.
        let console = Router::new()
            .fallback_service(ServeDir::new(dir))
            .layer(SetResponseHeaderLayer::overriding(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(OPERATOR_CSP),
            ))
            .layer(SetResponseHeaderLayer::overriding(
                header::CACHE_CONTROL,
                HeaderValue::from_static("no-store"),
            ));
        // index.html names its files by absolute path, so `/operator` works as `/operator/`.
        app = app.nest_service("/operator", console);
    }
    let dirs = Arc::new(site.dirs.clone());
    app = app.fallback(move |req: Request| serve_dirs(Arc::clone(&dirs), req));
    with_page_headers(app, Some(campaign_csp(&site.integrator_origins)))
}

/// The router of the integrator demo listener: its directories (and `/pkg`), nothing else.
pub fn integrator_router(dirs: Vec<PathBuf>, pkg: Option<PathBuf>, csp: Option<String>) -> Router {
    let mut app = Router::new();
    if let Some(pkg) = pkg {
        app = app.nest_service("/pkg", ServeDir::new(pkg));
    }
    let dirs = Arc::new(dirs);
    app = app.fallback(move |req: Request| serve_dirs(Arc::clone(&dirs), req));
    with_page_headers(app, csp)
}

/// The Content-Security-Policy of the operator console at `/operator/`: scripts, styles
/// and requests from this origin only, no inline code, no wasm, never framed.
pub const OPERATOR_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
     form-action 'none'";

/// The Content-Security-Policy of the campaign page (docs/CONTRACTS.md).
pub fn campaign_csp(integrator_origins: &[String]) -> String {
    let mut ancestors = String::from("'self'");
    for o in integrator_origins {
        ancestors.push(' ');
        ancestors.push_str(o);
    }
    format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; \
         img-src 'self' data:; connect-src 'self'; frame-ancestors {ancestors}; \
         base-uri 'none'; form-action 'self'; object-src 'none'"
    )
}

fn with_page_headers(app: Router, csp: Option<String>) -> Router {
    let mut app = app
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ));
    // Origins and the integrator CSP were checked to be printable ASCII at start-up.
    // `if_not_present`: the operator console sets its own, stricter policy.
    if let Some(v) = csp.and_then(|c| HeaderValue::from_str(&c).ok()) {
        app = app.layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            v,
        ));
    }
    app
}

/// Serves a GET/HEAD from the first directory that has the file.
async fn serve_dirs(dirs: Arc<Vec<PathBuf>>, req: Request) -> Response {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return ApiError::NotFound.into_response();
    }
    for dir in dirs.iter() {
        let mut copy = Request::new(Body::empty());
        *copy.method_mut() = req.method().clone();
        *copy.uri_mut() = req.uri().clone();
        *copy.headers_mut() = req.headers().clone();
        let res = match ServeDir::new(dir).oneshot(copy).await {
            Ok(res) => res,
            Err(never) => match never {},
        };
        if res.status() != StatusCode::NOT_FOUND {
            return res.map(Body::new);
        }
    }
    (StatusCode::NOT_FOUND, "not found\n").into_response()
}

/// `GET /metrics`, operator: the Prometheus text exposition (`crate::metrics`).
async fn metrics(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    operator(&state, &headers)?;
    for c in state.campaigns.values() {
        let stats = state
            .store
            .stats(Arc::clone(c))
            .await
            .map_err(|e| ApiError::store("metrics", &e))?;
        for p in &stats.prizes {
            state.metrics.set_stock(&c.id, &p.id, p.remaining);
        }
    }
    state.metrics.set_queue_depth(state.store.queue_depth());
    let text = state
        .metrics
        .render()
        .map_err(|e| ApiError::internal("metrics", &e))?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        )],
        text,
    )
        .into_response())
}

async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    match state.store.ping().await {
        Ok(()) => Json(json!({"status": "ok"})).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "health check: database unreachable");
            let e = ApiError::DatabaseUnavailable;
            (
                e.status(),
                Json(json!({"status": "unavailable", "error": e.body()})),
            )
                .into_response()
        }
    }
}

/// Reads a body of at most [`MAX_BODY_BYTES`].
async fn read_body(
    limits: &crate::http::HttpLimits,
    headers: &HeaderMap,
    body: Body,
) -> Result<Bytes, ApiError> {
    use http_body_util::BodyExt as _;
    // Every POST body is JSON and must say so: a form or text/plain post (what a cross-site
    // <form> can send without a preflight) is refused before it is read.
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(ApiError::UnsupportedMediaType);
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // Too large to drain: answer at once (the client may see a reset instead of the 413).
    if declared.is_some_and(|n| n > limits.max_drain_bytes as u64) {
        return Err(ApiError::BodyTooLarge);
    }
    // The whole body within the body read timeout: one byte a second never holds a request.
    let deadline = tokio::time::Instant::now() + limits.body_read_timeout;
    let mut body = body;
    let mut kept = Vec::new();
    let mut total = 0usize;
    let mut too_large = declared.is_some_and(|n| n > MAX_BODY_BYTES as u64);
    loop {
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => return Err(ApiError::RequestTimeout),
            Ok(None) => break,
            Ok(Some(Err(_))) if too_large => return Err(ApiError::BodyTooLarge),
            Ok(Some(Err(_))) => {
                return Err(ApiError::bad_request("the request body could not be read"))
            }
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        total = total.saturating_add(data.len());
        if total > MAX_BODY_BYTES {
            too_large = true;
        }
        if too_large {
            // Read and discard an oversized body (up to a bound) before answering 413, so a
            // client that keeps writing reads the answer instead of a connection reset.
            if total > limits.max_drain_bytes {
                return Err(ApiError::BodyTooLarge);
            }
            continue;
        }
        kept.extend_from_slice(&data);
    }
    if too_large {
        return Err(ApiError::BodyTooLarge);
    }
    Ok(Bytes::from(kept))
}

async fn participate(
    State(state): State<Arc<AppState>>,
    CampaignPath(campaign): CampaignPath,
    peer: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let peer = peer.map(|axum::Extension(axum::extract::ConnectInfo(p))| p);
    participate_from(&state, campaign, peer, &headers, body)
        .await
        .map_err(|e| rate_limit_rejection(&state, e, peer, &headers))
}

/// A token rejection counts against its client address; past the `[http]
/// rejected_tokens_per_minute` allowance the answer becomes `429 rate_limited` (with
/// `Retry-After`) instead of the verdict. Only rejections count: a valid token from the same
/// address is answered as usual.
fn rate_limit_rejection(
    state: &AppState,
    e: ApiError,
    peer: Option<std::net::SocketAddr>,
    headers: &HeaderMap,
) -> ApiError {
    let (ApiError::Token(_), Some(limiter)) = (&e, &state.rejected) else {
        return e;
    };
    let Some(ip) = crate::http::client_ip(headers, peer, state.trusted_proxy_header.as_deref())
    else {
        return e;
    };
    match limiter.check_key(&ip) {
        Ok(()) => e,
        Err(not_until) => {
            use governor::clock::Clock as _;
            let wait = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
            if limiter.len() > 100_000 {
                limiter.retain_recent();
            }
            ApiError::RateLimited(wait.as_secs().saturating_add(1))
        }
    }
}

/// The body of `POST /api/campaigns/{id}/participations`, read (a fuzz target: fuzz/).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParticipationBody {
    /// The token text (empty when absent: the core answers `no_token`).
    pub token: String,
    /// The page's answers, as compact JSON, if any.
    pub answers: Option<String>,
}

impl ParticipationBody {
    /// Reads `{"token": "…", "answers": …}`; anything else is `400 bad_request`.
    pub fn parse(bytes: &[u8]) -> Result<ParticipationBody, ApiError> {
        let value: Value = serde_json::from_slice(bytes).map_err(|_| {
            ApiError::bad_request("the body must be JSON: {\"token\": \"…\", \"answers\": …}")
        })?;
        let Value::Object(mut obj) = value else {
            return Err(ApiError::bad_request("the body must be a JSON object"));
        };
        // Absent: `no_token` (401) from the core. Present, it must be a string (null included).
        let token = match obj.remove("token") {
            None => String::new(),
            Some(Value::String(t)) => t,
            Some(_) => return Err(ApiError::bad_request("`token` must be a string")),
        };
        let answers = match obj.remove("answers") {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.to_string()),
        };
        Ok(ParticipationBody { token, answers })
    }
}

async fn participate_from(
    state: &AppState,
    campaign: Arc<Campaign>,
    _peer: Option<std::net::SocketAddr>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = read_body(&state.limits, headers, body).await?;
    let ParticipationBody { token, answers } = ParticipationBody::parse(&bytes)?;
    let now = state.clock.now();
    let verified = campaign.verify(&token, now).await.map_err(|e| match e {
        CheckError::Token(e) => ApiError::Token(e),
        CheckError::KeysUnavailable => ApiError::KeysUnavailable,
    })?;
    // Replays are keyed on the verified token's identity (SHA-256 of its signing input),
    // not on its text: the ECDSA twin of a signature, or any spelling that still verifies, is
    // the same participation.
    let replay_key = hex(verified.replay_id());
    // `limit.canPlay: false`: the brand says this visitor may not take part.
    if !verified.can_play() {
        return Err(ApiError::NotAllowed);
    }
    // What a server before schema 5 keyed the same text on (migration 5 kept those rows).
    let legacy_key = format!("text:{}", hex(&Sha256::digest(token.as_bytes())));
    if now < campaign.start {
        return Err(ApiError::CampaignNotStarted);
    }
    if now >= campaign.end {
        // A visitor checking their result after the end gets their participation back; a
        // token never recorded is refused.
        return match state
            .store
            .replay(Arc::clone(&campaign), replay_key, legacy_key, verified.sub)
            .await
        {
            Ok(Some(p)) => Ok(Json(p).into_response()),
            Ok(None) => Err(ApiError::CampaignEnded),
            Err(e) => Err(ApiError::store("replay lookup", &e)),
        };
    }
    let pid = random_id().map_err(|e| ApiError::internal("random id", &e))?;
    let allowance = verified
        .participation_allowance()
        .map_or(campaign.participation_limit, |nb| {
            nb.min(campaign.max_participations_per_sub)
        });
    let json_text = |v: &Option<serde_json::Map<String, Value>>| {
        v.as_ref().map(|m| Value::Object(m.clone()).to_string())
    };
    let new = NewParticipation {
        id: pid,
        token_hash: replay_key,
        brand_form: json_text(&verified.form),
        brand_optin: json_text(&verified.optin),
        legacy_hash: legacy_key,
        sub: verified.sub,
        eligibility: verified.eligibility,
        token_label: verified.prize_label,
        answers,
        allowance,
        now,
    };
    match state.store.participate(Arc::clone(&campaign), new).await {
        Ok(p) => {
            state
                .metrics
                .participation(&campaign.id, p.outcome.as_str(), p.replayed);
            tracing::info!(
                campaign = %campaign.id,
                participation = %p.participation_id,
                outcome = p.outcome.as_str(),
                prize = p.prize.as_ref().map(|x| x.id.as_str()),
                replayed = p.replayed,
                "participation"
            );
            Ok(Json(p).into_response())
        }
        Err(ParticipateError::Limit) => Err(ApiError::ParticipationLimit),
        Err(ParticipateError::Store(e)) => Err(ApiError::store("participation", &e)),
    }
}

/// Checks the operator's bearer token in constant time (digests of equal length compared
/// without early exit, so neither the content nor the length leaks through timing).
fn operator(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(expected) = &state.operator_token else {
        return Err(ApiError::Unauthorized);
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(ApiError::Unauthorized)?;
    let a = Sha256::digest(given.trim().as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    let diff = a
        .iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y));
    if diff == 0 {
        Ok(())
    } else {
        Err(ApiError::Unauthorized)
    }
}

fn status_of(c: &Campaign, now: i64) -> &'static str {
    if now < c.start {
        "not-started"
    } else if now >= c.end {
        "ended"
    } else {
        "running"
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StatsBody {
    campaign_id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    status: &'static str,
    start: i64,
    end: i64,
    participation_limit: u32,
    #[serde(flatten)]
    stats: crate::store::Stats,
}

async fn stats(
    State(state): State<Arc<AppState>>,
    OperatorCampaign(c): OperatorCampaign,
) -> Result<Response, ApiError> {
    let stats = state
        .store
        .stats(Arc::clone(&c))
        .await
        .map_err(|e| ApiError::store("stats", &e))?;
    Ok(Json(StatsBody {
        campaign_id: c.id.clone(),
        kind: c.kind.as_str(),
        status: status_of(&c, state.clock.now()),
        start: c.start,
        end: c.end,
        participation_limit: c.participation_limit,
        stats,
    })
    .into_response())
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// A random participation id (128 bits from the OS CSPRNG, hex).
fn random_id() -> Result<String, getrandom::Error> {
    let mut b = [0u8; 16];
    getrandom::getrandom(&mut b)?;
    Ok(hex(&b))
}

#[cfg(test)]
mod tests {
    use super::ApiError;

    /// One error of each kind. The match makes a new variant fail to compile here until it is
    /// listed, and so checked against the documentation below.
    fn one_of_each() -> Vec<ApiError> {
        let all = vec![
            ApiError::NotFound,
            ApiError::UnknownCampaign,
            ApiError::BodyTooLarge,
            ApiError::UnsupportedMediaType,
            ApiError::RequestTimeout,
            ApiError::RateLimited(1),
            ApiError::bad_request("the body must be a JSON object"),
            ApiError::CampaignNotStarted,
            ApiError::CampaignEnded,
            ApiError::ParticipationLimit,
            ApiError::NotAllowed,
            ApiError::Unauthorized,
            ApiError::NotADrawCampaign,
            ApiError::CampaignNotEnded,
            ApiError::AlreadyDrawn,
            ApiError::NotDrawn,
            ApiError::NotAWinner,
            ApiError::UnknownPrize,
            ApiError::NoPublicSource,
            ApiError::DatabaseUnavailable,
            ApiError::KeysUnavailable,
            ApiError::Internal,
        ];
        for e in &all {
            match e {
                ApiError::NotFound
                | ApiError::UnknownCampaign
                | ApiError::BodyTooLarge
                | ApiError::UnsupportedMediaType
                | ApiError::RequestTimeout
                | ApiError::RateLimited(_)
                | ApiError::BadRequest(_)
                | ApiError::CampaignNotStarted
                | ApiError::CampaignEnded
                | ApiError::ParticipationLimit
                | ApiError::NotAllowed
                | ApiError::Unauthorized
                | ApiError::NotADrawCampaign
                | ApiError::CampaignNotEnded
                | ApiError::AlreadyDrawn
                | ApiError::NotDrawn
                | ApiError::NotAWinner
                | ApiError::UnknownPrize
                | ApiError::NoPublicSource
                | ApiError::DatabaseUnavailable
                | ApiError::KeysUnavailable
                | ApiError::Internal => {}
                // Token rejections keep the core's codes, listed by ErrorCode::ALL.
                ApiError::Token(_) => unreachable!("not listed above"),
            }
        }
        all
    }

    #[test]
    fn every_server_code_is_documented_with_its_status() {
        let doc = include_str!("../../docs/server.md");
        let mut seen = std::collections::HashSet::new();
        for e in one_of_each() {
            assert!(seen.insert(e.code()), "duplicate code {}", e.code());
            assert!(
                campaign_token_core::ErrorCode::from_code(e.code()).is_none(),
                "{} is a token code",
                e.code()
            );
            let code = format!("`{}`", e.code());
            let status = e.status().as_u16().to_string();
            assert!(
                doc.lines()
                    .any(|l| l.contains(&code) && l.contains(&status)),
                "docs/server.md has no line with {status} and {code}"
            );
        }
    }
}
