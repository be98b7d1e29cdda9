// Preparing a loaded Dataset for training: one-hot targets, standardization, validation split,
// seeded shuffles and mini-batch gathering.
#include <mlpk/data.hpp>
#include <mlpk/error.hpp>

#include "random.hpp"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <numeric>

namespace mlpk {
namespace {

std::string short_number(float v) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", static_cast<double>(v));
  return text;
}

}  // namespace

void one_hot(Dataset& data) {
  if (data.classes == 0) throw Error("one_hot: the data set has no classes (a regression set?)");
  if (data.labels.size() != data.size())
    throw Error("one_hot: " + std::to_string(data.labels.size()) + " labels for " +
                std::to_string(data.size()) + " samples");
  data.targets = Tensor(data.size(), data.classes);
  for (std::size_t i = 0; i < data.size(); ++i) {
    if (data.labels[i] >= data.classes)
      throw Error("one_hot: label " + std::to_string(data.labels[i]) + " of sample " +
                  std::to_string(i) + " is not below the class count " + std::to_string(data.classes));
    data.targets(i, data.labels[i]) = 1.0f;
  }
}

Standardizer Standardizer::fit(const Dataset& train) {
  const std::size_t n = train.size(), d = train.dimensions();
  if (n == 0) throw Error("Standardizer::fit: the training set is empty");
  std::vector<double> sum(d, 0.0), sum2(d, 0.0);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < d; ++j) sum[j] += train.features(i, j);
  Standardizer s;
  s.mean.resize(d);
  s.stddev.resize(d);
  for (std::size_t j = 0; j < d; ++j) s.mean[j] = static_cast<float>(sum[j] / static_cast<double>(n));
  // Two passes: the variance around the mean, not E[x^2] - E[x]^2, which cancels badly.
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < d; ++j) {
      const double e = train.features(i, j) - static_cast<double>(s.mean[j]);
      sum2[j] += e * e;
    }
  for (std::size_t j = 0; j < d; ++j) {
    const double sd = std::sqrt(sum2[j] / static_cast<double>(n));
    // A constant feature (e.g. a border pixel) carries no information; leave it centred at 0.
    s.stddev[j] = sd > 1e-8 ? static_cast<float>(sd) : 1.0f;
  }
  return s;
}

void Standardizer::apply(Dataset& data) const {
  if (data.dimensions() != mean.size())
    throw Error("Standardizer: the data has " + std::to_string(data.dimensions()) +
                " features but the statistics were fitted on " + std::to_string(mean.size()));
  for (std::size_t i = 0; i < data.size(); ++i)
    for (std::size_t j = 0; j < data.dimensions(); ++j) {
      const float x = data.features(i, j);
      const float z = (x - mean[j]) / stddev[j];
      // A value near float's limit can overflow here: say which sample, not a later batch row.
      if (!std::isfinite(z))
        throw Error("Standardizer: sample " + std::to_string(i) + ", feature " + std::to_string(j) + ": " +
                    short_number(x) + " is too far from the training mean " + short_number(mean[j]) +
                    " (standardized, it overflows a float)");
      data.features(i, j) = z;
    }
}

std::vector<std::size_t> shuffled_indices(std::size_t n, std::uint64_t& rng_state) {
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t{0});
  Random random(rng_state);
  // Fisher-Yates with mlpk's generator: std::shuffle's algorithm is not specified, so it would
  // give different orders on different standard libraries.
  for (std::size_t i = n; i > 1; --i) std::swap(order[i - 1], order[random.below(i)]);
  rng_state = random.state();
  return order;
}

Dataset subset(const Dataset& data, std::span<const std::size_t> rows) {
  Dataset out;
  out.classes = data.classes;
  const std::size_t d = data.dimensions();
  out.features = Tensor(rows.size(), d);
  const bool has_targets = data.targets.rows() == data.size() && data.targets.size() > 0;
  if (has_targets) out.targets = Tensor(rows.size(), data.targets.cols());
  if (!data.labels.empty()) out.labels.resize(rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const std::size_t r = rows[i];
    if (r >= data.size())
      throw Error("subset: row " + std::to_string(r) + " of a set of " + std::to_string(data.size()));
    std::memcpy(&out.features(i, 0), data.features.data() + r * d, d * sizeof(float));
    if (has_targets) {
      const std::size_t k = data.targets.cols();
      std::memcpy(&out.targets(i, 0), data.targets.data() + r * k, k * sizeof(float));
    }
    if (!data.labels.empty()) out.labels[i] = data.labels[r];
  }
  return out;
}

Dataset split_validation(Dataset& data, double fraction, std::uint64_t seed) {
  if (!(fraction >= 0.0 && fraction < 1.0))
    throw Error("validation fraction must be in [0, 1), not " + std::to_string(fraction));
  const auto count = static_cast<std::size_t>(std::llround(fraction * static_cast<double>(data.size())));
  if (count == 0) {
    Dataset empty;
    empty.classes = data.classes;
    return empty;
  }
  if (count >= data.size()) throw Error("validation split leaves no training samples");
  // A distinct stream from the epoch shuffles, so changing the split does not change them.
  std::uint64_t state = seed ^ 0xa0761d6478bd642fULL;
  const auto order = shuffled_indices(data.size(), state);
  const std::size_t keep = data.size() - count;
  Dataset validation = subset(data, std::span(order).subspan(keep));
  data = subset(data, std::span(order).first(keep));
  return validation;
}

void gather_batch(const Dataset& data, std::span<const std::size_t> rows, std::size_t first,
                  std::size_t count, MatrixView x, MatrixView y) {
  const std::size_t d = data.dimensions(), k = data.targets.cols();
  if (data.targets.rows() != data.size())
    throw Error("gather_batch: the data set has no targets (call one_hot first)");
  if (first + count > rows.size() || x.rows < count || y.rows < count || x.cols != d || y.cols != k)
    throw Error("gather_batch: buffers or range do not fit the data set");
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t r = rows[first + i];
    std::memcpy(x.row(i), data.features.data() + r * d, d * sizeof(float));
    std::memcpy(y.row(i), data.targets.data() + r * k, k * sizeof(float));
  }
}

}  // namespace mlpk
