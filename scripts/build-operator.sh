#!/usr/bin/env bash
# Builds the operator console (operator/) into $TARGET_DIR/operator/, which the server
# serves at /operator/ (server config `site.operator`): index.html, and app.js + app.css
# bundled by esbuild with uPlot from npm. No inline script or style, for the strict CSP.
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_node_modules
OUT=${1:-$TARGET_DIR/operator}
mkdir -p "$OUT"
node_modules/.bin/esbuild operator/app.js --bundle --format=esm --minify --target=es2020 \
  --outfile="$OUT/app.js" --log-level=warning
cp operator/index.html "$OUT/index.html"
[ -f "$OUT/app.css" ] || die "esbuild did not write $OUT/app.css"
