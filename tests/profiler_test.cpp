// The profiler is right: its records account for the step, its cost model matches hand counts,
// a backend whose kernels spin for known durations is attributed kernel by kernel and thread by
// thread, and training gives the same bits with and without it.
#include <mlpk/mlpk.hpp>

#include <gtest/gtest.h>

#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <time.h>
#include <vector>

namespace mlpk::test {
namespace {

using Clock = std::chrono::steady_clock;

std::string first_backend() { return default_backend_name(); }

struct Batch {
  Tensor x, y;
};

Batch main_batch(std::size_t n) {
  Batch b{Tensor(n, 784), Tensor(n, 10)};
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < 784; ++j) b.x(i, j) = static_cast<float>((i * 31 + j * 7) % 17) / 17.0f;
    b.y(i, i % 10) = 1.0f;
  }
  return b;
}

Network main_network(std::shared_ptr<Backend> backend, std::size_t threads) {
  Network net(Architecture::parse("784-512-256-10", Activation::relu, Loss::softmax_cross_entropy),
              std::move(backend));
  net.set_threads(threads);
  return net;
}

const KernelSummary& row(const ProfileSummary& s, Op op, std::int32_t layer, Kernel kernel) {
  for (const auto& r : s.kernels)
    if (r.op == op && r.layer == layer && r.kernel == kernel) return r;
  throw std::runtime_error("no row for op " + std::string(to_string(op)) + ", layer " +
                           std::to_string(layer) + ", kernel " + std::string(to_string(kernel)));
}

TEST(Profiler, RecordsAccountForTheMeasuredStep) {
  Network net = main_network(create_backend(first_backend()), 2);
  const Batch b = main_batch(128);
  Sgd sgd(1e-3f);
  for (int i = 0; i < 3; ++i) train_batch(net, sgd, b.x.view(), b.y.view());
  // Up to three tries of 20 steps: a thread preempted between two records (a busy CI machine)
  // lengthens the measured time alone, once in a few hundred runs; a gap in what the profiler
  // records would show in every try.
  std::optional<Profiler> profiler;
  ProfileSummary s;
  double measured = 0.0, accounted = 0.0;
  for (int attempt = 0; attempt < 3; ++attempt) {
    profiler.emplace();
    net.set_profiler(&*profiler);
    measured = 0.0;
    for (int i = 0; i < 20; ++i) {
      const auto start = Clock::now();
      train_batch(net, sgd, b.x.view(), b.y.view());
      measured += std::chrono::duration<double>(Clock::now() - start).count();
    }
    net.set_profiler(nullptr);
    s = summarize(*profiler, MachineLimits{});
    accounted = s.kernel_seconds + s.driver_seconds;
    if (std::fabs(accounted - measured) <= 0.05 * measured) break;
  }
  ASSERT_EQ(s.steps, 20u);
  EXPECT_EQ(s.dropped, 0u);
  EXPECT_NEAR(accounted, measured, 0.05 * measured) << "kernels " << s.kernel_seconds << " s, driver "
                                                     << s.driver_seconds << " s";
  EXPECT_NEAR(s.total_seconds, accounted, 1e-9 * 20);  // the steps are their records, end to end
  EXPECT_GT(s.kernel_seconds, s.driver_seconds);
  double shares = 0.0;
  for (const auto& r : s.kernels) shares += r.share;
  EXPECT_NEAR(shares, 1.0, 1e-9);
  // Records of one step on the calling thread do not overlap and leave no gap.
  std::int64_t end = -1;
  for (const OpRecord& op : profiler->ops()) {
    if (op.step != 3) continue;
    if (end >= 0) {
      EXPECT_EQ(op.start_ns, end) << to_string(op.op);
    }
    end = op.start_ns + op.duration_ns;
  }
}

