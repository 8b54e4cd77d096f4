#!/usr/bin/env bash
# Builds an experimental variant of the wasm module the way scripts/build-wasm.sh does, with
# extra cargo --config files and a chosen wasm-opt level, so the size/speed effect of a build
# change can be measured with bench/size.mjs and bench/browser.mjs before anyone adopts it.
#   bench/experiments/build-variant.sh OUT_DIR WASM_OPT_LEVEL [CARGO_CONFIG.toml ...]
# e.g. bench/experiments/build-variant.sh bench/.work/pkg-crypto-o3 -Oz bench/experiments/crypto-opt3.toml
# CARGO_FEATURES and CAMPAIGN_TOKEN_EMBED_KEYS work as for scripts/build-wasm.sh.
. "$(dirname "$0")/../../scripts/lib.sh"
cd "$ROOT"
out=$1 level=$2; shift 2
cfg=(); for c in "$@"; do cfg+=(--config "$c"); done
feat=(); [ -n "${CARGO_FEATURES:-}" ] && feat=(--no-default-features --features "$CARGO_FEATURES")
cargo build --release --target wasm32-unknown-unknown --lib "${feat[@]}" "${cfg[@]}"
stage=$(mktemp -d)
wasm-bindgen --target web --out-dir "$stage" --out-name campaign_token "$TARGET_DIR/wasm32-unknown-unknown/release/campaign_token.wasm"
"$ROOT/node_modules/.bin/wasm-opt" "$level" --enable-bulk-memory --enable-nontrapping-float-to-int \
  --enable-sign-ext --enable-mutable-globals --enable-multivalue --enable-reference-types \
  "$stage/campaign_token_bg.wasm" -o "$stage/opt.wasm"
mv "$stage/opt.wasm" "$stage/campaign_token_bg.wasm"
cp js/index.js js/integrator.js js/errors.js "$stage/"
rm -rf "$out"; mkdir -p "$(dirname "$out")"; mv "$stage" "$out"
printf '%s: %s bytes, %s gzip -9\n' "$out/campaign_token_bg.wasm" "$(wc -c <"$out/campaign_token_bg.wasm")" "$(gzip -9c "$out/campaign_token_bg.wasm" | wc -c)"
