// Optimizers: update a Network's parameters from its gradients.
//
// The Network keeps every parameter in one flat array and every gradient at the same index of a
// second one, so each optimizer step is one flat loop, and its state (velocities, moments) is a
// few flat arrays of the same length, which a checkpoint saves as they are.
//
// One step, for every optimizer:
//   1. if clip_norm > 0 and ||g||_2 (over all gradients) > clip_norm:  g *= clip_norm / ||g||
//   2. lr = schedule.at(learning_rate, t)      (t = steps taken so far, from 0)
//   3. the update below, with L2 weight decay wd added to the gradient (g += wd w), except AdamW,
//      which decays the weights directly (decoupled): w -= lr wd w, before its Adam update.
//   sgd       w -= lr g
//   momentum  v = mu v + g;  w -= lr v                       (v starts at 0)
//   nesterov  v = mu v + g;  w -= lr (g + mu v)
//   adam      m = b1 m + (1-b1) g;  s = b2 s + (1-b2) g^2;  (m, s start at 0)
//             w -= lr (m / (1 - b1^(t+1))) / (sqrt(s / (1 - b2^(t+1))) + eps)
//   adamw     adam with decoupled weight decay
#pragma once

#include <mlpk/network.hpp>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mlpk {

// The learning rate as a function of the step t (0-based), relative to a base rate:
//   constant  base
//   step      base * gamma^floor(t' / step_size)
//   cosine    min + (base - min) (1 + cos(pi t' / (total_steps - warmup))) / 2, t' capped
//   one_cycle base * initial_fraction, rising linearly to base at t = warmup_steps:
//             lo0 + (base - lo0) t / warmup_steps with lo0 = initial_fraction * base; then the
//             cosine above, from base down to min_fraction * base at total_steps
// where t' = t - warmup_steps. During the first warmup_steps steps every other kind rises
// linearly: base * (t + 1) / warmup_steps (linear warm-up).
// one_cycle is PyTorch's OneCycleLR(max_lr=base, total_steps, pct_start=warmup/total,
// div_factor=1/initial_fraction, three_phase=False) except that it rises linearly (PyTorch's
// anneal_strategy applies to both phases) and ends at min_fraction * base rather than at
// base / (div_factor * final_div_factor); the defaults 0.04 and 0 are PyTorch's 1/25 and nearly
// its 1/250000.
enum class ScheduleKind { constant, step, cosine, one_cycle };

struct LearningRateSchedule {
  ScheduleKind kind = ScheduleKind::constant;
  std::uint64_t warmup_steps = 0;
  std::uint64_t step_size = 1;    // step: decay every step_size steps
  float gamma = 0.1f;             // step: the decay factor
  std::uint64_t total_steps = 0;  // cosine, one_cycle: steps over which the rate falls to min
  float min_fraction = 0.0f;      // cosine, one_cycle: min = min_fraction * base
  float initial_fraction = 0.04f; // one_cycle: the first rate, in (0, 1]

  float at(float base, std::uint64_t t) const;
};

std::string_view to_string(ScheduleKind kind);
ScheduleKind parse_schedule(std::string_view name);  // "constant", "step", "cosine", "one-cycle"

enum class OptimizerKind { sgd, momentum, nesterov, adam, adamw };
std::string_view to_string(OptimizerKind kind);
OptimizerKind parse_optimizer(std::string_view name);  // "sgd", "momentum", ... ; throws

struct OptimizerOptions {
  float learning_rate = 1e-3f;
  float momentum = 0.9f;      // momentum, nesterov
  float beta1 = 0.9f;         // adam, adamw
  float beta2 = 0.999f;
  float epsilon = 1e-8f;
  float weight_decay = 0.0f;  // L2 (sgd, momentum, nesterov, adam) or decoupled (adamw)
  float clip_norm = 0.0f;     // 0: no clipping
  LearningRateSchedule schedule;
};

// The most steps an optimizer takes: 2^53. Adam's bias correction computes beta^(t+1) with t in
// double, exact only up to 2^53, and a count near 2^64 wraps t+1 to 0, where 1 - beta^0 = 0
// divides by zero and every weight becomes NaN. No real run comes near (2^53 steps of a
// microsecond are 285 years), so a larger count, e.g. from a corrupt checkpoint, is refused.
inline constexpr std::uint64_t kMaxOptimizerSteps = std::uint64_t{1} << 53;

class Optimizer {
 public:
  // Throws mlpk::Error for a non-positive or non-finite learning rate, or other options out of
  // range (momentum and betas in [0, 1), negative weight decay or clip norm).
  explicit Optimizer(OptimizerOptions options);
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // Applies one update to net.parameters() from net.gradients() (which clipping may rescale).
  void step(Network& net);
  // net.backward(y), then step(net); plain SGD without weight decay or clipping folds its
  // update into the backward (Network writes W - lr dW straight into W: one pass over the
  // weights fewer; steps of the README's small networks 3-13% faster), so the weights' entries
  // of net.gradients() are then not written. train_batch and the single-process Trainer step
  // this way; a rate of 0 takes the plain path.
  void backward_and_step(Network& net, ConstMatrixView y);

  virtual OptimizerKind kind() const = 0;
  const OptimizerOptions& options() const { return options_; }
  // Steps taken so far: the t of the schedule and of Adam's bias correction.
  std::uint64_t steps() const { return steps_; }
  // The rate the next step will use.
  float current_learning_rate() const { return options_.schedule.at(options_.learning_rate, steps_); }
  // ||g||_2 of the last step's gradients, before clipping.
  double last_gradient_norm() const { return last_norm_; }

