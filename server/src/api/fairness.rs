//! The fairness endpoints (docs/fairness.md, docs/server.md): the public commitments and
//! reveals, the verifiable draw, disqualification and redraw, and the operator's audit log.
//!
//! What is published when: from the first preparation, the calendar's commitment (instant
//! win), the draw secret's commitment and the configured public source (draw); after the
//! end, the calendar itself with its salt; after the draw, the draw record. Nothing here
//! answers or logs an unclaimed moment before the end.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use super::{read_body, status_of, ApiError, AppState, CampaignPath, OperatorCampaign};
use crate::config::CampaignKind;
use crate::store::{DisqualifyRequest, DrawError, DrawOutcome, DrawRequest};

/// Longest operator label, reason or public value accepted (characters).
pub(super) const MAX_LABEL_CHARS: usize = 100;
const MAX_TEXT_CHARS: usize = 1000;

/// `GET /api/campaigns/{id}/fairness`, public.
pub(super) async fn fairness(
    State(state): State<Arc<AppState>>,
    CampaignPath(c): CampaignPath,
) -> Result<Response, ApiError> {
    let now = state.clock.now();
    let view = state
        .store
        .fairness(Arc::clone(&c), now)
        .await
        .map_err(|e| ApiError::store("fairness", &e))?;
    let mut body = json!({
        "campaignId": c.id,
        "type": c.kind.as_str(),
        "status": status_of(&c, now),
        "start": c.start,
        "end": c.end,
    });
    if let Value::Object(obj) = &mut body {
        match c.kind {
            CampaignKind::InstantWin => {
                obj.insert(
                    "calendar".into(),
                    json!({
                        "algorithm": campaign_token_core::fairness::calendar::CALENDAR_ALGORITHM,
                        "commitment": view.calendar_commitment,
                        "revealed": view.calendar,
                    }),
                );
            }
            CampaignKind::Draw => {
                obj.insert(
                    "draw".into(),
                    json!({
                        "algorithm": campaign_token_core::fairness::draw::DRAW_ALGORITHM,
                        "version": campaign_token_core::fairness::draw::DRAW_VERSION,
                        "secretCommitment": view.draw_secret_commitment,
                        "publicSource": c.draw_public_source,
                        "record": view.draw,
                    }),
                );
            }
        }
    }
    Ok(Json(body).into_response())
}

/// A JSON object body (empty means `{}`).
pub(super) async fn object_body(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
    shape: &str,
) -> Result<Map<String, Value>, ApiError> {
    let bytes = read_body(&state.limits, headers, body).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(obj)) => Ok(obj),
        _ => Err(ApiError::bad_request(format!(
            "the body must be a JSON object: {shape}"
        ))),
    }
}

/// An optional text member: trimmed, 1 to `max` characters.
pub(super) fn text_member(
    obj: &Map<String, Value>,
    name: &str,
    max: usize,
) -> Result<Option<String>, ApiError> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() && s.trim().chars().count() <= max => {
            Ok(Some(s.trim().to_owned()))
        }
        Some(_) => Err(ApiError::bad_request(format!(
            "`{name}` must be a string of 1 to {max} characters"
        ))),
    }
}

fn draw_error(e: DrawError) -> ApiError {
    match e {
        DrawError::AlreadyDrawn => ApiError::AlreadyDrawn,
        DrawError::NotDrawn => ApiError::NotDrawn,
        DrawError::NotAWinner => ApiError::NotAWinner,
        DrawError::Invalid(e) => ApiError::bad_request(e.to_string()),
        DrawError::Store(e) => ApiError::store("draw", &e),
    }
}

fn outcome_body(c: &str, by: &str, now: i64, outcome: DrawOutcome) -> Response {
    Json(json!({
        "campaignId": c,
        "drawnBy": by,
        "drawnAt": now,
        "winners": outcome.winners,
        "returnedToStock": outcome.returned_to_stock,
        "record": outcome.record,
    }))
    .into_response()
}

/// `POST /api/campaigns/{id}/draw`, operator: `{"publicValue": "…", "by": "name"?}`.
pub(super) async fn draw(
    State(state): State<Arc<AppState>>,
    OperatorCampaign(c): OperatorCampaign,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let shape = "{\"publicValue\": \"…\", \"by\": \"name\"}";
    let obj = object_body(&state, &headers, body, shape).await?;
    let by = text_member(&obj, "by", MAX_LABEL_CHARS)?.unwrap_or_else(|| "operator".into());
    let public_value = text_member(&obj, "publicValue", MAX_TEXT_CHARS)?;
    if c.kind == CampaignKind::InstantWin {
        return Err(ApiError::NotADrawCampaign);
    }
    let now = state.clock.now();
    if now < c.end {
        return Err(ApiError::CampaignNotEnded);
    }
    let Some(public_source) = c.draw_public_source.clone() else {
        return Err(ApiError::NoPublicSource);
    };
    let Some(public_value) = public_value else {
        return Err(ApiError::bad_request(format!(
            "give the value of `{public_source}` as published: {shape}"
        )));
    };
    let request = DrawRequest {
        drawn_by: by.clone(),
        public_source,
        public_value,
        now,
    };
    let outcome = state
        .store
        .draw(Arc::clone(&c), request)
        .await
        .map_err(draw_error)?;
    tracing::info!(campaign = %c.id, drawn_by = %by, winners = outcome.winners.len(), "draw");
    Ok(outcome_body(&c.id, &by, now, outcome))
}

/// `POST /api/campaigns/{id}/winners/{participationId}/disqualify`, operator:
/// `{"reason": "…", "by": "name"?}`.
pub(super) async fn disqualify(
    State(state): State<Arc<AppState>>,
    OperatorCampaign(c): OperatorCampaign,
    Path((_, participation)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let shape = "{\"reason\": \"…\", \"by\": \"name\"}";
    let obj = object_body(&state, &headers, body, shape).await?;
    let by = text_member(&obj, "by", MAX_LABEL_CHARS)?.unwrap_or_else(|| "operator".into());
    let reason = text_member(&obj, "reason", MAX_TEXT_CHARS)?
        .ok_or_else(|| ApiError::bad_request(format!("give a reason: {shape}")))?;
    let now = state.clock.now();
    let request = DisqualifyRequest {
        participation_id: participation.clone(),
        reason,
        by: by.clone(),
        now,
    };
    let outcome = state
        .store
        .disqualify(Arc::clone(&c), request)
        .await
        .map_err(draw_error)?;
    tracing::info!(
        campaign = %c.id,
        disqualified = %participation,
        by = %by,
        replaced = !outcome.winners.is_empty(),
        "disqualification"
    );
    Ok(outcome_body(&c.id, &by, now, outcome))
}

/// `GET /api/campaigns/{id}/audit`, operator.
pub(super) async fn audit(
    State(state): State<Arc<AppState>>,
    OperatorCampaign(c): OperatorCampaign,
) -> Result<Response, ApiError> {
    let entries = state
        .store
        .audit(Arc::clone(&c))
        .await
        .map_err(|e| ApiError::store("audit", &e))?;
    Ok(Json(json!({"campaignId": c.id, "entries": entries})).into_response())
}
