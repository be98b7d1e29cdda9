// The machine's limits, measured: the FP32 FMA peak of one core and the memory bandwidth of one
// core and of all cores (STREAM-style triad). The profiler divides by them to say how close each
// kernel comes to what this CPU can do; `mlpk info` prints them.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace mlpk {

struct MachineLimits {
  // GFLOP/s of one core on register-resident FMA chains (one FMA = 2 FLOP), on the widest
  // vectors the CPU has; fp32_isa names them ("avx512", "avx2", or "none": no probe, peak 0).
  double fp32_gflops_per_core = 0.0;
  std::string fp32_isa = "none";
  // Triad a[i] = b[i] + s * c[i] over a working set well beyond the last-level cache: GB/s
  // counting 12 bytes an element (two reads, one write; the write-allocate read is not counted,
  // as STREAM does not). One core, and `cores` threads on disjoint slices at once.
  double dram_gbps_one_core = 0.0;
  double dram_gbps_all_cores = 0.0;
  std::size_t cores = 1;
  std::size_t dram_working_set_bytes = 0;  // the three arrays together
  // The same triad on a working set half the L2 cache, one core.
  double l2_gbps_one_core = 0.0;
  std::size_t l2_working_set_bytes = 0;
  std::size_t l2_cache_bytes = 0;          // as the OS reports it (0: unknown)
  std::size_t last_level_cache_bytes = 0;  // as the OS reports it (0: unknown)
};

// Measured on first call (about a second), then cached for the process; thread-safe. The
// all-cores bandwidth runs on default_thread_count() threads.
const MachineLimits& machine_limits();

// One FMA probe's GFLOP/s on this core, measured now: isa is "avx512" or "avx2". 0 when the CPU
// (or the build's architecture) lacks it. Lets an AVX-512 machine report its AVX2 figure too.
double measure_fp32_fma_gflops(std::string_view isa);

}  // namespace mlpk
