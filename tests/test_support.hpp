// Shared by the tests: matrices with guard padding, deterministic fills, the backend list, and
// the tolerance rule, stated once.
#pragma once

#include <mlpk/mlpk.hpp>

#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace mlpk::test {

// Every backend spec the conformance suite runs: each available backend, and each variant
// (e.g. SIMD target) it offers, as "name:variant".
inline std::vector<std::string> backend_specs() {
  std::vector<std::string> specs;
  for (const auto& name : available_backends()) {
    specs.push_back(name);
    for (const auto& variant : create_backend(name)->variants()) specs.push_back(name + ":" + variant);
  }
  return specs;
}

// gtest parameter names allow only [A-Za-z0-9_].
inline std::string spec_test_name(const testing::TestParamInfo<std::string>& info) {
  std::string s = info.param;
  for (char& c : s)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return s;
}

// --- the tolerance rule ------------------------------------------------------------------------
// A float result may differ from the double-accumulated reference by the rounding error of its
// own computation. For a sum of k products the classic bound is k * eps * sum |terms|; we allow
// twice that. Element-wise functions may be off by a few ulps of max(|value|, 1): vector
// exp/tanh approximations are within ~4 ulp; we allow 16.
inline constexpr double kEps = FLT_EPSILON;
inline constexpr double kReductionFactor = 2.0;
inline constexpr double kElementwiseUlps = 16.0;

// |result - expected| allowed for a reduction of `length` terms whose absolute values sum to
// `magnitude`.
inline double reduction_tolerance(std::size_t length, double magnitude) {
  return kReductionFactor * static_cast<double>(length + 1) * kEps * magnitude + 1e-30;
}
// |result - expected| allowed for an element-wise result.
inline double elementwise_tolerance(double expected) {
  return kElementwiseUlps * kEps * std::max(1.0, std::abs(expected));
}

// --- matrices with guards --------------------------------------------------------------------
// A rows x cols matrix stored with `pad` extra columns per row and one extra guard row, all
// guards NaN: a kernel that reads them poisons its result, one that writes them is caught by
// guards_intact().
class GuardedMatrix {
 public:
  GuardedMatrix(std::size_t rows, std::size_t cols, std::size_t pad = 0)
      : rows_(rows), cols_(cols), stride_(cols + pad),
        storage_((rows + 1) * (cols + pad) + 1, std::numeric_limits<float>::quiet_NaN()) {
    for (std::size_t i = 0; i < rows; ++i)
      for (std::size_t j = 0; j < cols; ++j) at(i, j) = 0.0f;
  }

  float& at(std::size_t i, std::size_t j) { return storage_[i * stride_ + j]; }
  float at(std::size_t i, std::size_t j) const { return storage_[i * stride_ + j]; }
  MatrixView view() { return {storage_.data(), rows_, cols_, stride_}; }
  ConstMatrixView view() const { return {storage_.data(), rows_, cols_, stride_}; }
  std::size_t rows() const { return rows_; }
  std::size_t cols() const { return cols_; }

  // Fills with values uniform in [lo, hi) from a fixed seed.
  GuardedMatrix& fill(std::uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
    std::uint64_t s = seed * 0x9e3779b97f4a7c15ULL + 1;
    for (std::size_t i = 0; i < rows_; ++i)
      for (std::size_t j = 0; j < cols_; ++j) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        at(i, j) = lo + (hi - lo) * static_cast<float>((s >> 40) * 0x1.0p-24);
      }
    return *this;
  }

  bool guards_intact() const {
    for (std::size_t k = 0; k < storage_.size(); ++k) {
      const std::size_t i = k / stride_, j = k % stride_;
      if ((i >= rows_ || j >= cols_) && !std::isnan(storage_[k])) return false;
    }
    return true;
  }

 private:
  std::size_t rows_, cols_, stride_;
  std::vector<float> storage_;
};

inline std::vector<float> random_vector(std::size_t n, std::uint64_t seed, float lo = -1.0f,
                                        float hi = 1.0f) {
  GuardedMatrix m(1, n);
  m.fill(seed, lo, hi);
  std::vector<float> v(n);
  for (std::size_t j = 0; j < n; ++j) v[j] = m.at(0, j);
  return v;
}

}  // namespace mlpk::test
