// The worked examples of the documents mlpk was created from (../shared/seeds/), run through
// Network on every backend.
#include "double_mlp.hpp"
#include "test_support.hpp"

#include <memory>

namespace mlpk::test {
namespace {

class SeedExamples : public testing::TestWithParam<std::string> {};

// Seed 001: a 3-2-1 sigmoid network, no biases, squared error, learning rate 0.5. The document's
// "error term" (y - yhat) yhat (1 - yhat) is -dL/dZ for L = (yhat - y)^2 / 2, so its weight
// changes are -0.5 * dW.
TEST_P(SeedExamples, Seed001TwoLayerSigmoidWorkedExample) {
  Architecture arch{3, {{2, Activation::sigmoid}, {1, Activation::sigmoid}}, Loss::mean_squared_error};
  Network net(arch, create_backend(GetParam()));
  const float w_ih[] = {0.5f, -0.6f, 0.1f, -0.2f, 0.1f, 0.7f};
  const float w_ho[] = {0.1f, -0.3f};
  std::copy(std::begin(w_ih), std::end(w_ih), net.weights(0).data);
  std::copy(std::begin(w_ho), std::end(w_ho), net.weights(1).data);
  for (std::size_t l = 0; l < 2; ++l)
    for (float& b : net.bias(l)) b = 0.0f;
  const float x[] = {0.5f, 0.1f, -0.2f}, y[] = {0.6f};

  net.forward({x, 1, 3});
  net.backward({y, 1, 1});
  const float learning_rate = 0.5f;
  const double expected_ho[] = {0.00804047, 0.00555918};
  const double expected_ih[3][2] = {{1.77005547e-04, -5.11178506e-04},
                                    {3.54011093e-05, -1.02235701e-04},
                                    {-7.08022187e-05, 2.04471402e-04}};
  for (std::size_t j = 0; j < 2; ++j)
    EXPECT_NEAR(-learning_rate * net.weight_gradient(1)(j, 0), expected_ho[j], 5e-8) << "dW_ho " << j;
  for (std::size_t i = 0; i < 3; ++i)
    for (std::size_t j = 0; j < 2; ++j)
      EXPECT_NEAR(-learning_rate * net.weight_gradient(0)(i, j), expected_ih[i][j],
                  1e-6 * std::abs(expected_ih[i][j]))
          << "dW_ih " << i << "," << j;

  // And the SGD step applies exactly those changes.
  Sgd sgd(learning_rate);
  sgd.step(net);
  EXPECT_NEAR(net.weights(1)(0, 0), 0.1 + expected_ho[0], 1e-7);
  EXPECT_NEAR(net.weights(0)(2, 1), 0.7 + expected_ih[2][1], 1e-7);
}

// Seed 002: a 3-4-3-1 network (tanh hidden, sigmoid output, binary cross-entropy) written in the
// column convention (X is n_x x m, W[l] is n[l] x n[l-1], Z = W A + b), with the document's
// formulas done right: dZ[L] = A[L] - Y, dW = (1/m) dZ A[l-1]^T, db = (1/m) sum dZ,
// dZ[l] = W[l+1]^T dZ[l+1] * g'(Z[l]). mlpk's row convention must give the same gradients,
// transposed.
TEST_P(SeedExamples, Seed002ColumnConventionGivesTheSameGradients) {
  Architecture arch{3, {{4, Activation::tanh}, {3, Activation::tanh}, {1, Activation::sigmoid}},
                    Loss::sigmoid_binary_cross_entropy};
  Network net(arch, create_backend(GetParam()));
  net.initialize(2002, Init::xavier_normal);
  for (std::size_t l = 0; l < 3; ++l)
    for (std::size_t j = 0; j < net.bias(l).size(); ++j) net.bias(l)[j] = 0.1f * static_cast<float>(j + l);
  const std::size_t m = 5;
  GuardedMatrix x(m, 3), y(m, 1);
  x.fill(21, -1.0f, 1.0f);
  for (std::size_t i = 0; i < m; ++i) y.at(i, 0) = static_cast<float>(i % 2);
  net.forward(x.view());
  net.backward(y.view());

  // Column convention, in double: W_col[l] = W_row[l]^T.
  std::vector<DMatrix> w(3), dw(3);
  std::vector<std::vector<double>> b(3), db(3);
  std::vector<DMatrix> a(4), z(4);  // a[0] = X^T, n[l] x m
  a[0] = DMatrix(3, std::vector<double>(m));
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t f = 0; f < 3; ++f) a[0][f][i] = x.at(i, f);
  for (std::size_t l = 0; l < 3; ++l) {
    const ConstMatrixView wr = net.weights(l);
    w[l] = DMatrix(wr.cols, std::vector<double>(wr.rows));
    for (std::size_t i = 0; i < wr.rows; ++i)
      for (std::size_t j = 0; j < wr.cols; ++j) w[l][j][i] = wr(i, j);
    b[l].assign(net.bias(l).begin(), net.bias(l).end());
    const std::size_t rows = w[l].size(), inner = w[l][0].size();
    z[l + 1] = a[l + 1] = DMatrix(rows, std::vector<double>(m));
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t c = 0; c < m; ++c) {
        double s = b[l][r];
        for (std::size_t k = 0; k < inner; ++k) s += w[l][r][k] * a[l][k][c];
        z[l + 1][r][c] = s;
        a[l + 1][r][c] = l == 2 ? 1.0 / (1.0 + std::exp(-s)) : std::tanh(s);
      }
  }
  DMatrix dz(1, std::vector<double>(m));
  for (std::size_t c = 0; c < m; ++c) dz[0][c] = a[3][0][c] - y.at(c, 0);
  for (std::size_t l = 3; l-- > 0;) {
    const std::size_t rows = w[l].size(), inner = w[l][0].size();
    dw[l] = DMatrix(rows, std::vector<double>(inner));
    db[l].assign(rows, 0.0);
    for (std::size_t r = 0; r < rows; ++r) {
      for (std::size_t c = 0; c < m; ++c) db[l][r] += dz[r][c] / m;
      for (std::size_t k = 0; k < inner; ++k)
        for (std::size_t c = 0; c < m; ++c) dw[l][r][k] += dz[r][c] * a[l][k][c] / m;
    }
    if (l == 0) break;
    DMatrix previous(inner, std::vector<double>(m));  // dZ[l-1] = W^T dZ * (1 - A^2)
    for (std::size_t k = 0; k < inner; ++k)
      for (std::size_t c = 0; c < m; ++c) {
        double s = 0;
        for (std::size_t r = 0; r < rows; ++r) s += w[l][r][k] * dz[r][c];
        previous[k][c] = s * (1.0 - a[l][k][c] * a[l][k][c]);
      }
    dz = previous;
  }
  for (std::size_t l = 0; l < 3; ++l) {
    const ConstMatrixView g = net.weight_gradient(l);
    for (std::size_t i = 0; i < g.rows; ++i)
      for (std::size_t j = 0; j < g.cols; ++j)
        EXPECT_NEAR(g(i, j), dw[l][j][i], 2e-6) << "layer " << l << " dW(" << i << "," << j << ")";
    for (std::size_t j = 0; j < db[l].size(); ++j)
      EXPECT_NEAR(net.bias_gradient(l)[j], db[l][j], 2e-6) << "layer " << l << " db " << j;
  }
}

INSTANTIATE_TEST_SUITE_P(EveryBackend, SeedExamples, testing::ValuesIn(backend_specs()), spec_test_name);

}  // namespace
}  // namespace mlpk::test
