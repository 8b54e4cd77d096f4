#!/usr/bin/env bash
# Interoperability with the npm `jose` package: jose-signed tokens (every algorithm) through
# our token tool's `verify`, and tokens from our `keygen` + `mint` through jose's jwtVerify.
# Builds the token tool into $CARGO_TARGET_DIR (default ./target); exits non-zero on any
# failure.
. "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_node_modules
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
[ "$node_major" -ge 20 ] || die "Node.js 20 or later is needed (found: $(node --version 2>/dev/null || echo none))"

log "building the token tool"
cargo build --quiet -p campaign-token-cli
export CAMPAIGN_TOKEN_BIN="$TARGET_DIR/debug/campaign-token"
[ -x "$CAMPAIGN_TOKEN_BIN" ] || die "the token tool was not built at $CAMPAIGN_TOKEN_BIN"

log "interop tests with jose $(node -p 'require("./node_modules/jose/package.json").version')"
node --test tests/interop/
