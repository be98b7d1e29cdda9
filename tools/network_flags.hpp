// The flags that describe a network and its timed steps, shared by `mlpk bench` and
// `mlpk profile` (one definition), and the random in-memory batch both time it on.
#pragma once

#include <CLI/CLI.hpp>

#include <mlpk/network.hpp>
#include <mlpk/optimizer.hpp>
#include <mlpk/tensor.hpp>

#include <cstdint>
#include <memory>
#include <string>

namespace mlpk::tools {

// The most steps timed, and the most warm-up steps: a bench is a measurement of seconds, and the
// median of 100,000 steps is as good as that of more.
inline constexpr std::size_t kMaxBenchSteps = 100000;
// The longest measurement: an hour.
inline constexpr double kMaxBenchSeconds = 3600.0;

struct NetworkFlags {
  std::string layers = "784-512-256-10";
  std::string activation = "relu";
  std::string loss = "softmax-ce";
  std::size_t batch_size = 128;
  std::size_t threads = 0;
  std::size_t warmup = 5;
  std::size_t min_steps = 30;
  double min_seconds = 2.0;
  std::uint64_t seed = 1;
  std::string optimizer = "sgd";

  Architecture architecture() const;
  // The update each timed step ends with, learning rate 0.001 (throws for an unknown name).
  std::unique_ptr<Optimizer> step_optimizer() const;
};

// --layers --activation --loss --batch-size --threads --warmup --steps --seconds --seed
// --optimizer.
void add_network_flags(CLI::App& cmd, NetworkFlags& flags);

// Random inputs in [0, 1) and one-hot (or, for other losses, random) targets, fixed by the seed.
struct RandomBatch {
  Tensor x, y;
};
RandomBatch random_batch(const Architecture& arch, std::size_t batch, std::uint64_t seed);

// FLOPs of one step's products: the forward product of every layer, and in backward dW for
// every layer and dA for every layer but the first.
double step_flops(const Architecture& arch, std::size_t batch);

}  // namespace mlpk::tools
