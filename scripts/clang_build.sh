#!/usr/bin/env bash
# Configures and builds mlpk with clang for the sanitizer and fuzzing scripts (sourced by them).
# Usage: clang_build BUILD_DIR SANITIZERS [extra cmake arguments] -- [targets]
#
# The same choices for every instrumented build:
#  - clang: libFuzzer and a ThreadSanitizer that Debian ships for it (libclang-rt-14-dev).
#  - -O1 -gline-tables-only: instrumented code at -O3 compiles several times slower and gains
#    nothing in what the sanitizers find; line tables are enough for symbolized reports. Assertions
#    stay on (no NDEBUG).
#  - MLPK_HWY_TARGETS=AVX2 and an x86-64-v3 baseline with AES and PCLMUL (Highway 1.0.3 takes
#    AVX2 as its static target only with those two as well): the highway backend compiles
#    every SIMD target as its own copy of the kernels; instrumented, all of them took over 17
#    minutes under GCC on 2 cores, and under ASan each target still costs kernels.cpp over two CPU
#    minutes (AVX2 + EMU128: 278 s, EMU128 alone 152 s, 2026-12-05, Zen 5). With AVX2 as the
#    baseline Highway's clang fallback (EMU128) is not compiled: AVX2 is what every CI machine
#    runs (Sapphire Rapids, Zen 3/4/5), and the same kernel templates serve every target, their
#    ragged edges tested at AVX2's 8 lanes and by the 4-lane loops every target has. The normal
#    build (Debian's GCC 12.2, what the README builds) compiles and tests every target it has:
#    its fallback is SCALAR (Highway leaves EMU128 out under GCC before 12.3). EMU128 is then in
#    no CI build; it exists only in clang builds and runs only on x86-64 CPUs without SSSE3. On a
#    CPU without x86-64-v3 this baseline stays portable.
#  - OpenMP through libgomp (-fopenmp=libgomp): Debian's oneDNN runs on libgomp, and the onednn
#    backend must set the thread count of that same runtime, not of clang's libomp.
#  - no benchmarks: they are programs to run by hand, not tests.
#  - no Python module: an instrumented extension cannot load into Debian's uninstrumented python3
#    (the sanitizer runtime must come first in the process); the normal build tests it.
source "$(dirname "${BASH_SOURCE[0]}")/build_env.sh"

clang_build() {
  local dir=$1 sanitizers=$2
  shift 2
  local cmake_args=() targets=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do cmake_args+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  targets=("$@")
  local launcher=() baseline=()
  # x86-64-v3 only where this CPU has it: elsewhere the build keeps the portable baseline (and
  # compiles EMU128 too, slower) rather than make binaries that stop on an illegal instruction.
  local flag missing=0
  for flag in avx2 fma bmi1 bmi2 f16c movbe aes pclmulqdq; do  # and LZCNT, which every such CPU has (VMs may not list it)
    grep -qw "$flag" /proc/cpuinfo 2> /dev/null || missing=1
  done
  [ "$missing" -eq 0 ] && baseline=("-DCMAKE_CXX_FLAGS=-march=x86-64-v3 -maes -mpclmul")
  command -v ccache > /dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  cmake -S . -B "$dir" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only" "${baseline[@]}" \
    -DMLPK_SANITIZE="$sanitizers" -DMLPK_HWY_TARGETS=AVX2 -DMLPK_BUILD_BENCH=OFF -DMLPK_BUILD_PYTHON=OFF \
    -DOpenMP_CXX_FLAGS=-fopenmp=libgomp -DOpenMP_CXX_LIB_NAMES=gomp \
    -DOpenMP_gomp_LIBRARY="$(g++ -print-file-name=libgomp.so)" "${launcher[@]}" "${cmake_args[@]}" > /dev/null
  local target_args=()
  for t in "${targets[@]}"; do target_args+=(--target "$t"); done
  cmake --build "$dir" -j"$(nproc)" "${target_args[@]}"
}
