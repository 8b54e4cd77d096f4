# Shared helpers for the project's scripts: each `ensure_*` installs one thing the project
# needs, only when it is missing, so the scripts work on a fresh machine and are quick on a
# warm one. Source it: `. "$(dirname "$0")/lib.sh"`.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
export PATH="$HOME/.cargo/bin:$PATH"

# Each step line carries the time since the first script of the run started (exported, so
# scripts called by scripts count from the same start): where a run spends its minutes.
: "${CT_RUN_START:=$(date +%s)}"
export CT_RUN_START
log() {
  local t=$(($(date +%s) - CT_RUN_START))
  printf '\033[1m==> [%d:%02d] %s\033[0m\n' $((t / 60)) $((t % 60)) "$*" >&2
}
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

_apt_updated=0
ensure_apt() { # ensure_apt CHECK_COMMAND PACKAGE...
  local check=$1; shift
  command -v "$check" >/dev/null 2>&1 && return 0
  log "installing $* (apt)"
  if [ "$_apt_updated" = 0 ]; then as_root apt-get update -qq; _apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

ensure_wasm_target() {
  rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown && return 0
  log "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
}

# The wasm-bindgen CLI must match the crate exactly; the pin lives in Cargo.toml.
wasm_bindgen_version() {
  sed -n 's/^wasm-bindgen = { version = "=\([0-9.]*\)".*/\1/p; s/^wasm-bindgen = "=\([0-9.]*\)".*/\1/p' "$ROOT/Cargo.toml" | head -1
}

ensure_wasm_bindgen() {
  local want; want=$(wasm_bindgen_version)
  [ -n "$want" ] || die "no exact wasm-bindgen pin (=X.Y.Z) in Cargo.toml"
  if command -v wasm-bindgen >/dev/null 2>&1 && [ "$(wasm-bindgen --version | awk '{print $2}')" = "$want" ]; then
    return 0
  fi
  log "building wasm-bindgen-cli $want from crates.io (prebuilt downloads are not reachable)"
  # Not --locked: its lock file names yanked crates on this registry (see DESIGN.md).
  cargo install wasm-bindgen-cli --version "=$want" --force
}

# cargo-fuzz drives libFuzzer (libfuzzer-sys) on STABLE Rust with `--sanitizer none`: no
# nightly toolchain, no downloaded binaries; it builds from crates.io (about 1 min 30 s on 2 cores).
ensure_cargo_fuzz() {
  command -v cargo-fuzz >/dev/null 2>&1 && return 0
  log "building cargo-fuzz from crates.io"
  cargo install cargo-fuzz --version "^0.13" --locked
}

ensure_node_modules() {
  cd "$ROOT"
  if [ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ]; then return 0; fi
  log "installing npm packages (npm ci)"
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
}

ensure_chromium() {
  ensure_apt chromium chromium
  ensure_apt chromedriver chromium-driver
  export CHROMEDRIVER=${CHROMEDRIVER:-$(command -v chromedriver)}
  export CHROMIUM=${CHROMIUM:-$(command -v chromium)}
}

# The other two browser engines of the engine matrix (scripts/test-engines.sh), from Debian and
# crates.io (their own download tools cannot reach the internet here): Firefox ESR with
# geckodriver (built from crates.io), and WebKitGTK's WebKitWebDriver, which drives MiniBrowser.
# WebKitGTK has no headless mode: Xvfb gives it a display.
ensure_engines() {
  ensure_apt firefox-esr firefox-esr
  ensure_apt WebKitWebDriver webkit2gtk-driver
  ensure_apt xvfb-run xvfb xauth
  if ! command -v geckodriver >/dev/null 2>&1; then
    log "building geckodriver from crates.io (its prebuilt downloads are not reachable)"
    cargo install geckodriver --locked
  fi
  export GECKODRIVER=${GECKODRIVER:-$(command -v geckodriver)}
  export WEBKITDRIVER=${WEBKITDRIVER:-$(command -v WebKitWebDriver)}
  export FIREFOX=${FIREFOX:-$(command -v firefox-esr)}
}

# The brand-side minting libraries of examples/minting/ (scripts/test-minting.sh), from Debian:
# PyJWT with cryptography (ES256 needs it), and Ruby with ruby-jwt (its ES256 uses Ruby's own
# openssl library). Each is installed only when missing. Debian's packages serve Debian's
# interpreters: the recipes run with /usr/bin/python3 and /usr/bin/ruby (exported as
# MINTING_PYTHON, MINTING_RUBY), never a pyenv or rbenv shim that comes first on PATH.
ensure_minting() {
  local missing=()
  export MINTING_PYTHON=/usr/bin/python3 MINTING_RUBY=/usr/bin/ruby
  "$MINTING_PYTHON" -c 'import jwt, cryptography' >/dev/null 2>&1 || missing+=(python3-jwt python3-cryptography)
  [ -x "$MINTING_RUBY" ] || missing+=(ruby)
  "$MINTING_RUBY" -e 'require "jwt"; require "openssl"' >/dev/null 2>&1 || missing+=(ruby-jwt)
  [ "${#missing[@]}" = 0 ] && return 0
  log "installing ${missing[*]} (apt)"
  if [ "$_apt_updated" = 0 ]; then as_root apt-get update -qq; _apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# PostgreSQL server binaries (initdb, pg_ctl, postgres) from Debian.
ensure_postgres() {
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
  if [ -z "$bin" ] || [ ! -x "$bin/postgres" ]; then
    _apt_updated=0
    ensure_apt __never_a_command__ postgresql
    bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  fi
  export PG_BIN=$bin
}
