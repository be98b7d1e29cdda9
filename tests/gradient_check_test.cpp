// Gradient checks: the analytic gradients of whole networks (depth 1 to 4, every activation,
// every loss, every backend) against central finite differences of an independent
// double-precision implementation of the same network.
#include "double_mlp.hpp"
#include "test_support.hpp"

#include <memory>

namespace mlpk::test {
namespace {

struct Case {
  std::size_t depth;
  Activation hidden;
  Loss loss;
  Activation mse_output;  // the output activation when the loss is MSE
};

std::string describe(const Case& c) {
  return "depth " + std::to_string(c.depth) + ", hidden " + std::string(to_string(c.hidden)) +
         ", " + std::string(to_string(c.loss)) +
         (c.loss == Loss::mean_squared_error ? " with " + std::string(to_string(c.mse_output)) + " output" : "");
}

Architecture architecture_for(const Case& c) {
  const std::size_t widths[] = {5, 4, 6, 3};  // hidden widths, then 3 outputs
  Architecture a;
  a.inputs = 4;
  a.loss = c.loss;
  for (std::size_t l = 0; l + 1 < c.depth; ++l) a.layers.push_back({widths[l], c.hidden});
  const Activation out = c.loss == Loss::mean_squared_error ? c.mse_output : output_activation_for(c.loss);
  a.layers.push_back({3, out});
  return a;
}

// Targets that suit the loss: one-hot rows, probabilities in (0,1), or any real numbers.
GuardedMatrix targets_for(Loss loss, std::size_t n, std::size_t k) {
  GuardedMatrix y(n, k);
  if (loss == Loss::softmax_cross_entropy) {
    for (std::size_t i = 0; i < n; ++i) y.at(i, (i * 7 + 1) % k) = 1.0f;
  } else if (loss == Loss::sigmoid_binary_cross_entropy) {
    y.fill(11, 0.0f, 1.0f);
  } else {
    y.fill(11, -1.0f, 1.0f);
  }
  return y;
}

// After net.forward(x) (or net.forward_training(x, *dropout)) and net.backward(y[, dx]): every dW
// and db (and each element of the input gradient `input_gradient` when given) against central
// finite differences of the double-precision network (with that forward's dropout masks), and
// the loss against its loss.
void expect_gradients_match(const Network& net, ConstMatrixView x, ConstMatrixView y,
                            const GuardedMatrix* input_gradient = nullptr,
                            const DropoutStep* dropout = nullptr) {
  DoubleMlp mlp(net);
  if (dropout != nullptr) mlp.drop(*dropout, x.rows);
  DMatrix dx = to_double(x);
  const DMatrix dy = to_double(y);
  EXPECT_NEAR(net.loss(y), mlp.loss(dx, dy), 1e-5 * std::max(1.0, std::abs(mlp.loss(dx, dy))));
  constexpr double h = 1e-5;
  std::size_t failures = 0;
  const auto numeric = [&](double& parameter) {
    const double saved = parameter;
    parameter = saved + h;
    const double up = mlp.loss(dx, dy);
    parameter = saved - h;
    const double down = mlp.loss(dx, dy);
    parameter = saved;
    return (up - down) / (2 * h);
  };
  const auto check = [&](double analytic, double expected, const std::string& where) {
    // float32 forward/backward against a double derivative: 1e-4 absolute + 1e-3 relative.
    if (!(std::abs(analytic - expected) <= 1e-4 + 1e-3 * std::abs(expected)) && ++failures <= 5)
      ADD_FAILURE() << where << ": backprop " << analytic << ", finite difference " << expected;
  };
  for (std::size_t l = 0; l < net.num_layers(); ++l) {
    const ConstMatrixView dw = net.weight_gradient(l);
    for (std::size_t i = 0; i < dw.rows; ++i)
      for (std::size_t j = 0; j < dw.cols; ++j)
        check(dw(i, j), numeric(mlp.w[l][i][j]),
              "dW[" + std::to_string(l) + "](" + std::to_string(i) + "," + std::to_string(j) + ")");
    const auto db = net.bias_gradient(l);
    for (std::size_t j = 0; j < db.size(); ++j)
      check(db[j], numeric(mlp.b[l][j]), "db[" + std::to_string(l) + "][" + std::to_string(j) + "]");
  }
  if (input_gradient != nullptr)
    for (std::size_t i = 0; i < x.rows; ++i)
      for (std::size_t k = 0; k < x.cols; ++k)
        check(input_gradient->at(i, k), numeric(dx[i][k]),
              "dX(" + std::to_string(i) + "," + std::to_string(k) + ")");
  EXPECT_EQ(failures, 0u);
}

class GradientCheck : public testing::TestWithParam<std::string> {};

TEST_P(GradientCheck, MatchesCentralFiniteDifferences) {
  std::vector<Case> cases;
  for (std::size_t depth = 1; depth <= 4; ++depth)
    for (Activation hidden : kAllActivations) {
      if (hidden == Activation::softmax && depth == 1) continue;  // no hidden layer to vary
      for (Loss loss : kAllLosses) cases.push_back({depth, hidden, loss, Activation::sigmoid});
    }
  for (Activation out : kAllActivations)  // MSE on every output activation, softmax's Jacobian included
    cases.push_back({2, Activation::tanh, Loss::mean_squared_error, out});

  std::shared_ptr<Backend> backend = create_backend(GetParam());
  for (const Case& c : cases) {
    SCOPED_TRACE(describe(c));
    Network net(architecture_for(c), backend);
    net.initialize(c.depth * 100 + static_cast<std::uint64_t>(c.hidden), Init::xavier_normal);
    for (float& p : net.parameters()) p += 0.05f;  // nonzero biases too
    const std::size_t n = 6;
    GuardedMatrix x(n, 4);
    x.fill(3, -2.0f, 2.0f);
    const GuardedMatrix y = targets_for(c.loss, n, 3);
    GuardedMatrix dx(n, 4, 3);  // strided, with NaN guards the product must not touch
    net.forward(x.view());
    net.backward(y.view(), dx.view());
    EXPECT_TRUE(dx.guards_intact());
    expect_gradients_match(net, x.view(), y.view(), &dx);
  }
}

// Training mode: with the masks of a fixed (seed, step) the network is a fixed function, whose
// gradients backward must give through the same masks (dX included, so the first layer's too).
TEST_P(GradientCheck, MatchesFiniteDifferencesThroughAFixedDropoutMask) {
  std::shared_ptr<Backend> backend = create_backend(GetParam());
  for (std::size_t depth : {2u, 4u})
    for (Activation hidden : {Activation::tanh, Activation::relu, Activation::sigmoid, Activation::softmax})
      for (Loss loss : kAllLosses) {
        const Case c{depth, hidden, loss, Activation::identity};
        SCOPED_TRACE(describe(c) + ", dropout 0.4, 0.25, 0.5");
        Architecture a = architecture_for(c);
        const float rates[] = {0.4f, 0.25f, 0.5f};
        for (std::size_t l = 0; l + 1 < a.layers.size(); ++l) a.layers[l].dropout = rates[l];
        Network net(a, backend);
        net.initialize(depth * 10 + static_cast<std::uint64_t>(hidden), Init::xavier_normal);
        for (float& p : net.parameters()) p += 0.05f;
        const std::size_t n = 8;
        GuardedMatrix x(n, 4), dx(n, 4, 3);
        x.fill(13, -2.0f, 2.0f);
        const GuardedMatrix y = targets_for(loss, n, 3);
        const DropoutStep step{11, 4};
        // The masks drop something in every hidden layer, and keep something: else they test nothing.
        for (std::size_t l = 0; l + 1 < a.layers.size(); ++l) {
          std::size_t dropped = 0;
          const DropoutMask mask{step.seed, step.step, static_cast<std::uint32_t>(l), rates[l]};
          for (std::size_t i = 0; i < n; ++i)
            for (std::size_t j = 0; j < a.layers[l].units; ++j) dropped += !mask.keeps(i, j);
          ASSERT_GT(dropped, 0u) << "layer " << l;
          ASSERT_LT(dropped, n * a.layers[l].units) << "layer " << l;
        }
        net.forward_training(x.view(), step);
        net.backward(y.view(), dx.view());
        expect_gradients_match(net, x.view(), y.view(), &dx, &step);
      }
}

// Softmax-CE's fused (A - Y)/n is its gradient only for rows summing to 1: rows that do not
// (multi-hot, all zero, soft and unnormalized) get (A sum(Y) - Y)/n.
TEST_P(GradientCheck, SoftmaxCrossEntropyOnTargetRowsThatDoNotSumToOne) {
  std::shared_ptr<Backend> backend = create_backend(GetParam());
  for (std::size_t depth : {1u, 3u}) {
    SCOPED_TRACE("depth " + std::to_string(depth));
    Network net(architecture_for({depth, Activation::tanh, Loss::softmax_cross_entropy, Activation::identity}),
                backend);
    net.initialize(depth + 7, Init::xavier_normal);
    const float rows[][3] = {{1, 1, 0}, {0, 0, 0}, {0.2f, 0.3f, 0.1f}, {2, 0, 1}, {0, 1, 0}, {0.5f, 0.25f, 0.25f}};
    GuardedMatrix x(6, 4), y(6, 3);
    x.fill(5, -2.0f, 2.0f);
    for (std::size_t i = 0; i < 6; ++i)
      for (std::size_t j = 0; j < 3; ++j) y.at(i, j) = rows[i][j];
    net.forward(x.view());
    net.backward(y.view());
    expect_gradients_match(net, x.view(), y.view());
  }
}

// backward(y, dX) leaves the parameter gradients exactly as backward(y) computes them, and
// output_gradient() is dL/dZ of the output layer: (A - Y)/n for one-hot softmax-CE rows, and
// (A sum(Y) - Y)/n for the others.
TEST_P(GradientCheck, InputGradientChangesNothingElseAndOutputGradientIsDlDz) {
  std::shared_ptr<Backend> backend = create_backend(GetParam());
  Network net(architecture_for({3, Activation::gelu, Loss::softmax_cross_entropy, Activation::identity}),
              backend);
  net.initialize(4);
  GuardedMatrix x(5, 4), y(5, 3), dx(5, 4);
  x.fill(2, -2.0f, 2.0f);
  for (std::size_t i = 0; i < 5; ++i) y.at(i, i % 3) = 1.0f;
  y.at(4, 0) = 1.0f;  // a multi-hot row: sums to 2
  net.forward(x.view());
  net.backward(y.view());
  const std::vector<float> plain(net.gradients().begin(), net.gradients().end());
  net.backward(y.view(), dx.view());
  EXPECT_EQ(std::vector<float>(net.gradients().begin(), net.gradients().end()), plain);
  const ConstMatrixView dz = net.output_gradient(), a = net.activation(net.num_layers() - 1);
  ASSERT_EQ(dz.rows, 5u);
  ASSERT_EQ(dz.cols, 3u);
  for (std::size_t i = 0; i < 5; ++i)
    for (std::size_t j = 0; j < 3; ++j) {
      const double sum = i == 4 ? 2.0 : 1.0;
      EXPECT_NEAR(dz(i, j), (a(i, j) * sum - y.at(i, j)) / 5.0, 1e-7) << i << "," << j;
    }
  // dX of the first layer's dZ: dX = dZ[1] W[1]^T, here against the finite differences.
  expect_gradients_match(net, x.view(), y.view(), &dx);
  // Until the next forward only: then there is no backward to read.
  net.forward(x.view());
  EXPECT_THROW(net.output_gradient(), Error);
  GuardedMatrix wrong(5, 3);
  EXPECT_THROW(net.backward(y.view(), wrong.view()), Error);
  GuardedMatrix short_dx(4, 4);
  EXPECT_THROW(net.backward(y.view(), short_dx.view()), Error);
}

// LossReduction::sum is n times the mean, gradients included. n = 4 is a power of two, so the
// two differ by an exact scaling: every gradient, dX and dL/dZ is exactly 4 times the mean's.
TEST_P(GradientCheck, SumReductionIsExactlyNTimesTheMean) {
  std::shared_ptr<Backend> backend = create_backend(GetParam());
  for (Loss loss : kAllLosses) {
    SCOPED_TRACE(std::string(to_string(loss)));
    const Architecture architecture = architecture_for({3, Activation::tanh, loss, Activation::identity});
    Network mean(architecture, backend), sum(architecture, backend);
    mean.initialize(8);
    sum.initialize(8);
    sum.set_loss_reduction(LossReduction::sum);
    EXPECT_EQ(sum.loss_reduction(), LossReduction::sum);
    GuardedMatrix x(4, 4), dx_mean(4, 4), dx_sum(4, 4);
    x.fill(6, -2.0f, 2.0f);
    const GuardedMatrix y = targets_for(loss, 4, 3);
    mean.forward(x.view());
    sum.forward(x.view());
    mean.backward(y.view(), dx_mean.view());
    sum.backward(y.view(), dx_sum.view());
    EXPECT_NEAR(sum.loss(y.view()), 4.0 * mean.loss(y.view()), 1e-12 * sum.loss(y.view()));
    for (std::size_t i = 0; i < mean.gradients().size(); ++i)
      ASSERT_EQ(sum.gradients()[i], 4.0f * mean.gradients()[i]) << "gradient " << i;
    for (std::size_t i = 0; i < 4; ++i) {
      for (std::size_t k = 0; k < 4; ++k) EXPECT_EQ(dx_sum.at(i, k), 4.0f * dx_mean.at(i, k));
      for (std::size_t j = 0; j < 3; ++j)
        EXPECT_EQ(sum.output_gradient()(i, j), 4.0f * mean.output_gradient()(i, j));
    }
  }
}

// An all-zero target row has zero loss and must contribute exactly nothing to the gradient.
TEST_P(GradientCheck, AnAllZeroSoftmaxTargetRowContributesNothing) {
  std::shared_ptr<Backend> backend = create_backend(GetParam());
  Network net(architecture_for({2, Activation::relu, Loss::softmax_cross_entropy, Activation::identity}),
              backend);
  GuardedMatrix x(2, 4), y(2, 3);
  x.fill(9, -2.0f, 2.0f);
  net.forward(x.view());
  net.backward(y.view());
  EXPECT_EQ(net.loss(y.view()), 0.0);
  for (const float g : net.gradients()) EXPECT_EQ(g, 0.0f);
}

INSTANTIATE_TEST_SUITE_P(EveryBackend, GradientCheck, testing::ValuesIn(backend_specs()), spec_test_name);

}  // namespace
}  // namespace mlpk::test
