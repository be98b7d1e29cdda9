// Benchmarks of the oneDNN backend on the MLP shapes (batch 256: 784 -> 512 -> 256 -> 10), one
// thread, and the oneDNN-specific choices its implementation made: matmul vs dnnl_sgemm vs inner
// product for GEMM, fused vs composed dense forward, matmul-with-ones vs the reduction primitive
// for column sums, a plain loop vs the binary primitive for the loss gradient, 1 vs 2 threads.
//
// Not here: comparisons across backends (main's generic benchmark does those).
//
// Run: build/bin/bench_onednn --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <mlpk/registry.hpp>
#include <mlpk/tensor.hpp>

#include <benchmark/benchmark.h>
#include <omp.h>
#include <oneapi/dnnl/dnnl.hpp>

#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

using mlpk::Activation;
using mlpk::Trans;

std::unique_ptr<mlpk::Backend> backend(const std::string& spec) {
  return mlpk::create_backend(spec);
}

mlpk::Tensor random_tensor(std::size_t rows, std::size_t cols, unsigned seed) {
  mlpk::Tensor t(rows, cols);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (float& v : t.flat()) v = dist(rng);
  return t;
}

void set_gflops(benchmark::State& state, double flops_per_iteration) {
  state.counters["GFLOPS"] =
      benchmark::Counter(flops_per_iteration * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

struct GemmShape {
  std::size_t m, n, k;
  Trans ta, tb;
};

std::string gemm_name(const char* prefix, const GemmShape& s) {
  return std::string(prefix) + "/" + std::to_string(s.m) + "x" + std::to_string(s.n) + "x" +
         std::to_string(s.k) + "/" + (s.ta == Trans::N ? "n" : "t") +
         (s.tb == Trans::N ? "n" : "t");
}

// C = op(A) op(B) through a backend spec (gemm=auto, matmul or sgemm).
void gemm_through(benchmark::State& state, const std::string& spec, GemmShape s) {
  auto b = backend(spec);
  const auto a = random_tensor(s.ta == Trans::N ? s.m : s.k, s.ta == Trans::N ? s.k : s.m, 1);
  const auto bm = random_tensor(s.tb == Trans::N ? s.k : s.n, s.tb == Trans::N ? s.n : s.k, 2);
  mlpk::Tensor c(s.m, s.n);
  for (auto _ : state) {
    b->gemm(s.ta, s.tb, 1.0f, a, bm, 0.0f, c);
    benchmark::DoNotOptimize(c.data());
  }
  set_gflops(state, 2.0 * s.m * s.n * s.k);
}

// The MLP's products: forward Z = A W (nn), weight gradients dW = A' dZ (tn), input gradients
// dA = dZ W' (nt); and 256x512x784 in all four transposes.
std::vector<GemmShape> mlp_gemms() {
  std::vector<GemmShape> shapes = {
      {256, 512, 784, Trans::N, Trans::N}, {256, 256, 512, Trans::N, Trans::N},
      {256, 10, 256, Trans::N, Trans::N},  {784, 512, 256, Trans::T, Trans::N},
      {512, 256, 256, Trans::T, Trans::N}, {256, 10, 256, Trans::T, Trans::N},
      {256, 512, 256, Trans::N, Trans::T}, {256, 256, 10, Trans::N, Trans::T},
      {256, 512, 784, Trans::N, Trans::T}, {256, 512, 784, Trans::T, Trans::N},
      {256, 512, 784, Trans::T, Trans::T}};
  return shapes;
}

// --- dense forward: fused vs composed ---------------------------------------------------------

struct Layer {
  std::size_t n, in, out;
};
const Layer kLayers[] = {{256, 784, 512}, {256, 512, 256}, {256, 256, 10}};

std::string layer_name(const char* prefix, const Layer& l, Activation g) {
  return std::string(prefix) + "/" + std::to_string(l.n) + "x" + std::to_string(l.in) + "->" +
         std::to_string(l.out) + "/" + std::string(mlpk::to_string(g));
}

enum class DenseMode { fused_in_place, fused_z_and_a, composed };

void dense_forward(benchmark::State& state, Layer l, Activation g, DenseMode mode,
                   const std::string& spec) {
  auto b = backend(spec);
  const auto x = random_tensor(l.n, l.in, 1), w = random_tensor(l.in, l.out, 2);
  const auto bias = random_tensor(1, l.out, 3);
  mlpk::Tensor z(l.n, l.out), a(l.n, l.out);
  for (auto _ : state) {
    switch (mode) {
      case DenseMode::fused_in_place:
        b->dense_forward(x, w, bias.flat(), g, a, a);
        break;
      case DenseMode::fused_z_and_a:
        b->dense_forward(x, w, bias.flat(), g, z, a);
        break;
      case DenseMode::composed:  // what the Backend default does: three passes over Z
        b->gemm(Trans::N, Trans::N, 1.0f, x, w, 0.0f, z);
        b->add_bias(bias.flat(), z);
        b->activation_forward(g, z, a);
        break;
    }
    benchmark::DoNotOptimize(a.data());
  }
  set_gflops(state, 2.0 * l.n * l.in * l.out);
}

// --- element-wise kernels -----------------------------------------------------------------------

enum class Pass { forward, forward_in_place, backward };

void activation(benchmark::State& state, Activation g, std::size_t rows, std::size_t cols,
                Pass pass) {
  auto b = backend("onednn:threads=1");
  auto z = random_tensor(rows, cols, 1);
  mlpk::Tensor a(rows, cols), dz(rows, cols);
  const auto da = random_tensor(rows, cols, 2);
  b->activation_forward(g, z, a);
  for (auto _ : state) {
    switch (pass) {
      case Pass::forward:
        b->activation_forward(g, z, a);
        break;
      case Pass::forward_in_place:
        b->activation_forward(g, a, a);
        break;
      case Pass::backward:
        b->activation_backward(g, z, a, da, dz);
        break;
    }
    benchmark::DoNotOptimize(dz.data());
    benchmark::DoNotOptimize(a.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * rows * cols * sizeof(float) *
                                               (pass == Pass::backward ? 4 : 2)));
}

// dZ = dA * g'(Z) and its column sums: the backend's one-plan override vs the two kernels.
void dense_backward(benchmark::State& state, Activation g, std::size_t rows, std::size_t cols,
                    bool fused) {
  auto b = backend("onednn:threads=1");
  const auto z = random_tensor(rows, cols, 1), da = random_tensor(rows, cols, 2);
  mlpk::Tensor a(rows, cols), dz(rows, cols);
  std::vector<float> db(cols);
  b->activation_forward(g, z, a);
  for (auto _ : state) {
    if (fused) {
      b->dense_backward_activation(g, z, a, da, dz, db);
    } else {
      b->activation_backward(g, z, a, da, dz);
      b->column_sums(dz, 1.0f, 0.0f, db);
    }
    benchmark::DoNotOptimize(db.data());
  }
}

// An activation on a 256x128 column block of a 256x512 matrix, the views mlpk's Network hands
// out: the backend copies through packed buffers; the bare eltwise on the strided view is
// oneDNN's reference code.
void activation_block(benchmark::State& state, Activation g, bool bare) {
  auto z = random_tensor(256, 512, 1);
  mlpk::Tensor a(256, 512);
  const mlpk::ConstMatrixView zb = z.view().block(0, 128, 256, 128);
  const mlpk::MatrixView ab = a.view().block(0, 128, 256, 128);
  if (!bare) {
    auto b = backend("onednn:threads=1");
    for (auto _ : state) {
      b->activation_forward(g, zb, ab);
      benchmark::DoNotOptimize(a.data());
    }
    return;
  }
  using dnnl::memory;
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  memory::desc md({256, 128}, memory::data_type::f32, memory::dims{512, 1});
  const auto alg =
      g == Activation::gelu ? dnnl::algorithm::eltwise_gelu_tanh : dnnl::algorithm::eltwise_relu;
  dnnl::eltwise_forward::primitive_desc pd(
      dnnl::eltwise_forward::desc(dnnl::prop_kind::forward_inference, alg, md), engine);
  dnnl::eltwise_forward prim(pd);
  std::unordered_map<int, memory> args{
      {DNNL_ARG_SRC, memory(md, engine, const_cast<float*>(zb.data))},
      {DNNL_ARG_DST, memory(md, engine, ab.data)}};
  state.SetLabel(pd.impl_info_str());
  for (auto _ : state) {
    prim.execute(stream, args);
    stream.wait();
    benchmark::DoNotOptimize(a.data());
  }
}

// oneDNN's softmax primitive alone, in place (dst is src) vs out of place: why the backend runs
// an in-place softmax through a buffer of its own.
void softmax_raw(benchmark::State& state, std::size_t rows, std::size_t cols, bool in_place) {
  using dnnl::memory;
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  const auto r = static_cast<memory::dim>(rows), c = static_cast<memory::dim>(cols);
  auto z = random_tensor(rows, cols, 1);
  mlpk::Tensor a(rows, cols);
  memory::desc md({r, c}, memory::data_type::f32, memory::dims{c, 1});
  dnnl::softmax_v2_forward::primitive_desc pd(
      dnnl::softmax_v2_forward::desc(dnnl::prop_kind::forward_inference,
                                     dnnl::algorithm::softmax_accurate, md, md, 1),
      engine);
  dnnl::softmax_v2_forward prim(pd);
  std::unordered_map<int, memory> args{
      {DNNL_ARG_SRC, memory(md, engine, z.data())},
      {DNNL_ARG_DST, memory(md, engine, in_place ? z.data() : a.data())}};
  state.SetLabel(pd.impl_info_str());
  for (auto _ : state) {
    prim.execute(stream, args);
    stream.wait();
    benchmark::DoNotOptimize(a.data());
  }
}

// --- column sums: matmul with a ones vector (the backend) vs the reduction primitive -----------

void column_sums_backend(benchmark::State& state, std::size_t rows, std::size_t cols) {
  auto b = backend("onednn:threads=1");
  const auto x = random_tensor(rows, cols, 1);
  std::vector<float> sums(cols);
  for (auto _ : state) {
    b->column_sums(x, 1.0f, 0.0f, sums);
    benchmark::DoNotOptimize(sums.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * rows * cols * sizeof(float)));
}

void column_sums_reduction(benchmark::State& state, std::size_t rows, std::size_t cols) {
  using dnnl::memory;
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  const auto r = static_cast<memory::dim>(rows), c = static_cast<memory::dim>(cols);
  const auto x = random_tensor(rows, cols, 1);
  std::vector<float> sums(cols);
  memory::desc src({r, c}, memory::data_type::f32, memory::dims{c, 1});
  memory::desc dst({1, c}, memory::data_type::f32, memory::dims{c, 1});
  dnnl::reduction::primitive_desc pd(
      dnnl::reduction::desc(dnnl::algorithm::reduction_sum, src, dst, 0.0f, 0.0f), engine);
  dnnl::reduction prim(pd);
  std::unordered_map<int, memory> args{
      {DNNL_ARG_SRC, memory(src, engine, const_cast<float*>(x.data()))},
      {DNNL_ARG_DST, memory(dst, engine, sums.data())}};
  state.SetLabel(pd.impl_info_str());
  for (auto _ : state) {
    prim.execute(stream, args);
    stream.wait();
    benchmark::DoNotOptimize(sums.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * rows * cols * sizeof(float)));
}

// --- loss gradient: plain loop (the backend) vs binary sub with an eltwise_linear post-op -------

void loss_gradient_backend(benchmark::State& state, std::size_t rows, std::size_t cols) {
  auto b = backend("onednn:threads=1");
  const auto a = random_tensor(rows, cols, 1), y = random_tensor(rows, cols, 2);
  mlpk::Tensor g(rows, cols);
  for (auto _ : state) {
    b->loss_gradient(a, y, 1.0f / 256, g);
    benchmark::DoNotOptimize(g.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * rows * cols * 12));
}

void loss_gradient_binary(benchmark::State& state, std::size_t rows, std::size_t cols) {
  using dnnl::memory;
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  const auto r = static_cast<memory::dim>(rows), c = static_cast<memory::dim>(cols);
  const auto a = random_tensor(rows, cols, 1), y = random_tensor(rows, cols, 2);
  mlpk::Tensor g(rows, cols);
  memory::desc md({r, c}, memory::data_type::f32, memory::dims{c, 1});
  dnnl::post_ops ops;
  ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_linear, 1.0f / 256, 0.0f);
  dnnl::primitive_attr attr;
  attr.set_post_ops(ops);
  dnnl::binary::primitive_desc pd(dnnl::binary::desc(dnnl::algorithm::binary_sub, md, md, md), attr,
                                  engine);
  dnnl::binary prim(pd);
  std::unordered_map<int, memory> args{
      {DNNL_ARG_SRC_0, memory(md, engine, const_cast<float*>(a.data()))},
      {DNNL_ARG_SRC_1, memory(md, engine, const_cast<float*>(y.data()))},
      {DNNL_ARG_DST, memory(md, engine, g.data())}};
  state.SetLabel(pd.impl_info_str());
  for (auto _ : state) {
    prim.execute(stream, args);
    stream.wait();
    benchmark::DoNotOptimize(g.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * rows * cols * 12));
}

void axpy(benchmark::State& state, std::size_t n) {
  auto b = backend("onednn:threads=1");
  const auto x = random_tensor(1, n, 1);
  auto y = random_tensor(1, n, 2);
  for (auto _ : state) {
    b->axpy(-1e-3f, x.flat(), y.flat());
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * n * 12));
}

