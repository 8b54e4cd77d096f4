//! campaign-token-core: verify a brand's signed campaign token (a JWS) and say what it promises.
//!
//! A brand's backend decides who may win a contest and which prize they are shown, and
//! signs that in a JSON Web Token with a `gift` claim. This crate is the one place where
//! such a token is judged: the token tool and the allocation server call
//! `Verifier::verify` (feature `native-crypto`); the browser module (the `campaign-token`
//! crate, compiled to WebAssembly) runs the same two phases, [`Verifier::begin`] and [`PendingCheck::finish`],
//! around the browser's WebCrypto, which checks the signature itself.
//!
//! ```
//! # use campaign_token_core::{KeySet, Policy, Verifier};
//! # fn demo(pem: &str, token: &str) -> Result<(), campaign_token_core::Error> {
//! let verifier = Verifier::new(KeySet::from_pem(pem)?, Policy::new("summer-2026")?);
//! let verified = verifier.verify(token, campaign_token_core::now())?;
//! println!("{} may win: {:?}", verified.sub, verified.eligibility);
//! # Ok(()) }
//! ```
//!
//! The core is pure Rust and has no browser types; the browser glue is a separate crate, a
//! thin adapter over its public API.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod alg;
mod b64;
mod claims;
pub mod clock;
mod eligibility;
mod error;
#[cfg(feature = "fairness")]
pub mod fairness;
mod header;
mod json;
pub mod jwks;
mod keys;
#[cfg(feature = "mint")]
pub mod mint;
pub mod origin;
pub mod policy;
pub mod template;
mod verify;

pub use alg::{AlgSpec, Algorithm, Family, FamilySpec, Hash, Scheme};
pub use b64::encode as base64url_encode;
pub use claims::{Limit, MAX_LIMIT_NB, MAX_MEMBERS, MAX_NAME_BYTES, MAX_VALUE_CHARS};
pub use eligibility::Eligibility;
pub use error::{Error, ErrorCode};
#[cfg(feature = "native-crypto")]
pub use keys::Backend;
pub use keys::{KeySet, PublicKey, WebCryptoImport};
pub use policy::Policy;
pub use verify::{inspect, OwnedCheck, PendingCheck, Unverified, Verified, Verifier};

#[cfg(not(target_arch = "wasm32"))]
pub use verify::now;
