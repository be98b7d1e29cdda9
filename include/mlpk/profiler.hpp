// Profiler: where every microsecond of a training step goes.
//
// Attach one to a Network (Network::set_profiler) and it records every kernel call the Network
// and its Optimizer make into the Backend: kernel, layer, phase, shapes and transposes, the
// thread and task that ran it, start and duration. On the calling thread it also records each
// operation's wall time (one product cut into tasks, from before the first task to after the
// last) and the driver's own time between operations, so that the records of a step cover the
// step end to end with nothing unaccounted.
//
// Detached (the default) it costs one predictable branch per operation and per task. Attached,
// records go into storage reserved by prepare() (called by set_profiler): a steady-state step
// still allocates nothing. Records that do not fit are dropped and counted (dropped()), never
// allocated. The profiler observes; results are the same bits with it and without.
//
// Steps: a step begins with the first phase after the previous step ended, and ends when an
// update phase ends (Optimizer::step) or at end_step() (inference loops without an update).
#pragma once

#include <mlpk/activation.hpp>
#include <mlpk/backend.hpp>
#include <mlpk/machine.hpp>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mlpk {

enum class Phase : std::uint8_t { forward, loss, backward, update };
std::string_view to_string(Phase phase);

// What an operation of the step computes; its tasks may call more than one kernel.
enum class Op : std::uint8_t {
  forward,          // Z = A W + b, A = g(Z) of one layer
  loss_value,       // the loss of the output (the core's own loop, no backend kernel)
  output_gradient,  // dZ of the output layer and its bias gradient
  weight_gradient,  // dW = A^T dZ of one layer
  input_gradient,   // dA = dZ W^T, turned into dZ = dA * g'(Z), with db, of the layer below
  update,           // the optimizer's update of every parameter
  input_copy,       // the batch's rows of X copied into the network (gathered when shuffled)
  driver,           // the driver's own time between operations: no kernel
};
std::string_view to_string(Op op);

enum class Kernel : std::uint8_t {
  gemm,
  dense_forward,
  dense_backward_activation,
  column_sums,
  loss_gradient,
  axpy,
  adam_update,
  momentum_update,
  sgd_update,
  dropout_forward,
  dropout_backward,
  loss_value,      // core: the loss of a batch
  sum_bias_activation,  // a layer whose product was cut along its reduction (owned weights):
                        // its k other partial products summed into Z, the bias, the activation
  gather,          // core: rows of the caller's X copied and checked finite (no FLOPs)
  none,            // driver time
};
std::string_view to_string(Kernel kernel);

// One kernel call, on the thread that ran it. Shapes: gemm computes an m x n output over a
// reduction of k; dense_forward is the gemm of its m x n output over k plus bias and
// activation; element-wise and column kernels work on m x n (k = 0; sum_bias_activation's k is
// the number of partial products it adds to Z); axpy and the optimizers' updates on n
// elements (m = 1). A gemm that `accumulates` adds its product into C (C = C + alpha op(A)
// op(B): plain SGD's step folded into a weight gradient, W - lr dW), so it reads C too.
struct KernelCall {
  std::int64_t start_ns = 0;     // since the profiler was created
  std::int64_t duration_ns = 0;
  std::uint32_t step = 0;        // the steps completed before it
  std::uint32_t op = 0;          // its operation: an index into Profiler::ops()
  std::uint32_t task = 0;        // its task in the operation, 0-based
  std::uint32_t thread = 0;      // the thread, 0 .. threads - 1 (the slot in the Network's pool)
  std::uint32_t m = 0, n = 0, k = 0;
  Kernel kernel = Kernel::none;
  Trans trans_a = Trans::N, trans_b = Trans::N;
  Activation activation = Activation::identity;
  bool accumulates = false;
};

// One operation on the calling thread, or a stretch of the driver's own time (op == driver).
struct OpRecord {
  std::int64_t start_ns = 0;
  std::int64_t duration_ns = 0;
  std::uint32_t step = 0;
  std::uint32_t tasks = 0;  // how many tasks it was cut into (0 for driver time)
  std::int32_t layer = -1;  // 0-based; -1 for none (loss value, update, driver)
  Phase phase = Phase::forward;
  Op op = Op::driver;
};

struct StepRecord {
  std::int64_t start_ns = 0, duration_ns = 0;
};

// The cost model of one kernel call (the roofline's two axes). FLOPs: a multiply-add is 2; an
// element-wise operation counts 1 a element and output (bias add, activation, its derivative's
// multiply, a column sum's add, loss gradient's subtract and scale = 2, dropout's multiply, not
// its mask's integer work); adam_update 16 an element, momentum_update 6 (Nesterov's 2 more not
// counted), sgd_update 4, axpy 2, the loss value 3. Bytes: every
// operand a call reads, and every output it writes, counted once per call at 4 bytes a float;
// an output read as well (beta != 0, in-place updates) twice. Packing is not counted: a task
// packs its blocks of A and B into cache-sized panels once and reads them from cache after, so
// its memory traffic is one read of each operand block. Tasks of one operation each read the
// operand they share (the whole of B when the rows are cut), so an operation's bytes grow with
// its task count, as its real traffic does.
struct KernelCost {
  double flops = 0.0;
  double bytes = 0.0;
};
KernelCost kernel_cost(const KernelCall& call);

