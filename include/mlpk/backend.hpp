// The Backend interface: the kernels a Network needs, dispatched to one implementation.
//
// Every kernel works on float32 matrix views (see tensor.hpp). The public member functions
// check shapes and arguments once, for every backend, and throw mlpk::Error naming the problem;
// then they call the protected virtual `do_*` member that a backend implements. A backend may
// therefore assume valid, non-empty arguments.
//
// The fused kernels (dense_forward, sum_bias_activation, dense_backward_activation) have defaults
// that compose the simple ones, and the optimizers' updates and dropout_forward have plain loops
// (dropout_backward is dropout_forward's product), so a new backend is correct with the simple
// kernels alone, and fast when it overrides the others.
//
// Threads: kernels may be called from several threads at once on disjoint outputs; a backend
// that keeps caches must guard them.
#pragma once

#include <mlpk/activation.hpp>
#include <mlpk/dropout.hpp>
#include <mlpk/tensor.hpp>

#include <cmath>
#include <span>
#include <string>
#include <vector>

namespace mlpk {

// op(X) = X or its transpose.
enum class Trans { N, T };

// The per-step constants of one Adam update (see Backend::adam_update). step_size and
// inverse_sqrt_c2 carry the bias corrections of step t: lr / (1 - beta1^t) and
// 1 / sqrt(1 - beta2^t); decay = 1 - lr * wd for AdamW (else 1), l2 = wd for Adam (else 0).
struct AdamStep {
  float beta1, beta2, epsilon, step_size, inverse_sqrt_c2, decay, l2;

  // The update of one parameter w with gradient g and moments m, s: the definition that every
  // backend's loop computes, element by element, in this order of operations.
  void update(float g, float& w, float& m, float& s) const {
    const float w0 = w;
    const float grad = g + l2 * w0;
    const float m1 = beta1 * m + (1.0f - beta1) * grad;
    const float s1 = beta2 * s + (1.0f - beta2) * grad * grad;
    m = m1;
    s = s1;
    w = decay * w0 - step_size * m1 / (std::sqrt(s1) * inverse_sqrt_c2 + epsilon);
  }
};

// The per-step constants of one update of SGD with L2 weight decay wd (see Backend::sgd_update).
struct SgdStep {
  float learning_rate, weight_decay;

  // The update of one parameter w with gradient g: the definition that every backend's loop
  // computes, element by element, in this order of operations.
  void update(float g, float& w) const { w -= learning_rate * (g + weight_decay * w); }
};

// The per-step constants of one update of SGD with momentum (see Backend::momentum_update):
// the learning rate, the momentum mu, the L2 weight decay wd, and Nesterov's variant.
struct MomentumStep {
  float learning_rate, momentum, weight_decay;
  bool nesterov;

  // The update of one parameter w with gradient g and velocity v: the definition that every
  // backend's loop computes, element by element, in this order of operations.
  void update(float g, float& w, float& v) const {
    const float grad = g + weight_decay * w;
    const float velocity = momentum * v + grad;
    v = velocity;
    w -= learning_rate * (nesterov ? grad + momentum * velocity : velocity);
  }
};

class Backend {
 public:
  virtual ~Backend() = default;
  Backend() = default;
  Backend(const Backend&) = delete;
  Backend& operator=(const Backend&) = delete;

  // --- what the backend is ---------------------------------------------------------------
  // The registry name ("reference", "highway", "onednn").
  virtual std::string name() const = 0;
  // A longer human-readable description, e.g. the SIMD target or library version in use.
  virtual std::string description() const { return name(); }
  // True when a kernel called twice with the same inputs and shapes gives the same bits, so
  // that a Network on this backend trains to the same bits for any thread count (tests/
  // threads_test.cpp checks exactly that). False when the backend splits a kernel over threads
  // of its own in a way that changes the order of a sum.
  virtual bool deterministic() const { return true; }
  // True when each output element comes out to the same bits whether a kernel is called on the
  // whole output or on any block of it (tests/block_invariance_test.cpp checks it, on shapes
  // that cross every size where the backend switches code). The Network then cuts a product
  // into as many tasks as there are threads; otherwise its cut depends on the shapes alone, so
  // the thread count decides which thread runs a block, never which blocks there are. False by
  // default: a backend that picks its kernels by the shape it is handed (oneDNN does) is not.
  virtual bool block_invariant() const { return false; }
  // True when a kernel called again with shapes it has seen performs no heap allocation. A
  // backend built on a library that allocates inside every call (oneDNN's execute does) says
  // false; the Network itself never allocates in a steady-state step.
  virtual bool allocation_free() const { return true; }
  // Whether activation_forward / activation_backward accept `a`.
  virtual bool supports(Activation a) const = 0;
  // Option strings that create_backend("name:option") accepts (e.g. SIMD targets); may be empty.
  virtual std::vector<std::string> variants() const { return {}; }

