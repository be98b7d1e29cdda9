// Kernel benchmarks over every available backend (and its variants), registered at run time:
//   BM_Gemm/<backend>/<M>x<N>x<K>/<nn|nt|tn|tt>   GFLOPS and % of this core's measured FP32 peak;
//                                                 labelled with the backend's micro-kernels
//   BM_<kernel>/<backend>/<rows>x<cols>           GB/s of the element-wise and reduction kernels
//   BM_TrainStep/<backend>/<layers>/batch<N>/threads<T>
//                                                 samples/s of a whole forward+backward+SGD step;
//                                                 GFLOPS / peak_pct per core used, step_GFLOPS in all
//   BM_TrainStepProfiled/<backend>/<layers>/batch<N>/threads<T>
//                                                 the same with a Profiler attached
//   BM_TrainStepUnfolded/<backend>/<layers>/batch<N>/threads<T>
//                                                 the same with SGD's step as a pass of its own
//                                                 (backward, then Optimizer::step), not folded
//   BM_ShuffledStep/<backend>/<layers>/batch<N>/threads<T>
//                                                 a step as an epoch takes it: Adam, on a batch of
//                                                 rows gathered in shuffled order from 20,000
//   BM_OptimizerStep/<optimizer>/<layers>/threads<T> (optimizer: sgd, sgd+decay, momentum, adam)
//                                                 GB/s of one parameter update (default backend)
// Pair two backends' rows from --benchmark_format=json by name. Run single-threaded
// (OMP_NUM_THREADS=1) to compare kernels, not thread pools.
#include <mlpk/machine.hpp>
#include <mlpk/mlpk.hpp>

#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace mlpk;

struct Shape {
  std::size_t m, n, k;
  Trans ta, tb;
};

// Square products, then the three layers of a 784-512-256-10 MLP at batch 256: forward
// (Z = A W), weight gradient (dW = A^T dZ) and input gradient (dA = dZ W^T).
std::vector<Shape> gemm_shapes() {
  std::vector<Shape> shapes;
  for (std::size_t s : {64, 128, 256, 512, 1024, 2048}) shapes.push_back({s, s, s, Trans::N, Trans::N});
  const std::size_t batch = 256, widths[] = {784, 512, 256, 10};
  for (int l = 0; l < 3; ++l) {
    const std::size_t in = widths[l], out = widths[l + 1];
    shapes.push_back({batch, out, in, Trans::N, Trans::N});  // forward
    shapes.push_back({in, out, batch, Trans::T, Trans::N});  // dW
    shapes.push_back({batch, in, out, Trans::N, Trans::T});  // dA
  }
  return shapes;
}

std::vector<float> filled(std::size_t n, float value) { return std::vector<float>(n, value); }

void set_flops(benchmark::State& state, double flops_per_iteration) {
  const double giga = flops_per_iteration * 1e-9;
  state.counters["GFLOPS"] = benchmark::Counter(giga, benchmark::Counter::kIsIterationInvariantRate);
  const double peak = machine_limits().fp32_gflops_per_core;
  if (peak > 0)
    state.counters["peak_pct"] =
        benchmark::Counter(100.0 * giga / peak, benchmark::Counter::kIsIterationInvariantRate);
}