class Profiler {
 public:
  // Storage for this many kernel calls per thread, and this many operation records (calling
  // thread) and steps; reserved by prepare().
  explicit Profiler(std::size_t calls_per_thread = 1 << 14, std::size_t ops = 1 << 14,
                    std::size_t steps = 1 << 12);
  ~Profiler();
  Profiler(const Profiler&) = delete;
  Profiler& operator=(const Profiler&) = delete;

  // Reserves storage for `threads` threads. Network::set_profiler and set_threads call it;
  // records so far are kept.
  void prepare(std::size_t threads);
  // Forgets every record, keeps the storage (e.g. after warm-up steps).
  void clear();
  // Ends an open step now (a step without an update: inference).
  void end_step();

  std::size_t threads() const { return threads_.size(); }
  std::span<const StepRecord> steps() const { return steps_; }
  std::span<const OpRecord> ops() const { return ops_; }
  std::span<const KernelCall> calls(std::size_t thread) const;
  // Every thread's calls, ordered by start (allocates: read it after profiling).
  std::vector<KernelCall> all_calls() const;
  // Records that did not fit the storage.
  std::uint64_t dropped() const;

  // --- recording, called by the Network and the Optimizer ------------------------------------
  std::int64_t now_ns() const;
  void begin_phase(Phase phase);
  void end_phase(Phase phase);
  // Returns the operation's index, for its calls and end_op.
  std::uint32_t begin_op(Op op, std::int32_t layer, std::size_t tasks);
  void end_op(std::uint32_t index);
  // Stores `call` (start, duration, kernel, shapes, task and op filled in) on this thread's
  // storage; fills in thread and step.
  void record_call(KernelCall call);

  static constexpr std::uint32_t kNoOp = 0xffffffffu;

 private:
  struct alignas(64) ThreadCalls {
    std::vector<KernelCall> calls;
    std::uint64_t dropped = 0;
  };
  void driver_gap(std::int64_t now);

  std::size_t calls_per_thread_, op_capacity_, step_capacity_;
  std::vector<ThreadCalls> threads_;
  std::vector<OpRecord> ops_;
  std::vector<StepRecord> steps_;
  std::uint64_t dropped_ops_ = 0;
  std::int64_t epoch_ns_ = 0;          // the clock at construction
  std::int64_t step_start_ns_ = -1;    // -1: no step open
  std::int64_t last_end_ns_ = 0;       // the end of the last record on the calling thread
  Phase phase_ = Phase::forward;
};

// --- summaries ---------------------------------------------------------------------------------

// One row of a profile: a layer's operation and one of its kernels (or the driver's time of a
// phase), over every profiled step.
struct KernelSummary {
  Phase phase = Phase::forward;
  Op op = Op::driver;
  Kernel kernel = Kernel::none;
  std::int32_t layer = -1;
  std::string name;           // "layer 1, weight gradient (gemm TN)"
  std::size_t calls = 0;      // kernel calls over all profiled steps
  double seconds = 0.0;       // wall time over all steps: the operation's, split among its
                              // kernels in proportion to their calls' durations
  double mean_call_seconds = 0.0;  // the mean duration of one call, on its thread
  double share = 0.0;         // of the total step time
  double flops = 0.0, bytes = 0.0;  // over all steps
  double gflops = 0.0, gbps = 0.0, intensity = 0.0;  // FLOPs a byte
  std::size_t cores = 0;      // the most threads its tasks could run on
  bool compute_bound = false; // its intensity is past the ridge of the cores it used
  // The memory roof: L2 when a mean call's bytes fit the L2 cache (the triad's L2 bandwidth per
  // core), DRAM otherwise (the triad beyond the last-level cache). Operands that sit in L3 can
  // beat the DRAM roof: a fraction above 1 says so.
  bool l2_resident = false;
  double bound_gflops = 0.0;  // min(peak x cores, bandwidth of those cores x intensity)
  double bound_fraction = 0.0;  // gflops / bound_gflops; without FLOPs (gather), gbps / the roof's
};

struct ProfileSummary {
  std::size_t steps = 0, threads = 0;
  double step_seconds = 0.0;         // the median step
  double total_seconds = 0.0;        // all profiled steps
  double kernel_seconds = 0.0;       // all steps, every operation's wall time
  double driver_seconds = 0.0;       // all steps, the driver's own time
  double flops_per_step = 0.0;
  double peak_gflops = 0.0;          // of `threads` cores
  std::uint64_t dropped = 0;
  std::vector<KernelSummary> kernels;  // by time, longest first
};

// Aggregates the completed steps' records. Throws mlpk::Error when no step completed.
ProfileSummary summarize(const Profiler& profiler, const MachineLimits& limits);

}  // namespace mlpk
