//! The HTTP API of docs/CONTRACTS.md: participations, operator endpoints, health, and the
//! static campaign site with its security headers.
//!
//! Every answer to hostile input is a JSON error with a stable code; nothing here panics on
//! a request.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use campaign_token::ErrorCode;
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tower::ServiceExt;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::config::{Campaign, Site};
use crate::store::{NewParticipation, ParticipateError, Store};
use crate::Clock;

mod fairness;

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
    /// Time source.
    pub clock: Clock,
}

/// An error answer: `{"error": {"code", "message", "claim"?}}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    claim: Option<&'static str>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            claim: None,
        }
    }

    fn internal(what: &str, e: &dyn std::fmt::Display) -> ApiError {
        tracing::error!(error = %e, "{what} failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "the server could not complete the request; retry with the same token",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut err = json!({"code": self.code, "message": self.message});
        if let (Some(claim), Some(obj)) = (self.claim, err.as_object_mut()) {
            obj.insert("claim".into(), claim.into());
        }
        let mut res = (self.status, Json(json!({ "error": err }))).into_response();
        if self.status == StatusCode::UNAUTHORIZED && self.code == "unauthorized" {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}

/// The router of the campaign listener: API, health, and the campaign site.
pub fn router(state: Arc<AppState>, site: &Site) -> Router {
    let api = Router::new()
        .route("/api/campaigns/{id}/participations", post(participate))
        .route("/api/campaigns/{id}/stats", get(stats))
        .route("/api/campaigns/{id}/winners", get(winners))
        .route("/api/campaigns/{id}/draw", post(fairness::draw))
        .route("/api/campaigns/{id}/fairness", get(fairness::fairness))
        .route(
            "/api/campaigns/{id}/winners/{participation}/disqualify",
            post(fairness::disqualify),
        )
        .route("/api/campaigns/{id}/audit", get(fairness::audit))
        .route("/healthz", get(healthz))
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .with_state(state);
    let mut app = api;
    if let Some(pkg) = &site.pkg {
        app = app.nest_service("/pkg", ServeDir::new(pkg));
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
    if let Some(v) = csp.and_then(|c| HeaderValue::from_str(&c).ok()) {
        app = app.layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            v,
        ));
    }
    app
}

/// Serves a GET/HEAD from the first directory that has the file.
async fn serve_dirs(dirs: Arc<Vec<PathBuf>>, req: Request) -> Response {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such resource")
            .into_response();
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

async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    match state.store.ping().await {
        Ok(()) => Json(json!({"status": "ok"})).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "health check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable", "error": {"code": "database_unavailable", "message": "the database does not answer"}})),
            )
                .into_response()
        }
    }
}

fn campaign(state: &AppState, id: &str) -> Result<Arc<Campaign>, ApiError> {
    state.campaigns.get(id).cloned().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_campaign",
            "no campaign with this id runs here",
        )
    })
}

/// Reads a body of at most [`MAX_BODY_BYTES`].
async fn read_body(headers: &HeaderMap, body: Body) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "the request body is larger than 16 KiB",
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| too_large())
}

fn bad_request(message: &str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
}

async fn participate(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let campaign = campaign(&state, &id)?;
    let bytes = read_body(&headers, body).await?;
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|_| bad_request("the body must be JSON: {\"token\": \"…\", \"answers\": …}"))?;
    let Value::Object(mut obj) = value else {
        return Err(bad_request("the body must be a JSON object"));
    };
    let token = match obj.remove("token") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(t)) => t,
        Some(_) => return Err(bad_request("`token` must be a string")),
    };
    let answers = match obj.remove("answers") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.to_string()),
    };
    let now = state.clock.now();
    let verified = campaign
        .verifier
        .verify(&token, u64::try_from(now).unwrap_or(0))
        .map_err(|e| {
            let status = if e.code() == ErrorCode::WrongCampaign {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::UNAUTHORIZED
            };
            ApiError {
                status,
                code: e.code().as_str(),
                message: e.message().into(),
                claim: e.claim_name(),
            }
        })?;
    if now < campaign.start {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "campaign_not_started",
            "the campaign has not started yet",
        ));
    }
    if now >= campaign.end {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "campaign_ended",
            "the campaign has ended",
        ));
    }
    let pid = random_id().map_err(|e| ApiError::internal("random id", &e))?;
    let new = NewParticipation {
        id: pid,
        token_hash: hex(&Sha256::digest(token.as_bytes())),
        sub: verified.sub,
        eligibility: verified.eligibility,
        token_label: verified.prize_label,
        answers,
        now,
    };
    match state.store.participate(Arc::clone(&campaign), new).await {
        Ok(p) => {
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
        Err(ParticipateError::Limit) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "participation_limit",
            "this participant has used all their participations in this campaign",
        )),
        Err(ParticipateError::Store(e)) => Err(ApiError::internal("participation", &e)),
    }
}

/// Checks the operator's bearer token in constant time (digests of equal length compared
/// without early exit, so neither the content nor the length leaks through timing).
fn operator(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let unauthorized = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "operator endpoints need `Authorization: Bearer <operator token>`",
        )
    };
    let Some(expected) = &state.operator_token else {
        return Err(unauthorized());
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(unauthorized)?;
    let a = Sha256::digest(given.trim().as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    let diff = a
        .iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y));
    if diff == 0 {
        Ok(())
    } else {
        Err(unauthorized())
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
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    operator(&state, &headers)?;
    let c = campaign(&state, &id)?;
    let stats = state
        .store
        .stats(Arc::clone(&c))
        .await
        .map_err(|e| ApiError::internal("stats", &e))?;
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

async fn winners(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    operator(&state, &headers)?;
    let c = campaign(&state, &id)?;
    let winners = state
        .store
        .winners(Arc::clone(&c))
        .await
        .map_err(|e| ApiError::internal("winners", &e))?;
    Ok(Json(json!({"campaignId": c.id, "winners": winners})).into_response())
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