void set_bytes(benchmark::State& state, double bytes_per_iteration) {
  state.counters["GBps"] =
      benchmark::Counter(bytes_per_iteration * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void register_gemm(const std::string& spec, const Shape& s) {
  const std::string name = "BM_Gemm/" + spec + "/" + std::to_string(s.m) + "x" + std::to_string(s.n) +
                           "x" + std::to_string(s.k) + "/" + (s.ta == Trans::N ? "n" : "t") +
                           (s.tb == Trans::N ? "n" : "t");
  benchmark::RegisterBenchmark(name.c_str(), [spec, s](benchmark::State& state) {
    auto backend = create_backend(spec);
    const auto a = filled(s.m * s.k, 0.5f), b = filled(s.k * s.n, 0.25f);
    auto c = filled(s.m * s.n, 0.0f);
    const ConstMatrixView av = s.ta == Trans::N ? ConstMatrixView(a.data(), s.m, s.k) : ConstMatrixView(a.data(), s.k, s.m);
    const ConstMatrixView bv = s.tb == Trans::N ? ConstMatrixView(b.data(), s.k, s.n) : ConstMatrixView(b.data(), s.n, s.k);
    for (auto _ : state) {
      backend->gemm(s.ta, s.tb, 1.0f, av, bv, 0.0f, {c.data(), s.m, s.n});
      benchmark::DoNotOptimize(c.data());
      benchmark::ClobberMemory();
    }
    set_flops(state, 2.0 * s.m * s.n * s.k);
    state.SetLabel(backend->description());  // which micro-kernel ran
  })->Unit(benchmark::kMicrosecond);
}

// Element-wise and reduction kernels on a 256 x 512 activation (the first hidden layer above).
void register_elementwise(const std::string& spec) {
  constexpr std::size_t rows = 256, cols = 512, n = rows * cols;
  const std::string shape = "/" + spec + "/" + std::to_string(rows) + "x" + std::to_string(cols);
  const auto add = [&](const std::string& kernel, double bytes, auto body) {
    benchmark::RegisterBenchmark(("BM_" + kernel + shape).c_str(), [spec, bytes, body](benchmark::State& state) {
      auto backend = create_backend(spec);
      auto x = filled(n, 0.5f), y = filled(n, -0.25f), z = filled(n, 0.0f), bias = filled(cols, 0.1f);
      for (auto _ : state) {
        body(*backend, MatrixView(x.data(), rows, cols), MatrixView(y.data(), rows, cols),
             MatrixView(z.data(), rows, cols), std::span<float>(bias));
        benchmark::ClobberMemory();
      }
      set_bytes(state, bytes);
    })->Unit(benchmark::kMicrosecond);
  };
  const double f = sizeof(float) * static_cast<double>(n);
  add("AddBias", 2 * f, [](Backend& b, MatrixView x, MatrixView, MatrixView, std::span<float> bias) {
    b.add_bias(bias, x);
  });
  for (Activation g : {Activation::relu, Activation::sigmoid, Activation::gelu, Activation::softmax}) {
    const std::string name(to_string(g));
    add("ActivationForward/" + name, 2 * f, [g](Backend& b, MatrixView x, MatrixView, MatrixView z, std::span<float>) {
      b.activation_forward(g, x, z);
    });
    add("ActivationBackward/" + name, 4 * f, [g](Backend& b, MatrixView x, MatrixView y, MatrixView z, std::span<float>) {
      b.activation_backward(g, x, y, y, z);
    });
  }
  // The output layer's softmax: ten classes, a row within one vector.
  benchmark::RegisterBenchmark(("BM_ActivationForward/softmax/" + spec + "/128x10").c_str(), [spec](benchmark::State& state) {
    auto backend = create_backend(spec);
    auto x = filled(128 * 10, 0.5f), z = filled(128 * 10, 0.0f);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = 0.1f * static_cast<float>(i % 10);
    for (auto _ : state) {
      backend->activation_forward(Activation::softmax, ConstMatrixView(x.data(), 128, 10), MatrixView(z.data(), 128, 10));
      benchmark::ClobberMemory();
    }
    set_bytes(state, 2.0 * sizeof(float) * 128 * 10);
  })->Unit(benchmark::kMicrosecond);
  // An owned layer's forward epilogue, Z = (Z + P) + b, A = relu(Z): the fused kernel, and the
  // three kernels it replaces (the same bits), in one run so that their ratio is of one state.
  add("SumBiasActivation/relu", 4 * f, [](Backend& b, MatrixView a, MatrixView p, MatrixView z,
                                          std::span<float> bias) {
    const ConstMatrixView partials[] = {p};
    b.sum_bias_activation(partials, bias, Activation::relu, z, a);
  });
  add("SumBiasActivationComposed/relu", 7 * f, [](Backend& b, MatrixView a, MatrixView p, MatrixView z,
                                                  std::span<float> bias) {
    b.axpy(1.0f, {p.data, p.size()}, {z.data, z.size()});
    b.add_bias(bias, z);
    b.activation_forward(Activation::relu, z, a);
  });
  add("ColumnSums", f, [](Backend& b, MatrixView x, MatrixView, MatrixView, std::span<float> bias) {
    b.column_sums(x, 1.0f, 0.0f, bias);
  });
  add("LossGradient", 3 * f, [](Backend& b, MatrixView x, MatrixView y, MatrixView z, std::span<float>) {
    b.loss_gradient(x, y, 0.5f, z);
  });
  add("Axpy", 3 * f, [](Backend& b, MatrixView x, MatrixView, MatrixView z, std::span<float>) {
    b.axpy(-1e-3f, {x.data, x.size()}, {z.data, z.size()});
  });
  add("DropoutForward", 2 * f, [](Backend& b, MatrixView x, MatrixView, MatrixView z, std::span<float>) {
    b.dropout_forward(DropoutMask{1, 2, 0, 0.2f}, x, z);  // the mask's words are computed, not read
  });
}

// profiled: with a Profiler attached (BM_TrainStepProfiled), its records cleared before they
// fill its storage; without, the Network's profiler pointer is null, as by default. unfolded:
// forward, loss, backward() and Sgd::step() (BM_TrainStepUnfolded), the step train_batch took
// before it folded plain SGD's update into the weight gradients.
enum class StepVariant { as_trained, profiled, unfolded };
void register_train_step(const std::string& spec, const std::string& layers, Activation hidden, Loss loss,
                         std::size_t batch, std::size_t threads,
                         StepVariant variant = StepVariant::as_trained) {
  const bool profiled = variant == StepVariant::profiled;
  const char* family = profiled ? "BM_TrainStepProfiled/"
                       : variant == StepVariant::unfolded ? "BM_TrainStepUnfolded/"
                                                          : "BM_TrainStep/";
  const std::string name = family + spec + "/" + layers + "/batch" + std::to_string(batch) + "/threads" +
                           std::to_string(threads);
  benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& state) {
    Network net(Architecture::parse(layers, hidden, loss), create_backend(spec));
    net.set_threads(threads);
    const Architecture& arch = net.architecture();
    Tensor x(batch, arch.inputs), y(batch, arch.outputs());
    for (std::size_t i = 0; i < batch; ++i) {
      for (std::size_t j = 0; j < arch.inputs; ++j) x(i, j) = static_cast<float>((i * 31 + j * 7) % 17) / 17.0f;
      y(i, i % arch.outputs()) = 1.0f;
    }
    Sgd sgd(1e-3f);
    double flops = 0;
    std::size_t in = arch.inputs;
    for (const auto& l : arch.layers) {
      flops += 2.0 * batch * in * l.units * (&l == &arch.layers.front() ? 2 : 3);  // no dA for layer 1
      in = l.units;
    }
    constexpr std::size_t kProfiledSteps = 256;
    Profiler profiler(1 << 14, 1 << 14, kProfiledSteps);
    if (profiled) net.set_profiler(&profiler);
    for (auto _ : state) {
      if (variant == StepVariant::unfolded) {
        net.forward_training(x.view(), {0, sgd.steps()});
        benchmark::DoNotOptimize(net.loss(y.view()));
        net.backward(y.view());
        sgd.step(net);
      } else {
        benchmark::DoNotOptimize(train_batch(net, sgd, x.view(), y.view()));
      }
      if (profiled && profiler.steps().size() == kProfiledSteps) profiler.clear();
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * batch));
    set_flops(state, flops / static_cast<double>(threads));  // % of the peak of the cores used
    state.counters["step_GFLOPS"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  })->Unit(benchmark::kMillisecond)->UseRealTime();
}

