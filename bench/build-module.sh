# Builds the two modules the size and browser benchmarks measure, with the project's own
# scripts/build-wasm.sh, into bench/.work (never into pkg/, which others use):
#   default     every algorithm, keys given at run time            → $PKG_DEFAULT
#   single-key  CARGO_FEATURES=alg-es256 and the fixtures' ES256
#               public key embedded (CAMPAIGN_TOKEN_EMBED_KEYS)      → $PKG_SINGLE
# and keeps each build's cargo output (names intact) for twiggy: $NAMED_DEFAULT, $NAMED_SINGLE.
# Source after scripts/lib.sh; needs $WORK/fixtures.json.

build_modules() {
  # build-wasm.sh keeps each module's cargo output as NAME.named.wasm (the last cargo build is
  # the fallback's, not the default module's).
  local work=$1 cargo_wasm="$TARGET_DIR/wasm32-unknown-unknown/release/campaign_token.named.wasm"
  PKG_DEFAULT=$work/pkg-default NAMED_DEFAULT=$work/named-default.wasm
  PKG_SINGLE=$work/pkg-es256 NAMED_SINGLE=$work/named-es256.wasm
  log "building the default module (all algorithms)"
  OUT_DIR=$PKG_DEFAULT CARGO_FEATURES='' CAMPAIGN_TOKEN_EMBED_KEYS='' bash scripts/build-wasm.sh
  cp "$cargo_wasm" "$NAMED_DEFAULT"
  if grep -q CAMPAIGN_TOKEN_EMBED_KEYS scripts/build-wasm.sh && grep -q '^alg-es256' Cargo.toml; then
    node -e 'const f=require(process.argv[1]);process.stdout.write(JSON.stringify({keys:[f.algs.ES256.jwk]}))' \
      "$work/fixtures.json" >"$work/es256-jwks.json"
    log "building the single-key module (ES256 only, the fixtures' key embedded)"
    OUT_DIR=$PKG_SINGLE CARGO_FEATURES=alg-es256 CAMPAIGN_TOKEN_EMBED_KEYS=$work/es256-jwks.json \
      bash scripts/build-wasm.sh
    cp "$cargo_wasm" "$NAMED_SINGLE"
  else
    log "no single-key build option in scripts/build-wasm.sh: measuring the default build only"
    PKG_SINGLE='' NAMED_SINGLE=''
  fi
  # twiggy needs names; the shipped module has none. Redo the last two steps of the build on
  # the kept cargo output with `wasm-opt -g`: the same optimised code, names kept.
  NAMED_DEFAULT=$(named_optimised "$NAMED_DEFAULT")
  [ -z "$NAMED_SINGLE" ] || NAMED_SINGLE=$(named_optimised "$NAMED_SINGLE")
  export PKG_DEFAULT NAMED_DEFAULT PKG_SINGLE NAMED_SINGLE
}

named_optimised() { # named_optimised CARGO_WASM -> prints the path of a named, optimised copy
  local in=$1 dir=${1%.wasm}-bindgen
  rm -rf "$dir"
  wasm-bindgen --target web --out-dir "$dir" --out-name campaign_token "$in"
  "$ROOT/node_modules/.bin/wasm-opt" -Oz -g \
    --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals --enable-multivalue --enable-reference-types \
    "$dir/campaign_token_bg.wasm" -o "${in%.wasm}.opt-named.wasm"
  echo "${in%.wasm}.opt-named.wasm"
}