  // --- kernels -----------------------------------------------------------------------------
  // C = alpha * op(A) * op(B) + beta * C, with op(A) M x K, op(B) K x N, C M x N.
  // beta == 0 means C is written without being read (NaN in C does not propagate).
  void gemm(Trans trans_a, Trans trans_b, float alpha, ConstMatrixView a, ConstMatrixView b,
            float beta, MatrixView c);

  // Z[i][j] += bias[j] for every row i.
  void add_bias(std::span<const float> bias, MatrixView z);

  // A = g(Z). A may be Z itself (in place).
  void activation_forward(Activation g, ConstMatrixView z, MatrixView a);

  // dZ = dA * g'(Z), element-wise; for softmax, the row Jacobian-vector product
  // dZ_j = A_j (dA_j - sum_k dA_k A_k). Z is the pre-activation and A = g(Z) its output
  // (kernels use whichever is cheaper). dZ may be dA itself (in place).
  void activation_backward(Activation g, ConstMatrixView z, ConstMatrixView a, ConstMatrixView da,
                           MatrixView dz);

  // sums[j] = alpha * sum_i X[i][j] + beta * sums[j]: the bias gradient and gradient reduction.
  void column_sums(ConstMatrixView x, float alpha, float beta, std::span<float> sums);

  // G = scale * (A - Y): the output gradient of every loss mlpk has (see activation.hpp).
  // G may be A itself.
  void loss_gradient(ConstMatrixView a, ConstMatrixView y, float scale, MatrixView g);

  // y += alpha * x: the SGD update and the sum of per-shard gradients.
  void axpy(float alpha, std::span<const float> x, std::span<float> y);

  // The Adam update of parameters w from gradients g, with first and second moments m and s (all
  // of one length), element by element:
  //   g' = g + l2 w;  m = beta1 m + (1 - beta1) g';  s = beta2 s + (1 - beta2) g'^2;
  //   w = decay w - step_size m / (sqrt(s) inverse_sqrt_c2 + epsilon).
  // The four arrays must not overlap.
  void adam_update(const AdamStep& step, std::span<const float> g, std::span<float> w,
                   std::span<float> m, std::span<float> s);

  // The update of SGD with weight decay of parameters w from gradients g (of one length), element
  // by element: w = w - lr (g + wd w). (Without decay it is axpy(-lr, g, w).) g and w must not
  // overlap.
  void sgd_update(const SgdStep& step, std::span<const float> g, std::span<float> w);

  // The update of SGD with (Nesterov) momentum of parameters w from gradients g, with velocity v
  // (all of one length), element by element:
  //   g' = g + wd w;  v = mu v + g';  w = w - lr (nesterov ? g' + mu v : v).
  // The three arrays must not overlap.
  void momentum_update(const MomentumStep& step, std::span<const float> g, std::span<float> w,
                       std::span<float> v);

  // Inverted dropout (dropout.hpp): Y = X * keep / (1 - p) element by element, keep being
  // mask.keeps(i, j) for element (i, j) of the views, so a dropped element is 0 whatever X holds
  // (NaN included) and a kept one is X times mask.scale() (the reference: times 1 / (1 - p) in
  // double). The mask's position (row, col) says where the views lie in the layer's output: a
  // block computes the bits the whole would. Throws mlpk::Error for a rate outside [0, 1), a
  // layer of kDropoutLayers or more, or a view past row or column 2^32. Y may be X.
  void dropout_forward(const DropoutMask& mask, ConstMatrixView x, MatrixView y);