  // The state arrays (each as long as the parameters, empty before the first step), for
  // checkpoints, and their restoration: `state` must hold as many arrays as holds_state_arrays
  // allows, of equal length, and `steps` be at most kMaxOptimizerSteps (throws mlpk::Error
  // otherwise).
  const std::vector<std::vector<float>>& state() const { return state_; }
  virtual std::size_t state_count() const = 0;
  // Whether this optimizer can have `arrays` state arrays after `steps` steps: state_count() of
  // them, or none before its first step. Model files check their checkpoints with it.
  bool holds_state_arrays(std::uint64_t steps, std::size_t arrays) const {
    return arrays == state_count() || (arrays == 0 && steps == 0);
  }
  void restore(std::uint64_t steps, std::vector<std::vector<float>> state);

 protected:
  // The update of one step with rate lr, on the elements [begin, end) of w, g and every state
  // array; `state` has state_count() arrays sized like w; `backend` is the network's, for an
  // update that is one of its kernels. Called concurrently on disjoint ranges.
  virtual void update(std::span<float> w, std::span<const float> g, float lr,
                      std::vector<std::vector<float>>& state, std::size_t begin, std::size_t end,
              Backend& backend) = 0;

 private:
  OptimizerOptions options_;
  std::uint64_t steps_ = 0;
  double last_norm_ = 0.0;
  std::vector<std::vector<float>> state_;
};

// Plain stochastic gradient descent: W -= learning_rate * dW (plus options, see above).
class Sgd final : public Optimizer {
 public:
  explicit Sgd(float learning_rate);  // throws mlpk::Error unless 0 < learning_rate < inf
  explicit Sgd(OptimizerOptions options) : Optimizer(options) {}
  float learning_rate() const { return options().learning_rate; }
  OptimizerKind kind() const override { return OptimizerKind::sgd; }
  std::size_t state_count() const override { return 0; }

 protected:
  void update(std::span<float> w, std::span<const float> g, float lr,
              std::vector<std::vector<float>>& state, std::size_t begin, std::size_t end,
              Backend& backend) override;
};

// Heavy-ball momentum, or Nesterov's variant.
class Momentum final : public Optimizer {
 public:
  Momentum(OptimizerOptions options, bool nesterov) : Optimizer(options), nesterov_(nesterov) {}
  OptimizerKind kind() const override {
    return nesterov_ ? OptimizerKind::nesterov : OptimizerKind::momentum;
  }
  std::size_t state_count() const override { return 1; }

 protected:
  void update(std::span<float> w, std::span<const float> g, float lr,
              std::vector<std::vector<float>>& state, std::size_t begin, std::size_t end,
              Backend& backend) override;

 private:
  bool nesterov_;
};

// How Adam applies OptimizerOptions::weight_decay: added to the gradient as L2 (Adam, PyTorch's
// torch.optim.Adam) or decoupled from it, shrinking the weights directly (AdamW).
enum class AdamWeightDecay { l2, decoupled };

// Adam, or AdamW (decoupled weight decay).
class Adam final : public Optimizer {
 public:
  // Throws mlpk::Error unless 0 < learning_rate < inf; the other options are the defaults.
  explicit Adam(float learning_rate);
  explicit Adam(OptimizerOptions options, AdamWeightDecay decay = AdamWeightDecay::l2)
      : Optimizer(options), decoupled_(decay == AdamWeightDecay::decoupled) {}
  AdamWeightDecay weight_decay_kind() const {
    return decoupled_ ? AdamWeightDecay::decoupled : AdamWeightDecay::l2;
  }
  OptimizerKind kind() const override { return decoupled_ ? OptimizerKind::adamw : OptimizerKind::adam; }
  std::size_t state_count() const override { return 2; }

 protected:
  void update(std::span<float> w, std::span<const float> g, float lr,
              std::vector<std::vector<float>>& state, std::size_t begin, std::size_t end,
              Backend& backend) override;

 private:
  bool decoupled_;
};

std::unique_ptr<Optimizer> make_optimizer(OptimizerKind kind, const OptimizerOptions& options);

// Scales `gradients` so their Euclidean norm is at most max_norm; returns the norm before.
double clip_by_global_norm(std::span<float> gradients, double max_norm);

// forward (training mode) + loss + backward + optimizer step on one batch; returns the batch
// loss. Dropout masks are drawn for (dropout_seed, optimizer.steps()). The backward and the step
// are Optimizer::backward_and_step: plain SGD leaves the weights' gradients unwritten.
double train_batch(Network& net, Optimizer& optimizer, ConstMatrixView x, ConstMatrixView y,
                   std::uint64_t dropout_seed = 0);
// The same on the rows `rows` of X, in that order (Network::forward_training gathers them), with
// Y the targets of those rows in the same order: a shuffled mini-batch without a gathered copy.
// `next_rows`, when the loop knows them, are the rows of X the next call trains on: fetched
// toward the caches during this step (Network::prefetch_next_batch), the same results.
double train_batch(Network& net, Optimizer& optimizer, ConstMatrixView x,
                   std::span<const std::size_t> rows, ConstMatrixView y,
                   std::uint64_t dropout_seed = 0, std::span<const std::size_t> next_rows = {});

}  // namespace mlpk
