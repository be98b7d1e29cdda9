// Classification metrics: predicted classes, accuracy and the per-class confusion matrix.
#pragma once

#include <mlpk/tensor.hpp>

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace mlpk {

// The index of the largest value of each row (the first one on ties).
std::vector<std::uint32_t> predicted_classes(ConstMatrixView outputs);
// The predicted class of one row (the first largest output), without allocating.
std::uint32_t predicted_class(ConstMatrixView outputs, std::size_t row);

// counts(t, p): how many samples of true class t were predicted as class p. Only the pairs that
// occur are stored (memory grows with the samples, not with classes^2), so a network of many
// outputs costs no quadratic matrix.
class ConfusionMatrix {
 public:
  explicit ConfusionMatrix(std::size_t classes = 0) : classes_(classes) {}
  // Throws mlpk::Error for a class out of range.
  void add(std::uint32_t truth, std::uint32_t predicted);
  void add(std::span<const std::uint32_t> truth, std::span<const std::uint32_t> predicted);

  std::size_t classes() const { return classes_; }
  std::uint64_t count(std::size_t truth, std::size_t predicted) const;
  std::uint64_t total() const { return total_; }
  double accuracy() const;  // trace / total; 0 when empty
  // Of the samples of class c, the fraction predicted as c (recall); 0 when there are none.
  double class_accuracy(std::size_t c) const;
  // A text table: one row per true class, one column per predicted class, then its recall; for
  // more than kPrintedClasses classes one line saying so instead (a table of 3,000 classes is
  // 63 MB of text that no one reads).
  std::string to_string() const;
  static constexpr std::size_t kPrintedClasses = 32;  // 32 columns of 7 characters fill a wide terminal

 private:
  std::size_t classes_;
  std::uint64_t total_ = 0;
  std::map<std::pair<std::uint32_t, std::uint32_t>, std::uint64_t> counts_;  // (truth, predicted)
};

}  // namespace mlpk
