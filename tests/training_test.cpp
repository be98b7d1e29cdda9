// A small real training run: two interleaved spirals, a problem no linear model separates,
// learned to >= 99% training accuracy by plain SGD on every backend.
#include "test_support.hpp"

#include <cmath>
#include <memory>
#include <numbers>

namespace mlpk::test {
namespace {

class Training : public testing::TestWithParam<std::string> {};

TEST_P(Training, LearnsTwoSpirals) {
  const std::size_t per_class = 100, n = 2 * per_class;
  Tensor x(n, 2), y(n, 2);
  for (std::size_t i = 0; i < per_class; ++i)
    for (std::size_t c = 0; c < 2; ++c) {
      const double t = 0.25 + 2.5 * std::numbers::pi * static_cast<double>(i) / per_class;
      const double angle = t + std::numbers::pi * static_cast<double>(c);
      const std::size_t row = 2 * i + c;
      x(row, 0) = static_cast<float>(t * std::cos(angle));
      x(row, 1) = static_cast<float>(t * std::sin(angle));
      y(row, c) = 1.0f;
    }
  Network net(Architecture::parse("2-32-32-2", Activation::tanh, Loss::softmax_cross_entropy),
              create_backend(GetParam()));
  net.initialize(7);
  Sgd sgd(0.05f);
  const std::size_t batch = 20;
  for (int epoch = 0; epoch < 2000; ++epoch)
    for (std::size_t start = 0; start < n; start += batch)
      train_batch(net, sgd, x.view().block(start, 0, batch, 2),
                  y.view().block(start, 0, batch, 2));

  const ConstMatrixView out = net.forward(x.view());
  std::size_t correct = 0;
  for (std::size_t i = 0; i < n; ++i) correct += (out(i, 1) > out(i, 0)) == (y(i, 1) == 1.0f);
  const double accuracy = static_cast<double>(correct) / n;
  EXPECT_GE(accuracy, 0.99) << "loss " << net.loss(y.view());
}

INSTANTIATE_TEST_SUITE_P(EveryBackend, Training, testing::ValuesIn(available_backends()), spec_test_name);

}  // namespace
}  // namespace mlpk::test