// A training step as `mlpk train` and mlpk.MLPClassifier.fit take it: Adam, on the rows of a
// shuffled order gathered from a data set larger than most last-level caches (20,000 rows of 784,
// 63 MB), so the batch's rows come from DRAM, as they do in an epoch, with the next batch's rows
// prefetched during the step as those loops do. BM_TrainStep reads one cache-hot batch with SGD:
// this is the step's cost in real training.
void register_shuffled_step(const std::string& spec, const std::string& layers, std::size_t batch,
                            std::size_t threads) {
  const std::string name = "BM_ShuffledStep/" + spec + "/" + layers + "/batch" + std::to_string(batch) +
                           "/threads" + std::to_string(threads);
  benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& state) {
    Network net(Architecture::parse(layers, Activation::relu, Loss::softmax_cross_entropy), create_backend(spec));
    net.set_threads(threads);
    net.initialize(1);
    const Architecture& arch = net.architecture();
    constexpr std::size_t kSamples = 20000;
    Tensor x(kSamples, arch.inputs), y(kSamples, arch.outputs());
    std::uint64_t state_bits = 88172645463325252ull;  // xorshift64: fixed data and shuffle
    const auto next = [&state_bits] {
      state_bits ^= state_bits << 13;
      state_bits ^= state_bits >> 7;
      state_bits ^= state_bits << 17;
      return state_bits;
    };
    for (std::size_t i = 0; i < kSamples; ++i) {
      for (std::size_t j = 0; j < arch.inputs; ++j) x(i, j) = static_cast<float>(next() % 256) / 255.0f;
      y(i, next() % arch.outputs()) = 1.0f;
    }
    const std::vector<std::size_t> order = shuffled_indices(kSamples, state_bits);  // as Trainer::fit
    Tensor batch_y(batch, arch.outputs());
    Adam adam(1e-3f);
    std::size_t first = 0;
    for (auto _ : state) {
      const std::span<const std::size_t> rows(order.data() + first, batch);
      first = first + 2 * batch > kSamples ? 0 : first + batch;
      const std::span<const std::size_t> next(order.data() + first, batch);
      gather_rows(y.view(), rows, batch_y.view());
      benchmark::DoNotOptimize(train_batch(net, adam, x.view(), rows, batch_y.view(), 0, next));
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * batch));
  })->Unit(benchmark::kMillisecond)->UseRealTime();
}

