#!/usr/bin/env bash
# The npm package as a user gets it: `npm pack` of pkg/ installed into a fresh consumer
# project with the common bundlers (Vite, webpack 5, esbuild, Rollup + node-resolve, Next.js;
# pinned in tests/bundlers/package.json and its package-lock.json), a page built with each and
# loaded in headless Chromium (tests/bundlers/bundlers.test.mjs). scripts/test-package.sh
# calls it after the package's own tests; it needs pkg/ built (scripts/build-wasm.sh).
#
# The consumer project lives in $TARGET_DIR/bundlers: its node_modules (about 430 MB, mostly
# Next.js) is installed only when tests/bundlers/package-lock.json changes.
. "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_node_modules
ensure_chromium
[ -f pkg/campaign_token_bg.wasm ] && [ -f pkg/campaign_token_bg.wasm.base64.js ] \
  || die "pkg/ is not built (run scripts/build-wasm.sh)"

# `npm install` with the lock file, not `npm ci`: vite 8 names an optional Windows-only package
# (napi-windows-process-start-time) that this registry lacks, so the lock cannot list it and
# `npm ci` refuses the lock; `npm install` keeps every locked version and skips that one.
consumer=$TARGET_DIR/bundlers
mkdir -p "$consumer"
if [ ! -d "$consumer/node_modules" ] || ! cmp -s tests/bundlers/package-lock.json "$consumer/.installed-lock.json"; then
  log "installing the bundlers into $consumer (npm install, tests/bundlers/package-lock.json)"
  rm -f "$consumer/.installed-lock.json"
  cp tests/bundlers/package.json tests/bundlers/package-lock.json "$consumer/"
  (cd "$consumer" && npm install --no-audit --no-fund --loglevel=error)
  cp tests/bundlers/package-lock.json "$consumer/.installed-lock.json"
fi

log "npm pack, installed into the consumer project"
packdir=$(mktemp -d "${TMPDIR:-/tmp}/campaign-token-pack.XXXXXX")
trap 'rm -rf "$packdir"' EXIT
tarball=$(npm pack --silent --pack-destination "$packdir" | tail -1)
(cd "$consumer" && npm install --no-save --no-audit --no-fund --loglevel=error "$packdir/$tarball")

log "a page built by each bundler, in Chromium ($CHROMIUM)"
CONSUMER_DIR=$consumer node --test --test-reporter=spec tests/bundlers/bundlers.test.mjs
