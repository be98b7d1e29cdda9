#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz/ (clang, ASan + UBSan) and runs each for a bounded
# time, starting from its seed corpus and regression inputs. Any crash fails the run; the input
# that caused it is left in build-asan/crashes/<harness>/: copy it into
# tests/fuzz/regressions/<harness>/ with the fix, so that the normal suite replays it.
# Usage: scripts/fuzz.sh [seconds per harness, default 60] [harness ...]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/clang_build.sh
seconds=${1:-60}
shift || true
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=(csv idx model_file layers backend_spec)

targets=()
for h in "${harnesses[@]}"; do targets+=("fuzz_$h"); done
# The build of scripts/sanitize.sh address: already there in CI.
clang_build build-asan address,undefined -DMLPK_FUZZ=ON -- "${targets[@]}"

export ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export MLPK_BACKEND_PATH=$PWD/build-asan/no-modules  # backends are linked; load no modules
# One harness per core at a time: the same fuzzing time each, in a fraction of the wall time.
fuzz_one() {
  local h=$1 work=build-asan/corpus/$1 crashes=build-asan/crashes/$1
  mkdir -p "$work" "$crashes"
  local seeds=(tests/fuzz/corpus/$h)
  [ -d tests/fuzz/regressions/$h ] && seeds+=(tests/fuzz/regressions/$h)
  # New inputs go to the scratch corpus in build-asan/, never into the tree.
  if ! build-asan/bin/fuzz_$h -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$crashes/" "$work" "${seeds[@]}" \
        > "build-asan/fuzz_$h.log" 2>&1; then
    echo "fuzz: $h FAILED; input in $crashes/, log build-asan/fuzz_$h.log:"
    tail -n 40 "build-asan/fuzz_$h.log"
    return 1
  fi
  echo "fuzz: $h for ${seconds}s: $(grep -E '^stat::number_of_executed_units' "build-asan/fuzz_$h.log" | tail -n 1)"
}
status=0
running=0
for h in "${harnesses[@]}"; do
  if [ "$running" -ge "$(nproc)" ]; then
    wait -n || status=1
    running=$((running - 1))
  fi
  fuzz_one "$h" &
  running=$((running + 1))
done
while [ "$running" -gt 0 ]; do
  wait -n || status=1
  running=$((running - 1))
done
exit $status