TEST(Profiler, CostModelMatchesHandCountsFor784_512_256_10AtBatch128) {
  // One thread on a block-invariant backend. W of layers 1 and 2 (784 x 512, 512 x 256) is owned
  // (cut_weights): their forward is two products over 392 and 256 rows of W, then one pass that
  // sums them, adds the bias and activates; layer 3's W (256 x 10) is small: one dense_forward.
  Network net = main_network(create_backend(first_backend()), 1);
  const Batch b = main_batch(128);
  Sgd sgd(1e-3f);
  Profiler profiler;
  net.set_profiler(&profiler);
  train_batch(net, sgd, b.x.view(), b.y.view());
  const ProfileSummary s = summarize(profiler, MachineLimits{});
  // FLOPs: 2 a multiply-add; a sum, bias, activation and its derivative 1 an element each.
  EXPECT_EQ(row(s, Op::forward, 0, Kernel::gemm).flops, 2.0 * 128 * 784 * 512);
  EXPECT_EQ(row(s, Op::forward, 0, Kernel::gemm).calls, 2u);
  EXPECT_EQ(row(s, Op::forward, 0, Kernel::sum_bias_activation).flops, 3.0 * 128 * 512);
  EXPECT_EQ(row(s, Op::forward, 1, Kernel::gemm).flops, 33554432.0);
  EXPECT_EQ(row(s, Op::forward, 1, Kernel::sum_bias_activation).flops, 3.0 * 128 * 256);
  EXPECT_EQ(row(s, Op::forward, 2, Kernel::dense_forward).flops, 657920.0);
  // Plain SGD's step is folded into the weight gradients (W - lr dW, into W): 2 FLOPs a weight.
  EXPECT_EQ(row(s, Op::weight_gradient, 0, Kernel::gemm).flops, 102760448.0 + 2.0 * 784 * 512);
  EXPECT_EQ(row(s, Op::weight_gradient, 0, Kernel::gemm).calls, 2u);  // the forward's blocks of W
  EXPECT_EQ(row(s, Op::weight_gradient, 1, Kernel::gemm).flops, 33554432.0 + 2.0 * 512 * 256);
  EXPECT_EQ(row(s, Op::weight_gradient, 2, Kernel::gemm).flops, 655360.0 + 2.0 * 256 * 10);
  EXPECT_EQ(row(s, Op::input_gradient, 0, Kernel::gemm).flops, 33554432.0);
  EXPECT_EQ(row(s, Op::input_gradient, 0, Kernel::dense_backward_activation).flops, 131072.0);
  EXPECT_EQ(row(s, Op::input_gradient, 1, Kernel::gemm).flops, 655360.0);
  EXPECT_EQ(row(s, Op::output_gradient, 2, Kernel::loss_gradient).flops, 2560.0);
  EXPECT_EQ(row(s, Op::output_gradient, 2, Kernel::column_sums).flops, 1280.0);
  // The update phase is axpy over the 778 biases; with the weights' 535,040 folded in above, the
  // step's FLOPs are those of an axpy over all 535,818 parameters, as unfolded.
  EXPECT_EQ(row(s, Op::update, -1, Kernel::axpy).flops, 2.0 * (512 + 256 + 10));
  EXPECT_EQ(s.flops_per_step, 309625376.0 + 65536 + 32768 - 2 * 6);
  // Bytes: layer 1's two products each read 128 x 392 of X and 392 x 512 of W and write 128 x
  // 512; the epilogue reads Z, the second partial and b and writes Z and A.
  EXPECT_EQ(row(s, Op::forward, 0, Kernel::gemm).bytes, 2 * 4.0 * (128 * 392 + 392 * 512 + 128 * 512));
  EXPECT_EQ(row(s, Op::forward, 0, Kernel::sum_bias_activation).bytes, 4.0 * (4 * 128 * 512 + 512));
  // The copy of X into the network, one panel per row block of W: bytes only, against DRAM.
  const KernelSummary& copy = row(s, Op::input_copy, -1, Kernel::gather);
  EXPECT_EQ(copy.calls, 2u);
  EXPECT_EQ(copy.flops, 0.0);
  EXPECT_EQ(copy.bytes, 2 * 4.0 * 128 * 784);
  EXPECT_FALSE(copy.l2_resident);
  EXPECT_FALSE(copy.compute_bound);
  MachineLimits limits;
  limits.cores = 1;
  limits.fp32_gflops_per_core = 100.0;
  limits.dram_gbps_one_core = limits.dram_gbps_all_cores = 10.0;
  limits.l2_gbps_one_core = 100.0;
  limits.l2_cache_bytes = 1 << 20;
  const ProfileSummary with_limits = summarize(profiler, limits);
  const KernelSummary& bounded = row(with_limits, Op::input_copy, -1, Kernel::gather);
  EXPECT_DOUBLE_EQ(bounded.bound_fraction, bounded.gbps / 10.0);  // its bytes against DRAM's roof
  // Whole-kernel calls, counted by hand.
  KernelCall dw;
  dw.kernel = Kernel::gemm;
  dw.m = 784, dw.n = 512, dw.k = 128;
  EXPECT_EQ(kernel_cost(dw).flops, 102760448.0);
  EXPECT_EQ(kernel_cost(dw).bytes, 4.0 * (784 * 128 + 128 * 512 + 784 * 512));
  EXPECT_EQ(kernel_cost(dw).bytes, 2269184.0);
  KernelCall folded = dw;  // W - lr dW, into W: C is read as well, and one multiply-add a weight
  folded.accumulates = true;
  EXPECT_EQ(kernel_cost(folded).flops, 102760448.0 + 2.0 * 784 * 512);
  EXPECT_EQ(kernel_cost(folded).bytes, 2269184.0 + 4.0 * 784 * 512);
  KernelCall adam;
  adam.kernel = Kernel::adam_update;
  adam.m = 1, adam.n = 1000;
  EXPECT_EQ(kernel_cost(adam).bytes, 28000.0);  // reads g, w, m, s; writes w, m, s
  KernelCall identity = dw;
  identity.kernel = Kernel::dense_forward;
  identity.m = 128, identity.n = 10, identity.k = 256;  // Z is A: written once
  EXPECT_EQ(kernel_cost(identity).bytes, 4.0 * (128 * 256 + 256 * 10 + 10 + 128 * 10));
}

