// The oneDNN backend: mlpk's kernels as oneDNN 2.6 primitives (matmul and inner product with
// fused bias and eltwise post-ops, eltwise and softmax forward/backward, binary, reorder), plus
// dnnl_sgemm for the products where it measured faster. README.md beside this file has the
// measurements behind each choice and a map of the files:
//   options     the option string ("onednn:threads=2,gemm=sgemm")
//   kernels     each kernel as a plan: key, build, the call's buffers by role
//   steps       the primitives several kernels' plans share (copies, activations, column sums)
//   plan        one plan: its operands by role, its primitives, their arguments by name
//   plan_cache  the bounded cache of plans
//   memory_descs, operands, thread_scope, isa: the small pieces they use
//
// Build once, execute many: every kernel call looks its configuration up in the plan cache; the
// first call builds the plan, every later one binds the caller's pointers to the plan's memory
// objects and executes.
//
// Threads: Debian's oneDNN runs on OpenMP, mlpk's Network on oneTBB. By default ("onednn") every
// call runs on one OpenMP thread, the calling one: the Network's TBB tasks are the parallelism,
// and the two pools never oversubscribe the cores. Measured with BM_TrainStep (784-512-256-10,
// batch 128, 2 cores, medians of 3): 1.48 ms per step this way with 2 TBB threads, against 1.64 ms
// for onednn:threads=2 under 1 TBB thread and 1.81 ms for both at 2 (and 6-19x slower steps while
// other processes loaded the cores, when OpenMP's spinning team waits). "onednn:threads=N" runs
// every call on N OpenMP threads (omp_set_num_threads on the calling thread for the duration of
// the call, then restored), for a caller that does not parallelize itself.
//
// Not primitives: what oneDNN has no primitive for, or one that a pass of our own beats on the
// Network's blocks (axpy, Adam, the loss gradient, bias, ReLU-like activations): loops.cpp.
#include "onednn_backend.hpp"

#include "isa.hpp"
#include "kernels.hpp"
#include "loops.hpp"
#include "options.hpp"
#include "plan_cache.hpp"
#include "thread_scope.hpp"

#include <mlpk/error.hpp>
#include <mlpk/registry.hpp>

#include <oneapi/dnnl/dnnl.hpp>

#include <memory>
#include <string>

namespace mlpk {
namespace {

using onednn::Options;

class OnednnBackend final : public Backend {
 public:
  explicit OnednnBackend(Options options)
      : options_(options), cache_(dnnl::engine(dnnl::engine::kind::cpu, 0)) {}

  std::string name() const override { return "onednn"; }
  std::string description() const override {
    const auto* v = dnnl::version();
    return "onednn (oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
           std::to_string(v->patch) + ", ISA " + onednn::effective_isa_name() + ", loops " +
           loops_.isa + ", " +
           onednn::describe(options_) + ")";
  }
  // oneDNN may split a reduction (GEMM's K) over threads; with one thread nothing is split.
  bool deterministic() const override { return options_.threads == 1; }
  // Not block-invariant (the default): oneDNN chooses matmul, inner-product and sgemm kernels by
  // the shape of the block, so a block's elements differ in their last bits from the whole's.
  // dnnl_primitive_execute copies its arguments into a hash map: ~6 allocations per call.
  bool allocation_free() const override { return false; }
  bool supports(Activation) const override { return true; }
  std::vector<std::string> variants() const override { return onednn::option_variants(); }

  std::size_t primitives_created() const { return cache_.primitives_created(); }
  std::size_t plans() const { return cache_.plans(); }

 protected:
  void do_gemm(Trans ta, Trans tb, float alpha, ConstMatrixView a, ConstMatrixView b, float beta,
               MatrixView c) override {
    guarded(
        "gemm",
        [&] {
          return "op(A) " + trans_string(ta) + " " + shape_string(a) + ", op(B) " +
                 trans_string(tb) + " " + shape_string(b) + ", C " + shape_string(c);
        },
        [&] { onednn::gemm(cache_, options_, ta, tb, alpha, a, b, beta, c); });
  }

  // A loop: one vectorized pass beat the binary add primitive (on packed Z) and its reference
  // code (on strided Z); bench/bench_onednn.cpp, BM_AddBias.
  void do_add_bias(std::span<const float> bias, MatrixView z) override {
    loops_.add_bias(bias, z);
  }

  // ReLU-like activations in a loop, the others (exp/tanh polynomials, softmax) as primitives.
  void do_activation_forward(Activation g, ConstMatrixView z, MatrixView a) override {
    if (onednn::cheap_activation(g)) return loops_.activation_forward(g, z, a);
    guarded(
        "activation_forward",
        [&] {
          return std::string(to_string(g)) + ", Z " + shape_string(z) + ", A " + shape_string(a);
        },
        [&] { onednn::activation_forward(cache_, g, z, a); });
  }

  void do_activation_backward(Activation g, ConstMatrixView z, ConstMatrixView a,
                              ConstMatrixView da, MatrixView dz) override {
    guarded(
        "activation_backward", [&] { return backward_shapes(g, z, a, da, dz); },
        [&] { onednn::activation_backward(cache_, g, z, a, da, dz); });
  }

