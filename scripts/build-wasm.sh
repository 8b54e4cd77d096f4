#!/usr/bin/env bash
# Builds the npm package into pkg/: the release wasm modules (the default one, WebCrypto, and
# the pure-Rust fallback the JS entry loads only where WebCrypto cannot serve; wasm-bindgen --target web, then
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

stage=$(mktemp -d "${TMPDIR:-/tmp}/campaign-token-pkg.XXXXXX")
trap 'rm -rf "$stage"' EXIT

# build_module NAME EXTRA_FEATURE: cargo build, wasm-bindgen, wasm-opt into $stage/NAME*. Both
# modules share the target dir: cargo keeps each feature set's artifacts apart.
build_module() {
  local name=$1 extra=$2 features=$FEATURES
  local cargo_args=(build --release --target wasm32-unknown-unknown --lib)
  if [ -n "$features" ]; then
    cargo_args+=(--no-default-features --features "$features${extra:+,$extra}")
  elif [ -n "$extra" ]; then
    cargo_args+=(--features "$extra")
  fi
  log "cargo ${cargo_args[*]}"
  cargo "${cargo_args[@]}"
  local wasm="$TARGET_DIR/wasm32-unknown-unknown/release/campaign_token.wasm"
  [ -f "$wasm" ] || die "no $wasm after the build"
  log "wasm-bindgen --target web ($name)"
  wasm-bindgen --target web --out-dir "$stage" --out-name "$name" "$wasm"
  log "wasm-opt -Oz (npm binaryen $(node -p 'require("binaryen/package.json").version' 2>/dev/null || echo '?'))"
  "$ROOT/node_modules/.bin/wasm-opt" -Oz --converge --strip-producers --strip-target-features \
    --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals --enable-multivalue --enable-reference-types \
    "$stage/${name}_bg.wasm" -o "$stage/${name}_bg.opt.wasm"
  mv "$stage/${name}_bg.opt.wasm" "$stage/${name}_bg.wasm"
}

# The default module checks signatures with WebCrypto; the fallback, loaded by the JS entry
# only where WebCrypto cannot serve, in pure Rust (feature pure-rust, src/crypto_pure.rs).
build_module campaign_token ""
build_module campaign_token_fallback pure-rust

cp js/index.js js/index.d.ts js/integrator.js js/integrator.d.ts js/errors.js js/errors.d.ts "$stage/"
rm -f "$stage/.gitignore"

rm -rf "$OUT"
mkdir -p "$(dirname "$OUT")"
mv "$stage" "$OUT"
chmod 755 "$OUT"
trap - EXIT

log "built $OUT (features: ${FEATURES:-default}${CAMPAIGN_TOKEN_EMBED_KEYS:+, embedded keys})"
for name in campaign_token campaign_token_fallback; do
  f="$OUT/${name}_bg.wasm"
  raw=$(wc -c <"$f")
  gz=$(gzip -9 -c "$f" | wc -c)
  br=$(node -e 'const z=require("zlib"),f=require("fs");process.stdout.write(String(z.brotliCompressSync(f.readFileSync(process.argv[1]),{params:{[z.constants.BROTLI_PARAM_QUALITY]:11}}).length))' "$f")
  printf '%s: %s bytes raw, %s gzip -9, %s brotli -q 11\n' "${name}_bg.wasm" "$raw" "$gz" "$br"
done
