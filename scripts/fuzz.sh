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
status=0
for h in "${harnesses[@]}"; do
  work=build-asan/corpus/$h crashes=build-asan/crashes/$h
  mkdir -p "$work" "$crashes"
  seeds=(tests/fuzz/corpus/$h)
  [ -d tests/fuzz/regressions/$h ] && seeds+=(tests/fuzz/regressions/$h)
  echo "fuzz: $h for ${seconds}s"
  # New inputs go to the scratch corpus in build-asan/, never into the tree.
  if ! build-asan/bin/fuzz_$h -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$crashes/" "$work" "${seeds[@]}" \
        > "build-asan/fuzz_$h.log" 2>&1; then
    echo "fuzz: $h FAILED; input in $crashes/, log build-asan/fuzz_$h.log:"
    tail -n 40 "build-asan/fuzz_$h.log"
    status=1
  else
    grep -E '^stat::number_of_executed_units|^#[0-9]+.*DONE' "build-asan/fuzz_$h.log" | tail -n 2 || true
  fi
done
exit $status
