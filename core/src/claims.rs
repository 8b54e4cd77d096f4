//! The token's claims, read strictly from the verified payload.
//!
//! Every claim we use is type-checked, and a wrongly typed one is `invalid_claim` naming it,
//! never silently ignored: a `gift` of `"yes"` or an `exp` of `"soon"` is the brand's bug
//! and they need to see it. Claims we do not use (`aud`, `jti`, custom ones) are ignored.

use serde_json::{Map, Value};

use crate::error::{Error, ErrorCode};

/// The `gift` claim: `cw` ("can win") and `label` (prize name), both optional.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Gift {
    pub(crate) cw: Option<bool>,
    pub(crate) label: Option<String>,
}

/// The claims this product relies on, typed.
#[derive(Debug, Clone)]
pub(crate) struct Claims {
    pub(crate) sub: String,
    pub(crate) exp: u64,
    pub(crate) campaign_id: String,
    pub(crate) iat: Option<u64>,
    pub(crate) nbf: Option<u64>,
    pub(crate) iss: Option<String>,
    pub(crate) gift: Option<Gift>,
    /// The `gift` object exactly as sent, for callers that read members of their own.
    pub(crate) gift_raw: Option<Map<String, Value>>,
}

fn missing(claim: &'static str, message: &'static str) -> Error {
    Error::claim(ErrorCode::MissingClaim, claim, message)
}

fn invalid(claim: &'static str, message: &'static str) -> Error {
    Error::claim(ErrorCode::InvalidClaim, claim, message)
}

/// Largest NumericDate accepted: JavaScript's `Number.MAX_SAFE_INTEGER`, so that the
/// browser result carries exactly the value the server checked.
const MAX_DATE: u64 = (1 << 53) - 1;

/// A NumericDate: an integer number of seconds since the epoch, not negative, at most 2^53-1.
fn date(payload: &Map<String, Value>, claim: &'static str) -> Result<Option<u64>, Error> {
    match payload.get(claim) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .filter(|d| *d <= MAX_DATE)
            .map(Some)
            .ok_or(invalid(
                claim,
                "must be a whole, non-negative number of seconds since 1970 (at most 2^53-1)",
            )),
    }
}

fn string(payload: &Map<String, Value>, claim: &'static str) -> Result<Option<String>, Error> {
    match payload.get(claim) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(claim, "must be a string")),
    }
}

impl Claims {
    /// Reads the claims from a payload object. Checks types and presence only; time,
    /// campaign and issuer rules are the policy's.
    pub(crate) fn parse(payload: &Map<String, Value>) -> Result<Claims, Error> {
        let sub = string(payload, "sub")?.ok_or(missing("sub", "the sub claim is required"))?;
        if sub.is_empty() {
            return Err(invalid("sub", "must not be empty"));
        }
        let exp = date(payload, "exp")?.ok_or(missing("exp", "the exp claim is required"))?;
        let campaign_id = string(payload, "campaignId")?
            .ok_or(missing("campaignId", "the campaignId claim is required"))?;
        let iat = date(payload, "iat")?;
        let nbf = date(payload, "nbf")?;
        let iss = string(payload, "iss")?;
        let (gift, gift_raw) = match payload.get("gift") {
            None => (None, None),
            Some(Value::Object(obj)) => (Some(Gift::parse(obj)?), Some(obj.clone())),
            Some(_) => return Err(invalid("gift", "must be an object")),
        };
        Ok(Claims {
            sub,
            exp,
            campaign_id,
            iat,
            nbf,
            iss,
            gift,
            gift_raw,
        })
    }
}

impl Gift {
    fn parse(obj: &Map<String, Value>) -> Result<Gift, Error> {
        let cw = match obj.get("cw") {
            None => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => return Err(invalid("gift.cw", "must be true or false")),
        };
        let label = match obj.get("label") {
            None => None,
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
            Some(Value::String(_)) => {
                return Err(invalid(
                    "gift.label",
                    "must not be empty (leave it out instead)",
                ))
            }
            Some(_) => return Err(invalid("gift.label", "must be a string")),
        };
        Ok(Gift { cw, label })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<Claims, Error> {
        Claims::parse(v.as_object().unwrap())
    }

    fn base() -> Value {
        json!({"sub": "u1", "exp": 2000, "campaignId": "c1"})
    }

    fn with(key: &str, value: Value) -> Value {
        let mut v = base();
        v[key] = value;
        v
    }

    fn without(key: &str) -> Value {
        let mut v = base();
        v.as_object_mut().unwrap().remove(key);
        v
    }

    fn err(v: Value) -> (ErrorCode, Option<&'static str>) {
        let e = parse(v).unwrap_err();
        (e.code(), e.claim_name())
    }

    #[test]
    fn reads_the_required_claims() {
        let c = parse(base()).unwrap();
        assert_eq!(
            (c.sub.as_str(), c.exp, c.campaign_id.as_str()),
            ("u1", 2000, "c1")
        );
        assert!(c.gift.is_none() && c.iat.is_none() && c.iss.is_none());
    }

    #[test]
    fn names_the_missing_claim() {
        for claim in ["sub", "exp", "campaignId"] {
            assert_eq!(err(without(claim)), (ErrorCode::MissingClaim, Some(claim)));
        }
    }

    #[test]
    fn names_the_wrongly_typed_claim() {
        let i = ErrorCode::InvalidClaim;
        assert_eq!(err(with("sub", json!(12))), (i, Some("sub")));
        assert_eq!(err(with("sub", json!(""))), (i, Some("sub")));
        assert_eq!(err(with("exp", json!("2000"))), (i, Some("exp")));
        assert_eq!(err(with("exp", json!(2000.5))), (i, Some("exp")));
        assert_eq!(err(with("exp", json!(-1))), (i, Some("exp")));
        assert_eq!(err(with("exp", json!(1u64 << 53))), (i, Some("exp")));
        assert!(parse(with("exp", json!((1u64 << 53) - 1))).is_ok());
        assert_eq!(
            err(with("campaignId", json!(123456))),
            (i, Some("campaignId"))
        );
        assert_eq!(err(with("iat", json!("now"))), (i, Some("iat")));
        assert_eq!(err(with("nbf", json!(null))), (i, Some("nbf")));
        assert_eq!(err(with("iss", json!(["a"]))), (i, Some("iss")));
    }

    #[test]
    fn every_malformed_gift_is_an_error_naming_it() {
        let i = ErrorCode::InvalidClaim;
        for bad in [json!("yes"), json!(true), json!(null), json!([1]), json!(1)] {
            assert_eq!(err(with("gift", bad)), (i, Some("gift")));
        }
        for bad in [json!("true"), json!(1), json!(null), json!({})] {
            assert_eq!(err(with("gift", json!({"cw": bad}))), (i, Some("gift.cw")));
        }
        for bad in [
            json!(5),
            json!(null),
            json!(["x"]),
            json!({}),
            json!(""),
            json!("  "),
        ] {
            assert_eq!(
                err(with("gift", json!({"label": bad}))),
                (i, Some("gift.label"))
            );
        }
    }

    #[test]
    fn keeps_the_gift_as_sent() {
        let c = parse(with("gift", json!({"cw": true, "label": "Spa", "sku": 7}))).unwrap();
        assert_eq!(
            c.gift,
            Some(Gift {
                cw: Some(true),
                label: Some("Spa".into())
            })
        );
        assert_eq!(c.gift_raw.unwrap()["sku"], 7);
    }
}