// Every kernel busy-waits a fixed time of its thread's CPU (so that on a loaded machine a call
// still takes at least that long) and computes nothing; it logs where it ran and how long.
class SpinningBackend : public Backend {
 public:
  static constexpr std::int64_t kGemm = 400'000;  // ns
  static constexpr std::int64_t kDenseForward = 600'000;
  static constexpr std::int64_t kBackwardActivation = 150'000;
  static constexpr std::int64_t kSmall = 60'000;

  struct Call {
    Kernel kernel;
    std::size_t thread;
    std::int64_t duration_ns;  // wall time, measured inside the kernel
  };
  SpinningBackend() { log.reserve(1 << 12); }
  std::string name() const override { return "spinning"; }
  bool supports(Activation) const override { return true; }
  bool block_invariant() const override { return true; }  // cut by the thread count
  std::vector<Call> log;

 protected:
  void do_gemm(Trans, Trans, float, ConstMatrixView, ConstMatrixView, float, MatrixView) override {
    spin(Kernel::gemm, kGemm);
  }
  void do_add_bias(std::span<const float>, MatrixView) override { spin(Kernel::none, kSmall); }
  void do_activation_forward(Activation, ConstMatrixView, MatrixView) override {
    spin(Kernel::none, kSmall);
  }
  void do_sum_bias_activation(std::span<const ConstMatrixView>, std::span<const float>, Activation,
                              MatrixView, MatrixView) override {
    spin(Kernel::sum_bias_activation, kSmall);
  }
  void do_activation_backward(Activation, ConstMatrixView, ConstMatrixView, ConstMatrixView,
                              MatrixView) override {
    spin(Kernel::none, kSmall);
  }
  void do_column_sums(ConstMatrixView, float, float, std::span<float>) override {
    spin(Kernel::column_sums, kSmall);
  }
  void do_loss_gradient(ConstMatrixView, ConstMatrixView, float, MatrixView) override {
    spin(Kernel::loss_gradient, kSmall);
  }
  void do_axpy(float, std::span<const float>, std::span<float>) override { spin(Kernel::axpy, kSmall); }
  void do_dense_forward(ConstMatrixView, ConstMatrixView, std::span<const float>, Activation,
                        MatrixView, MatrixView) override {
    spin(Kernel::dense_forward, kDenseForward);
  }
  void do_dense_backward_activation(Activation, ConstMatrixView, ConstMatrixView, ConstMatrixView,
                                    MatrixView, std::span<float>) override {
    spin(Kernel::dense_backward_activation, kBackwardActivation);
  }

