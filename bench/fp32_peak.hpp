// Measures this CPU's single-core FP32 peak: independent FMA chains on the widest vectors the
// CPU has, long enough to hide FMA latency. Benchmarks divide by it to report "% of peak".
#pragma once

namespace mlpk::bench {

// GFLOP/s of one core (one FMA = 2 FLOP), measured once per process and cached.
double fp32_peak_gflops_per_core();

// The vector ISA the probe used: "avx512", "avx2" or "none" (no FMA probe for this CPU).
const char* fp32_peak_isa();

// One probe's GFLOP/s on this core, measured now: isa is "avx512" or "avx2". 0 when the CPU (or
// the build's architecture) lacks it. Lets an AVX-512 machine report its AVX2 figure too.
double measure_fp32_fma_gflops(const char* isa);

}  // namespace mlpk::bench
