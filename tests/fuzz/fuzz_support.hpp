// Helpers shared by the fuzz harnesses. Each harness defines LLVMFuzzerTestOneInput; it is built
// twice: with libFuzzer (MLPK_FUZZ=ON, clang) to search for crashes, and with replay_main.cpp into
// a normal test that feeds it every file of its corpus/ and regressions/ folders.
//
// The contract every harness checks: outside input gets a result or an mlpk::Error, nothing else.
// Any other exception escapes LLVMFuzzerTestOneInput and aborts, and so do the sanitizers' finds
// and failed FUZZ_CHECKs (results that contradict what the API promises).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <unistd.h>

#define FUZZ_CHECK(condition)                                                         \
  do {                                                                                \
    if (!(condition)) {                                                               \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, __LINE__, #condition); \
      std::abort();                                                                   \
    }                                                                                 \
  } while (0)

namespace mlpk_fuzz {

// A scratch file for parsers that only read paths; in /dev/shm (memory) when it exists. One per
// process and name, so parallel fuzzing jobs do not share it.
inline std::filesystem::path scratch_path(std::string_view name) {
  std::error_code ec;
  std::filesystem::path dir = std::filesystem::is_directory("/dev/shm", ec)
                                  ? std::filesystem::path("/dev/shm")
                                  : std::filesystem::temp_directory_path();
  return dir / ("mlpk-fuzz-" + std::to_string(::getpid()) + "-" + std::string(name));
}

inline std::filesystem::path write_scratch(std::string_view name, const std::uint8_t* data,
                                           std::size_t size) {
  const auto path = scratch_path(name);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  out.close();
  FUZZ_CHECK(out.good());
  return path;
}

}  // namespace mlpk_fuzz
