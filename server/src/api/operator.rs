//! The operator API of the console (docs/server.md, "Operator API"): the campaign list, the
//! time series of participations, the winners as a streamed CSV file, stock additions and
//! erasure. Every endpoint needs the operator bearer token; every change is written to the
//! audit log, without personal data.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::fairness::{object_body, text_member, MAX_LABEL_CHARS};
use super::{operator, ApiError, AppState, OperatorCampaign};
use crate::config::{Campaign, CampaignKind};
use crate::store::{AddStock, Erasure, Outcome, Winner, WinnerKey};

/// Winners read from the database per page of the CSV export: the export holds at most
/// this many rows in memory, however many winners there are.
pub const CSV_PAGE: i64 = 500;

/// Longest `sub` accepted for an erasure (characters).
const MAX_SUB_CHARS: usize = 1000;

/// Most units added in one request.
const MAX_ADD: i64 = 1_000_000_000;

/// The campaign's state at `now`, as the console names it.
fn list_status(c: &Campaign, now: i64) -> &'static str {
    if now < c.start {
        "scheduled"
    } else if now >= c.end {
        "ended"
    } else {
        "running"
    }
}

/// The campaign's type as the console contract names it (`instant` or `draw`).
fn list_type(c: &Campaign) -> &'static str {
    match c.kind {
        CampaignKind::InstantWin => "instant",
        CampaignKind::Draw => "draw",
    }
}

/// `GET /api/campaigns`: every configured campaign, by id.
pub(super) async fn campaigns(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    operator(&state, &headers)?;
    let now = state.clock.now();
    let mut list: Vec<&Arc<Campaign>> = state.campaigns.values().collect();
    list.sort_by(|a, b| a.id.cmp(&b.id));
    let campaigns: Vec<Value> = list
        .into_iter()
        .map(|c| {
            json!({
                "campaignId": c.id,
                "type": list_type(c),
                "status": list_status(c, now),
                "start": c.start,
                "end": c.end,
            })
        })
        .collect();
    Ok(Json(json!({ "campaigns": campaigns })).into_response())
}

#[derive(serde::Deserialize)]
pub(super) struct BucketQuery {
    bucket: Option<String>,
}

/// The outcomes every time series point lists, even at 0.
const SERIES_OUTCOMES: [Outcome; 4] = [
    Outcome::Won,
    Outcome::Lost,
    Outcome::EnteredDraw,
    Outcome::NotEligible,
];

/// `GET /api/campaigns/{id}/timeseries?bucket=minute|hour|day`.
pub(super) async fn timeseries(
    State(state): State<Arc<AppState>>,
    OperatorCampaign(c): OperatorCampaign,
    query: Result<Query<BucketQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let bucket = query
        .map_err(|_| ApiError::bad_request("bucket must be minute, hour or day"))?
        .0
        .bucket
        .unwrap_or_else(|| "hour".into());
    let width = match bucket.as_str() {
        "minute" => 60,
        "hour" => 3600,
        "day" => 86_400,
        _ => return Err(ApiError::bad_request("bucket must be minute, hour or day")),
    };
    let points = state
        .store
        .timeseries(Arc::clone(&c), width)
        .await
        .map_err(|e| ApiError::store("timeseries", &e))?;
    let series: Vec<Value> = points
        .into_iter()
        .map(|p| {
            let mut obj = serde_json::Map::new();
            obj.insert("at".into(), p.at.into());
            for o in SERIES_OUTCOMES {
                obj.insert(
                    o.as_str().into(),
                    p.counts.get(o.as_str()).copied().unwrap_or(0).into(),
                );
            }
            // Disqualified drawn winners, only where there are some.
            for (k, v) in &p.counts {
                obj.entry(k.clone()).or_insert((*v).into());
            }
            Value::Object(obj)
        })
        .collect();
    Ok(Json(json!({"campaignId": c.id, "bucket": bucket, "series": series})).into_response())
}

/// A cell as written to the CSV file: a text that a spreadsheet would read as a formula
/// (starting with `=`, `+`, `-`, `@`, a tab or a carriage return) gets a leading `'`.
pub fn csv_cell(s: &str) -> std::borrow::Cow<'_, str> {
    match s.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => format!("'{s}").into(),
        _ => s.into(),
    }
}

const CSV_HEADER: [&str; 6] = [
    "participation_id",
    "sub",
    "prize_id",
    "prize_label",
    "won_at",
    "how",
];

/// RFC 3339 UTC of a time in seconds.
fn rfc3339(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| t.to_string())
}

