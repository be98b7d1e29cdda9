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
// Not here: kernels oneDNN has no primitive for that is worth calling (axpy, the loss gradient,
// add_bias on strided Z: plain loops measured faster, see bench/bench_onednn.cpp).
#include "onednn_backend.hpp"

#include "isa.hpp"
#include "kernels.hpp"
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
           std::to_string(v->patch) + ", ISA " + onednn::effective_isa_name() + ", " +
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

  // A binary add primitive on packed Z; a plain loop on strided Z, where oneDNN 2.6's binary runs
  // its reference code (ref:any) and one pass of our own beats copying into a packed buffer and
  // back.
  void do_add_bias(std::span<const float> bias, MatrixView z) override {
    if (!z.contiguous()) {
      for (std::size_t i = 0; i < z.rows; ++i) {
        float* row = z.row(i);
        for (std::size_t j = 0; j < z.cols; ++j) row[j] += bias[j];
      }
      return;
    }
    guarded(
        "add_bias", [&] { return "Z " + shape_string(z); },
        [&] { onednn::add_bias(cache_, bias, z); });
  }

  void do_activation_forward(Activation g, ConstMatrixView z, MatrixView a) override {
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

  void do_dense_backward_activation(Activation g, ConstMatrixView z, ConstMatrixView a,
                                    ConstMatrixView da, MatrixView dz,
                                    std::span<float> bias_grad) override {
    guarded(
        "dense_backward_activation", [&] { return backward_shapes(g, z, a, da, dz); },
        [&] { onednn::dense_backward_activation(cache_, g, z, a, da, dz, bias_grad); });
  }

  // A plain loop: with the cached-call overhead counted it beats the binary primitive
  // (bench_onednn: BM_LossGradient vs BM_CallOverhead). Packed operands run as one flat loop, so
  // a 10-column output still fills whole vectors.
  void do_loss_gradient(ConstMatrixView a, ConstMatrixView y, float scale, MatrixView g) override {
    const bool flat = a.contiguous() && y.contiguous() && g.contiguous();
    const std::size_t rows = flat ? 1 : a.rows, cols = flat ? a.rows * a.cols : a.cols;
    for (std::size_t i = 0; i < rows; ++i) {
      const float* ar = a.row(i);
      const float* yr = y.row(i);
      float* gr = g.row(i);
      for (std::size_t j = 0; j < cols; ++j) gr[j] = scale * (ar[j] - yr[j]);
    }
  }

  // A plain loop the compiler vectorizes; oneDNN has no axpy primitive worth a call.
  void do_axpy(float alpha, std::span<const float> x, std::span<float> y) override {
    const float* xp = x.data();
    float* yp = y.data();
    const std::size_t n = x.size();
    for (std::size_t i = 0; i < n; ++i) yp[i] += alpha * xp[i];
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
