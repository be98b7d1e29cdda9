// An independent double-precision MLP: the loss of a network written straight from the math,
// sharing no code with mlpk's Network or backends. The gradient checks differentiate it by
// central finite differences.
#pragma once

#include <mlpk/mlpk.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

namespace mlpk::test {

using DMatrix = std::vector<std::vector<double>>;  // rows of doubles

inline double activate(Activation g, double z) {
  constexpr double c = 0.7978845608028654, k = 0.044715;  // sqrt(2/pi), GELU's cubic term
  switch (g) {
    case Activation::identity: return z;
    case Activation::sigmoid: return 1.0 / (1.0 + std::exp(-z));
    case Activation::tanh: return std::tanh(z);
    case Activation::relu: return std::max(z, 0.0);
    case Activation::leaky_relu: return z > 0 ? z : kLeakyReluSlope * z;
    case Activation::gelu: return 0.5 * z * (1.0 + std::tanh(c * (z + k * z * z * z)));
    case Activation::softmax: break;
  }
  return z;
}

// The loss of `arch` with parameters `params` (laid out like Network::parameters(), read through
// the network's own weight/bias views' offsets) on X, Y.
struct DoubleMlp {
  Architecture arch;
  std::vector<DMatrix> w;               // per layer, in x out
  std::vector<std::vector<double>> b;   // per layer
  // Per layer, what each output is multiplied by after its activation: keep / (1 - p) of a fixed
  // dropout mask (a training forward's), or nothing (empty) for a layer without dropout.
  std::vector<DMatrix> dropout;

  explicit DoubleMlp(const Network& net) : arch(net.architecture()) {
    for (std::size_t l = 0; l < net.num_layers(); ++l) {
      const ConstMatrixView wl = net.weights(l);
      DMatrix m(wl.rows, std::vector<double>(wl.cols));
      for (std::size_t i = 0; i < wl.rows; ++i)
        for (std::size_t j = 0; j < wl.cols; ++j) m[i][j] = wl(i, j);
      w.push_back(m);
      const auto bl = net.bias(l);
      b.emplace_back(bl.begin(), bl.end());
    }
  }

  // Fixes the masks of a training forward at `step` on a batch of `rows`: the loss is then that
  // forward's, a smooth function of the parameters wherever the activations are.
  void drop(const DropoutStep& step, std::size_t rows) {
    dropout.assign(arch.layers.size(), {});
    for (std::size_t l = 0; l < arch.layers.size(); ++l) {
      const double p = arch.layers[l].dropout;
      if (p == 0.0) continue;
      const DropoutMask mask{step.seed, step.step, static_cast<std::uint32_t>(l), arch.layers[l].dropout};
      dropout[l].assign(rows, std::vector<double>(arch.layers[l].units));
      for (std::size_t i = 0; i < rows; ++i)
        for (std::size_t j = 0; j < arch.layers[l].units; ++j)
          dropout[l][i][j] = mask.keeps(i, j) ? 1.0 / (1.0 - p) : 0.0;
    }
  }

  double loss(const DMatrix& x, const DMatrix& y) const {
    DMatrix a = x;
    for (std::size_t l = 0; l < w.size(); ++l) {
      const Activation g = arch.layers[l].activation;
      DMatrix next(a.size(), std::vector<double>(b[l].size()));
      for (std::size_t i = 0; i < a.size(); ++i) {
        for (std::size_t j = 0; j < b[l].size(); ++j) {
          double z = b[l][j];
          for (std::size_t k = 0; k < a[i].size(); ++k) z += a[i][k] * w[l][k][j];
          next[i][j] = z;
        }
        if (g == Activation::softmax) {
          const double max = *std::max_element(next[i].begin(), next[i].end());
          double sum = 0;
          for (double& v : next[i]) sum += (v = std::exp(v - max));
          for (double& v : next[i]) v /= sum;
        } else {
          for (double& v : next[i]) v = activate(g, v);
        }
        if (l < dropout.size() && !dropout[l].empty())
          for (std::size_t j = 0; j < next[i].size(); ++j) next[i][j] *= dropout[l][i][j];
      }
      a = next;
    }
    double total = 0;
    for (std::size_t i = 0; i < a.size(); ++i)
      for (std::size_t j = 0; j < a[i].size(); ++j) {
        const double p = a[i][j], t = y[i][j];
        switch (arch.loss) {
          case Loss::softmax_cross_entropy: total -= t * std::log(p); break;
          case Loss::sigmoid_binary_cross_entropy: total -= t * std::log(p) + (1 - t) * std::log(1 - p); break;
          case Loss::mean_squared_error: total += 0.5 * (p - t) * (p - t); break;
        }
      }
    return total / static_cast<double>(a.size());
  }
};

inline DMatrix to_double(ConstMatrixView m) {
  DMatrix d(m.rows, std::vector<double>(m.cols));
  for (std::size_t i = 0; i < m.rows; ++i)
    for (std::size_t j = 0; j < m.cols; ++j) d[i][j] = m(i, j);
  return d;
}

}  // namespace mlpk::test
