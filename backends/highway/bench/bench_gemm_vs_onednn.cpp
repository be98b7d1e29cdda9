// Single-thread GEMM throughput of the highway backend against oneDNN's dnnl_sgemm (called
// directly) and the reference backend, on square shapes and on the three products of an MLP's
// training step (784-512-256-10, batch 256); plus the element-wise kernels in GB/s and this
// CPU's FP32 FMA peak, so every figure can be read as a share of the machine.
//
//   BM_Gemm/<backend>/<M>x<N>x<K>/<nn|nt|tn|tt>   counter GFLOPS = 2 M N K / s
//   BM_Eltwise/<backend>/<kernel>/<rows>x<cols>    counter GBps  = bytes moved / s
//   BM_DenseForward/highway/256x512x784/<g>/<fused|composed>   GFLOPS of the GEMM part
//   BM_FmaPeak                                     counter GFLOPS of an FMA-throughput loop
//
// Every library runs on one thread: oneDNN (OpenMP) is pinned with omp_set_num_threads(1).
#include <mlpk/machine.hpp>

#include <mlpk/registry.hpp>

#include <benchmark/benchmark.h>
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>

#include <memory>
#include <random>
#include <span>
#include <string>
#include <vector>


namespace {

using mlpk::Activation;
using mlpk::Trans;

struct Shape {
  std::size_t m, n, k;
  Trans ta, tb;
};

std::vector<float> random_floats(std::size_t count, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(count);
  for (float& x : v) x = dist(rng);
  return v;
}

std::string shape_name(const Shape& s) {
  return std::to_string(s.m) + "x" + std::to_string(s.n) + "x" + std::to_string(s.k) + "/" +
         (s.ta == Trans::N ? "n" : "t") + (s.tb == Trans::N ? "n" : "t");
}

// Operands stored as a training step stores them: op(A) = A or the transpose of a K x M matrix.
struct Operands {
  std::vector<float> a, b, c;
  std::size_t lda, ldb;
  explicit Operands(const Shape& s)
      : a(random_floats(s.m * s.k, 1)), b(random_floats(s.k * s.n, 2)), c(s.m * s.n, 0.0f),
        lda(s.ta == Trans::N ? s.k : s.m), ldb(s.tb == Trans::N ? s.n : s.k) {}
};

void set_flops(benchmark::State& state, const Shape& s) {
  state.counters["GFLOPS"] = benchmark::Counter(
      2.0 * static_cast<double>(s.m * s.n * s.k) * static_cast<double>(state.iterations()) / 1e9,
      benchmark::Counter::kIsRate);
}

void gemm_backend(benchmark::State& state, const std::string& spec, Shape s) {
  auto backend = mlpk::create_backend(spec);
  Operands o(s);
  const mlpk::ConstMatrixView a(o.a.data(), s.ta == Trans::N ? s.m : s.k, o.lda);
  const mlpk::ConstMatrixView b(o.b.data(), s.tb == Trans::N ? s.k : s.n, o.ldb);
  const mlpk::MatrixView c(o.c.data(), s.m, s.n);
  for (auto _ : state) {
    backend->gemm(s.ta, s.tb, 1.0f, a, b, 0.0f, c);
    benchmark::DoNotOptimize(o.c.data());
    benchmark::ClobberMemory();
  }
  set_flops(state, s);
}

void gemm_onednn(benchmark::State& state, Shape s) {
  Operands o(s);
  const char ta = s.ta == Trans::N ? 'N' : 'T', tb = s.tb == Trans::N ? 'N' : 'T';
  for (auto _ : state) {
    const dnnl_status_t status =
        dnnl_sgemm(ta, tb, static_cast<dnnl_dim_t>(s.m), static_cast<dnnl_dim_t>(s.n),
                   static_cast<dnnl_dim_t>(s.k), 1.0f, o.a.data(), static_cast<dnnl_dim_t>(o.lda),
                   o.b.data(), static_cast<dnnl_dim_t>(o.ldb), 0.0f, o.c.data(),
                   static_cast<dnnl_dim_t>(s.n));
    if (status != dnnl_success) state.SkipWithError("dnnl_sgemm failed");
    benchmark::DoNotOptimize(o.c.data());
    benchmark::ClobberMemory();
  }
  set_flops(state, s);
}

// --- element-wise kernels ---------------------------------------------------------------------

void eltwise(benchmark::State& state, const std::string& spec, const std::string& kernel,
             std::size_t rows, std::size_t cols) {
  auto backend = mlpk::create_backend(spec);
  std::vector<float> z = random_floats(rows * cols, 3), a = random_floats(rows * cols, 4);
  std::vector<float> da = random_floats(rows * cols, 5), dz(rows * cols), bias(cols);
  const mlpk::MatrixView zv(z.data(), rows, cols), av(a.data(), rows, cols), dav(da.data(), rows, cols),
      dzv(dz.data(), rows, cols);
  const double n = static_cast<double>(rows * cols) * sizeof(float);
  double bytes = 0;
  for (auto _ : state) {
    if (kernel == "relu_fwd") {
      backend->activation_forward(Activation::relu, zv, av), bytes += 2 * n;
    } else if (kernel == "gelu_fwd") {
      backend->activation_forward(Activation::gelu, zv, av), bytes += 2 * n;
    } else if (kernel == "sigmoid_fwd") {
      backend->activation_forward(Activation::sigmoid, zv, av), bytes += 2 * n;
    } else if (kernel == "softmax_fwd") {
      backend->activation_forward(Activation::softmax, zv, av), bytes += 2 * n;
    } else if (kernel == "relu_bwd_bias") {
      backend->dense_backward_activation(Activation::relu, zv, av, dav, dzv, bias), bytes += 3 * n;
    } else if (kernel == "column_sums") {
      backend->column_sums(dav, 1.0f, 0.0f, bias), bytes += n;
    } else if (kernel == "add_bias") {
      backend->add_bias(bias, zv), bytes += 2 * n;
    } else if (kernel == "axpy") {
      backend->axpy(-1e-3f, std::span<const float>(da), std::span<float>(z)), bytes += 3 * n;
    }
    benchmark::ClobberMemory();
  }
  state.counters["GBps"] = benchmark::Counter(bytes / 1e9, benchmark::Counter::kIsRate);
}

// --- fused dense forward against its composition ------------------------------------------------

// Z = X W + b, A = g(Z) for the 784 -> 512 layer at batch 256: one fused call, or the three simple
// kernels (GEMM, bias pass, activation pass) that a backend without fusion runs.
void dense_forward(benchmark::State& state, const std::string& spec, Activation g, bool fused) {
  auto backend = mlpk::create_backend(spec);
  const std::size_t n = 256, in = 784, out = 512;
  std::vector<float> x = random_floats(n * in, 6), w = random_floats(in * out, 7), b = random_floats(out, 8);
  std::vector<float> z(n * out), a(n * out);
  const mlpk::ConstMatrixView xv(x.data(), n, in), wv(w.data(), in, out);
  const mlpk::MatrixView zv(z.data(), n, out), av(a.data(), n, out);
  for (auto _ : state) {
    if (fused) {
      backend->dense_forward(xv, wv, b, g, zv, av);
    } else {
      backend->gemm(Trans::N, Trans::N, 1.0f, xv, wv, 0.0f, zv);
      backend->add_bias(b, zv);
      backend->activation_forward(g, zv, av);
    }
    benchmark::ClobberMemory();
  }
  set_flops(state, {n, out, in, Trans::N, Trans::N});
}

// --- the machine's FP32 peak (mlpk's shared probe, mlpk/machine.hpp) -------------------------

void fma_peak(benchmark::State& state) {
  const mlpk::MachineLimits& limits = mlpk::machine_limits();  // measured on the first call
  for (auto _ : state) benchmark::DoNotOptimize(limits.fp32_gflops_per_core);
  state.counters["GFLOPS"] = limits.fp32_gflops_per_core;
  state.SetLabel(limits.fp32_isa);
}

void register_all() {
  std::vector<Shape> shapes;
  for (std::size_t n : {64, 128, 256, 512, 1024, 2048}) shapes.push_back({n, n, n, Trans::N, Trans::N});
  // The MLP 784-512-256-10 at batch 256: forward X W (nn), dW = A^T dZ (tn), dA = dZ W^T (nt).
  const std::size_t layers[][2] = {{784, 512}, {512, 256}, {256, 10}};
  for (auto [in, out] : layers) shapes.push_back({256, out, in, Trans::N, Trans::N});
  for (auto [in, out] : layers) shapes.push_back({in, out, 256, Trans::T, Trans::N});
  for (auto [in, out] : layers) shapes.push_back({256, in, out, Trans::N, Trans::T});
  shapes.push_back({512, 512, 512, Trans::T, Trans::T});

  benchmark::RegisterBenchmark("BM_FmaPeak", fma_peak)->Iterations(1);
  for (const Shape& s : shapes) {
    const std::string name = shape_name(s);
    benchmark::RegisterBenchmark(("BM_Gemm/highway/" + name).c_str(),
                                 [s](benchmark::State& st) { gemm_backend(st, "highway", s); });
    benchmark::RegisterBenchmark(("BM_Gemm/onednn_sgemm/" + name).c_str(),
                                 [s](benchmark::State& st) { gemm_onednn(st, s); });
    if (s.m * s.n * s.k <= 256u * 256 * 256)
      benchmark::RegisterBenchmark(("BM_Gemm/reference/" + name).c_str(),
                                   [s](benchmark::State& st) { gemm_backend(st, "reference", s); });
  }
  for (Activation g : {Activation::relu, Activation::gelu})
    for (bool fused : {true, false}) {
      const std::string name = std::string("BM_DenseForward/highway/256x512x784/") +
                               std::string(mlpk::to_string(g)) + (fused ? "/fused" : "/composed");
      benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& st) {
        dense_forward(st, "highway", g, fused);
      });
    }
  for (const char* kernel : {"relu_fwd", "gelu_fwd", "sigmoid_fwd", "softmax_fwd", "relu_bwd_bias",
                             "column_sums", "add_bias", "axpy"})
    for (const char* spec : {"highway", "reference"}) {
      const std::size_t rows = 256, cols = std::string(kernel) == "softmax_fwd" ? 10 : 512;
      const std::string name = std::string("BM_Eltwise/") + spec + "/" + kernel + "/" +
                               std::to_string(rows) + "x" + std::to_string(cols);
      benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& st) {
        eltwise(st, spec, kernel, rows, cols);
      });
    }
}

}  // namespace

int main(int argc, char** argv) {
  omp_set_num_threads(1);  // oneDNN's OpenMP runtime: one thread, like the highway backend
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
