//! Signature checks in pure Rust, for the fallback module (`--features pure-rust`).
//!
//! The same seam as the WebCrypto backend (`crypto.rs`): the core decides everything before
//! and after the signature ([`Verifier::begin`], [`PendingCheck::finish`]), and the signature
//! itself is checked by the core's native backend (jwt-simple's pure-Rust key types, the same
//! ones the server and the token tool use), through [`PublicKey::verify`]. The JS entry loads
//! this module only where WebCrypto cannot serve: a page served over plain `http:` (no secure
//! context, no `crypto.subtle`) or a browser whose WebCrypto lacks a configured key's
//! algorithm (Ed25519 before Chrome 137, Firefox 129, Safari 17). Native keys are built, and
//! bad ones refused as `invalid_key`, when the key set is parsed.
//!
//! [`PendingCheck::finish`]: campaign_token_core::PendingCheck::finish
//! [`PublicKey::verify`]: campaign_token_core::PublicKey::verify

use campaign_token_core::{Error, Verified, Verifier};

/// Nothing to cache: the key set holds the native keys. (A struct with a field, so that the
/// glue makes it with `default()` as it makes the WebCrypto one.)
#[derive(Default)]
pub(crate) struct KeyCache {
    _nothing: (),
}

impl KeyCache {
    /// Keys were checked when the set was parsed; no engine can lack an algorithm here.
    pub(crate) async fn import_all(&self, _verifier: &Verifier) -> Result<bool, Error> {
        Ok(false)
    }
}

/// Verifies `token` at `now`: [`Verifier::begin`], the native check, then the claims.
pub(crate) async fn verify(
    verifier: &Verifier,
    _cache: &KeyCache,
    token: &str,
    now: u64,
) -> Result<Verified, Error> {
    verifier.verify(token, now)
}

/// The backend's name, as `backend` on verifiers and sessions.
pub(crate) const BACKEND: &str = "pure-rust";
