// End-to-end accuracy on real Fashion-MNIST: a bar that a broken forward or backward pass, a
// broken optimizer or a label mix-up could not pass. It trains two epochs on all 60,000 training
// images with the default backend and scores the 10,000 test images, which it never trains on.
//
// Measured (seed 1): highway 86.1%, onednn 84.5% (MLPK_BACKEND=onednn), 2.7 s per epoch; the bar
// of 84% is what the issue asks; a network that does not learn (wrong gradients, wrong labels) stays far
// below it.
#include <mlpk/data.hpp>
#include <mlpk/registry.hpp>
#include <mlpk/trainer.hpp>

#include <gtest/gtest.h>

#include <filesystem>

namespace mlpk {
namespace {

TEST(FashionMnistAccuracy, TwoEpochsReach84Percent) {
  ASSERT_TRUE(std::filesystem::exists(std::filesystem::path(kFashionMnistDirectory) / "train-labels-idx1-ubyte.gz"))
      << "Fashion-MNIST is not installed: run scripts/setup.sh (Debian package dataset-fashion-mnist)";
  Dataset train = load_fashion_mnist(kFashionMnistDirectory, true);
  Dataset test = load_fashion_mnist(kFashionMnistDirectory, false);
  ASSERT_EQ(train.size(), 60000u);
  ASSERT_EQ(test.size(), 10000u);
  one_hot(train);
  one_hot(test);

  const std::string name = default_backend_name();
  Network net(Architecture::parse("784-256-128-10", Activation::relu, Loss::softmax_cross_entropy),
              create_backend(name));
  net.initialize(1);
  OptimizerOptions o;
  o.learning_rate = 1e-3f;
  Adam adam(o);
  Trainer trainer(net, adam, TrainerOptions{2, 32, 1});
  const auto reports = trainer.fit(train);
  const Evaluation e = evaluate(net, test);
  std::printf("backend %s: train loss %.4f -> %.4f, test loss %.4f, test accuracy %.4f (%.1f s/epoch)\n",
              name.c_str(), reports.front().train_loss, reports.back().train_loss, e.loss, e.accuracy,
              reports.back().seconds);
  EXPECT_GE(e.accuracy, 0.84);
  EXPECT_LT(e.loss, 0.48);
  // Every class is learned, not just the easy ones (shirts, class 6, are the hardest: ~50%).
  for (std::size_t c = 0; c < 10; ++c) EXPECT_GT(e.confusion.class_accuracy(c), 0.3) << "class " << c;
}

}  // namespace
}  // namespace mlpk
