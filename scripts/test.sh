#!/usr/bin/env bash
# Runs every test of the project. The README's test command; .ci/run calls it.
# Installs what is missing (wasm target, wasm-bindgen CLI, npm packages, Chromium,
# PostgreSQL, the minting recipes' PyJWT and ruby-jwt, the bundlers of tests/bundlers/), so it
# works on a fresh machine.
. "$(dirname "$0")/lib.sh"
cd "$ROOT"

log "toolchain and packages"
ensure_wasm_target
ensure_wasm_bindgen
ensure_node_modules
ensure_chromium
ensure_postgres
ensure_minting

log "format and lints"
cargo fmt --all --check
cargo clippy --workspace --all-targets --all-features --quiet -- -D warnings
cargo clippy --target wasm32-unknown-unknown --lib --quiet -- -D warnings
cargo clippy --target wasm32-unknown-unknown --lib --features pure-rust --quiet -- -D warnings

# A throwaway PostgreSQL cluster for the server's tests, stopped on exit.
. "$ROOT/scripts/pg.sh"
pg_start
# And one that accepts TLS connections only (self-signed CA), for database_tls.
pg_tls_start
trap 'pg_stop; pg_tls_stop' EXIT
export CAMPAIGN_TOKEN_TEST_PG="$PG_URL" CAMPAIGN_TOKEN_REQUIRE_PG=1
export CAMPAIGN_TOKEN_TEST_PG_TLS="$PG_TLS_URL" CAMPAIGN_TOKEN_TEST_PG_TLS_CA="$PG_TLS_CA"

log "native tests (core, token tool, server on SQLite and PostgreSQL)"
cargo test --workspace --all-features

log "fuzzing: verify, keys, page-vs-native differential, participation body (120 s in all)"
bash scripts/fuzz.sh

log "interoperability with the npm jose package"
bash scripts/test-interop.sh

log "browser module: wasm build, wasm-bindgen tests, npm package, end-to-end in Chromium"
bash scripts/test-browser.sh

log "brand-side minting recipes: jose, PyJWT, ruby-jwt, the token tool (scripts/test-minting.sh)"
bash scripts/test-minting.sh

log "the README's main command starts, serves the pages and allocates (demo --smoke)"
# The demo listens on fixed ports (8080, 8081): two runs on one machine take turns.
flock /tmp/campaign-token-demo.lock bash scripts/demo.sh --smoke

log "all tests passed"
