// Prints this CPU's measured single-core FP32 peak, the denominator of every "% of peak", and each
// FMA probe this CPU can run (an AVX-512 machine reports its AVX2 figure as well).
#include <mlpk/machine.hpp>

#include <benchmark/benchmark.h>

namespace {

void BM_Fp32Peak(benchmark::State& state) {
  const mlpk::MachineLimits& limits = mlpk::machine_limits();  // measured on the first call
  for (auto _ : state) benchmark::DoNotOptimize(limits.fp32_gflops_per_core);
  state.counters["GFLOPS_per_core"] = limits.fp32_gflops_per_core;
  state.SetLabel(limits.fp32_isa);
}
BENCHMARK(BM_Fp32Peak)->Iterations(1);

void BM_Fp32Fma(benchmark::State& state, const char* isa) {
  double gflops = 0;
  // A plain assignment: an opaque call cannot be dropped, and DoNotOptimize on a double lvalue
  // (its "+m,r" constraint under GCC 12) returned garbage here.
  for (auto _ : state) gflops = mlpk::measure_fp32_fma_gflops(isa);
  if (gflops == 0) state.SkipWithError("this CPU has no such FMA probe");
  state.counters["GFLOPS_per_core"] = gflops;
}
BENCHMARK_CAPTURE(BM_Fp32Fma, avx512, "avx512")->Iterations(1);
BENCHMARK_CAPTURE(BM_Fp32Fma, avx2, "avx2")->Iterations(1);

}  // namespace

BENCHMARK_MAIN();
