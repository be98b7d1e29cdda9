// Plain SGD's step folded into the backward (Optimizer::backward_and_step: each weight gradient
// product writes W - lr dW into W, after the input gradient has read the old W) is the step of
// backward() then step(): on every backend within the rounding of that one multiply-add, and bit
// for bit on highway while the batch fits one block of its GEMM's reduction (its epilogue
// rounds alpha acc + C once, as axpy does). Other optimizers take the plain path.
#include "test_support.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

namespace mlpk::test {
namespace {

class SgdFold : public testing::TestWithParam<std::string> {};

struct Case {
  const char* layers;
  Activation hidden;
  Loss loss;
  std::size_t batch;
};

Network make_network(const std::string& spec, const Case& c, std::size_t threads) {
  Network net(Architecture::parse(c.layers, c.hidden, c.loss), create_backend(spec));
  net.set_threads(threads);
  net.initialize(7);
  return net;
}

struct Batch {
  GuardedMatrix x, y;
};

Batch make_batch(const Architecture& arch, std::size_t rows, int step) {
  Batch b{GuardedMatrix(rows, arch.inputs), GuardedMatrix(rows, arch.outputs())};
  b.x.fill(11 + static_cast<std::uint32_t>(step));
  for (std::size_t i = 0; i < rows; ++i) b.y.at(i, (i * 7 + static_cast<std::size_t>(step)) % arch.outputs()) = 1.0f;
  return b;
}

// The parameters after three steps of a schedule that changes the rate each step, folded
// (train_batch) or not (forward_training, loss, backward, step).
std::vector<float> train(const std::string& spec, const Case& c, std::size_t threads, bool folded,
                         std::uint64_t* steps) {
  Network net = make_network(spec, c, threads);
  OptimizerOptions o;
  o.learning_rate = 0.05f;
  o.schedule.kind = ScheduleKind::step;
  o.schedule.gamma = 0.5f;
  Sgd sgd(o);
  for (int step = 0; step < 3; ++step) {
    const Batch b = make_batch(net.architecture(), c.batch, step);
    if (folded) {
      train_batch(net, sgd, b.x.view(), b.y.view());
    } else {
      net.forward_training(b.x.view(), {0, sgd.steps()});
      static_cast<void>(net.loss(b.y.view()));
      net.backward(b.y.view());
      sgd.step(net);
    }
  }
  *steps = sgd.steps();
  return {net.parameters().begin(), net.parameters().end()};
}

TEST_P(SgdFold, IsBackwardThenStep) {
  const std::string spec = GetParam();
  const bool highway = spec.rfind("highway", 0) == 0;
  // Owned layers and not, a softmax hidden layer (its input gradient cut by rows), dropout, MSE
  // (its output gradient through g'), and a batch longer than a reduction block (400 > 384).
  const Case cases[] = {{"300-256-200-10", Activation::relu, Loss::softmax_cross_entropy, 96},
                        {"64-40-40-3", Activation::softmax, Loss::softmax_cross_entropy, 33},
                        {"300-256:0.5-200:0.2-10", Activation::gelu, Loss::softmax_cross_entropy, 96},
                        {"20-48-7", Activation::tanh, Loss::mean_squared_error, 50},
                        {"300-256-200-10", Activation::relu, Loss::softmax_cross_entropy, 400}};
  for (const Case& c : cases) {
    for (std::size_t threads : {1, 2}) {
      SCOPED_TRACE(std::string(c.layers) + " batch " + std::to_string(c.batch) + ", " +
                   std::to_string(threads) + " threads");
      std::uint64_t folded_steps = 0, plain_steps = 0;
      const auto folded = train(spec, c, threads, true, &folded_steps);
      const auto plain = train(spec, c, threads, false, &plain_steps);
      EXPECT_EQ(folded_steps, 3u);
      EXPECT_EQ(plain_steps, 3u);
      ASSERT_EQ(folded.size(), plain.size());
      std::size_t differ = 0, beyond = 0;
      double worst = 0.0;
      for (std::size_t i = 0; i < folded.size(); ++i) {
        const double d = std::abs(static_cast<double>(folded[i]) - plain[i]);
        differ += folded[i] != plain[i];
        beyond += d > elementwise_tolerance(plain[i]);
        worst = std::max(worst, d);
      }
      EXPECT_EQ(beyond, 0u) << "worst difference " << worst;
      if (highway && c.batch <= 256) {  // one K block on every target (KC 256 or 384)
        EXPECT_EQ(differ, 0u) << "of " << folded.size() << " parameters; worst " << worst;
      }
      EXPECT_GT(*std::max_element(folded.begin(), folded.end()), 0.0f);
    }
  }
}

TEST(SgdFold, ARateThatReachesZeroStepsNowhere) {
  // Cosine to a minimum of 0 over 2 steps: the third step's rate is 0, and the network stays put.
  Network net(Architecture::parse("6-5-2", Activation::relu, Loss::softmax_cross_entropy), create_backend("highway"));
  net.initialize(3);
  OptimizerOptions o;
  o.learning_rate = 0.1f;
  o.schedule.kind = ScheduleKind::cosine;
  o.schedule.total_steps = 2;
  Sgd sgd(o);
  const Batch b = make_batch(net.architecture(), 4, 0);
  for (int i = 0; i < 2; ++i) train_batch(net, sgd, b.x.view(), b.y.view());
  ASSERT_EQ(sgd.current_learning_rate(), 0.0f);
  const std::vector<float> before(net.parameters().begin(), net.parameters().end());
  EXPECT_NO_THROW(train_batch(net, sgd, b.x.view(), b.y.view()));
  EXPECT_EQ(sgd.steps(), 3u);
  const auto after = net.parameters();
  EXPECT_TRUE(std::equal(before.begin(), before.end(), after.begin(), after.end()));
}

TEST(SgdFold, OtherOptimizersStepFromTheGradients) {
  // Weight decay, clipping, momentum and Adam need every gradient: backward_and_step is
  // backward() then step(), and the gradients are written.
  for (int kind = 0; kind < 4; ++kind) {
    SCOPED_TRACE(kind);
    Network net(Architecture::parse("6-5-2", Activation::relu, Loss::softmax_cross_entropy), create_backend("reference"));
    net.initialize(3);
    OptimizerOptions o;
    o.learning_rate = 0.1f;
    if (kind == 0) o.weight_decay = 0.01f;
    if (kind == 1) o.clip_norm = 0.5f;
    const auto optimizer = make_optimizer(kind == 2 ? OptimizerKind::momentum
                                          : kind == 3 ? OptimizerKind::adam
                                                      : OptimizerKind::sgd, o);
    std::fill(net.gradients().begin(), net.gradients().end(), 0.0f);
    const Batch b = make_batch(net.architecture(), 4, 0);
    net.forward_training(b.x.view(), {0, 0});
    optimizer->backward_and_step(net, b.y.view());
    const auto g = net.gradients();
    EXPECT_TRUE(std::any_of(g.begin(), g.begin() + 6 * 5, [](float v) { return v != 0.0f; }))
        << "W[0]'s gradients were not written";
    EXPECT_EQ(optimizer->steps(), 1u);
  }
}

INSTANTIATE_TEST_SUITE_P(EveryBackend, SgdFold, testing::ValuesIn(backend_specs()), spec_test_name);

}  // namespace
}  // namespace mlpk::test
