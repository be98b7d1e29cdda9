# MLPK_SANITIZE: sanitizers for every target of this project, as a list such as
# "address,undefined" or "thread". Applied to compile and link flags alike; undefined behaviour
# aborts (-fno-sanitize-recover) so that a test that meets it fails instead of printing a warning.
set(MLPK_SANITIZE "" CACHE STRING
    "Sanitizers for every mlpk target: address,undefined or thread (empty: none)")

if(MLPK_SANITIZE)
  string(REPLACE "," ";" _mlpk_sanitizers "${MLPK_SANITIZE}")
  foreach(_s IN LISTS _mlpk_sanitizers)
    if(NOT _s MATCHES "^(address|undefined|thread)$")
      message(FATAL_ERROR "MLPK_SANITIZE: unknown sanitizer '${_s}' (address, undefined, thread)")
    endif()
  endforeach()
  if("thread" IN_LIST _mlpk_sanitizers AND "address" IN_LIST _mlpk_sanitizers)
    message(FATAL_ERROR "MLPK_SANITIZE: thread cannot be combined with address")
  endif()
  string(REPLACE ";" "," _mlpk_sanitize_flag "${_mlpk_sanitizers}")
  set(MLPK_SANITIZE_FLAGS -fsanitize=${_mlpk_sanitize_flag} -fno-omit-frame-pointer)
  if("undefined" IN_LIST _mlpk_sanitizers)
    list(APPEND MLPK_SANITIZE_FLAGS -fno-sanitize-recover=undefined)
  endif()
  add_compile_options(${MLPK_SANITIZE_FLAGS})
  add_link_options(${MLPK_SANITIZE_FLAGS})
  message(STATUS "mlpk: sanitizers ${_mlpk_sanitize_flag}")
endif()

# MLPK_HWY_TARGETS: limits the SIMD targets the highway backend compiles (a list of Highway
# target names, e.g. "AVX2;AVX3"; Highway also keeps the baseline the compiler flags allow: the
# portable EMU128 fallback, unless e.g. -march=x86-64-v3 -maes -mpclmul makes AVX2 the baseline).
# Empty: every target Highway can compile. Sanitizer builds use it: each target is a full copy
# of the kernels, and instrumented copies of all of them compile for far too long on CI's 2
# cores.
set(MLPK_HWY_TARGETS "" CACHE STRING
    "Highway targets to compile (e.g. AVX2;AVX3); empty: every attainable target")

# MLPK_FUZZ (option in CMakeLists.txt): the library is compiled with libFuzzer's coverage
# instrumentation too, so that the fuzzers see which branches of the parsers an input reaches.
if(MLPK_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "MLPK_FUZZ needs clang (libFuzzer): -DCMAKE_CXX_COMPILER=clang++")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
