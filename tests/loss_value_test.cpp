// The loss a network reports, against the definition computed here in double precision: for
// softmax cross-entropy on every backend, for one-hot, soft, multi-hot, all-zero and unnormalized
// targets, and for a target on a class whose probability underflows float.
#include "test_support.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace mlpk::test {
namespace {

class LossValue : public testing::TestWithParam<std::string> {};

constexpr std::size_t kClasses = 5;

// A one-layer network whose logits Z are X itself: W = I, b = 0.
Network logits_network(const std::string& backend) {
  Network net(Architecture::parse("5-5", Activation::relu, Loss::softmax_cross_entropy),
              create_backend(backend));
  const MatrixView w = net.weights(0);
  for (std::size_t i = 0; i < kClasses; ++i)
    for (std::size_t j = 0; j < kClasses; ++j) w(i, j) = i == j ? 1.0f : 0.0f;
  std::fill(net.bias(0).begin(), net.bias(0).end(), 0.0f);
  return net;
}

// mean over rows of sum_j y_j (logsumexp(z) - z_j)
double softmax_cross_entropy(const Tensor& z, const Tensor& y) {
  double total = 0.0;
  for (std::size_t i = 0; i < z.rows(); ++i) {
    double max = z(i, 0), sum = 0.0;
    for (std::size_t j = 1; j < z.cols(); ++j) max = std::max<double>(max, z(i, j));
    for (std::size_t j = 0; j < z.cols(); ++j) sum += std::exp(z(i, j) - max);
    for (std::size_t j = 0; j < z.cols(); ++j) total += y(i, j) * (max + std::log(sum) - z(i, j));
  }
  return total / static_cast<double>(z.rows());
}

TEST_P(LossValue, SoftmaxCrossEntropyIsItsDefinitionForEveryKindOfTarget) {
  Network net = logits_network(GetParam());
  constexpr std::size_t rows = 40;
  Tensor z(rows, kClasses), y(rows, kClasses);
  GuardedMatrix values(rows, kClasses);
  values.fill(3);
  for (std::size_t i = 0; i < rows; ++i) {
    for (std::size_t j = 0; j < kClasses; ++j) z(i, j) = 8.0f * values.at(i, j);
    switch (i % 5) {
      case 0: y(i, i % kClasses) = 1.0f; break;                                  // one-hot
      case 1: y(i, 0) = 0.3f; y(i, 4) = 0.7f; break;                             // soft
      case 2: y(i, 1) = 1.0f; y(i, 3) = 1.0f; break;                             // multi-hot
      case 3: break;                                                             // all zero
      case 4: y(i, 2) = 2.5f; break;                                             // unnormalized
    }
  }
  net.forward(z);
  const double expected = softmax_cross_entropy(z, y);
  EXPECT_NEAR(net.loss(y), expected, 1e-6 * expected);
}

// e^-200 is 0 in float: the term is recomputed from the logits, not -log(0) = inf.
TEST_P(LossValue, ATargetOnAnUnderflowedProbabilityGivesTheExactLoss) {
  Network net = logits_network(GetParam());
  Tensor z(2, kClasses), y(2, kClasses);
  z(0, 1) = -200.0f;
  y(0, 1) = 1.0f;
  z(1, 2) = -60.0f;  // e^-60 / 4, a normal float: taken from the softmax output
  y(1, 2) = 1.0f;
  net.forward(z);
  const double expected = (200.0 + std::log(4.0 + std::exp(-200.0)) + 60.0 + std::log(4.0 + std::exp(-60.0))) / 2.0;
  EXPECT_NEAR(net.loss(y), expected, 1e-6 * expected);
  EXPECT_NEAR(net.loss(y), softmax_cross_entropy(z, y), 1e-6 * expected);
}

INSTANTIATE_TEST_SUITE_P(EveryBackend, LossValue, testing::ValuesIn(available_backends()),
                         spec_test_name);

}  // namespace
}  // namespace mlpk::test
