#!/usr/bin/env bash
# Tests the browser module and the npm package:
#   1. builds pkg/ (scripts/build-wasm.sh: release, wasm-opt) — the artefact tested below;
#   2. the web layer's wasm-bindgen tests in headless Chromium (src/tests.rs), with each
#      signature backend (WebCrypto, and the pure-Rust fallback);
#   3. the package in Node against pkg/ (tests/node/*.test.mjs), including a brand's own
#      ES256-only build with an embedded key (built into $TARGET_DIR/pkg-embedded);
#   4. the TypeScript declarations (tsc against tests/types/example.ts);
#   5. `npm pack` in a consumer project, a page built with Vite, webpack, esbuild, Rollup and
#      Next.js, each loaded in Chromium (scripts/test-bundlers.sh).
# scripts/test-browser.sh calls this before the end-to-end tests. SKIP_BUILD=1 reuses pkg/.
. "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_wasm_target
ensure_wasm_bindgen
ensure_node_modules
ensure_chromium

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  bash scripts/build-wasm.sh
fi
[ -f pkg/campaign_token_bg.wasm ] || die "pkg/ is not built (run scripts/build-wasm.sh)"

log "web layer in headless Chromium (wasm-bindgen-test, webdriver.json)"
CHROMEDRIVER=${CHROMEDRIVER:-/usr/bin/chromedriver} \
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
  cargo test --target wasm32-unknown-unknown --lib

log "the same web layer with the pure-Rust fallback backend (--features pure-rust)"
CHROMEDRIVER=${CHROMEDRIVER:-/usr/bin/chromedriver} \
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
  cargo test --target wasm32-unknown-unknown --lib --features pure-rust

log "a brand's module: ES256 only, key embedded at build time"
keys=$(mktemp -d "${TMPDIR:-/tmp}/campaign-token-keys.XXXXXX")
trap 'rm -rf "$keys"' EXIT
node --input-type=module -e '
  import * as jose from "jose";
  import { writeFileSync } from "node:fs";
  const { publicKey, privateKey } = await jose.generateKeyPair("ES256", { extractable: true });
  const kid = "brand-test";
  writeFileSync(process.argv[1] + "/jwks.json", JSON.stringify({ keys: [{ ...(await jose.exportJWK(publicKey)), kid }] }));
  writeFileSync(process.argv[1] + "/private.jwk", JSON.stringify({ ...(await jose.exportJWK(privateKey)), kid }));
' "$keys"
CAMPAIGN_TOKEN_EMBED_KEYS="$keys/jwks.json" CARGO_FEATURES=alg-es256 OUT_DIR="$TARGET_DIR/pkg-embedded" \
  bash scripts/build-wasm.sh

log "npm package in Node $(node --version)"
EMBEDDED_PKG_DIR="$TARGET_DIR/pkg-embedded" EMBEDDED_PRIVATE_JWK="$keys/private.jwk" \
  node --test tests/node/*.test.mjs

log "TypeScript declarations (tsc --noEmit)"
node_modules/.bin/tsc -p tests/types

log "the packed package built into a page by each common bundler (scripts/test-bundlers.sh)"
bash scripts/test-bundlers.sh

log "package tests passed"
