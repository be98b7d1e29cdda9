// Classification metrics: argmax predictions, accuracy, the confusion matrix.
#include <mlpk/error.hpp>
#include <mlpk/metrics.hpp>

#include <cstdio>

namespace mlpk {

std::uint32_t predicted_class(ConstMatrixView outputs, std::size_t row) {
  const float* values = outputs.row(row);
  std::uint32_t best = 0;
  for (std::size_t j = 1; j < outputs.cols; ++j)
    if (values[j] > values[best]) best = static_cast<std::uint32_t>(j);
  return best;
}

std::vector<std::uint32_t> predicted_classes(ConstMatrixView outputs) {
  std::vector<std::uint32_t> classes(outputs.rows, 0);
  for (std::size_t i = 0; i < outputs.rows; ++i) classes[i] = predicted_class(outputs, i);
  return classes;
}

void ConfusionMatrix::add(std::uint32_t truth, std::uint32_t predicted) {
  if (truth >= classes_ || predicted >= classes_)
    throw Error("ConfusionMatrix: class " + std::to_string(std::max(truth, predicted)) +
                " is out of range (" + std::to_string(classes_) + " classes)");
  ++counts_[{truth, predicted}];
  ++total_;
}

void ConfusionMatrix::add(std::span<const std::uint32_t> truth, std::span<const std::uint32_t> predicted) {
  if (truth.size() != predicted.size())
    throw Error("ConfusionMatrix: " + std::to_string(truth.size()) + " labels but " +
                std::to_string(predicted.size()) + " predictions");
  for (std::size_t i = 0; i < truth.size(); ++i) add(truth[i], predicted[i]);
}

std::uint64_t ConfusionMatrix::count(std::size_t truth, std::size_t predicted) const {
  if (truth >= classes_ || predicted >= classes_) return 0;
  const auto it = counts_.find({static_cast<std::uint32_t>(truth), static_cast<std::uint32_t>(predicted)});
  return it == counts_.end() ? 0 : it->second;
}

double ConfusionMatrix::accuracy() const {
  std::uint64_t right = 0;
  for (const auto& [pair, n] : counts_)
    if (pair.first == pair.second) right += n;
  return total_ == 0 ? 0.0 : static_cast<double>(right) / static_cast<double>(total_);
}

double ConfusionMatrix::class_accuracy(std::size_t c) const {
  if (c >= classes_) return 0.0;
  const auto t = static_cast<std::uint32_t>(c);
  std::uint64_t row = 0;
  for (auto it = counts_.lower_bound({t, 0}); it != counts_.end() && it->first.first == t; ++it)
    row += it->second;
  return row == 0 ? 0.0 : static_cast<double>(count(c, c)) / static_cast<double>(row);
}

std::string ConfusionMatrix::to_string() const {
  if (classes_ > kPrintedClasses)
    return "confusion matrix of " + std::to_string(classes_) + " classes not printed (more than " +
           std::to_string(kPrintedClasses) + ")\n";
  std::string s = "true\\pred";
  char cell[32];
  for (std::size_t p = 0; p < classes_; ++p) {
    std::snprintf(cell, sizeof cell, "%7zu", p);
    s += cell;
  }
  s += "  recall\n";
  for (std::size_t t = 0; t < classes_; ++t) {
    std::snprintf(cell, sizeof cell, "%9zu", t);
    s += cell;
    for (std::size_t p = 0; p < classes_; ++p) {
      std::snprintf(cell, sizeof cell, "%7llu", static_cast<unsigned long long>(count(t, p)));
      s += cell;
    }
    std::snprintf(cell, sizeof cell, "  %6.4f\n", class_accuracy(t));
    s += cell;
  }
  return s;
}

}  // namespace mlpk
