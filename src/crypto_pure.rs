//! Signature checks in pure Rust, for the fallback module (`--features pure-rust`).
//!
//! The same seam as the WebCrypto backend (`crypto.rs`), with no step for the JS driver: the
//! core decides everything before and after the signature ([`Verifier::begin`],
//! [`PendingCheck::finish`]), and the signature itself is checked by the core's native backend
//! (jwt-simple's pure-Rust key types, the same ones the server and the token tool use), through
//! [`PublicKey::verify`], in the same synchronous call. The JS entry loads this module only
//! where WebCrypto cannot serve: a page served over plain `http:` (no secure context, no
//! `crypto.subtle`) or a browser whose WebCrypto lacks a configured key's algorithm (Ed25519
//! before Chrome 137, Firefox 129, Safari 17). Native keys are built, and bad ones refused as
//! `invalid_key`, when the key set is parsed.
//!
//! [`PendingCheck::finish`]: campaign_token_core::PendingCheck::finish
//! [`PublicKey::verify`]: campaign_token_core::PublicKey::verify

use wasm_bindgen::JsValue;

use campaign_token_core::{Error, Verified, Verifier};

use crate::step::{Out, Step};

/// A key set with its verifier (its native keys were checked when it was parsed).
pub(crate) struct KeyState {
    pub(crate) verifier: Verifier,
}

impl KeyState {
    pub(crate) fn new(verifier: Verifier) -> KeyState {
        KeyState { verifier }
    }

    /// No engine can lack an algorithm here.
    pub(crate) fn lacking(&self) -> bool {
        false
    }

    /// Nothing to import.
    pub(crate) fn probe(&self) -> Result<Option<Step>, Error> {
        Ok(None)
    }

    /// Never asked: this backend hands out no import step.
    pub(crate) fn install(
        &self,
        _slots: &JsValue,
        _outcomes: &JsValue,
        _probe: bool,
    ) -> Result<(), Error> {
        Ok(())
    }

    /// The whole check, at once: [`Verifier::begin`], the native check, then the claims.
    pub(crate) fn begin(&self, token: &str, now: &dyn Fn() -> u64) -> Result<Out, Error> {
        self.verifier.verify(token, now()).map(Out::Done)
    }

    /// Never asked: this backend hands out no verify step, so no check waits.
    pub(crate) fn finish(
        &self,
        _check: Option<f64>,
        _slot: &JsValue,
        _valid: bool,
        _now: u64,
    ) -> Option<Result<Verified, Error>> {
        None
    }
}

/// The backend's name, as `backend` on verifiers and sessions.
pub(crate) const BACKEND: &str = "pure-rust";
