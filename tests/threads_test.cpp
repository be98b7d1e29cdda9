// Threads change speed, not results: training gives bit-identical weights for 1, 2, 3, 4, 8 and 16
// threads on every backend that says it is deterministic (whether or not it is block-invariant:
// the Network's cut sees to that), and agrees within tolerance otherwise.
#include "test_support.hpp"

#include <gmock/gmock.h>

#include <cstdlib>
#include <memory>

namespace mlpk::test {
namespace {

class Threads : public testing::TestWithParam<std::string> {};

// Trains a few steps with `threads` threads on shapes that make every kernel split into tasks
// (wide layers, a batch of 96), plus a softmax hidden layer, which is cut by rows.
std::vector<float> train(const std::string& spec, std::size_t threads, const std::string& layers,
                         Activation hidden, std::size_t batch) {
  Network net(Architecture::parse(layers, hidden, Loss::softmax_cross_entropy), create_backend(spec));
  net.set_threads(threads);
  EXPECT_EQ(net.threads(), threads);
  net.initialize(42);
  const Architecture& arch = net.architecture();
  GuardedMatrix x(batch, arch.inputs), y(batch, arch.outputs());
  x.fill(5);
  for (std::size_t i = 0; i < batch; ++i) y.at(i, (i * 3) % arch.outputs()) = 1.0f;
  Sgd sgd(0.05f);
  for (int step = 0; step < 3; ++step) train_batch(net, sgd, x.view(), y.view());
  return {net.parameters().begin(), net.parameters().end()};
}

TEST_P(Threads, SameWeightsForAnyThreadCount) {
  const bool deterministic = create_backend(GetParam())->deterministic();
  // 520-64-48-10's blocks of 16 and 48 columns cross the onednn backend's 32-column switch; the
  // last network drops (train_batch runs training mode), its masks cut as the products are.
  // All but 64-40-40-3 have owned weights (cut_weights); 128-128-128-10 under softmax, whose
  // forward sums the partials in whole rows and whose input gradient is cut by rows.
  for (auto [layers, hidden] : {std::pair{"300-256-200-10", Activation::relu},
                                {"64-40-40-3", Activation::softmax},
                                {"128-128-128-10", Activation::softmax},
                                {"520-64-48-10", Activation::tanh},
                                {"300-256:0.5-200:0.2-10", Activation::gelu}}) {
    SCOPED_TRACE(layers);
    const auto one = train(GetParam(), 1, layers, hidden, 96);
    for (std::size_t threads : {2, 3, 4, 8, 16}) {  // 8 and 16 cut kernels into more tasks
      const auto many = train(GetParam(), threads, layers, hidden, 96);
      ASSERT_EQ(one.size(), many.size());
      std::size_t differ = 0;
      for (std::size_t i = 0; i < one.size(); ++i)
        differ += deterministic ? one[i] != many[i] : std::abs(one[i] - many[i]) > 1e-5f;
      EXPECT_EQ(differ, 0u) << threads << " threads: " << differ << " of " << one.size()
                            << " weights differ from 1 thread"
                            << (deterministic ? " (the backend says it is deterministic)" : "");
    }
  }
}

TEST(ThreadCount, ComesFromTheEnvironmentOrTheCores) {
  Network net(Architecture::parse("4-3", Activation::relu, Loss::mean_squared_error), create_backend("reference"));
  EXPECT_GE(net.threads(), 1u);
  ::setenv("MLPK_NUM_THREADS", "3", 1);
  net.set_threads(0);
  EXPECT_EQ(net.threads(), 3u);
  ::setenv("MLPK_NUM_THREADS", "many", 1);
  EXPECT_THAT([&] { net.set_threads(0); },
              testing::ThrowsMessage<Error>(testing::HasSubstr("MLPK_NUM_THREADS must be a positive integer, not 'many'")));
  ::unsetenv("MLPK_NUM_THREADS");
}

INSTANTIATE_TEST_SUITE_P(EveryBackend, Threads, testing::ValuesIn(backend_specs()), spec_test_name);

}  // namespace
}  // namespace mlpk::test