  void do_column_sums(ConstMatrixView x, float alpha, float beta, std::span<float> sums) override {
    guarded(
        "column_sums", [&] { return "X " + shape_string(x); },
        [&] { onednn::column_sums(cache_, x, alpha, beta, sums); });
  }

  // For ReLU-like g one pass writes dZ and sums its columns; the eltwise backward primitive and
  // the column-sum product took 10x as long on the Network's blocks (71 against 7 us a call,
  // 128x256 of layer 1 of 784-512-256-10 at 2 threads, `mlpk profile --backend highway,onednn`).
  void do_dense_backward_activation(Activation g, ConstMatrixView z, ConstMatrixView a,
                                    ConstMatrixView da, MatrixView dz,
                                    std::span<float> bias_grad) override {
    if (onednn::cheap_activation(g)) return loops_.dense_backward(g, z, da, dz, bias_grad);
    guarded(
        "dense_backward_activation", [&] { return backward_shapes(g, z, a, da, dz); },
        [&] { onednn::dense_backward_activation(cache_, g, z, a, da, dz, bias_grad); });
  }

  // Loops: with the cached-call overhead counted they beat the binary primitive
  // (bench_onednn: BM_LossGradient vs BM_CallOverhead); oneDNN has no axpy or optimizer primitive.
  void do_loss_gradient(ConstMatrixView a, ConstMatrixView y, float scale, MatrixView g) override {
    loops_.loss_gradient(a, y, scale, g);
  }
  void do_axpy(float alpha, std::span<const float> x, std::span<float> y) override {
    loops_.axpy(alpha, x, y);
  }
  void do_adam_update(const AdamStep& step, std::span<const float> g, std::span<float> w,
                      std::span<float> m, std::span<float> s) override {
    loops_.adam(step, g, w, m, s);
  }
  void do_sgd_update(const SgdStep& step, std::span<const float> g, std::span<float> w) override {
    loops_.sgd(step, g, w);
  }
  void do_momentum_update(const MomentumStep& step, std::span<const float> g, std::span<float> w,
                          std::span<float> v) override {
    loops_.momentum(step, g, w, v);
  }

  void do_dense_forward(ConstMatrixView x, ConstMatrixView w, std::span<const float> bias,
                        Activation g, MatrixView z, MatrixView a) override {
    guarded(
        "dense_forward",
        [&] {
          return std::string(to_string(g)) + ", X " + shape_string(x) + ", W " + shape_string(w) +
                 ", Z " + shape_string(z) + ", A " + shape_string(a);
        },
        [&] { onednn::dense_forward(cache_, options_, x, w, bias, g, z, a); });
  }

 private:
  static std::string trans_string(Trans t) { return t == Trans::N ? "N" : "T"; }
  static std::string backward_shapes(Activation g, ConstMatrixView z, ConstMatrixView a,
                                     ConstMatrixView da, ConstMatrixView dz) {
    return std::string(to_string(g)) + ", Z " + shape_string(z) + ", A " + shape_string(a) +
           ", dA " + shape_string(da) + ", dZ " + shape_string(dz);
  }

  // Runs `body` on this backend's thread count; a oneDNN error, or a plan's refusal to bind (an
  // internal error), becomes mlpk::Error naming the kernel and its shapes.
  template <class Shapes, class Body>
  void guarded(const char* kernel, Shapes&& shapes, Body&& body) {
    onednn::ThreadScope threads(options_.threads);
    try {
      body();
    } catch (const dnnl::error& e) {
      throw Error(std::string("onednn: ") + kernel + " (" + shapes() + ") failed: " + e.what() +
                  " (dnnl status " + std::to_string(static_cast<int>(e.status)) + ")");
    } catch (const Error& e) {
      throw Error(std::string("onednn: ") + kernel + " (" + shapes() + ") failed: " + e.what());
    }
  }

  Options options_;
  onednn::PlanCache cache_;
  const onednn::Loops& loops_ = onednn::loops_for_onednn_isa();
};

const OnednnBackend& as_onednn(const Backend& backend) {
  if (backend.name() != "onednn")
    throw Error("onednn test hook: backend '" + backend.name() + "' is not onednn");
  return static_cast<const OnednnBackend&>(backend);
}

std::unique_ptr<Backend> make_onednn(std::string_view options) {
  return std::make_unique<OnednnBackend>(onednn::parse_options(options));
}

}  // namespace

std::size_t onednn_test::primitives_created(const Backend& backend) {
  return as_onednn(backend).primitives_created();
}

std::size_t onednn_test::cached_plans(const Backend& backend) { return as_onednn(backend).plans(); }

std::size_t onednn_test::max_cached_plans() { return onednn::kMaxPlans; }

}  // namespace mlpk

// Between the reference (0) and highway (100): oneDNN is fast, but highway is the default.
MLPK_REGISTER_BACKEND("onednn", 50, mlpk::make_onednn)