/// Writes rows as RFC 4180 CSV (CRLF, quotes where needed) with the `csv` crate.
fn csv_bytes(header: bool, winners: &[Winner]) -> Result<Bytes, csv::Error> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::with_capacity(128 * (winners.len() + 1)));
    if header {
        w.write_record(CSV_HEADER)?;
    }
    for x in winners {
        let won_at = rfc3339(x.won_at);
        w.write_record([
            csv_cell(&x.participation_id).as_ref(),
            csv_cell(&x.sub).as_ref(),
            csv_cell(&x.prize.id).as_ref(),
            csv_cell(&x.prize.label).as_ref(),
            won_at.as_str(),
            if x.drawn { "drawn" } else { "instant" },
        ])?;
    }
    w.into_inner()
        .map(Bytes::from)
        .map_err(|e| csv::Error::from(e.into_error()))
}

/// The state of an export between pages.
enum Export {
    /// Read the page after this key (`None`: the first).
    Next(Option<WinnerKey>),
    /// Everything was sent.
    Done,
}

/// Writes one page of an export (`first`: the first page).
type EncodePage = fn(first: bool, winners: &[Winner]) -> Result<Bytes, std::io::Error>;

/// The campaign's winners in the order they won, streamed page by page ([`CSV_PAGE`] rows
/// at a time, keyset pagination) between `head` and `tail`, so memory does not grow with the
/// number of winners. The first page is read before answering, so a failing database gets a
/// clean error; a failure after it ends the response early (the client sees a truncated
/// transfer, never a silently short file or list).
async fn export(
    state: &AppState,
    c: &Arc<Campaign>,
    what: &'static str,
    head: Bytes,
    encode: EncodePage,
    tail: Bytes,
) -> Result<Response, ApiError> {
    let first = state
        .store
        .winners_page(Arc::clone(c), None, CSV_PAGE)
        .await
        .map_err(|e| ApiError::store(what, &e))?;
    let page = encode(true, &first.winners).map_err(|e| ApiError::internal(what, &e))?;
    let rest = match first.next {
        Some(k) => Export::Next(Some(k)),
        None => Export::Done,
    };
    let store = Arc::clone(&state.store);
    let campaign = Arc::clone(c);
    let pages = futures_util::stream::unfold(rest, move |st| {
        let store = Arc::clone(&store);
        let campaign = Arc::clone(&campaign);
        async move {
            let Export::Next(after) = st else {
                return None;
            };
            let page = match store.winners_page(campaign, after, CSV_PAGE).await {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(error = %e, "{what}: reading a page failed");
                    return Some((Err(std::io::Error::other("database")), Export::Done));
                }
            };
            let next = match page.next {
                Some(k) => Export::Next(Some(k)),
                None => Export::Done,
            };
            match encode(false, &page.winners) {
                Ok(b) => Some((Ok(b), next)),
                Err(e) => {
                    tracing::error!(error = %e, "{what}: writing a page failed");
                    Some((Err(e), Export::Done))
                }
            }
        }
    });
    use futures_util::stream::{iter, StreamExt};
    let body = iter([Ok(head), Ok(page)])
        .chain(pages)
        .chain(iter([Ok(tail)]));
    Ok(Body::from_stream(body).into_response())
}

/// `GET /api/campaigns/{id}/winners`: `{"campaignId", "winners": [...]}`, the winners in the
/// order they won (streamed like the CSV file).
pub(super) async fn winners_json(
    State(state): State<Arc<AppState>>,
    OperatorCampaign(c): OperatorCampaign,
) -> Result<Response, ApiError> {
    fn page(first: bool, winners: &[Winner]) -> Result<Bytes, std::io::Error> {
        let mut out = Vec::with_capacity(256 * winners.len());
        for (i, w) in winners.iter().enumerate() {
            if !first || i > 0 {
                out.push(b',');
            }
            serde_json::to_writer(&mut out, w)?;
        }
        Ok(Bytes::from(out))
    }
    let head = format!(
        "{{\"campaignId\":{},\"winners\":[",
        serde_json::to_string(&c.id).map_err(|e| ApiError::internal("winners", &e))?
    );
    let mut res = export(
        &state,
        &c,
        "winners",
        Bytes::from(head),
        page,
        Bytes::from_static(b"]}"),
    )
    .await?;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(res)
}

/// `GET /api/campaigns/{id}/winners.csv`: the winners in the order of the JSON list, streamed.
pub(super) async fn winners_csv(
    State(state): State<Arc<AppState>>,
    OperatorCampaign(c): OperatorCampaign,
) -> Result<Response, ApiError> {
    fn page(first: bool, winners: &[Winner]) -> Result<Bytes, std::io::Error> {
        csv_bytes(first, winners).map_err(std::io::Error::other)
    }
    let mut res = export(&state, &c, "winners.csv", Bytes::new(), page, Bytes::new()).await?;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    // Campaign ids are checked to be plain ([A-Za-z0-9._-]) when the configuration is read.
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}-winners.csv\"", c.id))
    {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}