  // dX = dY * keep / (1 - p) with the forward's mask: the gradient through dropout, the same
  // product on the gradient. dX may be dY.
  void dropout_backward(const DropoutMask& mask, ConstMatrixView dy, MatrixView dx);

  // --- fused kernels (optional to override) -------------------------------------------------
  // Z = X * W + bias; A = g(Z). When A and Z are the same view, only A is kept.
  void dense_forward(ConstMatrixView x, ConstMatrixView w, std::span<const float> bias,
                     Activation g, MatrixView z, MatrixView a);

  // Z = ((Z + P[0]) + P[1] ...) + bias, then A = g(Z), in one pass: the epilogue of a product
  // computed as partial products over blocks of its depth, Z holding the first. Every P has Z's
  // shape; A may be Z (in place). The same sums, in the same order, as axpy(1, P[i], Z) for each
  // P, then add_bias, then activation_forward.
  void sum_bias_activation(std::span<const ConstMatrixView> partials, std::span<const float> bias,
                           Activation g, MatrixView z, MatrixView a);

  // dZ = dA * g'(Z) and bias_grad = sum over rows of dZ, in one call. dZ may be dA.
  void dense_backward_activation(Activation g, ConstMatrixView z, ConstMatrixView a,
                                 ConstMatrixView da, MatrixView dz, std::span<float> bias_grad);

 protected:
  virtual void do_gemm(Trans trans_a, Trans trans_b, float alpha, ConstMatrixView a,
                       ConstMatrixView b, float beta, MatrixView c) = 0;
  virtual void do_add_bias(std::span<const float> bias, MatrixView z) = 0;
  virtual void do_activation_forward(Activation g, ConstMatrixView z, MatrixView a) = 0;
  virtual void do_activation_backward(Activation g, ConstMatrixView z, ConstMatrixView a,
                                      ConstMatrixView da, MatrixView dz) = 0;
  virtual void do_column_sums(ConstMatrixView x, float alpha, float beta, std::span<float> sums) = 0;
  virtual void do_loss_gradient(ConstMatrixView a, ConstMatrixView y, float scale, MatrixView g) = 0;
  virtual void do_axpy(float alpha, std::span<const float> x, std::span<float> y) = 0;

  // Defaults: compose the simple kernels above.
  virtual void do_dense_forward(ConstMatrixView x, ConstMatrixView w, std::span<const float> bias,
                                Activation g, MatrixView z, MatrixView a);
  virtual void do_dense_backward_activation(Activation g, ConstMatrixView z, ConstMatrixView a,
                                            ConstMatrixView da, MatrixView dz,
                                            std::span<float> bias_grad);
  virtual void do_sum_bias_activation(std::span<const ConstMatrixView> partials,
                                      std::span<const float> bias, Activation g, MatrixView z,
                                      MatrixView a);
  // Default: a plain loop, which the compiler vectorizes for the baseline instruction set.
  virtual void do_adam_update(const AdamStep& step, std::span<const float> g, std::span<float> w,
                              std::span<float> m, std::span<float> s);
  // Default: plain loops, as do_adam_update.
  virtual void do_sgd_update(const SgdStep& step, std::span<const float> g, std::span<float> w);
  virtual void do_momentum_update(const MomentumStep& step, std::span<const float> g,
                                  std::span<float> w, std::span<float> v);
  // Default: a loop over rows, the words of 64 columns at a time (DropoutMask::tile_words).
  virtual void do_dropout_forward(const DropoutMask& mask, ConstMatrixView x, MatrixView y);
  // Default: do_dropout_forward, which computes the same product.
  virtual void do_dropout_backward(const DropoutMask& mask, ConstMatrixView dy, MatrixView dx);

 private:
  void require_supported(Activation g, const char* kernel) const;
  static void require_valid(const DropoutMask& mask, ConstMatrixView x, ConstMatrixView y,
                            const char* kernel);
};

}  // namespace mlpk
