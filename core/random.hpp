// Random: a small seeded generator with its own distributions, so that a seed gives the same
// numbers on every platform and standard library (std:: distributions are not specified exactly).
#pragma once

#include <cmath>
#include <cstdint>
#include <numbers>

namespace mlpk {

class Random {
 public:
  explicit Random(std::uint64_t seed) : state_(seed) {}

  // SplitMix64: passes BigCrush, one 64-bit state, trivially seedable, and a counter: the
  // generator n calls ahead is skip(n) away, so blocks of one sequence can be drawn in parallel.
  std::uint64_t next() {
    std::uint64_t z = (state_ += kGamma);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // As if next() had been called n times.
  void skip(std::uint64_t n) { state_ += n * kGamma; }
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // Standard normal by Box-Muller (one value per call: simple beats the saved half).
  double normal() {
    const double u1 = 1.0 - uniform();  // in (0, 1]: log is finite
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
  }
  // Uniform integer in [0, n).
  std::uint64_t below(std::uint64_t n) { return next() % n; }
  // The whole generator state: Random(state()) continues the same sequence (for checkpoints).
  std::uint64_t state() const { return state_; }

 private:
  static constexpr std::uint64_t kGamma = 0x9e3779b97f4a7c15ULL;
  std::uint64_t state_;
};

}  // namespace mlpk
