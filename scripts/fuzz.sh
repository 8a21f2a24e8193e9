#!/usr/bin/env bash
# Builds the libFuzzer targets (CMake preset "fuzz": clang-14, ASan + UBSan) and runs each one
# for a fixed time, then prints what every target did. Exits non-zero when any target found a
# crash, a sanitizer report, a broken property, a leak, a timeout or an out-of-memory.
#
#   scripts/fuzz.sh                      # every target for 10 s (the CI smoke run)
#   scripts/fuzz.sh 3600                 # an hour per target
#   scripts/fuzz.sh 600 message vault_envelope
#   FUZZ_FORK=2 scripts/fuzz.sh 1800 token_response
#       libFuzzer fork mode with 2 workers that keep going after a crash (-ignore_crashes=1),
#       so a known finding does not end a long run; every crash is still saved and counted.
#
# Needs clang-14 and libclang-rt-14-dev: scripts/install-deps.sh --with-test-tools.
# Each target's corpus grows in build/fuzz/fuzz-corpus/<target>/ (seeded from
# tests/fuzz/corpus/<target>/, which is never written to); reproducers of what a run found
# are in build/fuzz/fuzz-out/<target>/ (see tests/fuzz/README.md for what to do with them).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

seconds=${1:-10}
[[ "$seconds" =~ ^[0-9]+$ && "$seconds" -gt 0 ]] || { echo "usage: $0 [seconds-per-target] [target...]" >&2; exit 2; }
shift $(( $# > 0 ? 1 : 0 ))
all_targets=(manifest host_config oauth_callback token_response graph_error vault_envelope message
             google_token_response google_callback gmail_error google_id_token runner_channel)
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=("${all_targets[@]}")
for t in "${targets[@]}"; do
  [[ -d tests/fuzz/corpus/$t ]] || { echo "fuzz.sh: unknown target '$t' (targets: ${all_targets[*]})" >&2; exit 2; }
done
fork=${FUZZ_FORK:-0}

for tool in clang-14 clang++-14 cmake ninja; do
  command -v "$tool" >/dev/null || { echo "fuzz.sh: $tool not found; run scripts/install-deps.sh --with-test-tools" >&2; exit 2; }
done

build=build/fuzz
echo "fuzz.sh: configuring and building the fuzz targets in $build"
mkdir -p "$build"
cmake --preset fuzz >"$build/configure.log" 2>&1 || { cat "$build/configure.log" >&2; exit 2; }
# Only what the fuzzers need: fuzz_all does not pull in the plugins or the test suite.
cmake --build "$build" --target fuzz_all

# The harnesses' own checks abort; sanitizers must stop at the first report and say where.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

results=()
failed=0
for t in "${targets[@]}"; do
  corpus=$build/fuzz-corpus/$t
  out=$build/fuzz-out/$t
  mkdir -p "$corpus" "$out"
  cp -n tests/fuzz/corpus/"$t"/* "$corpus"/ 2>/dev/null || true
  units_before=$(find "$corpus" -type f | wc -l)
  # Reproducers of this run only: older ones would be counted again.
  rm -f "$out"/crash-* "$out"/leak-* "$out"/timeout-* "$out"/oom-* "$out"/slow-unit-*
  # One dictionary per target plus the JSON tokens every JSON target shares (libFuzzer
  # takes a single -dict).
  dict=$out/$t.dict
  cat tests/fuzz/dict/"$t".dict >"$dict"
  [[ "$t" == vault_envelope ]] || cat tests/fuzz/dict/json_common.inc >>"$dict"

  args=(-max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 -print_final_stats=1
        -dict="$dict" -artifact_prefix="$out/")
  if [[ "$fork" -gt 0 ]]; then
    args+=(-fork="$fork" -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
  fi
  log=$out/fuzz.log
  echo "fuzz.sh: fuzz_$t for ${seconds}s (log: $log)"
  set +e
  "$build/bin/fuzz_$t" "${args[@]}" "$corpus" >"$log" 2>&1
  rc=$?
  set -e

  # Executions and coverage: the final stats, else the last status line ("#123 ..." in normal
  # mode, "#123: ..." in fork mode, where the children's stats are summed by the parent).
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  new_units=$(sed -n 's/^stat::new_units_added: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+:?[[:space:]]' "$log" | tail -1 || true)
  [[ -n "$execs" ]] || execs=$(sed -E -n 's/^#([0-9]+):?[[:space:]].*/\1/p' <<<"$last")
  cov=$(sed -E -n 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
  # Fork mode prints no final stats: count what the run added to the corpus instead.
  [[ -n "$new_units" ]] || new_units=$(( $(find "$corpus" -type f | wc -l) - units_before ))
  artifacts=$(find "$out" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
  if [[ "$fork" -eq 0 && "$rc" -ne 0 && "$artifacts" -eq 0 ]]; then
    # Died without leaving a reproducer (failed to start, bad flag): show why.
    echo "fuzz.sh: fuzz_$t exited with $rc and no reproducer:" >&2
    tail -20 "$log" >&2
    artifacts=1
  fi
  [[ "$artifacts" -eq 0 ]] || failed=1
  results+=("$t|${execs:-?}|$new_units|${cov:-?}|$artifacts")
done

echo
printf '%-16s %14s %10s %10s %8s\n' target executions new_units final_cov crashes
for r in "${results[@]}"; do
  IFS='|' read -r t execs new_units cov crashes <<<"$r"
  printf '%-16s %14s %10s %10s %8s\n' "$t" "$execs" "$new_units" "$cov" "$crashes"
done
if [[ "$failed" -ne 0 ]]; then
  echo
  echo "fuzz.sh: findings (reproduce with build/fuzz/bin/fuzz_<target> <file>):"
  for t in "${targets[@]}"; do
    find "$build/fuzz-out/$t" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \)
  done | sort
  exit 1
fi
