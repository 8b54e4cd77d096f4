//! The token's claims, read strictly from the verified payload.
//!
//! Every claim we use is type-checked, and a wrongly typed one is `invalid_claim` naming it
//! (for a member of an object claim, by its path: `limit.nb`, `form.email`), never silently
//! ignored: a `gift` of `"yes"` or an `exp` of `"soon"` is the brand's bug and they need to see
//! it. Claims we do not use (`aud`, `jti`, others) are ignored.
//!
//! The platform contract beside `gift` (docs/token.md):
//! - `limit`: `nb`, the participations this `sub` may make (a whole number from 1 to
//!   [`MAX_LIMIT_NB`]), and `canPlay`, whether this visitor may take part at all (boolean);
//! - `form`: values that prefill the participation form; `custom`: the brand's own data for the
//!   page — objects whose members are strings, numbers or booleans;
//! - `optin`: values that prefill the opt-ins — an object of booleans.
//!
//! Bounds, so that a token cannot make the page or the server carry arbitrary data: at most
//! [`MAX_MEMBERS`] members per object, names of at most [`MAX_NAME_BYTES`] bytes, strings of at
//! most [`MAX_VALUE_CHARS`] characters, and numbers JavaScript represents exactly (integers
//! within ±(2^53 − 1)): the page and the server read the same values. The same number rule
//! holds at any depth of `gift`, whose other members are the brand's own (an integer outside
//! that range is `invalid_claim` naming its path, e.g. `gift.orderId`). Member names are data:
//! `__proto__` is a member like any other (the page builds objects with own properties).

use std::fmt::Write as _;

use serde_json::{Map, Value};

use crate::error::{Error, ErrorCode};

/// The `gift` claim: `cw` ("can win") and `label` (prize name), both optional.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Gift {
    pub(crate) cw: Option<bool>,
    pub(crate) label: Option<String>,
}

/// The `limit` claim: the participation allowance and whether the visitor may take part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Limit {
    /// `limit.nb`: how many participations this `sub` may make, if the token says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nb: Option<u32>,
    /// `limit.canPlay`: whether this visitor may take part at all, if the token says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub can_play: Option<bool>,
}

