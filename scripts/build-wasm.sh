#!/usr/bin/env bash
# Builds the npm package into pkg/: the release wasm module (wasm-bindgen --target web, then
# wasm-opt from the npm `binaryen` package, never Debian's), the generated glue, and the
# package's JS entries and types. Prints the module's raw, gzip and brotli sizes.
#
#   scripts/build-wasm.sh                       # every algorithm
#   CARGO_FEATURES=alg-es256 scripts/build-wasm.sh    # one family only (smaller)
#   CAMPAIGN_TOKEN_EMBED_KEYS=jwks.json scripts/build-wasm.sh   # trust only that key
#   OUT_DIR=some/dir scripts/build-wasm.sh      # somewhere other than pkg/
. "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_wasm_target
ensure_wasm_bindgen
ensure_node_modules

OUT=${OUT_DIR:-$ROOT/pkg}
FEATURES=${CARGO_FEATURES:-}

cargo_args=(build --release --target wasm32-unknown-unknown --lib)
if [ -n "$FEATURES" ]; then
  cargo_args+=(--no-default-features --features "$FEATURES")
fi
log "cargo ${cargo_args[*]}"
cargo "${cargo_args[@]}"

wasm="$TARGET_DIR/wasm32-unknown-unknown/release/campaign_token.wasm"
[ -f "$wasm" ] || die "no $wasm after the build"

# Generate into a fresh directory, then swap, so a failed build never leaves a half pkg/.
stage=$(mktemp -d "${TMPDIR:-/tmp}/campaign-token-pkg.XXXXXX")
trap 'rm -rf "$stage"' EXIT
log "wasm-bindgen --target web"
wasm-bindgen --target web --out-dir "$stage" --out-name campaign_token "$wasm"

log "wasm-opt -Oz (npm binaryen $(node -p 'require("binaryen/package.json").version' 2>/dev/null || echo '?'))"
# The features rustc enables by default for wasm32 (bulk memory, non-trapping float-to-int,
# sign extension, multivalue, reference types) must be enabled here too, or wasm-opt refuses
# the module.
# --converge repeats -Oz until it stops shrinking; the producers and target-features custom
# sections are metadata no browser reads (together about 0.6 KB gzip on the ES256 build).
"$ROOT/node_modules/.bin/wasm-opt" -Oz --converge --strip-producers --strip-target-features \
  --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-mutable-globals --enable-multivalue --enable-reference-types \
  "$stage/campaign_token_bg.wasm" -o "$stage/campaign_token_bg.opt.wasm"
mv "$stage/campaign_token_bg.opt.wasm" "$stage/campaign_token_bg.wasm"

cp js/index.js js/index.d.ts js/integrator.js js/integrator.d.ts js/errors.js js/errors.d.ts "$stage/"
rm -f "$stage/.gitignore"

rm -rf "$OUT"
mkdir -p "$(dirname "$OUT")"
mv "$stage" "$OUT"
chmod 755 "$OUT"
trap - EXIT

raw=$(wc -c <"$OUT/campaign_token_bg.wasm")
gz=$(gzip -9 -c "$OUT/campaign_token_bg.wasm" | wc -c)
br=$(node -e 'const z=require("zlib"),f=require("fs");process.stdout.write(String(z.brotliCompressSync(f.readFileSync(process.argv[1]),{params:{[z.constants.BROTLI_PARAM_QUALITY]:11}}).length))' "$OUT/campaign_token_bg.wasm")
log "built $OUT (features: ${FEATURES:-default}${CAMPAIGN_TOKEN_EMBED_KEYS:+, embedded keys})"
printf 'campaign_token_bg.wasm: %s bytes raw, %s gzip -9, %s brotli -q 11\n' "$raw" "$gz" "$br"
