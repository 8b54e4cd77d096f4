# Server load part of scripts/bench.sh: builds the server as shipped (workspace release
# profile), starts a throwaway PostgreSQL (scripts/pg.sh), and runs bench/load.mjs.
# Source after scripts/lib.sh and scripts/pg.sh.

run_load() { # run_load WORK RESULTS_PARTS QUICK
  local work=$1 parts=$2 quick=$3
  log "building the allocation server (release, as shipped)"
  cargo build --quiet --release -p campaign-token-server
  # The same server with the whole release profile at opt-level 3 (the workspace profile is
  # "z" for the wasm's sake): one extra row shows what that costs the server.
  local o3=()
  if [ "${BENCH_SERVER_O3:-1}" = 1 ]; then
    log "building the allocation server at opt-level 3 (extra row)"
    CARGO_TARGET_DIR=$TARGET_DIR/bench-o3 cargo build --quiet --release -p campaign-token-server \
      --config 'profile.release.opt-level=3' && o3=(--server-o3 "$TARGET_DIR/bench-o3/release/campaign-token-server")
  fi
  pg_start
  local extra=(--reps 3 --max-requests 40000 --max-seconds 10)
  [ "$quick" = 1 ] && extra=(--reps 1 --max-requests 12000 --max-seconds 4)
  log "server load: SQLite (1 process) and PostgreSQL (2 processes), 64 and 512 clients"
  node bench/load.mjs --server "$TARGET_DIR/release/campaign-token-server" \
    --fixtures "$BIN/fixtures" --loadgen "$BIN/loadgen" --work "$work" --out "$parts" \
    --pg-url "$PG_URL" "${extra[@]}" "${o3[@]}"
  pg_stop
}
