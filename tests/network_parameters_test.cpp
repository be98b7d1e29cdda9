// The unpadded parameter layout: parameter_count, copy_parameters_to and set_parameters against
// the padded flat array the optimizers use and against the per-layer views.
#include "test_support.hpp"

#include <gmock/gmock.h>

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

TEST(NetworkParameters, CountExcludesThePaddingOfTheFlatArray) {
  const Network net = network_3_4_3_1();
  EXPECT_EQ(net.parameter_count(), 35u);  // 3*4+4 + 4*3+3 + 3*1+1
  EXPECT_EQ(net.parameters().size(), 96u);  // each of the 6 blocks rounded up to 16 floats
  EXPECT_EQ(net.gradients().size(), 96u);
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
