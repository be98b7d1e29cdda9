// Classification metrics: predicted classes, accuracy and the per-class confusion matrix.
#pragma once

#include <mlpk/tensor.hpp>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace mlpk {

// The index of the largest value of each row (the first one on ties).
std::vector<std::uint32_t> predicted_classes(ConstMatrixView outputs);
// The predicted class of one row (the first largest output), without allocating.
std::uint32_t predicted_class(ConstMatrixView outputs, std::size_t row);

// counts(t, p): how many samples of true class t were predicted as class p.
class ConfusionMatrix {
 public:
  explicit ConfusionMatrix(std::size_t classes = 0) : classes_(classes), counts_(classes * classes, 0) {}
  // Throws mlpk::Error for a class out of range.
  void add(std::uint32_t truth, std::uint32_t predicted);
  void add(std::span<const std::uint32_t> truth, std::span<const std::uint32_t> predicted);

  std::size_t classes() const { return classes_; }
  std::uint64_t count(std::size_t truth, std::size_t predicted) const {
    return counts_[truth * classes_ + predicted];
  }
  std::uint64_t total() const;
  double accuracy() const;  // trace / total; 0 when empty
  // Of the samples of class c, the fraction predicted as c (recall); 0 when there are none.
  double class_accuracy(std::size_t c) const;
  // A text table: one row per true class, one column per predicted class, then its recall.
  std::string to_string() const;

 private:
  std::size_t classes_;
  std::vector<std::uint64_t> counts_;
};

}  // namespace mlpk
