// Optimizers, learning-rate schedules and gradient clipping. Parameters, gradients and optimizer
// state are flat arrays of one length, so every update is one loop over them. Each element's
// arithmetic is the same whether the compiler vectorizes a loop or not (no reassociation; square
// root and division are correctly rounded), so results do not depend on it.
#include <mlpk/error.hpp>
#include <mlpk/optimizer.hpp>

#include "parallel.hpp"
#include "profile_scope.hpp"

#include <cmath>
#include <numbers>
#include <string>

namespace mlpk {
namespace {

void require(bool ok, const std::string& message) {
  if (!ok) throw Error("optimizer: " + message);
}

std::string number(double v) { return std::to_string(v); }

// The kernel an optimizer's update runs, as the profiler names it.
Kernel update_kernel(OptimizerKind kind, float weight_decay) {
  if (kind == OptimizerKind::adam || kind == OptimizerKind::adamw) return Kernel::adam_update;
  if (kind == OptimizerKind::momentum || kind == OptimizerKind::nesterov) return Kernel::momentum_update;
  return weight_decay == 0.0f ? Kernel::axpy : Kernel::sgd_update;
}

}  // namespace

namespace {
// From hi at progress p = 0 down to lo at p = 1 on half a cosine period.
double cosine_fall(double hi, double lo, double p) {
  return lo + (hi - lo) * 0.5 * (1.0 + std::cos(std::numbers::pi * std::min(1.0, p)));
}
}  // namespace

float LearningRateSchedule::at(float base, std::uint64_t t) const {
  const double span = static_cast<double>(total_steps > warmup_steps ? total_steps - warmup_steps : 1);
  if (kind == ScheduleKind::one_cycle) {
    if (t < warmup_steps) {
      const double start = static_cast<double>(initial_fraction) * base;
      return static_cast<float>(start + (base - start) * static_cast<double>(t) /
                                            static_cast<double>(warmup_steps));
    }
    return static_cast<float>(cosine_fall(base, static_cast<double>(min_fraction) * base,
                                          static_cast<double>(t - warmup_steps) / span));
  }
  if (t < warmup_steps)
    return static_cast<float>(static_cast<double>(base) * static_cast<double>(t + 1) /
                              static_cast<double>(warmup_steps));
  const std::uint64_t u = t - warmup_steps;
  switch (kind) {
    case ScheduleKind::constant: return base;
    case ScheduleKind::step:
      return static_cast<float>(base * std::pow(static_cast<double>(gamma),
                                                static_cast<double>(u / std::max<std::uint64_t>(step_size, 1))));
    case ScheduleKind::cosine:
    case ScheduleKind::one_cycle:
      return static_cast<float>(cosine_fall(base, static_cast<double>(min_fraction) * base,
                                            static_cast<double>(u) / span));
  }
  return base;
}

std::string_view to_string(ScheduleKind kind) {
  switch (kind) {
    case ScheduleKind::constant: return "constant";
    case ScheduleKind::step: return "step";
    case ScheduleKind::cosine: return "cosine";
    case ScheduleKind::one_cycle: return "one-cycle";
  }
  return "?";
}

ScheduleKind parse_schedule(std::string_view name) {
  for (auto k : {ScheduleKind::constant, ScheduleKind::step, ScheduleKind::cosine, ScheduleKind::one_cycle})
    if (name == to_string(k)) return k;
  throw Error("unknown learning-rate schedule '" + std::string(name) +
              "' (known: constant, step, cosine, one-cycle)");
}

std::string_view to_string(OptimizerKind kind) {
  switch (kind) {
    case OptimizerKind::sgd: return "sgd";
    case OptimizerKind::momentum: return "momentum";
    case OptimizerKind::nesterov: return "nesterov";
    case OptimizerKind::adam: return "adam";
    case OptimizerKind::adamw: return "adamw";
  }
  return "?";
}

OptimizerKind parse_optimizer(std::string_view name) {
  for (auto k : {OptimizerKind::sgd, OptimizerKind::momentum, OptimizerKind::nesterov,
                 OptimizerKind::adam, OptimizerKind::adamw})
    if (name == to_string(k)) return k;
  throw Error("unknown optimizer '" + std::string(name) +
              "' (known: sgd, momentum, nesterov, adam, adamw)");
}

Optimizer::Optimizer(OptimizerOptions options) : options_(options) {
  const auto& o = options_;
  require(o.learning_rate > 0.0f && std::isfinite(o.learning_rate),
          "the learning rate must be a positive finite number, not " + number(o.learning_rate));
  require(o.momentum >= 0.0f && o.momentum < 1.0f, "momentum must be in [0, 1), not " + number(o.momentum));
  require(o.beta1 >= 0.0f && o.beta1 < 1.0f, "beta1 must be in [0, 1), not " + number(o.beta1));
  require(o.beta2 >= 0.0f && o.beta2 < 1.0f, "beta2 must be in [0, 1), not " + number(o.beta2));
  require(o.epsilon > 0.0f, "epsilon must be positive, not " + number(o.epsilon));
  require(o.weight_decay >= 0.0f && std::isfinite(o.weight_decay),
          "weight decay must be >= 0, not " + number(o.weight_decay));
  require(o.clip_norm >= 0.0f && std::isfinite(o.clip_norm),
          "the clipping norm must be >= 0 (0: off), not " + number(o.clip_norm));
  require(o.schedule.gamma > 0.0f && o.schedule.gamma <= 1.0f,
          "the step schedule's gamma must be in (0, 1], not " + number(o.schedule.gamma));
  require(o.schedule.min_fraction >= 0.0f && o.schedule.min_fraction <= 1.0f,
          "the cosine schedule's minimum fraction must be in [0, 1]");
  require(o.schedule.initial_fraction > 0.0f && o.schedule.initial_fraction <= 1.0f,
          "the one-cycle schedule's initial fraction must be in (0, 1], not " +
              number(o.schedule.initial_fraction));
}

void Optimizer::step(Network& net) {
  const PhaseScope phase(net.profiler_, Phase::update);
  const std::span<float> g = net.gradients();
  const std::span<float> w = net.parameters();
  last_norm_ = options_.clip_norm > 0.0f ? clip_by_global_norm(g, options_.clip_norm) : 0.0;
  if (state_.size() != state_count() || (!state_.empty() && state_.front().size() != w.size()))
    state_.assign(state_count(), std::vector<float>(w.size(), 0.0f));
  // Element-wise, so any cut gives the same result. Task t updates the blocks of W that the
  // forward's and backward's task t read and wrote (Network::update_ranges), so they stay in
  // one thread's cache.
  const float lr = current_learning_rate();
  const std::size_t tasks = net.update_tasks();
  const OpScope op(net.profiler_, Op::update, tasks);
  const Kernel kernel = update_kernel(kind(), options_.weight_decay);
  net.parallel_->for_each(tasks, [&](std::size_t t) {
    struct Task {
      Optimizer& optimizer;
      const OpScope& op;
      std::size_t t;
      Kernel kernel;
      std::span<float> w;
      std::span<const float> g;
      float lr;
      Backend& backend;
    } task{*this, op, t, kernel, w, g, lr, net.backend()};
    net.update_ranges(t, tasks, [](void* context, std::size_t begin, std::size_t end) {
      auto& k = *static_cast<Task*>(context);
      const CallScope call(k.op, k.t, k.kernel, 1, end - begin, 0);
      k.optimizer.update(k.w, k.g, k.lr, k.optimizer.state_, begin, end, k.backend);
    }, &task);
  });
  ++steps_;
}

void Optimizer::backward_and_step(Network& net, ConstMatrixView y) {
  // A schedule may bring the rate to 0 (cosine to a minimum of 0, a step decay underflowing):
  // then nothing moves, and the plain path says so without a special case.
  // Foldable: an update that is the backend's axpy (plain SGD, update_kernel) of unclipped gradients.
  const float lr = current_learning_rate();
  if (update_kernel(kind(), options_.weight_decay) != Kernel::axpy || options_.clip_norm != 0.0f ||
      !(lr > 0.0f)) {
    net.backward(y);
    step(net);
    return;
  }
  net.backward_with_sgd_step(y, lr);
  last_norm_ = 0.0;
  ++steps_;
}

void Optimizer::restore(std::uint64_t steps, std::vector<std::vector<float>> state) {
  if (!holds_state_arrays(steps, state.size()))
    throw Error("optimizer " + std::string(to_string(kind())) + ": a checkpoint with " +
                std::to_string(state.size()) + " state arrays after " + std::to_string(steps) +
                " steps, expected " + std::to_string(state_count()));
  for (const auto& s : state)
    if (s.size() != state.front().size()) throw Error("optimizer: state arrays of unequal length");
  if (steps > kMaxOptimizerSteps)
    throw Error("optimizer: a checkpoint's step count " + std::to_string(steps) + " is more than the " +
                std::to_string(kMaxOptimizerSteps) + " steps an optimizer can take (a corrupt checkpoint)");
  steps_ = steps;
  state_ = std::move(state);
}

namespace {
OptimizerOptions with_learning_rate(float learning_rate) {
  OptimizerOptions o;
  o.learning_rate = learning_rate;
  return o;
}
}  // namespace

Sgd::Sgd(float learning_rate) : Optimizer(with_learning_rate(learning_rate)) {}

Adam::Adam(float learning_rate) : Adam(with_learning_rate(learning_rate)) {}

// Every update is a backend kernel over this task's range [begin, end): the backend runs it at
// its vector width, each with the operations its Step struct defines (backend.hpp).
void Sgd::update(std::span<float> w, std::span<const float> g, float lr, std::vector<std::vector<float>>&,
                 std::size_t begin, std::size_t end, Backend& backend) {
  const float wd = options().weight_decay;
  const std::span<const float> grad = g.subspan(begin, end - begin);
  const std::span<float> weights = w.subspan(begin, end - begin);
  if (wd == 0.0f)  // plain SGD is the backend's axpy kernel
    backend.axpy(-lr, grad, weights);
  else
    backend.sgd_update(SgdStep{lr, wd}, grad, weights);
}

void Momentum::update(std::span<float> w, std::span<const float> g, float lr,
                      std::vector<std::vector<float>>& state, std::size_t begin, std::size_t end,
                      Backend& backend) {
  const MomentumStep step{lr, options().momentum, options().weight_decay, nesterov_};
  const std::size_t n = end - begin;
  backend.momentum_update(step, g.subspan(begin, n), w.subspan(begin, n),
                          std::span<float>(state[0]).subspan(begin, n));
}

void Adam::update(std::span<float> w, std::span<const float> g, float lr,
                  std::vector<std::vector<float>>& state, std::size_t begin, std::size_t end,
                  Backend& backend) {
  const float wd = options().weight_decay;
  const double t = static_cast<double>(steps() + 1);
  AdamStep step;
  step.beta1 = options().beta1;
  step.beta2 = options().beta2;
  step.epsilon = options().epsilon;
  // lr * m_hat / (sqrt(s_hat) + eps) with m_hat = m / c1 and s_hat = s / c2.
  step.step_size = static_cast<float>(lr / (1.0 - std::pow(step.beta1, t)));
  step.inverse_sqrt_c2 = static_cast<float>(1.0 / std::sqrt(1.0 - std::pow(step.beta2, t)));
  step.decay = decoupled_ ? 1.0f - lr * wd : 1.0f;  // AdamW shrinks the weight first
  step.l2 = decoupled_ ? 0.0f : wd;                  // Adam adds wd * w to the gradient
  const std::size_t n = end - begin;
  backend.adam_update(step, g.subspan(begin, n), w.subspan(begin, n),
                      std::span<float>(state[0]).subspan(begin, n),
                      std::span<float>(state[1]).subspan(begin, n));
}

std::unique_ptr<Optimizer> make_optimizer(OptimizerKind kind, const OptimizerOptions& options) {
  switch (kind) {
    case OptimizerKind::sgd: return std::make_unique<Sgd>(options);
    case OptimizerKind::momentum: return std::make_unique<Momentum>(options, false);
    case OptimizerKind::nesterov: return std::make_unique<Momentum>(options, true);
    case OptimizerKind::adam: return std::make_unique<Adam>(options, AdamWeightDecay::l2);
    case OptimizerKind::adamw: return std::make_unique<Adam>(options, AdamWeightDecay::decoupled);
  }
  throw Error("make_optimizer: unknown kind");
}

double clip_by_global_norm(std::span<float> gradients, double max_norm) {
  double sum = 0.0;
  for (const float v : gradients) sum += static_cast<double>(v) * v;
  const double norm = std::sqrt(sum);
  if (max_norm > 0.0 && norm > max_norm) {
    const double scale = max_norm / norm;
    for (float& v : gradients) v = static_cast<float>(v * scale);
  }
  return norm;
}

namespace {

// What follows a training forward: the loss, the gradients, the update; returns the loss.
double finish_step(Network& net, Optimizer& optimizer, ConstMatrixView y) {
  const double loss = net.loss(y);
  optimizer.backward_and_step(net, y);
  return loss;
}

}  // namespace

double train_batch(Network& net, Optimizer& optimizer, ConstMatrixView x, ConstMatrixView y,
                   std::uint64_t dropout_seed) {
  net.forward_training(x, {dropout_seed, optimizer.steps()});
  return finish_step(net, optimizer, y);
}

double train_batch(Network& net, Optimizer& optimizer, ConstMatrixView x,
                   std::span<const std::size_t> rows, ConstMatrixView y, std::uint64_t dropout_seed,
                   std::span<const std::size_t> next_rows) {
  net.forward_training(x, rows, {dropout_seed, optimizer.steps()});
  if (!next_rows.empty()) net.prefetch_next_batch(x, next_rows);
  return finish_step(net, optimizer, y);
}

}  // namespace mlpk
