// The unpadded parameter layout: parameter_count, copy_parameters_to and set_parameters against
// the padded flat array the optimizers use and against the per-layer views; initialization.
#include "test_support.hpp"

#include "random.hpp"  // core/: not public API

#include <gmock/gmock.h>

#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

namespace mlpk::test {
namespace {

using testing::HasSubstr;
using testing::ThrowsMessage;

Network network_3_4_3_1() {
  return Network(Architecture::parse("3-4-3-1", Activation::tanh, Loss::mean_squared_error),
                 create_backend("reference"));
}

TEST(Random, SkipIsAsManyDraws) {
  for (std::uint64_t n : {0, 1, 2, 1000}) {
    Random drawn(42), skipped(42);
    for (std::uint64_t i = 0; i < n; ++i) drawn.next();
    skipped.skip(n);
    EXPECT_EQ(skipped.next(), drawn.next()) << n;
  }
}

// initialize draws the weights in parallel blocks: the values are one sequence of draws, layer
// after layer, row after row, whatever the thread count.
TEST(NetworkParameters, InitializationIsOneSequenceForAnyThreadCount) {
  const Architecture a = Architecture::parse("70-300-9", Activation::relu, Loss::softmax_cross_entropy);
  for (Init init : {Init::automatic, Init::xavier_uniform, Init::he_uniform}) {
    SCOPED_TRACE(static_cast<int>(init));
    Network one(a, create_backend("reference")), three(a, create_backend("reference"));
    one.set_threads(1);
    three.set_threads(3);
    one.initialize(9, init);
    three.initialize(9, init);
    const std::vector<float> p1(one.parameters().begin(), one.parameters().end());
    const std::vector<float> p3(three.parameters().begin(), three.parameters().end());
    EXPECT_EQ(p1, p3);
    // The sequence itself: draws in order, two a weight for the normal distributions.
    Random random(9);
    const bool normal = init == Init::automatic;  // He normal for ReLU layers, Xavier uniform otherwise
    for (std::size_t l = 0; l < 2; ++l) {
      const ConstMatrixView w = one.weights(l);
      const double in = static_cast<double>(w.rows), out = static_cast<double>(w.cols);
      for (std::size_t i = 0; i < w.rows; ++i)
        for (std::size_t j = 0; j < w.cols; ++j) {
          double expected = 0.0;
          if (l == 1 && init == Init::automatic)  // the softmax layer: Xavier uniform
            expected = random.uniform(-1, 1) * std::sqrt(6.0 / (in + out));
          else if (normal)
            expected = random.normal() * std::sqrt(2.0 / in);
          else if (init == Init::xavier_uniform)
            expected = random.uniform(-1, 1) * std::sqrt(6.0 / (in + out));
          else
            expected = random.uniform(-1, 1) * std::sqrt(6.0 / in);
          ASSERT_EQ(w(i, j), static_cast<float>(expected)) << "layer " << l << " (" << i << "," << j << ")";
        }
    }
  }
}

TEST(NetworkParameters, ZeroedHasEveryParameterZeroAndTakesTheOthers) {
  Network drawn = network_3_4_3_1();
  Network zeroed = Network::zeroed(drawn.architecture(), create_backend("reference"));
  ASSERT_EQ(zeroed.parameter_count(), drawn.parameter_count());
  for (float p : zeroed.parameters()) ASSERT_EQ(p, 0.0f);
  std::vector<float> values(drawn.parameter_count());
  drawn.copy_parameters_to(values);
  zeroed.set_parameters(values);
  Tensor x(2, 3);
  for (std::size_t i = 0; i < 6; ++i) x.view().data[i] = 0.25f * static_cast<float>(i) - 0.5f;
  const ConstMatrixView a = drawn.forward(x.view()), b = zeroed.forward(x.view());
  for (std::size_t i = 0; i < 2; ++i) EXPECT_EQ(a(i, 0), b(i, 0));
  EXPECT_THROW(Network::zeroed(drawn.architecture(), nullptr), Error);
}

TEST(NetworkParameters, CountExcludesThePaddingOfTheFlatArray) {
  const Network net = network_3_4_3_1();
  EXPECT_EQ(net.parameter_count(), 35u);  // 3*4+4 + 4*3+3 + 3*1+1
  EXPECT_EQ(net.parameters().size(), 96u);  // each of the 6 blocks rounded up to 16 floats
  EXPECT_EQ(net.gradients().size(), 96u);
}

// Every float after the `cols` of each row of each W, in the flat parameters and gradients.
std::vector<float> row_padding(const Network& net) {
  std::vector<float> out;
  for (std::size_t l = 0; l < net.num_layers(); ++l)
    for (const ConstMatrixView w : {net.weights(l), net.weight_gradient(l)})
      for (std::size_t i = 0; i < w.rows; ++i) out.insert(out.end(), w.row(i) + w.cols, w.row(i) + w.stride);
  return out;
}

TEST(NetworkParameters, RowsOfTwoKiBArePaddedByACacheLineThatStaysZero) {
  for (const std::string& name : available_backends()) {
    SCOPED_TRACE(name);
    Network net(Architecture::parse("3-512-1024-10", Activation::relu, Loss::softmax_cross_entropy),
                create_backend(name));
    net.set_threads(2);
    EXPECT_EQ(net.weights(0).stride, 528u);
    EXPECT_EQ(net.weights(1).stride, 1040u);
    EXPECT_EQ(net.weights(2).stride, 10u);
    EXPECT_EQ(net.weight_gradient(1).stride, 1040u);
    EXPECT_EQ(net.parameters().size(), 3u * 528 + 512 + 512u * 1040 + 1024 + 1024u * 10 + 16);
    EXPECT_EQ(net.parameter_count(), 3u * 512 + 512 + 512u * 1024 + 1024 + 1024u * 10 + 10);
    // The unpadded order skips the padding: W1's row 1 starts 1024 values after its row 0.
    std::vector<float> values(net.parameter_count());
    for (std::size_t i = 0; i < values.size(); ++i) values[i] = 1e-4f * static_cast<float>(i % 1000);
    net.set_parameters(values);
    const std::size_t w1 = 3 * 512 + 512;
    EXPECT_EQ(net.weights(1)(1, 0), values[w1 + 1024]);
    EXPECT_EQ(net.weights(1)(511, 1023), values[w1 + 512 * 1024 - 1]);
    std::vector<float> back(values.size());
    net.copy_parameters_to(back);
    EXPECT_EQ(back, values);
    // Training with each kind of update leaves the padding zero in W and dW.
    net.initialize(3);
    Tensor x(16, 3), y(16, 10);
    for (std::size_t i = 0; i < 16; ++i) {
      for (std::size_t j = 0; j < 3; ++j) x(i, j) = 0.1f * static_cast<float>(i + j) - 0.7f;
      y(i, i % 10) = 1.0f;
    }
    // (Plain SGD without decay is folded into the weight-gradient products.)
    const std::pair<OptimizerKind, float> updates[] = {
        {OptimizerKind::adam, 0.01f}, {OptimizerKind::momentum, 0.01f}, {OptimizerKind::sgd, 0.01f},
        {OptimizerKind::sgd, 0.0f}};
    for (const auto& [kind, decay] : updates) {
      OptimizerOptions o;
      o.learning_rate = 0.01f;
      o.weight_decay = decay;
      auto optimizer = make_optimizer(kind, o);
      for (int step = 0; step < 2; ++step) train_batch(net, *optimizer, x.view(), y.view());
    }
    for (float p : row_padding(net)) ASSERT_EQ(p, 0.0f);
    EXPECT_NE(net.weights(1)(0, 0), values[w1]);  // it did train
  }
}

TEST(NetworkParameters, SetAndCopyUseTheOrderW0RowMajorB0W1B1) {
  Network net = network_3_4_3_1();
  std::vector<float> values(35);
  std::iota(values.begin(), values.end(), 1.0f);  // 1, 2, ..., 35
  net.set_parameters(values);
  EXPECT_EQ(net.weights(0)(0, 0), 1.0f);
  EXPECT_EQ(net.weights(0)(0, 3), 4.0f);   // a row of W0 holds one input's 4 weights
  EXPECT_EQ(net.weights(0)(1, 0), 5.0f);
  EXPECT_EQ(net.weights(0)(2, 3), 12.0f);
  EXPECT_EQ(net.bias(0)[0], 13.0f);
  EXPECT_EQ(net.bias(0)[3], 16.0f);
  EXPECT_EQ(net.weights(1)(0, 0), 17.0f);
  EXPECT_EQ(net.weights(1)(3, 2), 28.0f);
  EXPECT_EQ(net.bias(1)[2], 31.0f);
  EXPECT_EQ(net.weights(2)(2, 0), 34.0f);
  EXPECT_EQ(net.bias(2)[0], 35.0f);
  // The padding of the flat array stays zero: its sum is that of 1..35.
  EXPECT_EQ(std::accumulate(net.parameters().begin(), net.parameters().end(), 0.0), 630.0);

  std::vector<float> copy(35, -1.0f);
  net.copy_parameters_to(copy);
  EXPECT_EQ(copy, values);
}

TEST(NetworkParameters, WrongSizesAndNonFiniteValuesAreRejectedAndChangeNothing) {
  Network net = network_3_4_3_1();
  net.initialize(5);
  std::vector<float> before(35);
  net.copy_parameters_to(before);
  std::vector<float> short_copy(34), long_values(96);
  EXPECT_THAT([&] { net.copy_parameters_to(short_copy); },
              ThrowsMessage<Error>(HasSubstr("holds 34 floats but the network has 35 parameters")));
  EXPECT_THAT([&] { net.set_parameters(long_values); },
              ThrowsMessage<Error>(HasSubstr("got 96 values but the network has 35 parameters")));
  std::vector<float> bad(35, 0.5f);
  bad[20] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THAT([&] { net.set_parameters(bad); }, ThrowsMessage<Error>(HasSubstr("value 20 is nan")));
  bad[20] = std::numeric_limits<float>::infinity();
  EXPECT_THAT([&] { net.set_parameters(bad); }, ThrowsMessage<Error>(HasSubstr("value 20 is inf")));
  std::vector<float> after(35);
  net.copy_parameters_to(after);
  EXPECT_EQ(after, before);
}

}  // namespace
}  // namespace mlpk::test
