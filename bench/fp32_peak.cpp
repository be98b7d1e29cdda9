// The FMA-throughput probe behind fp32_peak.hpp. Each ISA's loop is compiled for that ISA alone
// (function target attributes), so the library itself needs no -march flag.
//
// The probe is only right when every accumulator and both operands stay in registers: 16 AVX2
// chains plus two operands need 18 of the 16 ymm registers, and the spills halved the figure on a
// Zen 3 (52 against 90-94 GFLOP/s). tests/check_fma_probe.py reads the generated loops and fails
// on any memory operand in them.
#include "fp32_peak.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define MLPK_X86 1
#endif

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>

namespace mlpk::bench {
namespace {

// Chains per probe: at least FMA latency (4 cycles) x FMA pipes (2) so the pipes never wait, and
// few enough that chains + 2 operands fit the register file (16 ymm on AVX2, 32 zmm on AVX-512).
constexpr int kAvx2Chains = 12;
constexpr int kAvx512Chains = 16;

#if MLPK_X86
// Each returns the FLOPs it performed; lane 0 of the sum goes to `sink` so the work stays. Every
// chain starts from its own value: identical chains may be merged into one by the compiler.
__attribute__((target("avx512f"), noinline)) double fma_chains_avx512(std::int64_t iterations,
                                                                       float* sink) {
  __m512 acc[kAvx512Chains];
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  for (int c = 0; c < kAvx512Chains; ++c) acc[c] = _mm512_set1_ps(1.0f + 0.001f * c);
  for (std::int64_t i = 0; i < iterations; ++i)
#pragma GCC unroll 32
    for (int c = 0; c < kAvx512Chains; ++c) acc[c] = _mm512_fmadd_ps(acc[c], a, b);
  __m512 sum = acc[0];
  for (int c = 1; c < kAvx512Chains; ++c) sum = _mm512_add_ps(sum, acc[c]);
  *sink = _mm512_cvtss_f32(sum);
  return 2.0 * 16 * kAvx512Chains * static_cast<double>(iterations);
}

__attribute__((target("avx2,fma"), noinline)) double fma_chains_avx2(std::int64_t iterations,
                                                                      float* sink) {
  __m256 acc[kAvx2Chains];
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (int c = 0; c < kAvx2Chains; ++c) acc[c] = _mm256_set1_ps(1.0f + 0.001f * c);
  for (std::int64_t i = 0; i < iterations; ++i)
#pragma GCC unroll 32
    for (int c = 0; c < kAvx2Chains; ++c) acc[c] = _mm256_fmadd_ps(acc[c], a, b);
  __m256 sum = acc[0];
  for (int c = 1; c < kAvx2Chains; ++c) sum = _mm256_add_ps(sum, acc[c]);
  *sink = _mm256_cvtss_f32(sum);
  return 2.0 * 8 * kAvx2Chains * static_cast<double>(iterations);
}
#endif

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

struct Peak {
  double gflops = 0.0;
  const char* isa = "none";
};

const Peak& measured() {
  static const Peak peak = [] {
    for (const char* isa : {"avx512", "avx2"})
      if (const double gflops = measure_fp32_fma_gflops(isa); gflops > 0) return Peak{gflops, isa};
    return Peak{};
  }();
  return peak;
}

}  // namespace

double measure_fp32_fma_gflops(const char* isa) {
#if MLPK_X86
  if (std::strcmp(isa, "avx512") == 0 && __builtin_cpu_supports("avx512f"))
    return best_gflops(fma_chains_avx512);
  if (std::strcmp(isa, "avx2") == 0 && __builtin_cpu_supports("avx2") &&
      __builtin_cpu_supports("fma"))
    return best_gflops(fma_chains_avx2);
#else
  (void)isa;
#endif
  return 0.0;
}

double fp32_peak_gflops_per_core() { return measured().gflops; }
const char* fp32_peak_isa() { return measured().isa; }

}  // namespace mlpk::bench
