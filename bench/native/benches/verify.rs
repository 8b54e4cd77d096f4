//! Native verify speed of the core: the limit the browser numbers are compared against.
//!
//! One token per algorithm of the library's table (`Algorithm::ASYMMETRIC`), minted by the
//! project's own signer, verified by the same `Verifier::verify` the wasm module and the server
//! call. `bench/native/report.mjs`
//! (run by `scripts/bench.sh`) turns criterion's samples into tokens/s.

use campaign_token_core::mint::{mint, SigningKey, TokenClaims};
use campaign_token_core::{Algorithm, KeySet, Policy, Verifier};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

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
        let pem = key.public_pem().unwrap_or_else(|e| panic!("{name} pem: {e:?}"));
        let keys = KeySet::from_pem(&pem).unwrap_or_else(|e| panic!("{name} keys: {e:?}"));
        let policy = Policy::new("bench").unwrap_or_else(|e| panic!("policy: {e:?}"));
        let verifier = Verifier::new(keys, policy);
        // A benchmark of a failing path would be meaningless: check once, outside timing.
        verifier
            .verify(&token, now)
            .unwrap_or_else(|e| panic!("{name} verify: {e:?}"));
        group.bench_function(name, |b| {
            b.iter(|| verifier.verify(std::hint::black_box(&token), now))
        });
    }
    group.finish();
}

criterion_group!(benches, verify);
criterion_main!(benches);
