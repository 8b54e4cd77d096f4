#!/usr/bin/env bash
# Benchmarks (issue 5), each ours beside the alternative in the same run, medians with
# min–max over repetitions:
#   native  — criterion: verify speed of the core, natively (the limit for the browser)
#   size    — bytes a page downloads from us (default and single-key ES256 builds) beside
#             the esbuild bundle of the jose equivalent page, and twiggy's attribution
#   browser — headless Chromium: verify speed (our wasm vs jose/WebCrypto) and time to
#             personalised page (demo page vs jose page, localhost and mobile emulation)
#   load    — the allocation server under a loopback load generator: SQLite (one process)
#             and PostgreSQL (two processes), 64 and 512 clients, winners ≤ prizes checked
# Results: bench/results/latest.json (+ latest.md, parts/*.json), and the tables of
# docs/benchmarks.md (only the text between its markers) unless --no-docs (--no-readme, its
# old name, still works).
#
#   ./scripts/bench.sh [--quick] [--no-docs] [--only native,size,browser,load]
#
# Timings depend on what else runs on the machine: take numbers on an idle machine.
# Nothing here asserts a target; the report says met or missed.
. "$(dirname "$0")/lib.sh"
cd "$ROOT"

ORIG_ARGS="$*"
QUICK=0
DOCS=1
PARTS=native,size,browser,load
while [ $# -gt 0 ]; do
  case $1 in
    --quick) QUICK=1 ;;
    --no-docs|--no-readme) DOCS=0 ;;
    --only) PARTS=$2; shift ;;
    *) die "usage: scripts/bench.sh [--quick] [--no-docs] [--only native,size,browser,load]" ;;
  esac
  shift
done
want() { [[ ",$PARTS," == *",$1,"* ]]; }

WORK=$ROOT/bench/.work
RESULTS=$ROOT/bench/results
mkdir -p "$WORK" "$RESULTS/parts"
# The benchmark crate is its own workspace (own lock file): give it its own target dir, or
# its build of the core and the workspace's could trip over each other's artifacts.
BENCH_TARGET=$TARGET_DIR/bench-native
BIN=$BENCH_TARGET/release

# Whatever this script started ends with it (servers, PostgreSQL, browsers).
cleanup() {
  local pids
  pids=$(jobs -p)
  [ -z "$pids" ] || kill $pids 2>/dev/null || true
  declare -F pg_stop >/dev/null && pg_stop
  return 0
}
trap cleanup EXIT INT TERM

ensure_node_modules

log "building the benchmark tools (bench/native: fixtures, loadgen)"
CARGO_TARGET_DIR=$BENCH_TARGET cargo build --quiet --release --manifest-path bench/native/Cargo.toml --bins
"$BIN/fixtures" browser "$WORK/fixtures.json"
printf '{"quick": %s, "noise": "%s"}\n' "$([ $QUICK = 1 ] && echo true || echo false)" "${BENCH_NOISE_NOTE:-}" >"$RESULTS/parts/meta.json"
# The machine's load around each part: the cores are shared, and timings are only as good as
# the quiet they were taken in. The report prints it next to the tables.
: >"$RESULTS/parts/loadavg.txt"
loadavg() { echo "$1 $(cut -d' ' -f1-3 /proc/loadavg)" >>"$RESULTS/parts/loadavg.txt"; }

if want native; then
  loadavg "native:start"
  log "native verify speed (criterion)"
  if [ $QUICK = 1 ]; then crit=(--warm-up-time 1 --measurement-time 2 --sample-size 10)
  else crit=(--warm-up-time 2 --measurement-time 5 --sample-size 20); fi
  CARGO_TARGET_DIR=$BENCH_TARGET cargo bench --quiet --manifest-path bench/native/Cargo.toml --bench verify -- "${crit[@]}" >"$WORK/criterion.log" 2>&1 \
    || { cat "$WORK/criterion.log" >&2; die "criterion failed"; }
  node bench/native/report.mjs "$BENCH_TARGET/criterion" "$RESULTS/parts" "$WORK/fixtures.json"
fi

# The module under test: the default build, and a single-key build that embeds the
# fixtures' ES256 key and accepts only ES256.
if want size || want browser; then
  . bench/build-module.sh
  build_modules "$WORK"
fi

if want size; then
  loadavg "size:start"
  command -v twiggy >/dev/null || { log "installing twiggy (crates.io)"; cargo install twiggy; }
  node bench/build.mjs "$WORK/jose-bundle/main.js"
  node bench/size.mjs --build "default=$PKG_DEFAULT:$NAMED_DEFAULT" \
    ${PKG_SINGLE:+--build "single-key ES256=$PKG_SINGLE:$NAMED_SINGLE"} \
    --jose "$WORK/jose-bundle/main.js" --out "$RESULTS/parts"
fi

if want browser; then
  loadavg "browser:start"
  ensure_chromium
  log "Chromium: verify speed and time to personalised page"
  node bench/browser.mjs --fixtures "$WORK/fixtures.json" --site "$WORK/site" \
    --pkg "$PKG_DEFAULT" ${PKG_SINGLE:+--pkg-single "$PKG_SINGLE"} \
    --reps "$([ $QUICK = 1 ] && echo 5 || echo 15)" --out "$RESULTS/parts" >"$WORK/browser.log"
fi

if want load; then
  loadavg "load:start"
  . scripts/pg.sh
  . bench/load.sh
  run_load "$WORK/load" "$RESULTS/parts" "$QUICK"
fi

loadavg "end"
log "report"
args=("$RESULTS" --command "./scripts/bench.sh${ORIG_ARGS:+ $ORIG_ARGS}")
[ $DOCS = 1 ] && args+=(--doc "$ROOT/docs/benchmarks.md")
node bench/report.mjs "${args[@]}"
