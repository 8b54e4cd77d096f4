//! JSON parsing that refuses duplicate object members at any depth.
//!
//! `serde_json` keeps the last of duplicate members. For a signed token that is dangerous:
//! two parsers (ours and the brand's, or the browser's and the server's) may read different
//! values from one signed text. RFC 7515 §5.2 allows rejecting such input; we always do.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Parses `bytes` as one JSON value, refusing duplicate member names.
pub(crate) fn parse(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    serde_json::from_slice::<Strict>(bytes).map(|s| s.0)
}

struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("non-finite number"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut members = Map::new();
        while let Some(name) = map.next_key::<String>()? {
            if members.contains_key(&name) {
                return Err(de::Error::custom("duplicate member name"));
            }
            let Strict(v) = map.next_value()?;
            members.insert(name, v);
        }
        Ok(Value::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ordinary_json() {
        let v = parse(br#"{"a":[1,-2,3.5,"x",null,true],"b":{"c":{}}}"#).unwrap();
        assert_eq!(v["a"][1], -2);
        assert_eq!(v["a"][2], 3.5);
        assert!(v["b"]["c"].is_object());
    }

    #[test]
    fn refuses_duplicates_at_any_depth() {
        assert!(parse(br#"{"sub":"a","sub":"b"}"#).is_err());
        assert!(parse(br#"{"gift":{"cw":false,"cw":true}}"#).is_err());
        assert!(parse(br#"[{"x":1,"x":1}]"#).is_err());
        // Escaped spellings of one name are the same name.
        assert!(parse(br#"{"sub":"a","s\u0075b":"b"}"#).is_err());
    }

    #[test]
    fn refuses_trailing_data_and_bad_utf8() {
        assert!(parse(br#"{"a":1} {"#).is_err());
        assert!(parse(b"{\"a\":\"\xff\"}").is_err());
    }
}
