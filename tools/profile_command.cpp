// `mlpk profile`: where a training step's time goes. The network flags are `mlpk bench`'s; each
// backend named by --backend trains the same weights on the same random batch, with a Profiler
// attached for the timed steps, and the table compares them kernel by kernel.
#include "commands.hpp"

#include "atomic_file.hpp"
#include "network_flags.hpp"
#include "profile_report.hpp"

#include <mlpk/mlpk.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace mlpk::tools {
namespace {

// The most steps profiled: their records stay in memory for the trace, about 40 KB a step of
// the main network in the trace file (8 MB for 200).
constexpr std::size_t kMaxProfiledSteps = 200;

struct ProfileOptions {
  NetworkFlags network;
  std::string backends;
  std::string json, trace, svg;
};

std::vector<std::string> backend_list(const std::string& text) {
  if (text.empty()) return {default_backend_name()};
  std::vector<std::string> names;
  std::size_t begin = 0;
  while (true) {
    const std::size_t end = text.find(',', begin);
    const std::string name = text.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
    if (name.empty()) throw Error("--backend: an empty name in '" + text + "' (use e.g. highway,onednn)");
    if (std::find(names.begin(), names.end(), name) != names.end())
      throw Error("--backend: '" + name + "' is named twice");
    names.push_back(name);
    if (end == std::string::npos) break;
    begin = end + 1;
  }
  return names;
}

BackendProfile profile_backend(const std::string& name, const NetworkFlags& o, const RandomBatch& batch,
                               const MachineLimits& limits) {
  const std::unique_ptr<Optimizer> optimizer = o.step_optimizer();
  Network net = Network::zeroed(o.architecture(), create_backend(name));
  net.set_threads(o.threads);
  net.initialize(o.seed);
  for (std::size_t i = 0; i < o.warmup; ++i) train_batch(net, *optimizer, batch.x.view(), batch.y.view());
  BackendProfile b;
  b.backend = name;
  b.description = net.backend().description();
  b.profiler = profiler_for(net, kMaxProfiledSteps);
  net.set_profiler(b.profiler.get());
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  std::size_t steps = 0;
  while (steps < std::min(o.min_steps, kMaxProfiledSteps) ||
         (std::chrono::duration<double>(clock::now() - start).count() < o.min_seconds &&
          steps < kMaxProfiledSteps)) {
    train_batch(net, *optimizer, batch.x.view(), batch.y.view());
    ++steps;
  }
  net.set_profiler(nullptr);
  b.summary = summarize(*b.profiler, limits);
  return b;
}

int run_profile(const ProfileOptions& o) {
  const std::vector<std::string> names = backend_list(o.backends);
  if (!o.json.empty()) check_writable(o.json, "--json");
  if (!o.trace.empty()) check_writable(o.trace, "--trace");
  if (!o.svg.empty()) check_writable(o.svg, "--svg");
  ProfileRun run;
  run.layers = o.network.layers;
  run.optimizer = o.network.optimizer;
  run.batch_size = o.network.batch_size;
  const Architecture arch = o.network.architecture();
  parse_optimizer(o.network.optimizer);  // an unknown name fails before any backend runs
  const RandomBatch batch = random_batch(arch, o.network.batch_size, o.network.seed);
  run.limits = machine_limits();
  for (const auto& name : names) {
    run.backends.push_back(profile_backend(name, o.network, batch, run.limits));
    run.threads = run.backends.back().summary.threads;
  }
  std::fputs(profile_table(run).c_str(), stdout);
  write_profile_files(run, o.json, "--json", o.trace, o.svg);
  return 0;
}

}  // namespace

std::function<int()> add_profile_command(CLI::App& app) {
  auto options = std::make_shared<ProfileOptions>();
  CLI::App* cmd = app.add_subcommand(
      "profile", "Where a training step's time goes, per layer and kernel, against the CPU's limits");
  add_network_flags(*cmd, options->network);
  cmd->add_option("--backend", options->backends,
                  "Backends to compare, comma-separated (default: the fastest available)");
  cmd->add_option("--json", options->json, "Write every aggregate and the machine's limits as JSON");
  cmd->add_option("--trace", options->trace, "Write a Chrome trace-event file (Perfetto, chrome://tracing)");
  cmd->add_option("--svg", options->svg, "Draw the roofline into this SVG file");
  return [options] { return run_profile(*options); };
}

}  // namespace mlpk::tools
