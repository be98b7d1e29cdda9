#!/usr/bin/env bash
# Runs the test suite under sanitizers (clang; see scripts/clang_build.sh for the build choices).
#   scripts/sanitize.sh address   AddressSanitizer + UndefinedBehaviorSanitizer, the whole suite
#   scripts/sanitize.sh thread    ThreadSanitizer, the threading and concurrency tests
# Any report fails the run: UBSan aborts on the first finding (-fno-sanitize-recover), ASan and
# TSan exit with an error.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/clang_build.sh
suppressions=$PWD/tests/sanitizers
jobs=$(nproc)

case "${1:-}" in
  address)
    # MLPK_FUZZ too: the same build then serves scripts/fuzz.sh, and CI compiles the instrumented
    # library once (libFuzzer's coverage instrumentation costs the tests little).
    clang_build build-asan address,undefined -DMLPK_FUZZ=ON
    export ASAN_OPTIONS="detect_leaks=1:check_initialization_order=1:strict_init_order=1"
    export LSAN_OPTIONS="suppressions=$suppressions/lsan.supp:print_suppressions=0"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
    # Not under ASan: four tests that run the reference backend's naive double-precision loops for
    # thousands of products (74, 65, 50 and 31 s of a 435-second run on 2 cores). The same tests
    # run on every other backend here, the reference kernels under the conformance, seed and
    # gradient-check suites, and all four in the normal build.
    slow_reference='/reference( |$)'  # names end in '  # GetParam() = ...'
    ctest --test-dir build-asan --output-on-failure -j"$jobs" -LE mpi \
      -E "(Threads.SameWeightsForAnyThreadCount|Training.LearnsTwoSpirals|BlockInvariance.DenseForward|BlockInvariance.GradientProducts)$slow_reference"
    # Open MPI's leaks at exit are suppressed by library (tests/sanitizers/lsan.supp); its
    # frames are only seen with the slow unwinder, which the other tests do not need.
    LSAN_OPTIONS="$LSAN_OPTIONS:fast_unwind_on_malloc=0" \
      ctest --test-dir build-asan --output-on-failure -j"$jobs" -L mpi --no-tests=ignore
    ;;
  thread)
    # Without the onednn backend: oneDNN runs on libgomp, which is not built with TSan, so TSan
    # cannot see the synchronization of its parallel regions and reports every access inside
    # them as a race. oneDNN's threading is not ours; the other steps test that backend.
    clang_build build-tsan thread -DMLPK_BACKEND_ONEDNN=OFF -- mlpk_tests mlpk_plugin_tests
    export TSAN_OPTIONS="suppressions=$suppressions/tsan.supp:halt_on_error=1:second_deadlock_stack=1"
    ctest --test-dir build-tsan --output-on-failure -j"$jobs" -R '(Thread|Registry|Parallel|Concurren)'
    ;;
  *)
    echo "usage: $0 address|thread" >&2
    exit 2
    ;;
esac
