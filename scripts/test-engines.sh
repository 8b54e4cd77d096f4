#!/usr/bin/env bash
# The engine matrix: the module's wasm-bindgen tests and its end-to-end flows in Firefox ESR
# (Gecko) and WebKitGTK (WebKit, Safari's engine), beside Chromium (scripts/test-package.sh runs
# the wasm-bindgen tests there; tests/engines/ runs the flows in all three). Expects pkg/ built
# (scripts/test-browser.sh calls this after the package tests). See docs/browser.md, "Engines".
. "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_node_modules
ensure_chromium
ensure_engines

# wasm-bindgen-test-runner picks its driver from the first of GECKODRIVER, SAFARIDRIVER,
# CHROMEDRIVER that is set; WebKitWebDriver speaks the same protocol as safaridriver.
log "web layer in Firefox ESR (wasm-bindgen-test, geckodriver)"
env -u CHROMEDRIVER -u SAFARIDRIVER GECKODRIVER="$GECKODRIVER" \
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
  cargo test --target wasm32-unknown-unknown --lib

log "web layer in WebKitGTK (wasm-bindgen-test, WebKitWebDriver under Xvfb)"
env -u CHROMEDRIVER -u GECKODRIVER SAFARIDRIVER="$WEBKITDRIVER" \
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
  xvfb-run -a cargo test --target wasm32-unknown-unknown --lib

log "end-to-end flows in Chromium, Firefox ESR and WebKitGTK (tests/engines/, WebDriver)"
xvfb-run -a node --test --test-concurrency=1 tests/engines/
