// `mlpk bench`: times the steady-state training step of a network given by the same flags as
// `mlpk train`, on random in-memory data, and prints one line of JSON. It is what a user runs to
// compare backends and thread counts on their own CPU.
#include "commands.hpp"

#include "network_flags.hpp"

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

struct BenchOptions {
  NetworkFlags network;
  std::string backend;
};

int run_bench(const BenchOptions& options) {
  const NetworkFlags& o = options.network;
  const std::string backend_name = options.backend.empty() ? default_backend_name() : options.backend;
  const std::unique_ptr<Optimizer> optimizer = o.step_optimizer();
  Network net = Network::zeroed(o.architecture(), create_backend(backend_name));
  net.set_threads(o.threads);
  net.initialize(o.seed);
  const Architecture& arch = net.architecture();
  const RandomBatch batch = random_batch(arch, o.batch_size, o.seed);
  const Tensor &x = batch.x, &y = batch.y;

  for (std::size_t i = 0; i < o.warmup; ++i) train_batch(net, *optimizer, x.view(), y.view());
  std::vector<double> seconds;
  seconds.reserve(o.min_steps * 4);
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  while (seconds.size() < o.min_steps ||
         std::chrono::duration<double>(clock::now() - start).count() < o.min_seconds) {
    const auto t0 = clock::now();
    train_batch(net, *optimizer, x.view(), y.view());
    seconds.push_back(std::chrono::duration<double>(clock::now() - t0).count());
    if (seconds.size() >= kMaxBenchSteps) break;
  }
  std::sort(seconds.begin(), seconds.end());
  const double median = seconds[seconds.size() / 2];
  const double gflops = step_flops(arch, o.batch_size) / median * 1e-9;
  const double peak = machine_limits().fp32_gflops_per_core * static_cast<double>(net.threads());
  std::printf(
      "{\"backend\": \"%s\", \"description\": \"%s\", \"threads\": %zu, \"batch_size\": %zu, "
      "\"layers\": \"%s\", \"optimizer\": \"%s\", \"steps\": %zu, \"samples_per_second\": %.1f, \"step_ms\": %.4f, "
      "\"gflops\": %.2f, \"peak_gflops\": %.1f, \"peak_fraction\": %.4f}\n",
      backend_name.c_str(), net.backend().description().c_str(), net.threads(), o.batch_size,
      o.layers.c_str(), o.optimizer.c_str(), seconds.size(), static_cast<double>(o.batch_size) / median, median * 1e3,
      gflops, peak, peak > 0 ? gflops / peak : 0.0);
  return 0;
}

}  // namespace

std::function<int()> add_bench_command(CLI::App& app) {
  auto options = std::make_shared<BenchOptions>();
  CLI::App* cmd = app.add_subcommand("bench", "Time the steady-state training step (one JSON line)");
  add_network_flags(*cmd, options->network);
  cmd->add_option("--backend", options->backend, "Backend name (default: the fastest available)");
  return [options] { return run_bench(*options); };
}

}  // namespace mlpk::tools
