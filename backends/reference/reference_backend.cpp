// The reference backend: the oracle every other backend is tested against.
//
// Plain loops that read like the math, every sum accumulated in double. It is never optimized:
// if it is slow, that is the point; if it is unclear, that is a bug.
#include <mlpk/error.hpp>
#include <mlpk/registry.hpp>

#include <algorithm>
#include <cmath>
#include <numbers>

namespace mlpk {
namespace {

// op(X)[i][k]
float at(ConstMatrixView x, Trans t, std::size_t i, std::size_t k) {
  return t == Trans::N ? x(i, k) : x(k, i);
}

double sigmoid(double z) { return 1.0 / (1.0 + std::exp(-z)); }

constexpr double kGeluC = 0.7978845608028654;  // sqrt(2/pi)
constexpr double kGeluA = 0.044715;

double gelu(double z) { return 0.5 * z * (1.0 + std::tanh(kGeluC * (z + kGeluA * z * z * z))); }

double gelu_derivative(double z) {
  const double t = std::tanh(kGeluC * (z + kGeluA * z * z * z));
  return 0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * kGeluC * (1.0 + 3.0 * kGeluA * z * z);
}

class ReferenceBackend final : public Backend {
 public:
  std::string name() const override { return "reference"; }
  std::string description() const override { return "reference (naive loops, double accumulation)"; }
  // Each element is its own loop over the whole reduction, in order.
  bool block_invariant() const override { return true; }
  bool supports(Activation) const override { return true; }

 protected:
  void do_gemm(Trans ta, Trans tb, float alpha, ConstMatrixView a, ConstMatrixView b, float beta,
               MatrixView c) override {
    const std::size_t k_size = ta == Trans::N ? a.cols : a.rows;
    for (std::size_t i = 0; i < c.rows; ++i)
      for (std::size_t j = 0; j < c.cols; ++j) {
        double sum = 0.0;
        for (std::size_t k = 0; k < k_size; ++k)
          sum += static_cast<double>(at(a, ta, i, k)) * at(b, tb, k, j);
        const double old = beta == 0.0f ? 0.0 : static_cast<double>(beta) * c(i, j);
        c(i, j) = static_cast<float>(alpha * sum + old);
      }
  }

  void do_add_bias(std::span<const float> bias, MatrixView z) override {
    for (std::size_t i = 0; i < z.rows; ++i)
      for (std::size_t j = 0; j < z.cols; ++j) z(i, j) += bias[j];
  }

  void do_activation_forward(Activation g, ConstMatrixView z, MatrixView a) override {
    for (std::size_t i = 0; i < z.rows; ++i) {
      if (g == Activation::softmax) {
        double max = z(i, 0);
        for (std::size_t j = 1; j < z.cols; ++j) max = std::max<double>(max, z(i, j));
        double sum = 0.0;
        for (std::size_t j = 0; j < z.cols; ++j) sum += std::exp(z(i, j) - max);
        for (std::size_t j = 0; j < z.cols; ++j)
          a(i, j) = static_cast<float>(std::exp(z(i, j) - max) / sum);
        continue;
      }
      for (std::size_t j = 0; j < z.cols; ++j) a(i, j) = static_cast<float>(apply(g, z(i, j)));
    }
  }

  void do_activation_backward(Activation g, ConstMatrixView z, ConstMatrixView a,
                              ConstMatrixView da, MatrixView dz) override {
    for (std::size_t i = 0; i < z.rows; ++i) {
      if (g == Activation::softmax) {
        double dot = 0.0;
        for (std::size_t j = 0; j < z.cols; ++j) dot += static_cast<double>(da(i, j)) * a(i, j);
        for (std::size_t j = 0; j < z.cols; ++j)
          dz(i, j) = static_cast<float>(a(i, j) * (da(i, j) - dot));
        continue;
      }
      for (std::size_t j = 0; j < z.cols; ++j)
        dz(i, j) = static_cast<float>(da(i, j) * derivative(g, z(i, j), a(i, j)));
    }
  }

  void do_column_sums(ConstMatrixView x, float alpha, float beta, std::span<float> sums) override {
    for (std::size_t j = 0; j < x.cols; ++j) {
      double sum = 0.0;
      for (std::size_t i = 0; i < x.rows; ++i) sum += x(i, j);
      const double old = beta == 0.0f ? 0.0 : static_cast<double>(beta) * sums[j];
      sums[j] = static_cast<float>(alpha * sum + old);
    }
  }

  void do_loss_gradient(ConstMatrixView a, ConstMatrixView y, float scale, MatrixView g) override {
    for (std::size_t i = 0; i < a.rows; ++i)
      for (std::size_t j = 0; j < a.cols; ++j)
        g(i, j) = static_cast<float>(static_cast<double>(scale) *
                                     (static_cast<double>(a(i, j)) - y(i, j)));
  }

  void do_axpy(float alpha, std::span<const float> x, std::span<float> y) override {
    for (std::size_t i = 0; i < x.size(); ++i)
      y[i] = static_cast<float>(y[i] + static_cast<double>(alpha) * x[i]);
  }

  // Element by element, each with its own Philox call (DropoutMask::keeps). dropout_backward
  // is the default's: this same product.
  void do_dropout_forward(const DropoutMask& mask, ConstMatrixView x, MatrixView y) override {
    const double scale = 1.0 / (1.0 - static_cast<double>(mask.rate));
    for (std::size_t i = 0; i < x.rows; ++i)
      for (std::size_t j = 0; j < x.cols; ++j)
        y(i, j) = mask.keeps(i, j) ? static_cast<float>(x(i, j) * scale) : 0.0f;
  }

 private:
  static double apply(Activation g, double z) {
    switch (g) {
      case Activation::identity: return z;
      case Activation::sigmoid: return sigmoid(z);
      case Activation::tanh: return std::tanh(z);
      case Activation::relu: return z > 0.0 ? z : 0.0;
      case Activation::leaky_relu: return z > 0.0 ? z : kLeakyReluSlope * z;
      case Activation::gelu: return gelu(z);
      case Activation::softmax: break;  // handled per row
    }
    return z;
  }

  // g'(z), using the forward output a = g(z) where the textbook form does.
  static double derivative(Activation g, double z, double a) {
    switch (g) {
      case Activation::identity: return 1.0;
      case Activation::sigmoid: return a * (1.0 - a);
      case Activation::tanh: return 1.0 - a * a;
      case Activation::relu: return z > 0.0 ? 1.0 : 0.0;
      case Activation::leaky_relu: return z > 0.0 ? 1.0 : kLeakyReluSlope;
      case Activation::gelu: return gelu_derivative(z);
      case Activation::softmax: break;
    }
    return 1.0;
  }
};

std::unique_ptr<Backend> make_reference(std::string_view options) {
  if (!options.empty())
    throw Error("backend 'reference' takes no options, got '" + std::string(options) + "'");
  return std::make_unique<ReferenceBackend>();
}

}  // namespace
}  // namespace mlpk

// Lowest priority: the oracle is the default only when nothing faster is there.
MLPK_REGISTER_BACKEND("reference", 0, mlpk::make_reference)