 private:
  static std::int64_t thread_cpu_ns() {
    timespec t{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return std::int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec;
  }
  void spin(Kernel kernel, std::int64_t cpu_ns) {
    const auto start = Clock::now();
    const std::int64_t until = thread_cpu_ns() + cpu_ns;
    while (thread_cpu_ns() < until) {
    }
    const auto wall = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count();
    const int index = tbb::this_task_arena::current_thread_index();
    std::lock_guard lock(mutex_);
    log.push_back({kernel, static_cast<std::size_t>(std::max(index, 0)), wall});
  }
  std::mutex mutex_;
};

TEST(Profiler, SpinningKernelsAreAttributedKernelByKernelAndThreadByThread) {
  auto backend = std::make_shared<SpinningBackend>();
  Network net = main_network(backend, 2);
  const Batch b = main_batch(128);
  Sgd sgd(1e-3f);
  Profiler profiler;
  net.set_profiler(&profiler);
  for (int i = 0; i < 3; ++i) train_batch(net, sgd, b.x.view(), b.y.view());
  ASSERT_EQ(profiler.steps().size(), 3u);
  ASSERT_EQ(profiler.threads(), 2u);

  const std::map<Kernel, std::int64_t> spins = {
      {Kernel::gemm, SpinningBackend::kGemm},
      {Kernel::dense_forward, SpinningBackend::kDenseForward},
      {Kernel::dense_backward_activation, SpinningBackend::kBackwardActivation},
      {Kernel::column_sums, SpinningBackend::kSmall},
      {Kernel::loss_gradient, SpinningBackend::kSmall},
      {Kernel::axpy, SpinningBackend::kSmall},
      {Kernel::sum_bias_activation, SpinningBackend::kSmall}};
  // Thread by thread, the profiler's calls are the backend's own log, in order: the same kernels,
  // each lasting at least its spin and at least what the kernel measured inside, and (the median
  // of them) little more.
  std::size_t backend_calls = 0;
  for (std::size_t t = 0; t < profiler.threads(); ++t) {
    SCOPED_TRACE("thread " + std::to_string(t));
    std::vector<SpinningBackend::Call> logged;
    for (const auto& c : backend->log)
      if (c.thread == t) logged.push_back(c);
    std::vector<KernelCall> recorded;
    for (const KernelCall& c : profiler.calls(t)) {
      EXPECT_EQ(c.thread, t);
      // The core's own loops (the loss, the copy of X) call no backend kernel.
      if (c.kernel != Kernel::loss_value && c.kernel != Kernel::gather) recorded.push_back(c);
    }
    ASSERT_EQ(recorded.size(), logged.size());
    backend_calls += logged.size();
    std::vector<std::int64_t> overhead;
    for (std::size_t i = 0; i < logged.size(); ++i) {
      ASSERT_EQ(recorded[i].kernel, logged[i].kernel) << "call " << i;
      EXPECT_GE(recorded[i].duration_ns, spins.at(recorded[i].kernel));
      EXPECT_GE(recorded[i].duration_ns, logged[i].duration_ns);
      overhead.push_back(recorded[i].duration_ns - logged[i].duration_ns);
    }
    if (!overhead.empty()) {
      std::sort(overhead.begin(), overhead.end());
      EXPECT_LT(overhead[overhead.size() / 2], 20'000) << "ns around a call that the kernel did not spend";
    }
  }
  EXPECT_EQ(backend_calls, backend->log.size());
  // The summary: layer 1's forward ran 2 products of 400 us a step (its W is owned: a row block
  // of W per thread), then the sum in 2 blocks of rows: its wall time is at least the busier
  // thread's spins. Layer 3's (256 x 10, too small to cut for its FLOPs) runs in the 2 blocks of
  // rows that layer 2's epilogue wrote: a dense_forward of 600 us each.
  const ProfileSummary s = summarize(profiler, MachineLimits{});
  const KernelSummary& forward1 = row(s, Op::forward, 0, Kernel::gemm);
  EXPECT_EQ(forward1.calls, 3u * 2u);
  EXPECT_EQ(forward1.cores, 2u);
  EXPECT_GE(forward1.seconds, 3 * 400e-6);
  EXPECT_GE(forward1.mean_call_seconds, 400e-6);
  EXPECT_EQ(row(s, Op::forward, 0, Kernel::sum_bias_activation).calls, 3u * 2u);
  EXPECT_EQ(row(s, Op::forward, 0, Kernel::sum_bias_activation).cores, 2u);
  const KernelSummary& forward3 = row(s, Op::forward, 2, Kernel::dense_forward);
  EXPECT_EQ(forward3.calls, 3u * 2u);
  EXPECT_EQ(forward3.cores, 2u);
  EXPECT_GE(forward3.mean_call_seconds, 600e-6);
  // The input gradient runs gemm then dense_backward_activation in each task: each operation's
  // wall time is split between them in proportion to their calls' durations.
  double gemm_share = 0.0, act_share = 0.0;
  for (std::size_t i = 0; i < profiler.ops().size(); ++i) {
    const OpRecord& op = profiler.ops()[i];
    if (op.op != Op::input_gradient || op.layer != 0) continue;
    double gemm = 0.0, act = 0.0;
    for (std::size_t t = 0; t < profiler.threads(); ++t)
      for (const KernelCall& c : profiler.calls(t))
        if (c.op == i) (c.kernel == Kernel::gemm ? gemm : act) += static_cast<double>(c.duration_ns);
    const double wall = static_cast<double>(op.duration_ns) * 1e-9;
    gemm_share += wall * gemm / (gemm + act);
    act_share += wall * act / (gemm + act);
  }
  EXPECT_NEAR(row(s, Op::input_gradient, 0, Kernel::gemm).seconds, gemm_share, 1e-9);
  EXPECT_NEAR(row(s, Op::input_gradient, 0, Kernel::dense_backward_activation).seconds, act_share, 1e-9);
  EXPECT_EQ(row(s, Op::input_gradient, 0, Kernel::gemm).calls, 3u * 2u);
}

TEST(Profiler, TrainingGivesTheSameBitsWithAndWithout) {
  const Batch b = main_batch(64);
  std::vector<std::vector<float>> results;
  for (const bool profiled : {false, true}) {
    Network net = main_network(create_backend(first_backend()), 2);
    Profiler profiler;
    if (profiled) net.set_profiler(&profiler);
    const auto adam = make_optimizer(OptimizerKind::adam, OptimizerOptions{});
    for (int i = 0; i < 4; ++i) train_batch(net, *adam, b.x.view(), b.y.view());
    results.emplace_back(net.parameters().begin(), net.parameters().end());
    if (profiled) {
      EXPECT_EQ(profiler.steps().size(), 4u);
    }
  }
  ASSERT_EQ(results[0].size(), results[1].size());
  EXPECT_EQ(std::memcmp(results[0].data(), results[1].data(), results[0].size() * sizeof(float)), 0);
}

TEST(Profiler, FullStorageDropsAndCountsNeverGrows) {
  Network net = main_network(create_backend(first_backend()), 1);
  const Batch b = main_batch(32);
  Sgd sgd(1e-3f);
  Profiler profiler(2, 8, 2);
  net.set_profiler(&profiler);
  for (int i = 0; i < 3; ++i) train_batch(net, sgd, b.x.view(), b.y.view());
  EXPECT_EQ(profiler.ops().size(), 8u);
  EXPECT_EQ(profiler.calls(0).size(), 2u);
  EXPECT_EQ(profiler.steps().size(), 2u);
  EXPECT_GT(profiler.dropped(), 0u);
  EXPECT_THROW(profiler.calls(1), Error);
  profiler.clear();
  EXPECT_EQ(profiler.dropped(), 0u);
  EXPECT_THROW(summarize(profiler, MachineLimits{}), Error);  // no step completed
}

TEST(Profiler, DetachedRecordsNothing) {
  Network net = main_network(create_backend(first_backend()), 1);
  const Batch b = main_batch(16);
  Sgd sgd(1e-3f);
  Profiler profiler;
  net.set_profiler(&profiler);
  train_batch(net, sgd, b.x.view(), b.y.view());
  net.set_profiler(nullptr);
  EXPECT_EQ(net.profiler(), nullptr);
  train_batch(net, sgd, b.x.view(), b.y.view());
  EXPECT_EQ(profiler.steps().size(), 1u);
}

TEST(Profiler, InferenceStepsEndAtEndStep) {
  Network net = main_network(create_backend(first_backend()), 1);
  const Batch b = main_batch(16);
  Profiler profiler;
  net.set_profiler(&profiler);
  net.forward(b.x.view());
  EXPECT_EQ(profiler.steps().size(), 0u);
  profiler.end_step();
  ASSERT_EQ(profiler.steps().size(), 1u);
  const ProfileSummary s = summarize(profiler, MachineLimits{});
  EXPECT_EQ(row(s, Op::forward, 2, Kernel::dense_forward).calls, 1u);  // one thread: one task
  EXPECT_EQ(row(s, Op::forward, 0, Kernel::gemm).calls, 2u);  // owned W: a product per row block
}

}  // namespace
}  // namespace mlpk::test
