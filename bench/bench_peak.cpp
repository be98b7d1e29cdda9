// Prints this CPU's measured single-core FP32 peak, the denominator of every "% of peak".
#include "fp32_peak.hpp"

#include <benchmark/benchmark.h>

namespace {

void BM_Fp32Peak(benchmark::State& state) {
  double gflops = 0;
  for (auto _ : state) benchmark::DoNotOptimize(gflops = mlpk::bench::fp32_peak_gflops_per_core());
  state.counters["GFLOPS_per_core"] = gflops;
  state.SetLabel(mlpk::bench::fp32_peak_isa());
}
BENCHMARK(BM_Fp32Peak)->Iterations(1);

}  // namespace

BENCHMARK_MAIN();
