//! The JWS protected header: what we accept of it, checked before any cryptography.

use serde_json::{Map, Value};

use crate::alg::Algorithm;
use crate::error::{Error, ErrorCode};

/// The header parameters that matter to verification.
#[derive(Debug, Clone)]
pub(crate) struct Header {
    pub(crate) alg: Algorithm,
    pub(crate) kid: Option<String>,
}

impl Header {
    /// Applies the header rules: `crit` refused (no extension is understood), `alg` one we
    /// know (`none` is not), `typ` absent or `JWT` or `…+jwt`, `kid` a string if present.
    /// Key-carrying parameters (`jwk`, `jku`, `x5c`, `x5u`) are ignored: only configured keys
    /// are ever trusted.
    pub(crate) fn parse(header: &Map<String, Value>) -> Result<Header, Error> {
        if header.contains_key("crit") {
            return Err(Error::new(
                ErrorCode::UnsupportedCriticalHeader,
                "the token has critical header extensions (crit), which are not supported",
            ));
        }
        let alg = match header.get("alg") {
            Some(Value::String(name)) => Algorithm::from_name(name).ok_or(Error::new(
                ErrorCode::UnsupportedAlgorithm,
                "the token's alg is not an accepted signature algorithm",
            ))?,
            Some(_) => return Err(Error::malformed("the header's alg must be a string")),
            None => return Err(Error::malformed("the header has no alg")),
        };
        match header.get("typ") {
            None => {}
            Some(Value::String(typ))
                if typ.eq_ignore_ascii_case("JWT")
                    || typ.len() > 4
                        && typ
                            .get(typ.len() - 4..)
                            .is_some_and(|t| t.eq_ignore_ascii_case("+jwt")) => {}
            Some(_) => {
                return Err(Error::malformed(
                    "the header's typ must be JWT or end in +jwt",
                ))
            }
        }
        let kid = match header.get("kid") {
            None => None,
            Some(Value::String(kid)) => Some(kid.clone()),
            Some(_) => return Err(Error::malformed("the header's kid must be a string")),
        };
        Ok(Header { alg, kid })
    }
}
