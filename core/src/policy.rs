//! What a verifier demands of a token beyond its signature, with every default written here
//! rather than inherited from a library (jwt-simple's own defaults, for one, allow 15 minutes
//! of clock skew and do not require `exp`).

use crate::claims::Claims;
use crate::error::{Error, ErrorCode};

/// Clock tolerance applied to `exp`, `nbf` and `iat`, in seconds.
pub const DEFAULT_CLOCK_TOLERANCE_SECS: u64 = 60;
/// Largest clock tolerance a configuration may ask for (10 minutes).
pub const MAX_CLOCK_TOLERANCE_SECS: u64 = 600;
/// Largest token accepted, in bytes of its compact form.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Largest value `max_token_bytes` may be raised to.
pub const MAX_MAX_TOKEN_BYTES: usize = 64 * 1024;

/// The verification policy of one campaign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    campaign_id: String,
    issuers: Vec<String>,
    clock_tolerance_secs: u64,
    max_token_bytes: usize,
}

impl Policy {
    /// The policy for `campaign_id`, with the defaults: any issuer, 60 s of clock tolerance,
    /// tokens of at most 8 KiB.
    pub fn new(campaign_id: impl Into<String>) -> Result<Policy, Error> {
        let campaign_id = campaign_id.into();
        if campaign_id.trim().is_empty() {
            return Err(Error::new(
                ErrorCode::InvalidConfig,
                "campaignId must not be empty",
            ));
        }
        Ok(Policy {
            campaign_id,
            issuers: Vec::new(),
            clock_tolerance_secs: DEFAULT_CLOCK_TOLERANCE_SECS,
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
        })
    }

    /// Accept only tokens whose `iss` is one of `issuers` (an empty list accepts any issuer,
    /// and tokens without `iss`).
    pub fn with_issuers<I, S>(mut self, issuers: I) -> Policy
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.issuers = issuers.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the clock tolerance (at most 600 s).
    pub fn with_clock_tolerance(mut self, secs: u64) -> Result<Policy, Error> {
        if secs > MAX_CLOCK_TOLERANCE_SECS {
            return Err(Error::new(
                ErrorCode::InvalidConfig,
                "clock tolerance must be at most 600 seconds",
            ));
        }
        self.clock_tolerance_secs = secs;
        Ok(self)
    }

    /// Sets the largest accepted token, in bytes (from 256 to 65536).
    pub fn with_max_token_bytes(mut self, bytes: usize) -> Result<Policy, Error> {
        if !(256..=MAX_MAX_TOKEN_BYTES).contains(&bytes) {
            return Err(Error::new(
                ErrorCode::InvalidConfig,
                "maximum token size must be between 256 and 65536 bytes",
            ));
        }
        self.max_token_bytes = bytes;
        Ok(self)
    }

    /// The campaign tokens must name.
    pub fn campaign_id(&self) -> &str {
        &self.campaign_id
    }

    /// The accepted issuers (empty: any).
    pub fn issuers(&self) -> &[String] {
        &self.issuers
    }

    /// The clock tolerance in seconds.
    pub fn clock_tolerance_secs(&self) -> u64 {
        self.clock_tolerance_secs
    }

    /// The largest accepted token in bytes.
    pub fn max_token_bytes(&self) -> usize {
        self.max_token_bytes
    }

    /// Applies the time, campaign and issuer rules to claims whose types are already checked.
    pub(crate) fn check(&self, claims: &Claims, now: u64) -> Result<(), Error> {
        let tol = self.clock_tolerance_secs;
        // Valid while now < exp + tolerance (RFC 7519 §4.1.4: "on or after" exp is expired).
        if now >= claims.exp.saturating_add(tol) {
            return Err(Error::claim(
                ErrorCode::Expired,
                "exp",
                "the token has expired",
            ));
        }
        if claims.nbf.is_some_and(|nbf| nbf > now.saturating_add(tol)) {
            return Err(Error::claim(
                ErrorCode::NotYetValid,
                "nbf",
                "the token is not valid yet",
            ));
        }
        if claims.iat.is_some_and(|iat| iat > now.saturating_add(tol)) {
            return Err(Error::claim(
                ErrorCode::IssuedInFuture,
                "iat",
                "the token was issued in the future (check the issuer's clock)",
            ));
        }
        if claims.campaign_id != self.campaign_id {
            return Err(Error::claim(
                ErrorCode::WrongCampaign,
                "campaignId",
                "the token is for another campaign",
            ));
        }
        if !self.issuers.is_empty()
            && !claims
                .iss
                .as_ref()
                .is_some_and(|iss| self.issuers.contains(iss))
        {
            return Err(Error::claim(
                ErrorCode::WrongIssuer,
                "iss",
                "the token's issuer is not an accepted issuer",
            ));
        }
        Ok(())
    }
}
