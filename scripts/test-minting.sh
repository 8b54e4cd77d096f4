#!/usr/bin/env bash
# The brand-side minting recipes (examples/minting/: Node + jose, Python + PyJWT, Ruby +
# ruby-jwt, the token tool), each run with a key from the token tool, each token verified by
# the core (the token tool's verify), the page's module (the package's Node API) and the real
# allocation server (tests/minting/minting.test.mjs). Installs PyJWT, cryptography, Ruby and
# ruby-jwt from Debian when missing (ensure_minting). Needs pkg/ (builds it if missing).
. "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_node_modules
ensure_minting
if [ ! -f pkg/index.js ] || [ ! -f pkg/campaign_token_bg.wasm ]; then
  bash scripts/build-wasm.sh
fi

log "building the token tool and the allocation server (debug)"
cargo build --quiet -p campaign-token-cli -p campaign-token-server

log "minting recipes: jose, PyJWT $("$MINTING_PYTHON" -c 'import jwt; print(jwt.__version__)'), ruby-jwt $("$MINTING_RUBY" -e 'require "jwt"; print JWT::VERSION::STRING'), the token tool"
CAMPAIGN_TOKEN_CLI="$TARGET_DIR/debug/campaign-token" \
CAMPAIGN_TOKEN_SERVER="$TARGET_DIR/debug/campaign-token-server" \
CAMPAIGN_TOKEN_PKG_DIR="${CAMPAIGN_TOKEN_PKG_DIR:-$ROOT/pkg}" \
  node --test --test-reporter=spec tests/minting/minting.test.mjs
