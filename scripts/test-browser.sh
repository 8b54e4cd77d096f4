#!/usr/bin/env bash
# Browser tests: builds the wasm module and runs the package's own tests (B1's
# scripts/test-package.sh: wasm build, wasm-bindgen tests in Chromium, Node tests, tsc), then
# the end-to-end tests of the demo pages in headless Chromium (tests/e2e/, Playwright).
# Exits non-zero on any failure. Each test file starts its own servers and browser and closes
# them; the trap below is the backstop for an interrupted run.
. "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_node_modules
ensure_chromium

# Whatever this script started (a build, node --test and its browsers) ends with it.
cleanup() {
  local pids
  pids=$(jobs -p)
  [ -z "$pids" ] || kill $pids 2>/dev/null || true
}
trap cleanup EXIT INT TERM

if [ -f scripts/test-package.sh ]; then
  log "npm package: wasm build, wasm-bindgen tests, Node tests, TypeScript types"
  bash scripts/test-package.sh
else
  ensure_wasm_target
  ensure_wasm_bindgen
  log "building the wasm module (scripts/build-wasm.sh)"
  bash scripts/build-wasm.sh
fi

[ -f pkg/index.js ] && [ -f pkg/integrator.js ] && [ -f pkg/campaign_token_bg.wasm ] \
  || die "pkg/ is incomplete after the build (index.js, integrator.js, campaign_token_bg.wasm)"

log "end-to-end tests of the demo pages in Chromium ($CHROMIUM)"
# One test file at a time: each launches a browser, and the machine's cores are shared.
node --test --test-concurrency=1 tests/e2e/