// The cost of one call in the steady state (cache lookup, lease, bind, execute) on a product so
// small that the arithmetic is nothing.
void tiny_gemm(benchmark::State& state, const std::string& spec) {
  auto b = backend(spec);
  const auto a = random_tensor(1, 1, 1), bm = random_tensor(1, 1, 2);
  mlpk::Tensor c(1, 1);
  for (auto _ : state) {
    b->gemm(Trans::N, Trans::N, 1.0f, a, bm, 0.0f, c);
    benchmark::DoNotOptimize(c.data());
  }
}

// The same 1x1x1 product as a bare matmul primitive executed on fixed memory objects: oneDNN's
// own per-execute cost, the floor under BM_CallOverhead/onednn.
void tiny_matmul_raw(benchmark::State& state) {
  using dnnl::memory;
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  float a = 1.0f, b = 2.0f, c = 0.0f;
  memory::desc md({1, 1}, memory::data_type::f32, memory::dims{1, 1});
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(md, md, md), engine);
  dnnl::matmul prim(pd);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, memory(md, engine, &a)},
                                       {DNNL_ARG_WEIGHTS, memory(md, engine, &b)},
                                       {DNNL_ARG_DST, memory(md, engine, &c)}};
  for (auto _ : state) {
    prim.execute(stream, args);
    stream.wait();
    benchmark::DoNotOptimize(c);
  }
}