/// Largest `limit.nb` accepted (the server caps it further by campaign).
pub const MAX_LIMIT_NB: u64 = 1_000_000;
/// Most members in `form`, `optin` or `custom`.
pub const MAX_MEMBERS: usize = 64;
/// Longest member name in `form`, `optin` or `custom`, in bytes.
pub const MAX_NAME_BYTES: usize = 64;
/// Longest string value in `form` or `custom`, in characters.
pub const MAX_VALUE_CHARS: usize = 1024;
/// Largest integer JavaScript represents exactly.
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// What the members of a brand-data claim may be.
#[derive(Clone, Copy)]
enum Members {
    /// Strings, numbers or booleans (`form`, `custom`).
    Scalars,
    /// Booleans (`optin`).
    Booleans,
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
    pub(crate) limit: Option<Limit>,
    pub(crate) form: Option<Map<String, Value>>,
    pub(crate) optin: Option<Map<String, Value>>,
    pub(crate) custom: Option<Map<String, Value>>,
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

fn limit(payload: &Map<String, Value>) -> Result<Option<Limit>, Error> {
    let obj = match payload.get("limit") {
        None => return Ok(None),
        Some(Value::Object(obj)) => obj,
        Some(_) => return Err(invalid("limit", "must be an object")),
    };
    let nb = match obj.get("nb") {
        None => None,
        Some(v) => Some(
            v.as_u64()
                .filter(|n| (1..=MAX_LIMIT_NB).contains(n))
                .and_then(|n| u32::try_from(n).ok())
                .ok_or(invalid(
                    "limit.nb",
                    "must be a whole number of participations from 1 to 1,000,000",
                ))?,
        ),
    };
    let can_play = match obj.get("canPlay") {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => return Err(invalid("limit.canPlay", "must be true or false")),
    };
    Ok(Some(Limit { nb, can_play }))
}

/// `form`, `optin` or `custom`: an object of scalars (or booleans), within bounds, if
/// present (checked here; [`Claims::parse`] then moves it out of the payload).
fn brand_data(
    payload: &Map<String, Value>,
    claim: &'static str,
    members: Members,
) -> Result<(), Error> {
    let obj = match payload.get(claim) {
        None => return Ok(()),
        Some(Value::Object(obj)) => obj,
        Some(_) => return Err(invalid(claim, "must be an object")),
    };
    if obj.len() > MAX_MEMBERS {
        return Err(invalid(claim, "has more than 64 members"));
    }
    // Written only for the error (no `core::fmt` for a valid token).
    let path = |name: &str| {
        let mut at = String::with_capacity(claim.len() + 1 + name.len());
        at.push_str(claim);
        at.push('.');
        at.push_str(name);
        at
    };
    for (name, value) in obj {
        if name.len() > MAX_NAME_BYTES {
            return Err(invalid(claim, "has a member name longer than 64 bytes"));
        }
        let fits = match (members, value) {
            (_, Value::Bool(_)) => Ok(()),
            (Members::Booleans, _) => Err("must be true or false"),
            (Members::Scalars, Value::String(s)) if s.chars().count() <= MAX_VALUE_CHARS => Ok(()),
            (Members::Scalars, Value::String(_)) => Err("must be at most 1024 characters"),
            (Members::Scalars, Value::Number(n)) if exact_in_javascript(n) => Ok(()),
            (Members::Scalars, Value::Number(_)) => {
                Err("must be a number JavaScript represents exactly (integers within ±(2^53 − 1))")
            }
            (Members::Scalars, _) => Err("must be a string, a number or a boolean"),
        };
        if let Err(message) = fits {
            return Err(Error::claim_path(
                ErrorCode::InvalidClaim,
                path(name),
                message,
            ));
        }
    }
    Ok(())
}

/// Whether a JSON number reads the same as a JavaScript number: an integer within the safe
/// range, or a finite fraction (serde_json reads those as f64, as JavaScript does).
fn exact_in_javascript(n: &serde_json::Number) -> bool {
    if let Some(u) = n.as_u64() {
        u <= MAX_SAFE_INTEGER
    } else if let Some(i) = n.as_i64() {
        i.unsigned_abs() <= MAX_SAFE_INTEGER
    } else {
        n.as_f64().is_some_and(f64::is_finite)
    }
}

/// Checks that every number in a free-form value (the `gift` object's members, at any depth)
/// reads the same in JavaScript, naming the first that does not by its path (`gift.orderId`,
/// `gift.items[2].id`; `path` is the value's). Without it a 64-bit order id such as
/// 18446744073709551615 would be exact for the server (serde_json keeps `u64`) and rounded, or
/// refused, by the page: the two would disagree about one signed token. The path is written
/// only for the error: a valid token's check formats nothing (no `core::fmt` on the page's
/// first verification, see docs/browser.md).
fn exact_numbers(path: &str, name: &str, value: &Value) -> Result<(), Error> {
    match inexact(value) {
        None => Ok(()),
        Some(rest) => {
            let mut at = String::with_capacity(path.len() + 1 + name.len() + rest.len());
            at.push_str(path);
            at.push('.');
            at.push_str(name);
            at.push_str(&rest);
            Err(Error::claim_path(
                ErrorCode::InvalidClaim,
                at,
                "must be a number JavaScript represents exactly (integers within ±(2^53 − 1)); send a larger id as a string",
            ))
        }
    }
}

/// The path below `value` (`""`, `.id`, `[2].id`) of its first number JavaScript does not
/// read exactly, if any: built on the way back up, so only when there is one.
fn inexact(value: &Value) -> Option<String> {
    match value {
        Value::Number(n) if !exact_in_javascript(n) => Some(String::new()),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            inexact(item).map(|rest| {
                let mut at = String::new();
                // Writing to a String cannot fail.
                let _ = write!(at, "[{i}]{rest}");
                at
            })
        }),
        Value::Object(members) => members.iter().find_map(|(name, member)| {
            inexact(member).map(|rest| {
                let mut at = String::with_capacity(1 + name.len() + rest.len());
                at.push('.');
                at.push_str(name);
                at.push_str(&rest);
                at
            })
        }),
        _ => None,
    }
}

