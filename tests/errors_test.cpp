// Bad input at every public entry point gets an mlpk::Error whose message names the problem.
#include "test_support.hpp"

#include <gmock/gmock.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <memory>
#include <tuple>

namespace mlpk::test {
namespace {

using testing::HasSubstr;
using testing::ThrowsMessage;

std::shared_ptr<Backend> reference() { return create_backend("reference"); }

TEST(Errors, UnknownBackendNamesTheAvailableOnes) {
  EXPECT_THAT([] { create_backend("cuda"); },
              ThrowsMessage<Error>(AllOf(HasSubstr("unknown backend 'cuda'"), HasSubstr("reference"))));
  EXPECT_THAT([] { create_backend("reference:fast"); },
              ThrowsMessage<Error>(HasSubstr("'reference' takes no options, got 'fast'")));
}

TEST(Errors, ArchitectureProblemsAreNamed) {
  EXPECT_THAT([] { Architecture::parse("784-0-10", Activation::relu, Loss::softmax_cross_entropy); },
              ThrowsMessage<Error>(HasSubstr("layer 1 has zero units")));
  EXPECT_THAT([] { Architecture::parse("0-10", Activation::relu, Loss::softmax_cross_entropy); },
              ThrowsMessage<Error>(HasSubstr("input width is zero")));
  EXPECT_THAT([] { Architecture::parse("784", Activation::relu, Loss::mean_squared_error); },
              ThrowsMessage<Error>(HasSubstr("at least one layer")));
  EXPECT_THAT([] { Architecture::parse("784-x-10", Activation::relu, Loss::mean_squared_error); },
              ThrowsMessage<Error>(HasSubstr("'x' is not a layer width")));
  EXPECT_THAT([] { Architecture::parse("784--10", Activation::relu, Loss::mean_squared_error); },
              ThrowsMessage<Error>(HasSubstr("'' is not a layer width")));
  EXPECT_THAT([] { Network(Architecture{4, {}, Loss::mean_squared_error}, reference()); },
              ThrowsMessage<Error>(HasSubstr("no layers")));
  EXPECT_THAT(
      [] { Network(Architecture{4, {{3, Activation::relu}}, Loss::softmax_cross_entropy}, reference()); },
      ThrowsMessage<Error>(HasSubstr("softmax-ce needs a softmax output layer, not 'relu'")));
  EXPECT_THAT(
      [] { Network(Architecture{4, {{3, Activation::tanh}}, Loss::sigmoid_binary_cross_entropy}, reference()); },
      ThrowsMessage<Error>(HasSubstr("sigmoid-bce needs a sigmoid output layer")));
  EXPECT_THAT([] { Network(Architecture{4, {{3, Activation::relu}}, Loss::mean_squared_error}, nullptr); },
              ThrowsMessage<Error>(HasSubstr("backend is null")));
}

TEST(Errors, UnknownNamesListTheKnownOnes) {
  EXPECT_THAT([] { parse_activation("swish"); },
              ThrowsMessage<Error>(AllOf(HasSubstr("unknown activation 'swish'"), HasSubstr("leaky-relu"))));
  EXPECT_THAT([] { parse_loss("hinge"); },
              ThrowsMessage<Error>(AllOf(HasSubstr("unknown loss 'hinge'"), HasSubstr("softmax-ce"))));
}

TEST(Errors, NetworkRejectsWrongShapesAndNonFiniteData) {
  Network net(Architecture::parse("3-4-2", Activation::relu, Loss::softmax_cross_entropy), reference());
  Tensor x(5, 3), wrong(5, 4), y(5, 2), wrong_y(4, 2);
  EXPECT_THAT([&] { net.forward(wrong.view()); },
              ThrowsMessage<Error>(HasSubstr("X is 5x4 but the network takes 3 inputs")));
  EXPECT_THAT([&] { net.backward(y.view()); }, ThrowsMessage<Error>(HasSubstr("before forward")));
  EXPECT_THAT([&] { net.forward(ConstMatrixView(x.data(), 0, 3)); },
              ThrowsMessage<Error>(HasSubstr("has no rows")));
  x(2, 1) = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THAT([&] { net.forward(x.view()); },
              ThrowsMessage<Error>(HasSubstr("X has a non-finite value (nan) at row 2, column 1")));
  x(2, 1) = 0.0f;
  net.forward(x.view());
  EXPECT_THAT([&] { net.backward(wrong_y.view()); },
              ThrowsMessage<Error>(HasSubstr("targets Y are 4x2 but the output is 5x2")));
  y(4, 0) = std::numeric_limits<float>::infinity();
  EXPECT_THAT([&] { net.loss(y.view()); },
              ThrowsMessage<Error>(HasSubstr("targets Y has a non-finite value (inf) at row 4, column 0")));
  EXPECT_THAT([&] { net.weights(2); }, ThrowsMessage<Error>(HasSubstr("layer 2 does not exist")));
}

// Targets on which the loss has no minimum: rejected, naming the element, by loss and backward.
TEST(Errors, NetworkRejectsTargetsTheLossCannotTake) {
  for (const auto& [loss, output, bad, message] :
       {std::tuple{Loss::softmax_cross_entropy, Activation::softmax, -0.5f, "softmax-ce takes targets >= 0"},
        std::tuple{Loss::sigmoid_binary_cross_entropy, Activation::sigmoid, 1.5f, "sigmoid-bce takes targets in [0, 1]"},
        std::tuple{Loss::sigmoid_binary_cross_entropy, Activation::sigmoid, -0.25f, "sigmoid-bce takes targets in [0, 1]"}}) {
    Network net(Architecture{2, {{3, output}}, loss}, reference());
    GuardedMatrix x(2, 2), y(2, 3);
    x.fill(1);
    y.at(1, 2) = bad;
    net.forward(x.view());
    const std::string where = "target Y(1, 2) is " + std::to_string(bad);
    EXPECT_THAT([&] { net.loss(y.view()); }, ThrowsMessage<Error>(AllOf(HasSubstr(where), HasSubstr(message))));
    EXPECT_THAT([&] { net.backward(y.view()); }, ThrowsMessage<Error>(AllOf(HasSubstr(where), HasSubstr(message))));
  }
  // The edges are valid: 0 and 1 for BCE, any size >= 0 for softmax-CE, anything for MSE.
  Network bce(Architecture{2, {{2, Activation::sigmoid}}, Loss::sigmoid_binary_cross_entropy}, reference());
  Network ce(Architecture{2, {{2, Activation::softmax}}, Loss::softmax_cross_entropy}, reference());
  Network mse(Architecture{2, {{2, Activation::identity}}, Loss::mean_squared_error}, reference());
  GuardedMatrix x(1, 2), edges(1, 2), large(1, 2);
  edges.at(0, 1) = 1.0f;
  large.at(0, 0) = 7.0f;
  large.at(0, 1) = -3.0f;
  bce.forward(x.view());
  EXPECT_NO_THROW(bce.backward(edges.view()));
  ce.forward(x.view());
  large.at(0, 1) = 3.0f;
  EXPECT_NO_THROW(ce.backward(large.view()));
  mse.forward(x.view());
  large.at(0, 1) = -3.0f;
  EXPECT_NO_THROW(mse.backward(large.view()));
}

TEST(Errors, InputAndOutputGradientMisuseIsNamed) {
  Network net(Architecture{4, {{3, Activation::softmax}}, Loss::softmax_cross_entropy}, reference());
  GuardedMatrix x(5, 4), y(5, 3), dx(5, 4), wrong(5, 3);
  EXPECT_THAT([&] { net.backward(y.view(), dx.view()); }, ThrowsMessage<Error>(HasSubstr("before forward")));
  EXPECT_THAT([&] { net.output_gradient(); },
              ThrowsMessage<Error>(HasSubstr("no backward since the last forward")));
  x.fill(1);
  y.at(0, 0) = 1.0f;
  net.forward(x.view());
  EXPECT_THAT([&] { net.output_gradient(); },
              ThrowsMessage<Error>(HasSubstr("no backward since the last forward")));
  EXPECT_THAT([&] { net.backward(y.view(), wrong.view()); },
              ThrowsMessage<Error>(HasSubstr("the input gradient is 5x3 but X was 5x4")));
  net.backward(y.view(), dx.view());
  EXPECT_EQ(net.output_gradient().rows, 5u);
}

// Rates outside [0, 1) (NaN, 1, a negative one), on the output layer or on the input width, and
// text that is no rate: refused by the parser, the Network and the kernels alike, naming them.
TEST(Errors, DropoutRatesOutsideZeroToOneAreRefused) {
  const auto parse = [](const char* layers) {
    return [layers] { Architecture::parse(layers, Activation::relu, Loss::softmax_cross_entropy); };
  };
  EXPECT_THAT(parse("784-512:nan-10"), ThrowsMessage<Error>(HasSubstr(
                                           "layers '784-512:nan-10': architecture: layer 1's dropout rate nan is not in [0, 1)")));
  EXPECT_THAT(parse("784-512:1-10"), ThrowsMessage<Error>(HasSubstr("layer 1's dropout rate 1 is not in [0, 1)")));
  EXPECT_THAT(parse("784-512:inf-10"), ThrowsMessage<Error>(HasSubstr("dropout rate inf is not in [0, 1)")));
  EXPECT_THAT(parse("784-512-10:0.5"), ThrowsMessage<Error>(HasSubstr("layer 2 is the output layer, which takes no dropout")));
  EXPECT_THAT(parse("784:0.2-10"), ThrowsMessage<Error>(HasSubstr("the input width takes no dropout rate")));
  EXPECT_THAT(parse("784-512:x-10"), ThrowsMessage<Error>(HasSubstr("'x' is not a dropout rate")));
  // The minus of a negative rate separates layers: "512:" is a width with an empty rate.
  EXPECT_THAT(parse("784-512:-0.1-10"), ThrowsMessage<Error>(HasSubstr("'' is not a dropout rate")));
  EXPECT_THAT(parse("784-512:0.2:0.3-10"), ThrowsMessage<Error>(HasSubstr("'0.2:0.3' is not a dropout rate")));

  for (const float bad : {std::numeric_limits<float>::quiet_NaN(), 1.0f, -0.1f}) {
    const std::string shown = std::isnan(bad) ? "nan" : bad == 1.0f ? "1" : "-0.1";
    SCOPED_TRACE(shown);
    Architecture a = Architecture::parse("3-4-2", Activation::relu, Loss::softmax_cross_entropy);
    a.layers[0].dropout = bad;
    EXPECT_THAT([&] { Network(a, reference()); },
                ThrowsMessage<Error>(HasSubstr("layer 1's dropout rate " + shown + " is not in [0, 1)")));
    float data[6] = {};
    const MatrixView m{data, 2, 3};
    for (auto backend : {reference(), std::shared_ptr<Backend>(create_backend(default_backend_name()))}) {
      EXPECT_THAT([&] { backend->dropout_forward(DropoutMask{1, 2, 0, bad}, m, m); },
                  ThrowsMessage<Error>(HasSubstr("dropout_forward: the dropout rate must be in [0, 1), not")));
      EXPECT_THAT([&] { backend->dropout_backward(DropoutMask{1, 2, 0, bad}, m, m); },
                  ThrowsMessage<Error>(HasSubstr("dropout_backward: the dropout rate must be in [0, 1), not")));
    }
  }
  float data[6] = {};
  const MatrixView m{data, 2, 3};
  EXPECT_THAT([&] { reference()->dropout_forward(DropoutMask{1, 2, kDropoutLayers, 0.5f}, m, m); },
              ThrowsMessage<Error>(HasSubstr("layer 4096 is past the 4096 layers a mask can name")));
  EXPECT_THAT([&] { reference()->dropout_forward(DropoutMask{1, 2, 0, 0.5f, (std::uint64_t{1} << 32) - 1}, m, m); },
              ThrowsMessage<Error>(HasSubstr("reaches past the 2^32 rows and columns a mask has")));
  EXPECT_NO_THROW(reference()->dropout_forward(DropoutMask{1, 2, 0, 0.5f, (std::uint64_t{1} << 32) - 2}, m, m));
}

TEST(Errors, OptimizerAndViewsRejectNonsense) {
  EXPECT_THAT([] { Sgd(-0.1f); }, ThrowsMessage<Error>(HasSubstr("learning rate must be a positive")));
  // Braces: with parentheses clang reads this statement as a declaration.
  EXPECT_THAT([] { Sgd{std::numeric_limits<float>::quiet_NaN()}; },
              ThrowsMessage<Error>(HasSubstr("learning rate")));
  float data[12] = {};
  EXPECT_THAT([&] { MatrixView(data, 3, 4, 2); },
              ThrowsMessage<Error>(HasSubstr("row stride 2 is less than its 4 columns")));
  EXPECT_THAT([&] { MatrixView(nullptr, 3, 4); }, ThrowsMessage<Error>(HasSubstr("null data")));
  EXPECT_THAT([&] { MatrixView(data, 3, 4).block(2, 1, 2, 2); },
              ThrowsMessage<Error>(HasSubstr("block of 2x2 at (2,1) does not fit in 3x4")));
}

TEST(Errors, GatherRowsCopiesTheNamedRowsAndRefusesOthers) {
  const float from[6] = {1, 2, 3, 4, 5, 6};  // 3 rows of 2
  float to[6] = {};
  const std::size_t rows[3] = {2, 0, 2};
  gather_rows(ConstMatrixView(from, 3, 2), rows, MatrixView(to, 3, 2));
  EXPECT_THAT(to, testing::ElementsAre(5, 6, 1, 2, 5, 6));
  const std::size_t outside[2] = {1, 3};
  EXPECT_THAT([&] { gather_rows(ConstMatrixView(from, 3, 2), outside, MatrixView(to, 2, 2)); },
              ThrowsMessage<Error>(HasSubstr("index 1 is row 3 of a matrix of 3 rows")));
  EXPECT_THAT([&] { gather_rows(ConstMatrixView(from, 3, 2), rows, MatrixView(to, 2, 3)); },
              ThrowsMessage<Error>(HasSubstr("3 rows of a 3x2 matrix do not fit a 2x3 one")));
}

}  // namespace
}  // namespace mlpk::test
