//! Signature checks with WebCrypto (`crypto.subtle`), the browser's native implementation.
//!
//! The core decides everything up to the signature ([`Verifier::begin`]: size, structure,
//! header, key selection) and everything after it ([`PendingCheck::finish`]: claims, time,
//! campaign, issuer); this module only imports the selected key and asks
//! `crypto.subtle.verify` for its verdict. Keys are imported once per key and algorithm and
//! kept (a `CryptoKey` is not extractable and usable for `verify` only).
//!
//! WebCrypto exists in every current browser, in Node ≥ 20, and only in secure contexts
//! (`https:`, or `http://localhost`): elsewhere `init`/`verifyToken` fail with
//! `invalid_config`.

use std::cell::RefCell;

use js_sys::{Array, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{CryptoKey, SubtleCrypto};

use campaign_token_core::{
    Algorithm, Error, ErrorCode, PendingCheck, PublicKey, Scheme, Verified, Verifier,
    WebCryptoImport,
};

use crate::errors::set;

/// A key imported for one algorithm, with the parameters `verify` takes for it.
#[derive(Clone)]
struct Imported {
    index: usize,
    alg: Algorithm,
    key: CryptoKey,
    params: Object,
}

/// Imported keys, by index in the verifier's key set and algorithm.
#[derive(Default)]
pub(crate) struct KeyCache {
    keys: RefCell<Vec<Imported>>,
}

impl KeyCache {
    fn get(&self, index: usize, alg: Algorithm) -> Option<Imported> {
        self.keys
            .borrow()
            .iter()
            .find(|k| k.index == index && k.alg == alg)
            .cloned()
    }

    /// The `CryptoKey` for `key` used with `alg`, imported on first use, and its `verify`
    /// parameters (built once: they are the same for every token).
    async fn key(&self, key: PublicKey<'_>, alg: Algorithm) -> Result<Imported, Error> {
        let index = key.index();
        if let Some(imported) = self.get(index, alg) {
            return Ok(imported);
        }
        let imported = Imported {
            index,
            alg,
            key: import_key(
                key.webcrypto_import().ok_or(no_hmac())?,
                &import_params(key, alg)?,
            )
            .await?,
            params: verify_params(alg)?,
        };
        let mut keys = self.keys.borrow_mut();
        // Another verification may have imported it meanwhile; keep one.
        if !keys.iter().any(|k| k.index == index && k.alg == alg) {
            keys.push(imported.clone());
        }
        Ok(imported)
    }

    /// Imports every key of the verifier's set once, so that a key WebCrypto refuses (an EC
    /// point off its curve, say) is `invalid_key` when the page starts, not at the first token.
    /// A key of an algorithm this browser lacks (Ed25519 in older browsers) is not an error
    /// here: a key set may hold one beside the key actually used; its tokens are
    /// `unsupported_algorithm` when they come.
    ///
    /// Answers whether some key's algorithm is one this browser's WebCrypto lacks: the JS
    /// entry then uses the pure-Rust fallback module instead (`crypto_pure.rs`).
    pub(crate) async fn import_all(&self, verifier: &Verifier) -> Result<bool, Error> {
        let probes: Vec<_> = verifier
            .keys()
            .iter()
            .filter_map(|key| Some((key, key.probe_algorithm()?)))
            .collect();
        let mut lacking = false;
        for (key, alg) in probes {
            match self.key(key, alg).await {
                Err(e) if e.code() == ErrorCode::InvalidKey => return Err(e),
                Err(e) if e.code() == ErrorCode::UnsupportedAlgorithm => lacking = true,
                _ => {}
            }
        }
        Ok(lacking)
    }
}

/// Verifies `token` at `now`: the core's checks around WebCrypto's signature check.
pub(crate) async fn verify(
    verifier: &Verifier,
    cache: &KeyCache,
    token: &str,
    now: u64,
) -> Result<Verified, Error> {
    let pending: PendingCheck<'_, '_> = verifier.begin(token)?;
    let key = cache.key(pending.key(), pending.algorithm()).await?;
    let valid = check(&key, pending.signing_input(), pending.signature()).await;
    pending.finish(valid, now)
}

/// The backend's name, as `backend` on verifiers and sessions.
pub(crate) const BACKEND: &str = "webcrypto";

thread_local! {
    static SUBTLE: RefCell<Option<SubtleCrypto>> = const { RefCell::new(None) };
}

/// `globalThis.crypto.subtle`, looked up once.
fn subtle() -> Result<SubtleCrypto, Error> {
    if let Some(subtle) = SUBTLE.with(|s| s.borrow().clone()) {
        return Ok(subtle);
    }
    let subtle = find_subtle()?;
    SUBTLE.with(|s| *s.borrow_mut() = Some(subtle.clone()));
    Ok(subtle)
}

fn find_subtle() -> Result<SubtleCrypto, Error> {
    let crypto = Reflect::get(&js_sys::global(), &JsValue::from_str("crypto")).unwrap_or_default();
    let subtle = if crypto.is_object() {
        Reflect::get(&crypto, &JsValue::from_str("subtle")).unwrap_or_default()
    } else {
        JsValue::UNDEFINED
    };
    if subtle.is_object() {
        Ok(subtle.unchecked_into())
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

/// The WebCrypto algorithm `key` is imported for, to verify `alg`.
fn import_params(key: PublicKey<'_>, alg: Algorithm) -> Result<Object, Error> {
    let s = JsValue::from_str;
    let scheme = alg.spec().scheme;
    let name = ("name", s(scheme.webcrypto_name()));
    Ok(match scheme {
        Scheme::Ecdsa(_) => {
            let curve = key.curve().ok_or(no_hmac())?;
            object(&[name, ("namedCurve", s(curve))])
        }
        Scheme::EdDsa => object(&[name]),
        Scheme::Pkcs1(hash) | Scheme::Pss(hash) => object(&[name, ("hash", s(hash.name()))]),
        Scheme::Hmac(_) => return Err(no_hmac()),
    })
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

async fn import_key(import: &WebCryptoImport, params: &Object) -> Result<CryptoKey, Error> {
    let subtle = subtle()?;
    let (format, data): (&str, Object) = match import {
        WebCryptoImport::Spki(der) => ("spki", Uint8Array::from(der.as_slice()).into()),
        WebCryptoImport::Jwk(members) => {
            let jwk = Object::new();
            for (name, value) in members {
                set(&jwk, name, &JsValue::from_str(value));
            }
            ("jwk", jwk)
        }
    };
    let usages = Array::of1(&JsValue::from_str("verify"));
    let promise = subtle
        .import_key_with_object(format, &data, params, false, &usages)
        .map_err(|e| refused(&e))?;
    let key = JsFuture::from(promise).await.map_err(|e| refused(&e))?;
    if key.is_object() {
        Ok(key.unchecked_into())
    } else {
        Err(Error::new(
            ErrorCode::InvalidKey,
            "WebCrypto did not return a key",
        ))
    }
}

/// WebCrypto's refusal of a key: `NotSupportedError` means this browser lacks the algorithm
/// (Ed25519 before Chrome 137, Safari 17, Firefox 129); anything else is a bad key.
fn refused(e: &JsValue) -> Error {
    let name = Reflect::get(e, &JsValue::from_str("name"))
        .ok()
        .and_then(|n| n.as_string());
    if name.is_some_and(|n| n == "NotSupportedError") {
        Error::new(
            ErrorCode::UnsupportedAlgorithm,
            "this browser's WebCrypto does not support the key's algorithm",
        )
    } else {
        Error::new(
            ErrorCode::InvalidKey,
            "WebCrypto refused the key: it is not a valid public key of its type",
        )
    }
}

/// `crypto.subtle.verify`; any failure (a rejected promise included) is `false`.
async fn check(key: &Imported, signing_input: &[u8], signature: &[u8]) -> bool {
    let Ok(subtle) = subtle() else {
        return false;
    };
    // WebCrypto copies both buffers before `verify` returns (WebCrypto spec, "get a copy of
    // the bytes held by"), so views into the module's memory are safe here.
    let promise: Result<Promise, _> = subtle.verify_with_object_and_u8_array_and_u8_array(
        &key.params,
        &key.key,
        signature,
        signing_input,
    );
    match promise {
        Ok(p) => JsFuture::from(p)
            .await
            .is_ok_and(|v| v.as_bool() == Some(true)),
        Err(_) => false,
    }
}