impl Claims {
    /// Reads the claims from a payload object. Checks types and presence only; time,
    /// campaign and issuer rules are the policy's. The objects kept as sent (`gift`, `form`,
    /// `optin`, `custom`) are moved out of `payload` once checked, not copied.
    pub(crate) fn parse(payload: Map<String, Value>) -> Result<Claims, Error> {
        let sub = string(&payload, "sub")?.ok_or(missing("sub", "the sub claim is required"))?;
        if sub.is_empty() {
            return Err(invalid("sub", "must not be empty"));
        }
        let exp = date(&payload, "exp")?.ok_or(missing("exp", "the exp claim is required"))?;
        let campaign_id = string(&payload, "campaignId")?
            .ok_or(missing("campaignId", "the campaignId claim is required"))?;
        let iat = date(&payload, "iat")?;
        let nbf = date(&payload, "nbf")?;
        let iss = string(&payload, "iss")?;
        let gift = match payload.get("gift") {
            None => None,
            Some(Value::Object(obj)) => {
                let gift = Gift::parse(obj)?;
                for (name, value) in obj {
                    exact_numbers("gift", name, value)?;
                }
                Some(gift)
            }
            Some(_) => return Err(invalid("gift", "must be an object")),
        };
        let limit = limit(&payload)?;
        brand_data(&payload, "form", Members::Scalars)?;
        brand_data(&payload, "optin", Members::Booleans)?;
        brand_data(&payload, "custom", Members::Scalars)?;
        // Each of these, when present, was just checked to be an object.
        let (mut gift_raw, mut form, mut optin, mut custom) = (None, None, None, None);
        for (name, value) in payload {
            let Value::Object(obj) = value else {
                continue;
            };
            match name.as_str() {
                "gift" => gift_raw = Some(obj),
                "form" => form = Some(obj),
                "optin" => optin = Some(obj),
                "custom" => custom = Some(obj),
                _ => {}
            }
        }
        Ok(Claims {
            sub,
            exp,
            campaign_id,
            iat,
            nbf,
            iss,
            gift,
            gift_raw,
            limit,
            form,
            optin,
            custom,
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
        Claims::parse(v.as_object().unwrap().clone())
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
        // Leaked in tests only, to compare with string literals.
        let claim = e
            .claim_name()
            .map(|c| &*Box::leak(c.to_owned().into_boxed_str()));
        (e.code(), claim)
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
    fn a_gift_number_javascript_cannot_hold_exactly_is_invalid_claim_naming_its_path() {
        let i = ErrorCode::InvalidClaim;
        for (gift, path) in [
            (json!({"orderId": u64::MAX}), "gift.orderId"),
            (json!({"orderId": 9007199254740993u64}), "gift.orderId"),
            (json!({"orderId": (1u64 << 53)}), "gift.orderId"),
            (json!({"n": -9007199254740992i64}), "gift.n"),
            (
                json!({"cw": true, "meta": {"ids": [1, u64::MAX]}}),
                "gift.meta.ids[1]",
            ),
            (json!({"__proto__": {"x": i64::MIN}}), "gift.__proto__.x"),
        ] {
            assert_eq!(
                err(with("gift", gift.clone())),
                (i, Some(path.to_owned().leak() as &str)),
                "{gift}"
            );
        }
        // The largest exact integers, fractions, and big ids sent as strings are kept.
        let c = parse(with(
            "gift",
            json!({"a": 9007199254740991u64, "b": -9007199254740991i64, "c": 0.1,
                   "d": 1e300, "id": "18446744073709551615", "l": [[{"x": 1}]]}),
        ))
        .unwrap();
        assert_eq!(c.gift_raw.unwrap()["id"], "18446744073709551615");
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

    #[test]
    fn reads_limit_and_brand_data() {
        let c = parse(json!({
            "sub": "u1", "exp": 2000, "campaignId": "c1",
            "limit": {"nb": 3, "canPlay": true, "other": "kept out"},
            "form": {"firstName": "Ada", "age": 36, "vip": true, "__proto__": "data"},
            "optin": {"newsletter": true, "sms": false},
            "custom": {"tier": "gold", "points": 1.5, "order": 9007199254740991u64},
        }))
        .unwrap();
        assert_eq!(
            c.limit,
            Some(Limit {
                nb: Some(3),
                can_play: Some(true)
            })
        );
        let form = c.form.unwrap();
        assert_eq!(form["firstName"], "Ada");
        assert_eq!(form["__proto__"], "data");
        assert_eq!(c.optin.unwrap()["sms"], false);
        assert_eq!(c.custom.unwrap()["tier"], "gold");
        let none = parse(base()).unwrap();
        assert!(
            none.limit.is_none()
                && none.form.is_none()
                && none.optin.is_none()
                && none.custom.is_none()
        );
        assert_eq!(
            parse(with("limit", json!({}))).unwrap().limit,
            Some(Limit::default())
        );
    }

    #[test]
    fn names_the_path_of_a_wrongly_typed_member() {
        let i = ErrorCode::InvalidClaim;
        for bad in [json!(1), json!("x"), json!([]), json!(null), json!(true)] {
            for claim in ["limit", "form", "optin", "custom"] {
                assert_eq!(
                    err(with(claim, bad.clone())),
                    (i, Some(claim)),
                    "{claim}: {bad}"
                );
            }
        }
        for bad in [
            json!(0),
            json!(-1),
            json!(1.5),
            json!("3"),
            json!(null),
            json!(1_000_001),
        ] {
            assert_eq!(
                err(with("limit", json!({"nb": bad}))),
                (i, Some("limit.nb")),
                "{bad}"
            );
        }
        assert!(parse(with("limit", json!({"nb": 1_000_000}))).is_ok());
        for bad in [json!("false"), json!(0), json!(null)] {
            assert_eq!(
                err(with("limit", json!({"canPlay": bad}))),
                (i, Some("limit.canPlay"))
            );
        }
        for claim in ["form", "custom"] {
            for bad in [
                json!(null),
                json!({"a": 1}),
                json!([1]),
                json!(9007199254740992u64),
                json!(-9007199254740992i64),
                json!("x".repeat(1025)),
            ] {
                assert_eq!(
                    err(with(claim, json!({"email": bad}))),
                    (i, Some(format!("{claim}.email").leak() as &str)),
                    "{claim}: {bad}"
                );
            }
            assert!(parse(with(
                claim,
                json!({"email": "x".repeat(1024), "n": -9007199254740991i64})
            ))
            .is_ok());
        }
        for bad in [json!("yes"), json!(1), json!(null)] {
            assert_eq!(
                err(with("optin", json!({"newsletter": bad}))),
                (i, Some("optin.newsletter"))
            );
        }
        let many: Map<String, Value> = (0..65).map(|n| (format!("k{n}"), json!(true))).collect();
        assert_eq!(err(with("optin", Value::Object(many))), (i, Some("optin")));
        assert_eq!(
            err(with("form", json!({"x".repeat(65): "v"}))),
            (i, Some("form"))
        );
    }
}
