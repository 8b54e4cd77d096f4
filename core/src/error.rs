//! The one error type of the crate: a stable machine-readable code, the claim it concerns
//! (for claim errors), and a human sentence.
//!
//! Codes are part of the public contract (JSON output of the token tool, `.code` of the JS
//! errors, HTTP bodies of the server): never rename one. Messages are plain English and may
//! improve; code should `match` on [`ErrorCode`], never on the message.
//!
//! Messages are `&'static str` on purpose: no formatting machinery runs on the hot path, which
//! keeps the wasm module small and the error path allocation-free.

use std::borrow::Cow;

use core::fmt;

/// Why a token (or a key or configuration) was rejected.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// No token was given (absent or empty).
    NoToken,
    /// The token is not a compact JWS: wrong number of segments, non-canonical base64url,
    /// invalid JSON, duplicate JSON members, or an invalid header parameter.
    Malformed,
    /// The token exceeds the configured maximum size (8 KiB by default).
    TooLarge,
    /// The header's `alg` is not an accepted asymmetric algorithm (`none` and HMAC included),
    /// or does not match the type of the selected key.
    UnsupportedAlgorithm,
    /// No configured key matches the token's `kid`, or the key set has several keys and the
    /// token names none.
    UnknownKey,
    /// The signature does not verify. Deliberately says nothing more.
    BadSignature,
    /// `exp` is in the past, beyond the clock tolerance.
    Expired,
    /// `nbf` is in the future, beyond the clock tolerance.
    NotYetValid,
    /// `iat` is in the future, beyond the clock tolerance.
    IssuedInFuture,
    /// A required claim is absent. [`Error::claim`] names it.
    MissingClaim,
    /// A claim has the wrong type or an invalid value. [`Error::claim`] names it.
    InvalidClaim,
    /// `campaignId` is not the campaign being run.
    WrongCampaign,
    /// `iss` is absent or not one of the configured issuers.
    WrongIssuer,
    /// The header has a `crit` parameter; no extension is understood, so none is accepted.
    UnsupportedCriticalHeader,
    /// A key or key set given at configuration time is unusable.
    InvalidKey,
    /// A configuration value (campaign id, tolerance, size limit, …) is unusable.
    InvalidConfig,
    /// The browser module's wasm could not be loaded: not found, a network error, a
    /// Content-Security-Policy without `'wasm-unsafe-eval'`, or bytes that are not the module.
    /// Raised by the JS entry (js/index.js), which runs before any Rust can; listed here so
    /// that every code has one source.
    LoadFailed,
}

impl ErrorCode {
    /// Every code, in documentation order. The one source of the list: its copies
    /// (js/index.d.ts, docs/CONTRACTS.md, docs/token.md, docs/browser.md) are checked against
    /// it, in this order, by tests/error_codes.rs.
    pub const ALL: [ErrorCode; 17] = [
        ErrorCode::NoToken,
        ErrorCode::Malformed,
        ErrorCode::TooLarge,
        ErrorCode::UnsupportedAlgorithm,
        ErrorCode::UnknownKey,
        ErrorCode::BadSignature,
        ErrorCode::Expired,
        ErrorCode::NotYetValid,
        ErrorCode::IssuedInFuture,
        ErrorCode::MissingClaim,
        ErrorCode::InvalidClaim,
        ErrorCode::WrongCampaign,
        ErrorCode::WrongIssuer,
        ErrorCode::UnsupportedCriticalHeader,
        ErrorCode::InvalidKey,
        ErrorCode::InvalidConfig,
        ErrorCode::LoadFailed,
    ];

    /// The stable snake_case code.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::NoToken => "no_token",
            ErrorCode::Malformed => "malformed",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::UnsupportedAlgorithm => "unsupported_algorithm",
            ErrorCode::UnknownKey => "unknown_key",
            ErrorCode::BadSignature => "bad_signature",
            ErrorCode::Expired => "expired",
            ErrorCode::NotYetValid => "not_yet_valid",
            ErrorCode::IssuedInFuture => "issued_in_future",
            ErrorCode::MissingClaim => "missing_claim",
            ErrorCode::InvalidClaim => "invalid_claim",
            ErrorCode::WrongCampaign => "wrong_campaign",
            ErrorCode::WrongIssuer => "wrong_issuer",
            ErrorCode::UnsupportedCriticalHeader => "unsupported_critical_header",
            ErrorCode::InvalidKey => "invalid_key",
            ErrorCode::InvalidConfig => "invalid_config",
            ErrorCode::LoadFailed => "load_failed",
        }
    }

    /// The code for a snake_case string, if it is one of ours.
    pub fn from_code(code: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.as_str() == code)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A rejection: code, the claim concerned (claim errors only), and a human message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Error {
    code: ErrorCode,
    message: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    claim: Option<Cow<'static, str>>,
}

impl Error {
    /// An error with `code` and a human `message`: for adapters (the browser glue, a
    /// signature backend) that refuse something themselves, with one of the same codes.
    pub const fn new(code: ErrorCode, message: &'static str) -> Error {
        Error {
            code,
            message,
            claim: None,
        }
    }

    /// An error with `code` about `claim` (a claim name such as `exp` or `gift.label`).
    pub const fn claim(code: ErrorCode, claim: &'static str, message: &'static str) -> Error {
        Error {
            code,
            message,
            claim: Some(Cow::Borrowed(claim)),
        }
    }

    /// An error with `code` about a member of an object claim, named by its path
    /// (`form.email`, `custom.tier`): the member names are the token's, so the path is built.
    pub fn claim_path(code: ErrorCode, path: String, message: &'static str) -> Error {
        Error {
            code,
            message,
            claim: Some(Cow::Owned(path)),
        }
    }

    pub(crate) const fn malformed(message: &'static str) -> Error {
        Error::new(ErrorCode::Malformed, message)
    }

    pub(crate) const fn invalid_key(message: &'static str) -> Error {
        Error::new(ErrorCode::InvalidKey, message)
    }

    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The claim concerned, for `missing_claim`, `invalid_claim` and the claim-specific codes
    /// (`expired` names `exp`, `wrong_campaign` names `campaignId`, …).
    pub fn claim_name(&self) -> Option<&str> {
        self.claim.as_deref()
    }

    /// A human sentence; wording may change, the code will not.
    pub fn message(&self) -> &'static str {
        self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "duplicate code {code}");
            assert_eq!(ErrorCode::from_code(code.as_str()), Some(code));
        }
        assert_eq!(ErrorCode::from_code("nope"), None);
    }

    #[test]
    fn serialises_with_claim_only_when_present() {
        let e = Error::claim(ErrorCode::MissingClaim, "sub", "the sub claim is required");
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["code"], "missing_claim");
        assert_eq!(json["claim"], "sub");
        let e = Error::new(ErrorCode::BadSignature, "the signature does not verify");
        let json = serde_json::to_value(&e).unwrap();
        assert!(json.get("claim").is_none());
    }
}
