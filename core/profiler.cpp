// Profiler: the recording side (storage reserved up front, one array per thread) and the
// summary (wall time per layer and kernel, the cost model, the roofline bound).
#include <mlpk/error.hpp>
#include <mlpk/profiler.hpp>

#include "parallel.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <string>
#include <tuple>

namespace mlpk {
namespace {

std::int64_t clock_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

char trans_letter(Trans t) { return t == Trans::N ? 'N' : 'T'; }

}  // namespace

std::string_view to_string(Phase phase) {
  switch (phase) {
    case Phase::forward: return "forward";
    case Phase::loss: return "loss";
    case Phase::backward: return "backward";
    case Phase::update: return "update";
  }
  return "?";
}

std::string_view to_string(Op op) {
  switch (op) {
    case Op::forward: return "forward";
    case Op::loss_value: return "loss value";
    case Op::output_gradient: return "output gradient";
    case Op::weight_gradient: return "weight gradient";
    case Op::input_gradient: return "input gradient";
    case Op::update: return "update";
    case Op::input_copy: return "input copy";
    case Op::driver: return "driver";
  }
  return "?";
}

std::string_view to_string(Kernel kernel) {
  switch (kernel) {
    case Kernel::gemm: return "gemm";
    case Kernel::dense_forward: return "dense_forward";
    case Kernel::dense_backward_activation: return "dense_backward_activation";
    case Kernel::column_sums: return "column_sums";
    case Kernel::loss_gradient: return "loss_gradient";
    case Kernel::axpy: return "axpy";
    case Kernel::adam_update: return "adam_update";
    case Kernel::momentum_update: return "momentum_update";
    case Kernel::sgd_update: return "sgd_update";
    case Kernel::dropout_forward: return "dropout_forward";
    case Kernel::dropout_backward: return "dropout_backward";
    case Kernel::loss_value: return "loss_value";
    case Kernel::sum_bias_activation: return "sum_bias_activation";
    case Kernel::gather: return "gather";
    case Kernel::none: return "none";
  }
  return "?";
}

KernelCost kernel_cost(const KernelCall& c) {
  const double m = c.m, n = c.n, k = c.k, mn = m * n;
  constexpr double f = 4.0;  // bytes a float
  switch (c.kernel) {
    case Kernel::gemm: {  // C = op(A) op(B): A m x k, B k x n, C written; or added into, read too
      const double into = c.accumulates ? 1.0 : 0.0;
      return {2.0 * mn * k + into * 2.0 * mn, f * (m * k + k * n + (1.0 + into) * mn)};
    }
    case Kernel::dense_forward: {  // the gemm, + bias, then g: Z and A both written unless identity
      const double outputs = c.activation == Activation::identity ? 1.0 : 2.0;
      const double activation_flops = c.activation == Activation::identity ? 0.0 : mn;
      return {2.0 * mn * k + mn + activation_flops, f * (m * k + k * n + n + outputs * mn)};
    }
    case Kernel::dense_backward_activation:  // reads Z (or A) and dA, writes dZ and db
      return {2.0 * mn, f * (3.0 * mn + n)};
    case Kernel::column_sums: return {mn, f * (mn + n)};
    case Kernel::loss_gradient: return {2.0 * mn, f * 3.0 * mn};     // reads A and Y, writes G
    case Kernel::loss_value: return {3.0 * mn, f * 2.0 * mn};        // reads the output and Y
    case Kernel::axpy: return {2.0 * n, f * 3.0 * n};                // reads x, y; writes y
    case Kernel::adam_update: return {16.0 * n, f * 7.0 * n};        // reads g w m s, writes w m s
    case Kernel::dropout_forward:                                    // reads X, writes Y
    case Kernel::dropout_backward: return {mn, f * 2.0 * mn};
    case Kernel::momentum_update: return {6.0 * n, f * 5.0 * n};     // reads g w v, writes w v
    case Kernel::sgd_update: return {4.0 * n, f * 3.0 * n};          // reads g w, writes w
    case Kernel::sum_bias_activation: {  // reads Z, the k partials and b; writes Z and A
      const double activated = c.activation == Activation::identity ? 0.0 : 1.0;
      return {(k + 1.0 + activated) * mn, f * ((k + 2.0 + activated) * mn + n)};
    }
    case Kernel::gather: return {0.0, f * 2.0 * mn};              // reads rows of X, writes the copy
    case Kernel::none: return {};
  }
  return {};
}

Profiler::Profiler(std::size_t calls_per_thread, std::size_t ops, std::size_t steps)
    : calls_per_thread_(calls_per_thread), op_capacity_(ops), step_capacity_(steps),
      epoch_ns_(clock_ns()) {
  ops_.reserve(op_capacity_);
  steps_.reserve(step_capacity_);
  prepare(1);
}

Profiler::~Profiler() = default;

void Profiler::prepare(std::size_t threads) {
  if (threads <= threads_.size()) return;
  std::vector<ThreadCalls> grown(threads);
  for (std::size_t t = 0; t < threads; ++t) {
    if (t < threads_.size()) grown[t] = std::move(threads_[t]);
    grown[t].calls.reserve(calls_per_thread_);
  }
  threads_ = std::move(grown);
}

void Profiler::clear() {
  for (auto& t : threads_) {
    t.calls.clear();
    t.dropped = 0;
  }
  ops_.clear();
  steps_.clear();
  dropped_ops_ = 0;
  step_start_ns_ = -1;
}

std::span<const KernelCall> Profiler::calls(std::size_t thread) const {
  if (thread >= threads_.size())
    throw Error("Profiler: thread " + std::to_string(thread) + " does not exist (it has " +
                std::to_string(threads_.size()) + ")");
  return threads_[thread].calls;
}

std::vector<KernelCall> Profiler::all_calls() const {
  std::vector<KernelCall> all;
  for (const auto& t : threads_) all.insert(all.end(), t.calls.begin(), t.calls.end());
  std::sort(all.begin(), all.end(),
            [](const KernelCall& a, const KernelCall& b) { return a.start_ns < b.start_ns; });
  return all;
}

std::uint64_t Profiler::dropped() const {
  std::uint64_t n = dropped_ops_;
  for (const auto& t : threads_) n += t.dropped;
  return n;
}

std::int64_t Profiler::now_ns() const { return clock_ns() - epoch_ns_; }

void Profiler::driver_gap(std::int64_t now) {
  if (step_start_ns_ < 0) {  // a new step begins here
    step_start_ns_ = now;
    last_end_ns_ = now;
    return;
  }
  if (now == last_end_ns_) return;  // nothing in between
  if (ops_.size() == op_capacity_) {
    ++dropped_ops_;
  } else {
    OpRecord r;
    r.start_ns = last_end_ns_;
    r.duration_ns = now - last_end_ns_;
    r.step = static_cast<std::uint32_t>(steps_.size());
    r.phase = phase_;
    r.op = Op::driver;
    ops_.push_back(r);
  }
  last_end_ns_ = now;
}

void Profiler::begin_phase(Phase phase) {
  const std::int64_t now = now_ns();
  phase_ = phase;  // time since the last phase ended is the driver's, before this phase
  driver_gap(now);
}

void Profiler::end_phase(Phase phase) {
  phase_ = phase;
  driver_gap(now_ns());
  if (phase == Phase::update) end_step();
}

void Profiler::end_step() {
  if (step_start_ns_ < 0) return;
  driver_gap(now_ns());
  if (steps_.size() == step_capacity_)
    ++dropped_ops_;
  else
    steps_.push_back({step_start_ns_, last_end_ns_ - step_start_ns_});
  step_start_ns_ = -1;
}

std::uint32_t Profiler::begin_op(Op op, std::int32_t layer, std::size_t tasks) {
  const std::int64_t now = now_ns();
  driver_gap(now);
  if (ops_.size() == op_capacity_) {
    ++dropped_ops_;
    return kNoOp;
  }
  OpRecord r;
  r.start_ns = now;
  r.step = static_cast<std::uint32_t>(steps_.size());
  r.tasks = static_cast<std::uint32_t>(tasks);
  r.layer = layer;
  r.phase = phase_;
  r.op = op;
  ops_.push_back(r);
  return static_cast<std::uint32_t>(ops_.size() - 1);
}

void Profiler::end_op(std::uint32_t index) {
  const std::int64_t now = now_ns();
  if (index != kNoOp) ops_[index].duration_ns = now - ops_[index].start_ns;
  last_end_ns_ = now;
}

void Profiler::record_call(KernelCall call) {
  // The Network's caller is participant 0, each of its pool's helpers another, below its size.
  const std::size_t slot = std::min<std::size_t>(Parallel::participant(), threads_.size() - 1);
  ThreadCalls& t = threads_[slot];
  if (call.op == kNoOp || t.calls.size() == calls_per_thread_) {
    ++t.dropped;
    return;
  }
  call.thread = static_cast<std::uint32_t>(slot);
  call.step = static_cast<std::uint32_t>(steps_.size());
  t.calls.push_back(call);
}

// --- summary -------------------------------------------------------------------------------------

namespace {

std::string row_name(const OpRecord& op, Kernel kernel, const KernelCall* sample) {
  if (op.op == Op::driver) return "driver (" + std::string(to_string(op.phase)) + ")";
  std::string name = op.layer >= 0 ? "layer " + std::to_string(op.layer + 1) + ", " : "";
  name += to_string(op.op);
  name += " (" + std::string(to_string(kernel));
  if (kernel == Kernel::gemm && sample != nullptr)
    name += std::string(" ") + trans_letter(sample->trans_a) + trans_letter(sample->trans_b) +
            (sample->accumulates ? " +=" : "");
  return name + ")";
}

}  // namespace

ProfileSummary summarize(const Profiler& profiler, const MachineLimits& limits) {
  ProfileSummary s;
  s.steps = profiler.steps().size();
  s.threads = profiler.threads();
  s.dropped = profiler.dropped();
  if (s.steps == 0) throw Error("profile: no step completed while the profiler was attached");
  std::vector<double> steps;
  for (const StepRecord& r : profiler.steps()) {
    steps.push_back(static_cast<double>(r.duration_ns) * 1e-9);
    s.total_seconds += steps.back();
  }
  std::sort(steps.begin(), steps.end());
  s.step_seconds = steps[steps.size() / 2];
  s.peak_gflops = limits.fp32_gflops_per_core * static_cast<double>(s.threads);

  // Per operation: the busy time of each kernel in it, to split its wall time among them.
  const std::span<const OpRecord> ops = profiler.ops();
  struct Busy {
    double seconds = 0.0;
    std::size_t calls = 0;
    double flops = 0.0, bytes = 0.0;
    KernelCall sample;
  };
  std::vector<std::map<Kernel, Busy>> busy(ops.size());
  for (const KernelCall& c : profiler.all_calls()) {
    if (c.op >= ops.size() || c.step >= s.steps) continue;  // a step still open
    Busy& b = busy[c.op][c.kernel];
    const KernelCost cost = kernel_cost(c);
    b.seconds += static_cast<double>(c.duration_ns) * 1e-9;
    b.calls += 1;
    b.flops += cost.flops;
    b.bytes += cost.bytes;
    b.sample = c;
  }
  using Key = std::tuple<Phase, Op, std::int32_t, Kernel>;
  std::map<Key, KernelSummary> rows;
  std::map<Key, double> call_seconds;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const OpRecord& op = ops[i];
    if (op.step >= s.steps) continue;
    const double wall = static_cast<double>(op.duration_ns) * 1e-9;
    if (op.op == Op::driver) {
      s.driver_seconds += wall;
    } else {
      s.kernel_seconds += wall;
    }
    double total_busy = 0.0;
    for (const auto& [kernel, b] : busy[i]) total_busy += b.seconds;
    const auto add = [&](Kernel kernel, double seconds, const Busy* b) {
      const Key key{op.phase, op.op, op.layer, kernel};
      KernelSummary& row = rows[key];
      if (row.name.empty()) {
        row.phase = op.phase;
        row.op = op.op;
        row.kernel = kernel;
        row.layer = op.layer;
        row.name = row_name(op, kernel, b != nullptr ? &b->sample : nullptr);
      }
      row.seconds += seconds;
      row.cores = std::max<std::size_t>(row.cores, std::min<std::size_t>(op.tasks, s.threads));
      if (b != nullptr) {
        row.calls += b->calls;
        row.flops += b->flops;
        row.bytes += b->bytes;
        call_seconds[key] += b->seconds;
      }
    };
    if (busy[i].empty() || total_busy <= 0.0)
      add(Kernel::none, wall, nullptr);  // driver time, or an operation whose calls were dropped
    else
      for (const auto& [kernel, b] : busy[i]) add(kernel, wall * b.seconds / total_busy, &b);
  }
  const double all = s.kernel_seconds + s.driver_seconds;
  for (auto& [key, row] : rows) {
    s.flops_per_step += row.flops / static_cast<double>(s.steps);
    row.share = all > 0 ? row.seconds / all : 0.0;
    if (row.calls > 0) row.mean_call_seconds = call_seconds[key] / static_cast<double>(row.calls);
    if (row.seconds > 0) {
      row.gflops = row.flops / row.seconds * 1e-9;
      row.gbps = row.bytes / row.seconds * 1e-9;
    }
    row.intensity = row.bytes > 0 ? row.flops / row.bytes : 0.0;
    if (row.op != Op::driver && row.cores > 0) {
      const double cores = static_cast<double>(row.cores);
      const double compute = limits.fp32_gflops_per_core * cores;
      const double bandwidth = row.cores >= limits.cores
                                   ? limits.dram_gbps_all_cores
                                   : std::min(limits.dram_gbps_all_cores, limits.dram_gbps_one_core * cores);
      // A gather reads the caller's data set, which the heuristic cannot see: DRAM's roof.
      row.l2_resident = row.kernel != Kernel::gather && row.calls > 0 && limits.l2_cache_bytes > 0 &&
                        row.bytes / static_cast<double>(row.calls) <= static_cast<double>(limits.l2_cache_bytes);
      const double roof_gbps = row.l2_resident ? limits.l2_gbps_one_core * cores : bandwidth;
      const double memory = roof_gbps * row.intensity;
      row.compute_bound = row.flops > 0 && compute <= memory;
      row.bound_gflops = std::min(compute, memory);
      if (row.flops > 0)
        row.bound_fraction = row.bound_gflops > 0 ? row.gflops / row.bound_gflops : 0.0;
      else  // pure data movement: its bytes against the roof's bandwidth
        row.bound_fraction = roof_gbps > 0 ? row.gbps / roof_gbps : 0.0;
    }
    s.kernels.push_back(row);
  }
  std::sort(s.kernels.begin(), s.kernels.end(),
            [](const KernelSummary& a, const KernelSummary& b) { return a.seconds > b.seconds; });
  return s;
}

}  // namespace mlpk
