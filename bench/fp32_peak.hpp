// Measures this CPU's single-core FP32 peak: independent FMA chains on the widest vectors the
// CPU has, long enough to hide FMA latency. Benchmarks divide by it to report "% of peak".
#pragma once

namespace mlpk::bench {

// GFLOP/s of one core (one FMA = 2 FLOP), measured once per process and cached; 0 (unknown)
// where there is no probe: a CPU without AVX2 and FMA, or one that is not x86.
double fp32_peak_gflops_per_core();

// The vector ISA the probe used: "avx512", "avx2", or "scalar" when none ran (peak unknown).
const char* fp32_peak_isa();

}  // namespace mlpk::bench
