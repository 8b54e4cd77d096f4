//! Signature checks with WebCrypto (`crypto.subtle`), the browser's native implementation,
//! without a single future in the module: the wasm decides, the JS driver (`js/driver.js`)
//! does the I/O.
//!
//! The core decides everything up to the signature ([`Verifier::begin`]: size, structure,
//! header, key selection) and everything after it ([`PendingCheck::finish`]: claims, time,
//! campaign, issuer). In between, this module hands the driver a step: "import these keys"
//! (`crypto.subtle.importKey`, whose outcomes come back to [`KeyState::install`], which decides
//! `invalid_key`, "lacking" or keep) or "verify this signature with this key"
//! (`crypto.subtle.verify`, whose boolean comes back to [`KeyState::finish`]). Keys are imported
//! once per key and algorithm and kept here (a `CryptoKey` is not extractable and usable for
//! `verify` only), by slot.
//!
//! WebCrypto exists in every current browser, in Node ≥ 20, and only in secure contexts
//! (`https:`, or `http://localhost`): elsewhere `init`/`verifyToken` fail with
//! `invalid_config`.

use std::cell::{Cell, RefCell};

use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::JsValue;

use campaign_token_core::{
    Algorithm, Error, ErrorCode, OwnedCheck, PublicKey, Scheme, Verified, Verifier, WebCryptoImport,
};

use crate::errors::set;
use crate::step::{self, Out, Step};

/// A key imported (or being imported) for one algorithm.
struct Slot {
    index: usize,
    alg: Algorithm,
    key: Option<JsValue>,
    /// `verify`'s parameters for `alg`, built once.
    params: JsValue,
}

/// A key set with its verifier and the keys imported into WebCrypto.
pub(crate) struct KeyState {
    pub(crate) verifier: Verifier,
    slots: RefCell<Vec<Slot>>,
    /// The checks waiting for WebCrypto's verdict, by number (never reused: a step names
    /// one check only).
    checks: RefCell<Vec<(f64, OwnedCheck)>>,
    numbered: Cell<f64>,
    /// Some key's algorithm is one this browser's WebCrypto lacks.
    lacking: Cell<bool>,
}

/// What the driver reported for one import: a key, or the `DOMException`'s name.
fn outcome_error(outcome: &JsValue) -> Option<Error> {
    if outcome.is_object() {
        return None;
    }
    // WebCrypto's refusal of a key: `NotSupportedError` means this browser lacks the algorithm
    // (Ed25519 before Chrome 137, Safari 17, Firefox 129); anything else is a bad key.
    Some(
        if outcome
            .as_string()
            .is_some_and(|n| n == "NotSupportedError")
        {
            Error::new(
                ErrorCode::UnsupportedAlgorithm,
                "this browser's WebCrypto does not support the key's algorithm",
            )
        } else {
            Error::new(
                ErrorCode::InvalidKey,
                "WebCrypto refused the key: it is not a valid public key of its type",
            )
        },
    )
}

impl KeyState {
    pub(crate) fn new(verifier: Verifier) -> KeyState {
        KeyState {
            verifier,
            slots: RefCell::new(Vec::new()),
            checks: RefCell::new(Vec::new()),
            numbered: Cell::new(0.0),
            lacking: Cell::new(false),
        }
    }

    pub(crate) fn lacking(&self) -> bool {
        self.lacking.get()
    }

    /// The slot of `index` with `alg`, added (not yet imported) when missing, with its key
    /// (once imported) and `verify` parameters.
    fn slot(
        &self,
        index: usize,
        alg: Algorithm,
    ) -> Result<(usize, Option<(JsValue, JsValue)>), Error> {
        let mut slots = self.slots.borrow_mut();
        if let Some(n) = slots.iter().position(|s| s.index == index && s.alg == alg) {
            let key = slots
                .get(n)
                .and_then(|s| Some((s.key.clone()?, s.params.clone())));
            return Ok((n, key));
        }
        slots.push(Slot {
            index,
            alg,
            key: None,
            params: verify_params(alg)?.into(),
        });
        Ok((slots.len() - 1, None))
    }

    /// The step that imports every key of the set once (a probe), so that a key WebCrypto
    /// refuses (an EC point off its curve, say) is `invalid_key` when the page starts, not at
    /// the first token. `None` when there is nothing to import.
    pub(crate) fn probe(&self) -> Result<Option<Step>, Error> {
        let specs = Array::new();
        let slots = Array::new();
        for key in self.verifier.keys().iter() {
            let Some(alg) = key.probe_algorithm() else {
                continue;
            };
            let (n, imported) = self.slot(key.index(), alg)?;
            if imported.is_none() {
                specs.push(&import_spec(key, alg)?.into());
                slots.push(&JsValue::from_f64(n as f64));
            }
        }
        if slots.length() == 0 {
            return Ok(None);
        }
        find_subtle()?;
        Ok(Some(step::import(&specs, &slots)))
    }

