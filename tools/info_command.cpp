// `mlpk info`: the registered backends, the CPU's SIMD features, the thread count and the
// machine's measured limits (FP32 FMA peak, memory bandwidth).
#include "commands.hpp"

#include <mlpk/machine.hpp>
#include <mlpk/network.hpp>
#include <mlpk/registry.hpp>

#if defined(__x86_64__) || defined(__i386__)
#define MLPK_INFO_X86 1
#include <cpuid.h>
#endif

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

namespace mlpk::tools {
namespace {

#if MLPK_INFO_X86
std::string cpu_brand() {
  unsigned regs[12] = {};
  unsigned max = 0, ebx = 0, ecx = 0, edx = 0;
  __get_cpuid(0x80000000u, &max, &ebx, &ecx, &edx);
  if (max < 0x80000004u) return "unknown CPU";
  for (unsigned i = 0; i < 3; ++i)
    __get_cpuid(0x80000002u + i, &regs[4 * i], &regs[4 * i + 1], &regs[4 * i + 2], &regs[4 * i + 3]);
  char brand[49] = {};
  std::memcpy(brand, regs, 48);
  std::string s = brand;
  const auto first = s.find_first_not_of(' ');
  return first == std::string::npos ? "unknown CPU" : s.substr(first);
}

std::string simd_features() {
  std::string s;
  __builtin_cpu_init();
  // Each name must be a literal for __builtin_cpu_supports.
#define MLPK_FEATURE(name) \
  if (__builtin_cpu_supports(name)) s += (s.empty() ? "" : " ") + std::string(name);
  MLPK_FEATURE("sse2")
  MLPK_FEATURE("ssse3")
  MLPK_FEATURE("sse4.1")
  MLPK_FEATURE("sse4.2")
  MLPK_FEATURE("avx")
  MLPK_FEATURE("avx2")
  MLPK_FEATURE("fma")
  MLPK_FEATURE("avx512f")
  MLPK_FEATURE("avx512dq")
  MLPK_FEATURE("avx512bw")
  MLPK_FEATURE("avx512vl")
  MLPK_FEATURE("avx512vnni")
  MLPK_FEATURE("avx512bf16")
#undef MLPK_FEATURE
  return s.empty() ? "none detected" : s;
}
#else
// cpuid and __builtin_cpu_supports' feature names are x86's.
std::string cpu_brand() { return "unknown CPU (not x86)"; }
std::string simd_features() { return "not probed (not x86)"; }
#endif

}  // namespace

std::function<int()> add_info_command(CLI::App& app) {
  app.add_subcommand("info", "Show the backends, the CPU's SIMD features, the thread count and the measured limits");
  return [] {
    std::printf("cpu:      %s\n", cpu_brand().c_str());
    std::printf("simd:     %s\n", simd_features().c_str());
    std::printf("threads:  %zu (%s; %u hardware threads)\n", default_thread_count(),
                std::getenv("MLPK_NUM_THREADS") ? "MLPK_NUM_THREADS" : "every core",
                std::thread::hardware_concurrency());
    const MachineLimits& limits = machine_limits();
    std::printf("fp32:     %.1f GFLOP/s per core (%s FMA probe)\n", limits.fp32_gflops_per_core,
                limits.fp32_isa.c_str());
    std::printf("memory:   triad %.1f GB/s on one core, %.1f GB/s on %zu threads (%zu MiB; last-level cache %zu MiB)\n",
                limits.dram_gbps_one_core, limits.dram_gbps_all_cores, limits.cores,
                limits.dram_working_set_bytes >> 20, limits.last_level_cache_bytes >> 20);
    std::printf("L2:       triad %.1f GB/s on one core (%zu KiB)\n", limits.l2_gbps_one_core,
                limits.l2_working_set_bytes >> 10);
    std::string fallback;
    std::string default_name;
    try {
      default_name = default_backend_name();
    } catch (const std::exception& e) {
      fallback = e.what();
    }
    std::printf("backends: (default first marked *)\n");
    for (const auto& name : available_backends()) {
      std::string description;
      try {
        description = create_backend(name)->description();
      } catch (const std::exception& e) {
        description = std::string("cannot be created: ") + e.what();
      }
      std::printf("  %s %-10s %s\n", name == default_name.substr(0, default_name.find(':')) ? "*" : " ", name.c_str(), description.c_str());
    }
    if (!fallback.empty()) std::printf("  (%s)\n", fallback.c_str());
    return 0;
  };
}

}  // namespace mlpk::tools
