// The scopes through which the Network and the Optimizer report to an attached Profiler
// (internal to mlpk, not public API). Each checks the profiler pointer first: detached, a scope
// is one predictable branch and touches no clock.
#pragma once

#include <mlpk/profiler.hpp>

#include <cstddef>
#include <cstdint>

namespace mlpk {

// A phase of the step: forward, loss, backward or update.
class PhaseScope {
 public:
  PhaseScope(Profiler* profiler, Phase phase) : profiler_(profiler), phase_(phase) {
    if (profiler_ != nullptr) [[unlikely]] profiler_->begin_phase(phase_);
  }
  ~PhaseScope() {
    if (profiler_ != nullptr) [[unlikely]] profiler_->end_phase(phase_);
  }
  PhaseScope(const PhaseScope&) = delete;
  PhaseScope& operator=(const PhaseScope&) = delete;

 private:
  Profiler* profiler_;
  Phase phase_;
};

// One operation on the calling thread, around its tasks.
class OpScope {
 public:
  OpScope(Profiler* profiler, Op op, std::size_t layer, std::size_t tasks) : profiler_(profiler) {
    if (profiler_ != nullptr) [[unlikely]]
      index_ = profiler_->begin_op(op, static_cast<std::int32_t>(layer), tasks);
  }
  // An operation of no layer.
  explicit OpScope(Profiler* profiler, Op op, std::size_t tasks = 1) : profiler_(profiler) {
    if (profiler_ != nullptr) [[unlikely]] index_ = profiler_->begin_op(op, -1, tasks);
  }
  ~OpScope() {
    if (profiler_ != nullptr) [[unlikely]] profiler_->end_op(index_);
  }
  OpScope(const OpScope&) = delete;
  OpScope& operator=(const OpScope&) = delete;

  Profiler* profiler() const { return profiler_; }
  std::uint32_t index() const { return index_; }

 private:
  Profiler* profiler_;
  std::uint32_t index_ = Profiler::kNoOp;
};

// One kernel call inside a task of `op`.
class CallScope {
 public:
  CallScope(const OpScope& op, std::size_t task, Kernel kernel, std::size_t m, std::size_t n,
            std::size_t k, Trans trans_a = Trans::N, Trans trans_b = Trans::N,
            Activation activation = Activation::identity, bool accumulates = false)
      : profiler_(op.profiler()) {
    if (profiler_ == nullptr) [[likely]] return;
    call_.op = op.index();
    call_.task = static_cast<std::uint32_t>(task);
    call_.kernel = kernel;
    call_.m = static_cast<std::uint32_t>(m);
    call_.n = static_cast<std::uint32_t>(n);
    call_.k = static_cast<std::uint32_t>(k);
    call_.trans_a = trans_a;
    call_.trans_b = trans_b;
    call_.activation = activation;
    call_.accumulates = accumulates;
    call_.start_ns = profiler_->now_ns();
  }
  ~CallScope() {
    if (profiler_ == nullptr) [[likely]] return;
    call_.duration_ns = profiler_->now_ns() - call_.start_ns;
    profiler_->record_call(call_);
  }
  CallScope(const CallScope&) = delete;
  CallScope& operator=(const CallScope&) = delete;

 private:
  Profiler* profiler_;
  KernelCall call_;
};

}  // namespace mlpk