    /// Keeps the keys the driver imported for `slots`. For a probe, a key WebCrypto refuses is
    /// `invalid_key` and one whose algorithm it lacks is noted (`lacking`: the JS entry then
    /// loads the pure-Rust module) rather than an error: a set may hold one beside the key
    /// actually used, whose tokens are then `unsupported_algorithm`. For a token's key,
    /// either refusal is the token's error.
    pub(crate) fn install(
        &self,
        slots: &JsValue,
        outcomes: &JsValue,
        probe: bool,
    ) -> Result<(), Error> {
        let slots = Array::from(slots);
        let outcomes = Array::from(outcomes);
        for (i, n) in slots.iter().enumerate() {
            let outcome = outcomes.get(i as u32);
            match outcome_error(&outcome) {
                None => {
                    let n = n.as_f64().unwrap_or(-1.0);
                    let mut all = self.slots.borrow_mut();
                    if let Some(slot) = (n >= 0.0).then(|| all.get_mut(n as usize)).flatten() {
                        slot.key.get_or_insert(outcome);
                    }
                }
                Some(e) if probe && e.code() == ErrorCode::UnsupportedAlgorithm => {
                    self.lacking.set(true);
                }
                Some(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// [`Verifier::begin`], then the step that checks the signature (or imports its key
    /// first).
    pub(crate) fn begin(&self, token: &str, _now: &dyn Fn() -> u64) -> Result<Out, Error> {
        let pending = self.verifier.begin(token)?;
        let key = pending.key();
        let alg = pending.algorithm();
        let (n, imported) = self.slot(key.index(), alg)?;
        let slot = JsValue::from_f64(n as f64);
        let Some((imported, params)) = imported else {
            let spec = import_spec(key, alg)?;
            find_subtle()?;
            return Ok(Out::Step(step::import(
                &Array::of1(&spec),
                &Array::of1(&slot),
            )));
        };
        let step = step::verify(
            &imported,
            &params,
            pending.signature(),
            pending.signing_input(),
            &slot,
        );
        // The check waits here for the verdict, so that it is not begun again.
        let number = self.numbered.get() + 1.0;
        self.numbered.set(number);
        self.checks
            .borrow_mut()
            .push((number, pending.into_owned()));
        step.set_check(number);
        Ok(Out::Step(step))
    }

    /// The signature check's verdict on the check numbered `check` (its key in `slot`) at
    /// `now`: [`Verifier::finish`]. `None` when no such check waits (it was finished).
    pub(crate) fn finish(
        &self,
        check: Option<f64>,
        slot: &JsValue,
        valid: bool,
        now: u64,
    ) -> Option<Result<Verified, Error>> {
        let check = {
            let mut checks = self.checks.borrow_mut();
            let at = checks.iter().position(|(n, _)| Some(*n) == check)?;
            checks.swap_remove(at).1
        };
        let n = slot.as_f64().unwrap_or(-1.0);
        // The verdict counts only for the key and algorithm the check selected.
        let same = n >= 0.0
            && self
                .slots
                .borrow()
                .get(n as usize)
                .is_some_and(|s| s.index == check.key_index() && s.alg == check.algorithm());
        Some(self.verifier.finish(check, valid && same, now))
    }
}

/// The backend's name, as `backend` on verifiers and sessions.
pub(crate) const BACKEND: &str = "webcrypto";

fn find_subtle() -> Result<(), Error> {
    let crypto = Reflect::get(&js_sys::global(), &JsValue::from_str("crypto")).unwrap_or_default();
    let subtle = if crypto.is_object() {
        Reflect::get(&crypto, &JsValue::from_str("subtle")).unwrap_or_default()
    } else {
        JsValue::UNDEFINED
    };
    if subtle.is_object() {
        Ok(())
    } else {
        Err(Error::new(
            ErrorCode::InvalidConfig,
            "WebCrypto (crypto.subtle) is not available: serve the page over https (a secure \
             context) in a current browser, or run Node 20 or later",
        ))
    }
}

fn object(members: &[(&str, JsValue)]) -> Object {
    let o = Object::new();
    for (name, value) in members {
        set(&o, name, value);
    }
    o
}

/// The browser never holds a shared secret; an HMAC algorithm never gets this far.
fn no_hmac() -> Error {
    Error::new(
        ErrorCode::UnsupportedAlgorithm,
        "HMAC algorithms are refused in the browser",
    )
}

/// `{format, keyData, algorithm}`: what `crypto.subtle.importKey` takes for `key` used with
/// `alg` (not extractable, for `verify` only: the driver adds those two).
fn import_spec(key: PublicKey<'_>, alg: Algorithm) -> Result<Object, Error> {
    let s = JsValue::from_str;
    let scheme = alg.spec().scheme;
    let name = ("name", s(scheme.webcrypto_name()));
    let algorithm = match scheme {
        Scheme::Ecdsa(_) => {
            let curve = key.curve().ok_or(no_hmac())?;
            object(&[name, ("namedCurve", s(curve))])
        }
        Scheme::EdDsa => object(&[name]),
        Scheme::Pkcs1(hash) | Scheme::Pss(hash) => object(&[name, ("hash", s(hash.name()))]),
        Scheme::Hmac(_) => return Err(no_hmac()),
    };
    let (format, data): (&str, JsValue) = match key.webcrypto_import().ok_or(no_hmac())? {
        WebCryptoImport::Spki(der) => ("spki", Uint8Array::from(der.as_slice()).into()),
        WebCryptoImport::Jwk(members) => {
            let jwk = Object::new();
            for (name, value) in members {
                set(&jwk, name, &JsValue::from_str(value));
            }
            ("jwk", jwk.into())
        }
    };
    Ok(object(&[
        ("format", s(format)),
        ("keyData", data),
        ("algorithm", algorithm.into()),
    ]))
}

/// The WebCrypto parameters of `verify` for a JWS algorithm.
fn verify_params(alg: Algorithm) -> Result<Object, Error> {
    let s = JsValue::from_str;
    let scheme = alg.spec().scheme;
    let name = ("name", s(scheme.webcrypto_name()));
    Ok(match scheme {
        Scheme::Ecdsa(hash) => object(&[name, ("hash", s(hash.name()))]),
        Scheme::EdDsa | Scheme::Pkcs1(_) => object(&[name]),
        // The salt is exactly as long as the hash (`Scheme::Pss`).
        Scheme::Pss(hash) => object(&[name, ("saltLength", hash.len().into())]),
        Scheme::Hmac(_) => return Err(no_hmac()),
    })
}
