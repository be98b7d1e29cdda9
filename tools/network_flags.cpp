#include "network_flags.hpp"

#include "number_flags.hpp"

#include <mlpk/activation.hpp>
#include <mlpk/trainer.hpp>

namespace mlpk::tools {

Architecture NetworkFlags::architecture() const {
  return Architecture::parse(layers, parse_activation(activation), parse_loss(loss));
}

std::unique_ptr<Optimizer> NetworkFlags::step_optimizer() const {
  OptimizerOptions options;
  options.learning_rate = 1e-3f;
  return make_optimizer(parse_optimizer(optimizer), options);
}

void add_network_flags(CLI::App& cmd, NetworkFlags& o) {
  cmd.add_option("--layers", o.layers, "Layer widths, input first")->capture_default_str();
  cmd.add_option("--activation", o.activation, "Hidden activation")->capture_default_str();
  cmd.add_option("--loss", o.loss, "softmax-ce | sigmoid-bce | mse")->capture_default_str();
  cmd.add_option("--batch-size", o.batch_size, "Samples per step")
      ->capture_default_str()
      ->transform(whole_number(1, kMaxBatchSize));
  cmd.add_option("--threads", o.threads, "Threads (0: MLPK_NUM_THREADS or every core)")
      ->capture_default_str()
      ->transform(whole_number(0, kMaxThreads));
  cmd.add_option("--warmup", o.warmup, "Untimed steps first")
      ->capture_default_str()
      ->transform(whole_number(0, kMaxBenchSteps));
  cmd.add_option("--steps", o.min_steps, "At least this many timed steps")
      ->capture_default_str()
      ->transform(whole_number(1, kMaxBenchSteps));
  cmd.add_option("--seconds", o.min_seconds, "And at least this long")
      ->capture_default_str()
      ->check(finite_number(0.0, kMaxBenchSeconds));
  cmd.add_option("--seed", o.seed, "Seed of the weights and the random data")
      ->capture_default_str()
      ->transform(whole_number(0, UINT64_MAX));
  cmd.add_option("--optimizer", o.optimizer,
                 "The update each step ends with: sgd | momentum | nesterov | adam | adamw "
                 "(training mostly runs adam, whose update costs more than sgd's)")
      ->capture_default_str();
}

RandomBatch random_batch(const Architecture& arch, std::size_t batch, std::uint64_t seed) {
  RandomBatch b{Tensor(batch, arch.inputs), Tensor(batch, arch.outputs())};
  std::uint64_t state = seed * 0x9e3779b97f4a7c15ULL + 1;
  const auto next = [&] {
    state ^= state << 13, state ^= state >> 7, state ^= state << 17;
    return static_cast<float>((state >> 40) * 0x1.0p-24);
  };
  for (std::size_t i = 0; i < batch; ++i) {
    for (std::size_t j = 0; j < arch.inputs; ++j) b.x(i, j) = next();
    if (arch.loss == Loss::softmax_cross_entropy)
      b.y(i, i % arch.outputs()) = 1.0f;
    else
      for (std::size_t j = 0; j < arch.outputs(); ++j) b.y(i, j) = next();
  }
  return b;
}

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

}  // namespace mlpk::tools
