// `mlpk bench`: times the steady-state training step of a network given by the same flags as
// `mlpk train`, on random in-memory data, and prints one line of JSON. It is what a user runs to
// compare backends and thread counts on their own CPU.
#include "commands.hpp"

#include "fp32_peak.hpp"
#include "number_flags.hpp"

#include <mlpk/mlpk.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace mlpk::tools {
namespace {

// The most steps timed, and the most warm-up steps: a bench is a measurement of seconds, and the
// median of 100,000 steps is as good as that of more.
constexpr std::size_t kMaxBenchSteps = 100000;
// The longest measurement: an hour.
constexpr double kMaxBenchSeconds = 3600.0;

struct BenchOptions {
  std::string layers = "784-512-256-10";
  std::string activation = "relu";
  std::string loss = "softmax-ce";
  std::size_t batch_size = 128;
  std::string backend;
  std::size_t threads = 0;
  std::size_t warmup = 5;
  std::size_t min_steps = 30;
  double min_seconds = 2.0;
  std::uint64_t seed = 1;
};

// FLOPs of one step: the forward product of every layer, and in backward dW for every layer and
// dA for every layer but the first.
double step_flops(const Architecture& arch, std::size_t batch) {
  double flops = 0;
  std::size_t in = arch.inputs;
  for (std::size_t l = 0; l < arch.layers.size(); ++l) {
    const double product = 2.0 * static_cast<double>(batch * in * arch.layers[l].units);
    flops += product * (l == 0 ? 2 : 3);
    in = arch.layers[l].units;
  }
  return flops;
}

int run_bench(const BenchOptions& o) {
  const std::string backend_name = o.backend.empty() ? default_backend_name() : o.backend;
  Network net(Architecture::parse(o.layers, parse_activation(o.activation), parse_loss(o.loss)),
              create_backend(backend_name));
  net.set_threads(o.threads);
  net.initialize(o.seed);
  const Architecture& arch = net.architecture();

  // Random inputs in [0, 1) and one-hot (or random) targets, fixed by the seed.
  Tensor x(o.batch_size, arch.inputs), y(o.batch_size, arch.outputs());
  std::uint64_t state = o.seed * 0x9e3779b97f4a7c15ULL + 1;
  const auto next = [&] {
    state ^= state << 13, state ^= state >> 7, state ^= state << 17;
    return static_cast<float>((state >> 40) * 0x1.0p-24);
  };
  for (std::size_t i = 0; i < o.batch_size; ++i) {
    for (std::size_t j = 0; j < arch.inputs; ++j) x(i, j) = next();
    if (arch.loss == Loss::softmax_cross_entropy)
      y(i, i % arch.outputs()) = 1.0f;
    else
      for (std::size_t j = 0; j < arch.outputs(); ++j) y(i, j) = next();
  }

  Sgd sgd(1e-3f);
  for (std::size_t i = 0; i < o.warmup; ++i) train_batch(net, sgd, x.view(), y.view());
  std::vector<double> seconds;
  seconds.reserve(o.min_steps * 4);
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  while (seconds.size() < o.min_steps ||
         std::chrono::duration<double>(clock::now() - start).count() < o.min_seconds) {
    const auto t0 = clock::now();
    train_batch(net, sgd, x.view(), y.view());
    seconds.push_back(std::chrono::duration<double>(clock::now() - t0).count());
    if (seconds.size() >= kMaxBenchSteps) break;
  }
  std::sort(seconds.begin(), seconds.end());
  const double median = seconds[seconds.size() / 2];
  const double gflops = step_flops(arch, o.batch_size) / median * 1e-9;
  const double peak = bench::fp32_peak_gflops_per_core() * static_cast<double>(net.threads());
  std::printf(
      "{\"backend\": \"%s\", \"description\": \"%s\", \"threads\": %zu, \"batch_size\": %zu, "
      "\"layers\": \"%s\", \"steps\": %zu, \"samples_per_second\": %.1f, \"step_ms\": %.4f, "
      "\"gflops\": %.2f, \"peak_gflops\": %.1f, \"peak_fraction\": %.4f}\n",
      backend_name.c_str(), net.backend().description().c_str(), net.threads(), o.batch_size,
      o.layers.c_str(), seconds.size(), static_cast<double>(o.batch_size) / median, median * 1e3,
      gflops, peak, peak > 0 ? gflops / peak : 0.0);
  return 0;
}

}  // namespace

std::function<int()> add_bench_command(CLI::App& app) {
  auto options = std::make_shared<BenchOptions>();
  CLI::App* cmd = app.add_subcommand("bench", "Time the steady-state training step (one JSON line)");
  cmd->add_option("--layers", options->layers, "Layer widths, input first")->capture_default_str();
  cmd->add_option("--activation", options->activation, "Hidden activation")->capture_default_str();
  cmd->add_option("--loss", options->loss, "softmax-ce | sigmoid-bce | mse")->capture_default_str();
  cmd->add_option("--batch-size", options->batch_size, "Samples per step")
      ->capture_default_str()
      ->transform(whole_number(1, kMaxBatchSize));
  cmd->add_option("--backend", options->backend, "Backend name (default: the fastest available)");
  cmd->add_option("--threads", options->threads, "Threads (0: MLPK_NUM_THREADS or every core)")
      ->capture_default_str()
      ->transform(whole_number(0, kMaxThreads));
  cmd->add_option("--warmup", options->warmup, "Untimed steps first")
      ->capture_default_str()
      ->transform(whole_number(0, kMaxBenchSteps));
  cmd->add_option("--steps", options->min_steps, "At least this many timed steps")
      ->capture_default_str()
      ->transform(whole_number(1, kMaxBenchSteps));
  cmd->add_option("--seconds", options->min_seconds, "And at least this long")
      ->capture_default_str()
      ->check(finite_number(0.0, kMaxBenchSeconds));
  cmd->add_option("--seed", options->seed, "Seed of the weights and the random data")
      ->capture_default_str()
      ->transform(whole_number(0, UINT64_MAX));
  return [options] { return run_bench(*options); };
}

}  // namespace mlpk::tools
