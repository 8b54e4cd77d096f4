//! Benchmark helpers live in `src/bin` (fixtures, load generator) and `benches/` (criterion).

pub mod backends;
