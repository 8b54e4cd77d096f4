# Server load part of scripts/bench.sh: builds the server as shipped (the workspace's
# `native` profile: release at opt-level 3; the plain release profile is "z" for the wasm's
# sake), starts a throwaway PostgreSQL (scripts/pg.sh), and runs bench/load.mjs.
# Source after scripts/lib.sh and scripts/pg.sh.

run_load() { # run_load WORK RESULTS_PARTS QUICK
  local work=$1 parts=$2 quick=$3
  log "building the allocation server (profile native, as shipped)"
  cargo build --quiet --profile native -p campaign-token-server
  pg_start
  # --fill: one more SQLite row on a campaign that already holds that many participations
  # (issue 15: CPU per participation flat between an empty database and 1,000,000 rows),
  # filled once and measured --reps times in a row.
  local extra=(--reps 3 --max-requests 40000 --max-seconds 10 --fill 1000000)
  [ "$quick" = 1 ] && extra=(--reps 1 --max-requests 12000 --max-seconds 4 --fill 100000)
  log "server load: SQLite (1 process) and PostgreSQL (2 processes), 64 and 512 clients"
  node bench/load.mjs --server "$TARGET_DIR/native/campaign-token-server" \
    --fixtures "$BIN/fixtures" --loadgen "$BIN/loadgen" --work "$work" --out "$parts" \
    --pg-url "$PG_URL" --pg-pid "$(head -1 "$PG_DIR/data/postmaster.pid")" "${extra[@]}"
  pg_stop
}
