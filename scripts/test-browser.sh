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

# Each step runs in its own process group (setsid), so that an interrupted run can end the
# whole step — node's test runner, its test processes and their Chromium — and nothing else.
group=
stop_group() {
  if [ -n "$group" ]; then
    kill -TERM -- "-$group" 2>/dev/null || true
    sleep 1
    kill -KILL -- "-$group" 2>/dev/null || true
  fi
}
trap stop_group EXIT
trap 'stop_group; exit 130' INT
trap 'stop_group; exit 143' TERM
step() {
  setsid "$@" &
  group=$!
  local rc=0
  wait "$group" || rc=$?
  group=
  return "$rc"
}

# The end-to-end tests load the same pkg/ that the package tests just built and tested.
PKG=$ROOT/pkg
export CAMPAIGN_TOKEN_PKG_DIR=$PKG
unset OUT_DIR

if [ -f scripts/test-package.sh ]; then
  log "npm package: wasm build, wasm-bindgen tests, Node tests, TypeScript types"
  step bash scripts/test-package.sh
else
  ensure_wasm_target
  ensure_wasm_bindgen
  log "building the wasm module (scripts/build-wasm.sh)"
  step bash scripts/build-wasm.sh
fi

for f in index.js errors.js integrator.js campaign_token_bg.wasm; do
  [ -f "$PKG/$f" ] || die "$PKG/$f is missing after the build"
done

log "end-to-end tests of the demo pages in Chromium ($CHROMIUM)"
# One test file at a time: each launches a browser, and the machine's cores are shared.
step node --test --test-concurrency=1 tests/e2e/

log "the engine matrix: Firefox ESR and WebKitGTK beside Chromium (scripts/test-engines.sh)"
step bash scripts/test-engines.sh
