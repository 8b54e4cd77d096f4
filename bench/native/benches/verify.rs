//! Native verify speed of the core: the limit the browser numbers are compared against, and
//! the candidate signature backends for the server, each through the whole pipeline.
//!
//! One token per algorithm of the library's table (`Algorithm::ASYMMETRIC`), minted by the
//! project's own signer. `rustcrypto` is `Verifier::verify` (the core's native backend, what
//! the token tool and today's server use); `ring` and `aws-lc-rs` run the same pipeline through
//! the public seam: `Verifier::begin`, the backend's signature check, `PendingCheck::finish`
//! (bench/native/src/backends.rs). `bench/native/report.mjs` (run by `scripts/bench.sh`) turns
//! criterion's samples into tokens/s.

use campaign_token_bench::backends::{prepare, Backend};
use campaign_token_core::mint::{mint, SigningKey, TokenClaims};
use campaign_token_core::{Algorithm, KeySet, Policy, Verifier};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

fn verify(c: &mut Criterion) {
    let now = campaign_token_core::now();
    let mut group = c.benchmark_group("verify");
    group.throughput(Throughput::Elements(1));
    for alg in Algorithm::ASYMMETRIC {
        let name = alg.name();
        let key = SigningKey::generate(alg)
            .and_then(|k| k.with_algorithm(alg))
            .unwrap_or_else(|e| panic!("{name} key: {e:?}"));
        let claims = TokenClaims::new("participant-42", "bench", now, 3600)
            .with_gift(Some(true), Some("A weekend in Lisbon"));
        let token = mint(&key, &claims).unwrap_or_else(|e| panic!("{name} mint: {e:?}"));
        let jwks = key.public_jwks().to_string();
        let keys = KeySet::from_jwks(&jwks).unwrap_or_else(|e| panic!("{name} keys: {e:?}"));
        let policy = Policy::new("bench").unwrap_or_else(|e| panic!("policy: {e:?}"));
        let verifier = Verifier::new(keys, policy);
        // A benchmark of a failing path would be meaningless: check once, outside timing.
        let expected = verifier
            .verify(&token, now)
            .unwrap_or_else(|e| panic!("{name} verify: {e:?}"));
        group.bench_function(BenchmarkId::new(Backend::RustCrypto.name(), name), |b| {
            b.iter(|| verifier.verify(std::hint::black_box(&token), now))
        });
        let pending = verifier.begin(&token).unwrap_or_else(|e| panic!("{name} begin: {e:?}"));
        for backend in [Backend::Ring, Backend::AwsLc] {
            let Some(check) = prepare(backend, pending.key(), alg) else {
                continue; // ring has no P-521
            };
            // The backend agrees on this token and refuses it with one bit of the signature
            // flipped, before it is timed.
            let through_seam = |token: &str| {
                let p = verifier.begin(token)?;
                let valid = check(p.signing_input(), p.signature());
                p.finish(valid, now)
            };
            assert_eq!(through_seam(&token).ok().as_ref(), Some(&expected), "{name} {backend:?}");
            let mut tampered = token.clone().into_bytes();
            if let Some(last) = tampered.last_mut() {
                *last = if *last == b'A' { b'B' } else { b'A' };
            }
            let tampered = String::from_utf8(tampered).unwrap_or_default();
            assert!(through_seam(&tampered).is_err(), "{name} {backend:?} accepted a tampered token");
            group.bench_function(BenchmarkId::new(backend.name(), name), |b| {
                b.iter(|| through_seam(std::hint::black_box(&token)))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, verify);
criterion_main!(benches);
