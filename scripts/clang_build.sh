#!/usr/bin/env bash
# Configures and builds mlpk with clang for the sanitizer and fuzzing scripts (sourced by them).
# Usage: clang_build BUILD_DIR SANITIZERS [extra cmake arguments] -- [targets]
#
# The same choices for every instrumented build:
#  - clang: libFuzzer and a ThreadSanitizer that Debian ships for it (libclang-rt-14-dev).
#  - -O1 -gline-tables-only: instrumented code at -O3 compiles several times slower and gains
#    nothing in what the sanitizers find; line tables are enough for symbolized reports. Assertions
#    stay on (no NDEBUG).
#  - MLPK_HWY_TARGETS=AVX2: the highway backend compiles every SIMD target as its own copy of the
#    kernels; instrumented, all of them took over 17 minutes under GCC on 2 cores, and AVX2 + AVX3
#    + EMU128 under clang still took over 8 CPU minutes for each of its two kernel files. AVX2 is
#    what every CI machine runs, EMU128 (the portable fallback) is always built; the same kernel
#    templates serve every target. The normal build still compiles and tests every target.
#  - OpenMP through libgomp (-fopenmp=libgomp): Debian's oneDNN runs on libgomp, and the onednn
#    backend must set the thread count of that same runtime, not of clang's libomp.
#  - no benchmarks: they are programs to run by hand, not tests.
#  - no Python module: an instrumented extension cannot load into Debian's uninstrumented python3
#    (the sanitizer runtime must come first in the process); the normal build tests it.
clang_build() {
  local dir=$1 sanitizers=$2
  shift 2
  local cmake_args=() targets=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do cmake_args+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  targets=("$@")
  local launcher=()
  command -v ccache > /dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  cmake -S . -B "$dir" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only" \
    -DMLPK_SANITIZE="$sanitizers" -DMLPK_HWY_TARGETS=AVX2 -DMLPK_BUILD_BENCH=OFF -DMLPK_BUILD_PYTHON=OFF \
    -DOpenMP_CXX_FLAGS=-fopenmp=libgomp -DOpenMP_CXX_LIB_NAMES=gomp \
    -DOpenMP_gomp_LIBRARY="$(g++ -print-file-name=libgomp.so)" "${launcher[@]}" "${cmake_args[@]}" > /dev/null
  local target_args=()
  for t in "${targets[@]}"; do target_args+=(--target "$t"); done
  cmake --build "$dir" -j"$(nproc)" "${target_args[@]}"
}
