// Tests of the classification metrics: argmax predictions, accuracy, the confusion matrix.
#include <mlpk/error.hpp>
#include <mlpk/metrics.hpp>

#include <gtest/gtest.h>

namespace mlpk {
namespace {

TEST(Metrics, PredictedClassesTakeTheFirstMaximum) {
  const float out[] = {0.1f, 0.7f, 0.2f,  //
                       0.5f, 0.5f, 0.0f,  // a tie: the first wins
                       0.0f, 0.1f, 0.9f};
  EXPECT_EQ(predicted_classes(ConstMatrixView(out, 3, 3)), (std::vector<std::uint32_t>{1, 0, 2}));
}

TEST(Metrics, ConfusionMatrixCountsAccuracyAndRecall) {
  ConfusionMatrix m(3);
  const std::vector<std::uint32_t> truth = {0, 0, 1, 1, 2, 2, 2};
  const std::vector<std::uint32_t> predicted = {0, 1, 1, 1, 2, 0, 2};
  m.add(truth, predicted);
  EXPECT_EQ(m.total(), 7u);
  EXPECT_EQ(m.count(0, 1), 1u);
  EXPECT_EQ(m.count(2, 0), 1u);
  EXPECT_EQ(m.count(1, 1), 2u);
  EXPECT_DOUBLE_EQ(m.accuracy(), 5.0 / 7.0);
  EXPECT_DOUBLE_EQ(m.class_accuracy(0), 0.5);
  EXPECT_DOUBLE_EQ(m.class_accuracy(2), 2.0 / 3.0);
  EXPECT_NE(m.to_string().find("recall"), std::string::npos);
  EXPECT_THROW(m.add(3, 0), Error);
  EXPECT_THROW(m.add(truth, std::vector<std::uint32_t>{0}), Error);
  EXPECT_DOUBLE_EQ(ConfusionMatrix(2).accuracy(), 0.0);
}

}  // namespace
}  // namespace mlpk
