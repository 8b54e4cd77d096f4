#!/usr/bin/env bash
# Bounded fuzzing of every target in fuzz/ (docs/fuzzing.md): FUZZ_SECONDS in all (default 120),
# shared equally between the targets, on stable Rust (cargo-fuzz, libFuzzer, `--sanitizer none`).
# Any panic, crash or differing verdict fails the script; libFuzzer leaves the input in
# fuzz/artifacts/<target>/ (replay: `cargo fuzz run -s none <target> <file>`).
#   scripts/fuzz.sh                      # every target, 120 s in all
#   FUZZ_SECONDS=3600 scripts/fuzz.sh differential   # one target, an hour
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_cargo_fuzz
ensure_node_modules

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(verify differential keys participation_body)
total=${FUZZ_SECONDS:-120}
per=$(( total / ${#targets[@]} ))
[ "$per" -ge 1 ] || per=1

log "fuzz seeds (hostile-test shapes, jose interop tokens)"
node fuzz/seeds.mjs

# participation_body's SQLite databases (one per process) from the previous run.
rm -rf fuzz/target/fuzz-sqlite

for t in "${targets[@]}"; do
  log "fuzzing $t for ${per}s"
  mkdir -p "fuzz/corpus/$t"
  # The first directory collects what the run finds (kept between runs, not in git); the seeds
  # are read only. -timeout: a single input that takes 10 s is a failure too.
  cargo fuzz run --sanitizer none --fuzz-dir fuzz "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
    -max_total_time="$per" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 2>&1 \
    | grep -v '^#[0-9]*[[:space:]]*\(NEW\|REDUCE\|pulse\)' || die "fuzz target $t failed"
done
log "fuzzing passed"
