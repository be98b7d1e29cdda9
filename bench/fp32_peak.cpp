// The FMA-throughput probe behind fp32_peak.hpp. Each ISA's loop is compiled for that ISA alone
// (function target attributes), so the library itself needs no -march flag. Only x86 has a
// probe: elsewhere the peak is unknown (0) and benchmarks leave out "% of peak".
#include "fp32_peak.hpp"

#if defined(__x86_64__) || defined(__i386__)
#define MLPK_FP32_PEAK_X86 1
#include <immintrin.h>
#endif

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace mlpk::bench {
namespace {

#if MLPK_FP32_PEAK_X86
constexpr int kChains = 16;  // > latency (4) x FMA pipes (2): the pipes never wait

// Each returns the FLOPs it performed; the sum of lanes is written to `sink` so the work stays.
__attribute__((target("avx512f"))) double fma_avx512(std::int64_t iterations, float* sink) {
  __m512 acc[kChains];
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  for (auto& v : acc) v = _mm512_set1_ps(1.0f);
  for (std::int64_t i = 0; i < iterations; ++i)
    for (auto& v : acc) v = _mm512_fmadd_ps(v, a, b);
  __m512 sum = acc[0];
  for (int c = 1; c < kChains; ++c) sum = _mm512_add_ps(sum, acc[c]);
  float lanes[16];
  _mm512_storeu_ps(lanes, sum);
  *sink = lanes[0];
  return 2.0 * 16 * kChains * static_cast<double>(iterations);
}

__attribute__((target("avx2,fma"))) double fma_avx2(std::int64_t iterations, float* sink) {
  __m256 acc[kChains];
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (auto& v : acc) v = _mm256_set1_ps(1.0f);
  for (std::int64_t i = 0; i < iterations; ++i)
    for (auto& v : acc) v = _mm256_fmadd_ps(v, a, b);
  __m256 sum = acc[0];
  for (int c = 1; c < kChains; ++c) sum = _mm256_add_ps(sum, acc[c]);
  float lanes[8];
  _mm256_storeu_ps(lanes, sum);
  *sink = lanes[0];
  return 2.0 * 8 * kChains * static_cast<double>(iterations);
}

double best_gflops(double (*probe)(std::int64_t, float*)) {
  float sink = 0.0f;
  double best = 0.0;
  for (int trial = 0; trial < 5; ++trial) {
    const auto start = std::chrono::steady_clock::now();
    const double flops = probe(20'000'000, &sink);
    const std::chrono::duration<double> seconds = std::chrono::steady_clock::now() - start;
    best = std::max(best, flops / seconds.count() * 1e-9);
  }
  return sink == 12345.0f ? best + 1 : best;  // reads sink: the loop cannot be dropped
}
#endif

struct Peak {
  double gflops = 0.0;
  const char* isa = "scalar";
};

const Peak& measured() {
  static const Peak peak = [] {
    Peak p;
#if MLPK_FP32_PEAK_X86
    if (__builtin_cpu_supports("avx512f")) {
      p = {best_gflops(fma_avx512), "avx512"};
    } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
      p = {best_gflops(fma_avx2), "avx2"};
    }
#endif
    return p;
  }();
  return peak;
}

}  // namespace

double fp32_peak_gflops_per_core() { return measured().gflops; }
const char* fp32_peak_isa() { return measured().isa; }

}  // namespace mlpk::bench
