// The highway backend: mlpk::Backend on Google Highway SIMD kernels, one instance bound to one
// Highway target.
//
// create_backend("highway") binds the best target the CPU supports; "highway:AVX2" (any name in
// variants()) binds that target, so every compiled code path can be tested on one machine. The
// binding is a pointer to that target's KernelTable held by the instance: no process-wide
// Highway state is read or written after start-up.
#include <mlpk/error.hpp>
#include <mlpk/registry.hpp>

#include "kernel_table.hpp"

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

namespace mlpk::highway {

float* thread_scratch(int slot, std::size_t floats) {
  // A few buffers per thread, grown on demand and kept: a training step calls the same shapes
  // again and again, so after the first step no kernel allocates.
  struct Buffer {
    float* data = nullptr;
    std::size_t capacity = 0;
    ~Buffer() { free_aligned_floats(data); }
  };
  thread_local Buffer buffers[3];
  Buffer& buffer = buffers[slot];
  if (buffer.capacity < floats) {
    free_aligned_floats(buffer.data);
    buffer.data = nullptr;
    buffer.capacity = 0;
    buffer.data = allocate_aligned_floats(floats);
    buffer.capacity = floats;
  }
  return buffer.data;
}

namespace {

class HighwayBackend final : public Backend {
 public:
  HighwayBackend(const KernelTable* kernels, std::vector<std::string> variants)
      : k_(*kernels), variants_(std::move(variants)) {}

  std::string name() const override { return "highway"; }
  // "highway AVX2 (f32_gemm_6x16__avx2, f32_gemm_12x8__avx2)": the target and its micro-kernels.
  std::string description() const override {
    return std::string("highway ") + k_.target_name + " (" + k_.gemm_kernel + ", " +
           k_.narrow_gemm_kernel + ")";
  }
  // Every element of a product is one FMA chain over the whole reduction in a fixed order,
  // whatever tile or edge kernel computes it; element-wise kernels have no neighbours.
  bool block_invariant() const override { return true; }
  bool supports(Activation) const override { return true; }
  std::vector<std::string> variants() const override { return variants_; }

 protected:
  void do_gemm(Trans ta, Trans tb, float alpha, ConstMatrixView a, ConstMatrixView b, float beta,
               MatrixView c) override {
    k_.gemm(ta, tb, alpha, a, b, beta, c);
  }
  void do_add_bias(std::span<const float> bias, MatrixView z) override {
    k_.add_bias(bias.data(), z);
  }
  void do_activation_forward(Activation g, ConstMatrixView z, MatrixView a) override {
    k_.activation_forward(g, z, a);
  }
  void do_activation_backward(Activation g, ConstMatrixView z, ConstMatrixView a,
                              ConstMatrixView da, MatrixView dz) override {
    k_.activation_backward(g, z, a, da, dz);
  }
  void do_column_sums(ConstMatrixView x, float alpha, float beta, std::span<float> sums) override {
    k_.column_sums(x, alpha, beta, sums.data());
  }
  void do_loss_gradient(ConstMatrixView a, ConstMatrixView y, float scale, MatrixView g) override {
    k_.loss_gradient(a, y, scale, g);
  }
  void do_axpy(float alpha, std::span<const float> x, std::span<float> y) override {
    k_.axpy(alpha, x.data(), y.data(), x.size());
  }
  void do_adam_update(const AdamStep& step, std::span<const float> g, std::span<float> w,
                      std::span<float> m, std::span<float> s) override {
    k_.adam_update(step, g.data(), w.data(), m.data(), s.data(), g.size());
  }
  void do_sgd_update(const SgdStep& step, std::span<const float> g, std::span<float> w) override {
    k_.sgd_update(step, g.data(), w.data(), g.size());
  }
  void do_momentum_update(const MomentumStep& step, std::span<const float> g, std::span<float> w,
                          std::span<float> v) override {
    k_.momentum_update(step, g.data(), w.data(), v.data(), g.size());
  }
  // dropout_backward is the default's: this same product.
  void do_dropout_forward(const DropoutMask& mask, ConstMatrixView x, MatrixView y) override {
    k_.dropout(mask, x, y);
  }
  void do_dense_forward(ConstMatrixView x, ConstMatrixView w, std::span<const float> bias,
                        Activation g, MatrixView z, MatrixView a) override {
    k_.dense_forward(x, w, bias.data(), g, z, a);
  }
  void do_sum_bias_activation(std::span<const ConstMatrixView> partials, std::span<const float> bias,
                              Activation g, MatrixView z, MatrixView a) override {
    if (g == Activation::softmax)  // a row's sum is needed whole: the three kernels, in order
      Backend::do_sum_bias_activation(partials, bias, g, z, a);
    else
      k_.sum_bias_activation(partials.data(), partials.size(), bias.data(), g, z, a);
  }
  void do_dense_backward_activation(Activation g, ConstMatrixView z, ConstMatrixView a,
                                    ConstMatrixView da, MatrixView dz,
                                    std::span<float> bias_grad) override {
    k_.dense_backward_activation(g, z, a, da, dz, bias_grad.data());
  }

 private:
  const KernelTable& k_;
  std::vector<std::string> variants_;
};

std::unique_ptr<Backend> make_highway(std::string_view options) {
  const std::vector<TargetKernels> targets = supported_target_kernels();
  if (targets.empty()) throw Error("backend 'highway': no compiled Highway target runs on this CPU");
  std::vector<std::string> names;
  for (const TargetKernels& t : targets) names.emplace_back(t.table->target_name);
  if (options.empty()) return std::make_unique<HighwayBackend>(targets.front().table, names);
  for (const TargetKernels& t : targets)
    if (options == t.table->target_name) return std::make_unique<HighwayBackend>(t.table, names);
  std::string known;
  for (const std::string& n : names) known += (known.empty() ? "" : ", ") + n;
  throw Error("backend 'highway': unknown or unsupported target '" + std::string(options) +
              "'; this CPU runs: " + known);
}

}  // namespace
}  // namespace mlpk::highway

// Above the reference (0): the SIMD backend is the default wherever it is built.
MLPK_REGISTER_BACKEND("highway", 100, mlpk::highway::make_highway)