/// The operator's label: `by`, 1 to 100 characters, default `operator`.
fn by(obj: &serde_json::Map<String, Value>) -> Result<String, ApiError> {
    Ok(text_member(obj, "by", MAX_LABEL_CHARS)?.unwrap_or_else(|| "operator".into()))
}

/// `POST /api/campaigns/{id}/prizes/{prizeId}/stock`: `{"add": n, "by": "name"}`.
pub(super) async fn add_stock(
    State(state): State<Arc<AppState>>,
    OperatorCampaign(c): OperatorCampaign,
    Path((_, prize)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let shape = "{\"add\": <positive integer>, \"by\": \"name\"}";
    let obj = object_body(&state, &headers, body, shape).await?;
    let by = by(&obj)?;
    let add = obj
        .get("add")
        .and_then(Value::as_i64)
        .filter(|n| (1..=MAX_ADD).contains(n))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "`add` must be an integer from 1 to {MAX_ADD}: {shape}"
            ))
        })?;
    if !c.prizes.iter().any(|p| p.id == prize) {
        return Err(ApiError::UnknownPrize);
    }
    let request = AddStock {
        prize_id: prize,
        add,
        by: by.clone(),
        now: state.clock.now(),
    };
    let stock = state
        .store
        .add_stock(Arc::clone(&c), request)
        .await
        .map_err(|e| ApiError::store("add stock", &e))?
        .ok_or(ApiError::UnknownPrize)?;
    tracing::info!(campaign = %c.id, prize = %stock.id, add, by = %by, "stock added");
    Ok(Json(json!({ "prize": stock })).into_response())
}

/// `POST /api/campaigns/{id}/erasure`: `{"sub": "…", "by": "name"}`.
pub(super) async fn erasure(
    State(state): State<Arc<AppState>>,
    OperatorCampaign(c): OperatorCampaign,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let shape = "{\"sub\": \"…\", \"by\": \"name\"}";
    let obj = object_body(&state, &headers, body, shape).await?;
    let by = by(&obj)?;
    // The sub exactly as the token carried it (not trimmed).
    let sub = match obj.get("sub") {
        Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= MAX_SUB_CHARS => s.clone(),
        _ => {
            return Err(ApiError::bad_request(format!(
                "`sub` must be a string of 1 to {MAX_SUB_CHARS} characters: {shape}"
            )))
        }
    };
    let request = Erasure {
        sub,
        key: state.erasure_key.clone(),
        by: by.clone(),
        now: state.clock.now(),
    };
    let erased = state
        .store
        .erase(Arc::clone(&c), request)
        .await
        .map_err(|e| ApiError::store("erasure", &e))?;
    // Logged without the sub.
    tracing::info!(campaign = %c.id, erased, by = %by, "erasure");
    Ok(Json(json!({ "erased": erased })).into_response())
}

/// Applies the answers retention to every campaign once (the server runs it periodically);
/// answers how many participations lost their answers.
pub async fn purge_expired_answers(state: &AppState, days: u32) -> i64 {
    let now = state.clock.now();
    let mut total = 0;
    for c in state.campaigns.values() {
        match state.store.purge_answers(Arc::clone(c), now, days).await {
            Ok(n) => {
                if n > 0 {
                    tracing::info!(campaign = %c.id, participations = n, "answers purged (retention)");
                }
                total += n;
            }
            Err(e) => tracing::error!(campaign = %c.id, error = %e, "answers retention failed"),
        }
    }
    total
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn formula_cells_are_defused_and_others_kept() {
        for s in ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(csv_cell(s), format!("'{s}"));
        }
        for s in ["", "alice", "1-2", "a=b"] {
            assert_eq!(csv_cell(s), s);
        }
    }

    #[test]
    fn rows_are_rfc4180_with_crlf_and_quotes() {
        let w = Winner {
            participation_id: "p1".into(),
            sub: "a \"quoted\", sub\nnewline".into(),
            prize: crate::store::PrizeWon {
                id: "x".into(),
                label: "=HYPERLINK(\"evil\")".into(),
            },
            won_at: 0,
            drawn: false,
            form: None,
            optin: None,
        };
        let b = csv_bytes(true, &[w]).unwrap();
        assert_eq!(
            std::str::from_utf8(&b).unwrap(),
            "participation_id,sub,prize_id,prize_label,won_at,how\r\n\
             p1,\"a \"\"quoted\"\", sub\nnewline\",x,\"'=HYPERLINK(\"\"evil\"\")\",1970-01-01T00:00:00Z,instant\r\n"
        );
    }
}