void register_all() {
  for (const auto& s : mlp_gemms()) {
    // The backend as shipped (gemm=auto), then each of its two GEMM paths forced.
    benchmark::RegisterBenchmark(gemm_name("BM_Gemm/onednn", s).c_str(), gemm_through,
                                 std::string("onednn:threads=1"), s);
    benchmark::RegisterBenchmark(gemm_name("BM_Gemm/onednn_matmul", s).c_str(), gemm_through,
                                 std::string("onednn:threads=1,gemm=matmul"), s);
    benchmark::RegisterBenchmark(gemm_name("BM_Gemm/onednn_sgemm", s).c_str(), gemm_through,
                                 std::string("onednn:threads=1,gemm=sgemm"), s);
    benchmark::RegisterBenchmark(gemm_name("BM_Gemm/onednn_inner_product", s).c_str(), gemm_through,
                                 std::string("onednn:threads=1,gemm=inner_product"), s);
  }
  // 1 vs 2 OpenMP threads on the first layer's product (wall time: the work is parallel).
  for (int threads : {1, 2}) {
    const GemmShape s{256, 512, 784, Trans::N, Trans::N};
    const std::string name =
        gemm_name("BM_GemmThreads/onednn", s) + "/threads:" + std::to_string(threads);
    benchmark::RegisterBenchmark(name.c_str(), gemm_through,
                                 "onednn:threads=" + std::to_string(threads), s)
        ->UseRealTime();
  }
  for (const Layer& l : kLayers)
    for (Activation g : {Activation::relu, Activation::gelu, Activation::softmax}) {
      if ((g == Activation::softmax) != (l.out == 10)) continue;
      // The backend as shipped (inner product), its matmul variant, and the Backend default's
      // composition of gemm, add_bias and activation_forward.
      const std::string ip = "onednn:threads=1", mm = "onednn:threads=1,dense=matmul";
      benchmark::RegisterBenchmark(layer_name("BM_DenseForward/ip_in_place", l, g).c_str(),
                                   dense_forward, l, g, DenseMode::fused_in_place, ip);
      benchmark::RegisterBenchmark(layer_name("BM_DenseForward/matmul_in_place", l, g).c_str(),
                                   dense_forward, l, g, DenseMode::fused_in_place, mm);
      benchmark::RegisterBenchmark(layer_name("BM_DenseForward/ip_z_and_a", l, g).c_str(),
                                   dense_forward, l, g, DenseMode::fused_z_and_a, ip);
      benchmark::RegisterBenchmark(layer_name("BM_DenseForward/matmul_z_and_a", l, g).c_str(),
                                   dense_forward, l, g, DenseMode::fused_z_and_a, mm);
      benchmark::RegisterBenchmark(layer_name("BM_DenseForward/composed", l, g).c_str(),
                                   dense_forward, l, g, DenseMode::composed, ip);
    }
  for (Activation g : mlpk::kAllActivations) {
    const std::size_t cols = g == Activation::softmax ? 10 : 512;
    const std::string shape = "/256x" + std::to_string(cols);
    const std::string name(mlpk::to_string(g));
    benchmark::RegisterBenchmark(("BM_ActivationForward/onednn/" + name + shape).c_str(),
                                 activation, g, 256, cols, Pass::forward);
    benchmark::RegisterBenchmark(("BM_ActivationBackward/onednn/" + name + shape).c_str(),
                                 activation, g, 256, cols, Pass::backward);
  }
  benchmark::RegisterBenchmark("BM_ActivationForward/onednn/softmax_in_place/256x10", activation,
                               Activation::softmax, 256, 10, Pass::forward_in_place);
  for (Activation g : {Activation::relu, Activation::gelu}) {
    const std::string name(mlpk::to_string(g));
    benchmark::RegisterBenchmark(("BM_ActivationBlock/onednn/" + name + "/256x128_of_512").c_str(),
                                 activation_block, g, false);
    benchmark::RegisterBenchmark(
        ("BM_ActivationBlock/bare_eltwise/" + name + "/256x128_of_512").c_str(), activation_block,
        g, true);
  }
  for (bool in_place : {false, true})
    benchmark::RegisterBenchmark(
        in_place ? "BM_SoftmaxRaw/in_place/256x10" : "BM_SoftmaxRaw/out_of_place/256x10",
        softmax_raw, 256, 10, in_place);
  for (std::size_t cols : {512, 256, 10}) {
    const std::string shape = "/256x" + std::to_string(cols);
    const Activation g = cols == 10 ? Activation::softmax : Activation::relu;
    const std::string gname(mlpk::to_string(g));
    benchmark::RegisterBenchmark(("BM_DenseBackward/fused/" + gname + shape).c_str(),
                                 dense_backward, g, 256, cols, true);
    benchmark::RegisterBenchmark(("BM_DenseBackward/composed/" + gname + shape).c_str(),
                                 dense_backward, g, 256, cols, false);
    benchmark::RegisterBenchmark(("BM_ColumnSums/matmul_ones" + shape).c_str(), column_sums_backend,
                                 256, cols);
    benchmark::RegisterBenchmark(("BM_ColumnSums/reduction" + shape).c_str(), column_sums_reduction,
                                 256, cols);
  }
  benchmark::RegisterBenchmark("BM_LossGradient/loop/256x10", loss_gradient_backend, 256, 10);
  benchmark::RegisterBenchmark("BM_LossGradient/binary/256x10", loss_gradient_binary, 256, 10);
  benchmark::RegisterBenchmark("BM_LossGradient/loop/256x512", loss_gradient_backend, 256, 512);
  benchmark::RegisterBenchmark("BM_LossGradient/binary/256x512", loss_gradient_binary, 256, 512);
  benchmark::RegisterBenchmark("BM_Axpy/onednn/401408", axpy, 784 * 512);
  benchmark::RegisterBenchmark("BM_CallOverhead/onednn/1x1x1", tiny_gemm,
                               std::string("onednn:threads=1"));
  benchmark::RegisterBenchmark("BM_CallOverhead/raw_matmul_execute/1x1x1", tiny_matmul_raw);
  benchmark::RegisterBenchmark("BM_CallOverhead/onednn_sgemm/1x1x1", tiny_gemm,
                               std::string("onednn:threads=1,gemm=sgemm"));
}

}  // namespace

int main(int argc, char** argv) {
  // Single thread unless a benchmark says otherwise: the primitives used directly here run on the
  // calling thread's OpenMP setting, the backend's on its threads=N option.
  omp_set_num_threads(1);
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