// One optimizer step over the parameters of a 784-512-256-10 network (535k), the main job's.
// GB/s counts each array the update reads or writes once: w and g, plus v (momentum) or m and s
// (Adam), written back with w. "sgd+decay" is SGD with weight decay 1e-4 (`sgd_update`; plain
// SGD is the backend's axpy).
void register_optimizer_step(const std::string& optimizer, std::size_t threads) {
  const std::string layers = "784-512-256-10";
  const std::string name = "BM_OptimizerStep/" + optimizer + "/" + layers + "/threads" + std::to_string(threads);
  benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& state) {
    Network net(Architecture::parse(layers, Activation::relu, Loss::softmax_cross_entropy),
                create_backend(default_backend_name()));
    net.set_threads(threads);
    const std::span<float> g = net.gradients();
    for (std::size_t i = 0; i < g.size(); ++i) g[i] = 1e-3f * static_cast<float>(static_cast<int>(i % 7) - 3);
    const bool decay = optimizer == "sgd+decay";
    const OptimizerKind kind = decay ? OptimizerKind::sgd : parse_optimizer(optimizer);
    OptimizerOptions options;
    if (decay) options.weight_decay = 1e-4f;
    const auto step = make_optimizer(kind, options);
    for (auto _ : state) step->step(net);
    const double arrays = kind == OptimizerKind::sgd ? 3 : kind == OptimizerKind::adam ? 7 : 5;
    state.counters["GBps"] = benchmark::Counter(arrays * sizeof(float) * g.size() * 1e-9,
                                                benchmark::Counter::kIsIterationInvariantRate);
  })->Unit(benchmark::kMicrosecond)->UseRealTime();
}

// 1 and 2 threads (the table), then doubling up to every hardware thread, so that a
// machine with more cores shows how far the step scales.
std::vector<std::size_t> thread_counts() {
  std::vector<std::size_t> counts{1, 2};
  const std::size_t cores = std::thread::hardware_concurrency();
  for (std::size_t t = 4; t < cores; t *= 2) counts.push_back(t);
  if (cores > 2) counts.push_back(cores);
  return counts;
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  benchmark::AddCustomContext("fp32_peak_gflops_per_core", std::to_string(mlpk::machine_limits().fp32_gflops_per_core));
  benchmark::AddCustomContext("fp32_peak_isa", mlpk::machine_limits().fp32_isa);
  for (const auto& name : available_backends()) {
    std::vector<std::string> specs{name};
    for (const auto& v : create_backend(name)->variants()) specs.push_back(name + ":" + v);
    for (const auto& spec : specs) {
      const bool naive = spec == "reference";
      for (const Shape& s : gemm_shapes())
        if (!naive || s.m * s.n * s.k <= 256ull * 512 * 784) register_gemm(spec, s);
      register_elementwise(spec);
      // The four networks of issue 4, at thread_counts(), on every backend (the reference takes
      // about 2 s a step on 784-1024-1024-1024-10).
      for (std::size_t threads : thread_counts()) {
        register_train_step(spec, "784-512-256-10", Activation::relu, Loss::softmax_cross_entropy, 128, threads);
        register_train_step(spec, "784-256-128-10", Activation::relu, Loss::softmax_cross_entropy, 64, threads);
        register_train_step(spec, "784-1024-1024-1024-10", Activation::relu, Loss::softmax_cross_entropy, 256, threads);
        register_train_step(spec, "3-4-3-1", Activation::tanh, Loss::sigmoid_binary_cross_entropy, 32, threads);
      }
    }
  }
  for (const auto& name : available_backends())
    if (name != "reference")
      for (std::size_t threads : {1, 2}) {
        register_shuffled_step(name, "784-256-128-10", 128, threads);  // the Python benchmark's step
        register_shuffled_step(name, "784-512-256-10", 128, threads);
      }
  // Against BM_TrainStep: the profiler's cost when attached (BM_TrainStepProfiled), on the two
  // smaller networks, and the folded SGD step's gain (BM_TrainStepUnfolded), on all three.
  for (const auto& name : available_backends())
    if (name != "reference")
      for (std::size_t threads : {1, 2})
        for (const StepVariant variant : {StepVariant::profiled, StepVariant::unfolded}) {
          register_train_step(name, "784-512-256-10", Activation::relu, Loss::softmax_cross_entropy, 128, threads,
                              variant);
          register_train_step(name, "784-256-128-10", Activation::relu, Loss::softmax_cross_entropy, 64, threads,
                              variant);
          if (variant == StepVariant::unfolded)
            register_train_step(name, "784-1024-1024-1024-10", Activation::relu, Loss::softmax_cross_entropy, 256,
                                threads, variant);
        }
  for (const char* optimizer : {"sgd", "sgd+decay", "momentum", "adam"})
    for (std::size_t threads : {1, 2}) register_optimizer_step(optimizer, threads);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
}
