// What Network::forward keeps of its input: a copy, so backward does not need the caller's X.
// Forwarding a temporary and then going backward is correct (and clean under AddressSanitizer).
#include "test_support.hpp"

#include <gmock/gmock.h>

#include <limits>
#include <vector>

namespace mlpk::test {
namespace {

using testing::HasSubstr;

class NetworkInput : public testing::TestWithParam<std::string> {};

constexpr std::size_t kRows = 37, kInputs = 19, kOutputs = 5;

Network small_network(const std::string& backend) {
  Network net(Architecture::parse("19-23-5", Activation::tanh, Loss::softmax_cross_entropy),
              create_backend(backend));
  net.initialize(3);
  return net;
}

Tensor batch() {
  Tensor x(kRows, kInputs);
  GuardedMatrix values(kRows, kInputs);
  values.fill(11);
  for (std::size_t i = 0; i < kRows; ++i)
    for (std::size_t j = 0; j < kInputs; ++j) x(i, j) = values.at(i, j);
  return x;
}

Tensor targets() {
  Tensor y(kRows, kOutputs);
  for (std::size_t i = 0; i < kRows; ++i) y(i, i % kOutputs) = 1.0f;
  return y;
}

std::vector<float> gradients_with_x_alive(const std::string& backend) {
  Network net = small_network(backend);
  const Tensor x = batch(), y = targets();
  net.forward(x);
  net.backward(y);
  return {net.gradients().begin(), net.gradients().end()};
}

// The temporary Tensor dies at the end of the forward statement; backward reads the copy.
TEST_P(NetworkInput, ForwardOfATemporaryThenBackwardGivesTheSameGradients) {
  Network net = small_network(GetParam());
  const Tensor y = targets();
  net.forward(batch());
  net.backward(y);
  EXPECT_EQ(std::vector<float>(net.gradients().begin(), net.gradients().end()),
            gradients_with_x_alive(GetParam()));
}

// Without a sanitizer a freed buffer may still hold the old values: overwriting X after forward
// shows that backward does not read it.
TEST_P(NetworkInput, OverwritingXAfterForwardDoesNotChangeTheGradients) {
  Network net = small_network(GetParam());
  Tensor x = batch();
  const Tensor y = targets();
  net.forward(x);
  for (float& v : x.flat()) v = std::numeric_limits<float>::quiet_NaN();
  net.backward(y);
  EXPECT_EQ(std::vector<float>(net.gradients().begin(), net.gradients().end()),
            gradients_with_x_alive(GetParam()));
}

// A strided X (a block of a wider matrix) is copied row by row into packed rows.
TEST_P(NetworkInput, StridedXGivesThePackedXsGradients) {
  Network net = small_network(GetParam());
  const Tensor y = targets();
  GuardedMatrix wide(kRows, kInputs, /*pad=*/7);
  const Tensor x = batch();
  for (std::size_t i = 0; i < kRows; ++i)
    for (std::size_t j = 0; j < kInputs; ++j) wide.at(i, j) = x(i, j);
  net.forward(wide.view());
  net.backward(y);
  EXPECT_EQ(std::vector<float>(net.gradients().begin(), net.gradients().end()),
            gradients_with_x_alive(GetParam()));
}

// A forward that throws (here: a NaN in X, found while copying) leaves no forward behind, not a
// half-copied X under the previous forward's activations.
TEST_P(NetworkInput, AFailedForwardLeavesNothingToGoBackFrom) {
  Network net = small_network(GetParam());
  const Tensor y = targets();
  Tensor x = batch();
  net.forward(x);
  x(kRows - 1, 2) = std::numeric_limits<float>::infinity();
  EXPECT_THAT([&] { net.forward(x); }, testing::ThrowsMessage<Error>(HasSubstr(
                                          "X has a non-finite value (inf) at row 36, column 2")));
  EXPECT_THAT([&] { net.backward(y); },
              testing::ThrowsMessage<Error>(HasSubstr("backward called before forward")));
  EXPECT_THAT([&] { net.loss(y); },
              testing::ThrowsMessage<Error>(HasSubstr("called before forward")));
  x(kRows - 1, 2) = 0.5f;
  net.forward(x);
  EXPECT_NO_THROW(net.backward(y));
}

// A batch of rows of X (repeats allowed, as an order need not be a permutation) trains exactly as
// the caller's gathered copy of those rows would, and so it does with the next batch's rows
// prefetched during each step: on a network whose first W is owned in blocks (each block's task
// gathers its panel), on one and on two threads.
TEST_P(NetworkInput, TrainingOnRowsOfXEqualsTrainingOnTheirGatheredCopy) {
  const std::vector<std::size_t> rows = {7, 3, 3, 36, 0, 21, 5, 5, 30, 12, 1, 19};
  GuardedMatrix values(kRows, 200);
  values.fill(5);
  Tensor x(kRows, 200), gathered(rows.size(), 200), y(rows.size(), kOutputs);
  for (std::size_t i = 0; i < kRows; ++i)
    for (std::size_t j = 0; j < 200; ++j) x(i, j) = values.at(i, j);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    for (std::size_t j = 0; j < 200; ++j) gathered(i, j) = x(rows[i], j);
    y(i, rows[i] % kOutputs) = 1.0f;
  }
  for (const std::size_t threads : {1, 2}) {
    const std::vector<std::size_t> next = {36, 2, 2, 17};
    std::vector<std::vector<float>> parameters;
    std::vector<double> losses;
    for (const std::string way : {"copy", "rows", "rows with the next prefetched"}) {
      Network net(Architecture::parse("200-100-5", Activation::relu, Loss::softmax_cross_entropy),
                  create_backend(GetParam()));
      net.set_threads(threads);
      net.initialize(4);
      const auto adam = make_optimizer(OptimizerKind::adam, {});
      for (int step = 0; step < 2; ++step)
        losses.push_back(way == "copy"   ? train_batch(net, *adam, gathered, y)
                         : way == "rows" ? train_batch(net, *adam, x, rows, y)
                                         : train_batch(net, *adam, x, rows, y, 0, next));
      parameters.emplace_back(net.parameters().begin(), net.parameters().end());
    }
    for (std::size_t way = 1; way < 3; ++way) {
      EXPECT_EQ(losses[0], losses[2 * way]) << threads << " threads, way " << way;
      EXPECT_EQ(losses[1], losses[2 * way + 1]) << threads << " threads, way " << way;
      EXPECT_EQ(parameters[0], parameters[way]) << threads << " threads, way " << way;
    }
  }
}

TEST_P(NetworkInput, RowsOfXAreCheckedAndOnlyTheChosenOnesMustBeFinite) {
  Network net = small_network(GetParam());
  Tensor x = batch();
  x(4, 6) = std::numeric_limits<float>::quiet_NaN();
  const std::vector<std::size_t> rows = {0, 9, 2}, with_nan = {0, 4}, outside = {1, kRows},
                                 none = {};
  EXPECT_NO_THROW(net.forward_training(x, rows, {}));
  EXPECT_EQ(net.pre_activation(0).rows, 3u);
  EXPECT_THAT([&] { net.forward_training(x, with_nan, {}); },
              testing::ThrowsMessage<Error>(HasSubstr("X has a non-finite value (nan) at row 4, column 6")));
  EXPECT_THAT([&] { net.forward_training(x, outside, {}); },
              testing::ThrowsMessage<Error>(HasSubstr("row 1 of the batch is row 37 of X, which has 37")));
  EXPECT_THAT([&] { net.forward_training(x, none, {}); },
              testing::ThrowsMessage<Error>(HasSubstr("list of rows of X is empty")));
}

TEST_P(NetworkInput, ThePrefetchHintIsChecked) {
  Network net = small_network(GetParam());
  const Tensor x = batch(), narrow(kRows, kInputs - 1);
  const std::vector<std::size_t> rows = {0, 9, 2}, outside = {1, kRows};
  EXPECT_NO_THROW(net.prefetch_next_batch(x, rows));
  EXPECT_THAT([&] { net.prefetch_next_batch(narrow, rows); },
              testing::ThrowsMessage<Error>(HasSubstr("X is 37x18 but the network takes 19 inputs")));
  EXPECT_THAT([&] { net.prefetch_next_batch(x, outside); },
              testing::ThrowsMessage<Error>(HasSubstr("row 1 of the batch is row 37 of X, which has 37")));
  // A hint before any forward is dropped by the backward that then fails.
  EXPECT_THAT([&] { net.backward(targets()); }, testing::ThrowsMessage<Error>(HasSubstr("before forward")));
}

INSTANTIATE_TEST_SUITE_P(EveryBackend, NetworkInput, testing::ValuesIn(available_backends()),
                         spec_test_name);

}  // namespace
}  // namespace mlpk::test
