// The probes behind machine.hpp: FMA throughput and triad bandwidth. Each ISA's loop is compiled
// for that ISA alone (function target attributes), so the library itself needs no -march flag.
// This file is built -O2 -fno-sanitize=all in every build (core/CMakeLists.txt): at -O0 or under
// ASan its FMA chains live in memory and it measures loads, not FMAs.
//
// The FMA probe is only right when every accumulator and both operands stay in registers: 16 AVX2
// chains plus two operands need 18 of the 16 ymm registers, and the spills halved the figure on a
// Zen 3 (52 against 90-94 GFLOP/s). tests/check_fma_probe.py reads the generated loops and fails
// on any memory operand in them.
#include <mlpk/machine.hpp>
#include <mlpk/network.hpp>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define MLPK_X86 1
#endif

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <vector>

namespace mlpk {
namespace {

using Clock = std::chrono::steady_clock;

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

// Triad with 256-bit loads and stores where the CPU has them (bandwidth, not FLOPs, is measured;
// the vector width only keeps one core's issue rate from being the limit in L2).
__attribute__((target("avx2,fma"), noinline)) void triad_avx2(float* a, const float* b,
                                                               const float* c, float s,
                                                               std::size_t n) {
  const __m256 scale = _mm256_set1_ps(s);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(a + i, _mm256_fmadd_ps(scale, _mm256_loadu_ps(c + i), _mm256_loadu_ps(b + i)));
  for (; i < n; ++i) a[i] = b[i] + s * c[i];
}
#endif

__attribute__((noinline)) void triad_plain(float* a, const float* b, const float* c, float s,
                                           std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) a[i] = b[i] + s * c[i];
}

void triad(float* a, const float* b, const float* c, float s, std::size_t n) {
#if MLPK_X86
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return triad_avx2(a, b, c, s, n);
#endif
  triad_plain(a, b, c, s, n);
}

double best_gflops(double (*probe)(std::int64_t, float*)) {
  float sink = 0.0f;
  double best = 0.0;
  for (int trial = 0; trial < 5; ++trial) {
    const auto start = Clock::now();
    const double flops = probe(20'000'000, &sink);
    const std::chrono::duration<double> seconds = Clock::now() - start;
    best = std::max(best, flops / seconds.count() * 1e-9);
  }
  return sink == 12345.0f ? best + 1 : best;  // reads sink: the loop cannot be dropped
}

// Bytes of a cache level as the kernel reports it (sysfs, what lscpu reads), else sysconf, else 0.
std::size_t cache_bytes(int index, int sysconf_name) {
  std::ifstream in("/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(index) + "/size");
  std::size_t value = 0;
  char unit = 0;
  if (in >> value) {
    if (in >> unit) value *= unit == 'K' ? 1024 : unit == 'M' ? 1024 * 1024 : 1;
    if (value > 0) return value;
  }
  const long v = sysconf(sysconf_name);
  return v > 0 ? static_cast<std::size_t>(v) : 0;
}

// Three arrays of n floats each, first touched by the thread that uses them. 2 MiB-aligned and
// offered to the kernel as huge pages: first-touching the DRAM probe's hundreds of MiB 4 KiB at a
// time cost 3 s of page faults on a VM (of a 4.8 s probe), and every tool that reports against
// these limits pays it at start.
struct TriadArrays {
  static constexpr std::size_t kHugePage = std::size_t{2} << 20;
  explicit TriadArrays(std::size_t n)
      : n(n), data(static_cast<float*>(
                  ::operator new(3 * n * sizeof(float), std::align_val_t{kHugePage}))) {
#ifdef MADV_HUGEPAGE
    madvise(data, 3 * n * sizeof(float), MADV_HUGEPAGE);  // advice only: 4 KiB pages if refused
#endif
    for (std::size_t i = 0; i < 3 * n; ++i) data[i] = 1.0f;
  }
  ~TriadArrays() { ::operator delete(data, std::align_val_t{kHugePage}); }
  TriadArrays(const TriadArrays&) = delete;
  TriadArrays& operator=(const TriadArrays&) = delete;
  void run(int passes) {
    for (int p = 0; p < passes; ++p) triad(data, data + n, data + 2 * n, 0.5f, n);
  }
  std::size_t n;
  float* data;
};

// GB/s of the best of `trials` timings of `passes` triads over `bytes` (all three arrays).
double triad_gbps_one_core(std::size_t bytes, int passes, int trials) {
  TriadArrays arrays(bytes / (3 * sizeof(float)));
  arrays.run(1);
  double best = 0.0;
  for (int t = 0; t < trials; ++t) {
    const auto start = Clock::now();
    arrays.run(passes);
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    best = std::max(best, 12.0 * static_cast<double>(arrays.n) * passes / seconds * 1e-9);
  }
  return best;
}

// Every thread runs its own triad over its slice of `bytes`; the time is from the common start
// to the last thread's end, the best of `trials`.
double triad_gbps_all_cores(std::size_t bytes, std::size_t threads, int trials) {
  const std::size_t per_thread = bytes / (3 * sizeof(float)) / threads;
  std::vector<std::unique_ptr<TriadArrays>> slices(threads);
  double best = 0.0;
  for (int t = 0; t <= trials; ++t) {  // trial 0 allocates and first-touches on each thread
    const auto start = Clock::now();
    std::vector<std::thread> workers;
    for (std::size_t i = 0; i < threads; ++i)
      workers.emplace_back([&, i] {
        if (!slices[i]) slices[i] = std::make_unique<TriadArrays>(per_thread);
        slices[i]->run(1);
      });
    for (auto& w : workers) w.join();
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (t > 0) best = std::max(best, 12.0 * static_cast<double>(per_thread * threads) / seconds * 1e-9);
  }
  return best;
}

MachineLimits measure() {
  MachineLimits m;
  for (const char* isa : {"avx512", "avx2"})
    if (const double gflops = measure_fp32_fma_gflops(isa); gflops > 0) {
      m.fp32_gflops_per_core = gflops;
      m.fp32_isa = isa;
      break;
    }
  m.last_level_cache_bytes = cache_bytes(3, _SC_LEVEL3_CACHE_SIZE);
  if (m.last_level_cache_bytes == 0) m.last_level_cache_bytes = cache_bytes(2, _SC_LEVEL2_CACHE_SIZE);
  // Four times the last-level cache, at least 64 MiB, at most 1 GiB (a many-socket server
  // reports hundreds of MiB; a GiB is still far past any single cache).
  constexpr std::size_t MiB = std::size_t{1} << 20;
  m.dram_working_set_bytes = std::clamp<std::size_t>(4 * m.last_level_cache_bytes, 64 * MiB, 1024 * MiB);
  m.cores = default_thread_count();
  m.dram_gbps_one_core = triad_gbps_one_core(m.dram_working_set_bytes, 1, 3);
  m.dram_gbps_all_cores = m.cores > 1 ? triad_gbps_all_cores(m.dram_working_set_bytes, m.cores, 5)
                                      : m.dram_gbps_one_core;
  const std::size_t l2 = cache_bytes(2, _SC_LEVEL2_CACHE_SIZE);
  m.l2_cache_bytes = l2;
  m.l2_working_set_bytes = std::max<std::size_t>(l2 == 0 ? 256 * 1024 : l2 / 2, 48 * 1024);
  // Enough passes for a few milliseconds a trial.
  const int passes = static_cast<int>(std::max<std::size_t>(1, (256 * MiB) / m.l2_working_set_bytes));
  m.l2_gbps_one_core = triad_gbps_one_core(m.l2_working_set_bytes, passes, 5);
  return m;
}

}  // namespace

double measure_fp32_fma_gflops(std::string_view isa) {
#if MLPK_X86
  if (isa == "avx512" && __builtin_cpu_supports("avx512f")) return best_gflops(fma_chains_avx512);
  if (isa == "avx2" && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return best_gflops(fma_chains_avx2);
#else
  (void)isa;
#endif
  return 0.0;
}

const MachineLimits& machine_limits() {
  static const MachineLimits limits = measure();  // thread-safe: C++ static initialization
  return limits;
}

}  // namespace mlpk
