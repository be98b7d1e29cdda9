// Dropout masks: the Philox4x32-10 generator and the element-to-word layout of dropout.hpp.
#include <mlpk/dropout.hpp>

namespace mlpk {
namespace {

// Random123's constants: the round multipliers and the Weyl increments of the key.
constexpr std::uint32_t kMultiplier0 = 0xD2511F53u, kMultiplier1 = 0xCD9E8D57u;
constexpr std::uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;

constexpr std::uint32_t low(std::uint64_t x) { return static_cast<std::uint32_t>(x); }
constexpr std::uint32_t high(std::uint64_t x) { return static_cast<std::uint32_t>(x >> 32); }

}  // namespace

std::array<std::uint32_t, 4> philox4x32_10(std::array<std::uint32_t, 4> c,
                                           std::array<std::uint32_t, 2> k) {
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k[0] += kWeyl0;
      k[1] += kWeyl1;
    }
    const std::uint64_t p0 = std::uint64_t{kMultiplier0} * c[0];
    const std::uint64_t p1 = std::uint64_t{kMultiplier1} * c[2];
    c = {high(p1) ^ c[1] ^ k[0], low(p1), high(p0) ^ c[3] ^ k[1], low(p0)};
  }
  return c;
}

std::uint32_t DropoutMask::threshold() const {
  // rate < 1, so the product is below 2^32; exact in double, as is the float rate.
  return static_cast<std::uint32_t>(static_cast<double>(rate) * 0x1.0p32);
}

float DropoutMask::scale() const {
  return static_cast<float>(1.0 / (1.0 - static_cast<double>(rate)));
}

std::array<std::uint32_t, 2> DropoutMask::key() const { return {low(seed), high(seed)}; }

std::array<std::uint32_t, 2> DropoutMask::step_and_layer() const {
  return {low(step), static_cast<std::uint32_t>(high(step) * std::uint64_t{kDropoutLayers} + layer)};
}

void DropoutMask::tile_words(std::uint64_t r, std::uint64_t tile, std::uint32_t words[64]) const {
  // philox4x32_10 on the tile's 16 counters at once, round by round, word k of counter `lane`
  // in words[16 k + lane]: lane loops the compiler vectorizes for the baseline instruction set
  // (the default dropout kernel's speed).
  const auto [t_low, t_high] = step_and_layer();
  std::uint32_t* c0 = words;
  std::uint32_t* c1 = words + 16;
  std::uint32_t* c2 = words + 32;
  std::uint32_t* c3 = words + 48;
  for (std::uint32_t lane = 0; lane < 16; ++lane) {
    c0[lane] = low(16 * tile + lane);
    c1[lane] = low(r);
    c2[lane] = t_low;
    c3[lane] = t_high;
  }
  std::array<std::uint32_t, 2> k = key();
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k[0] += kWeyl0;
      k[1] += kWeyl1;
    }
    for (std::uint32_t lane = 0; lane < 16; ++lane) {
      const std::uint64_t p0 = std::uint64_t{kMultiplier0} * c0[lane];
      const std::uint64_t p1 = std::uint64_t{kMultiplier1} * c2[lane];
      c0[lane] = high(p1) ^ c1[lane] ^ k[0];
      c1[lane] = low(p1);
      c2[lane] = high(p0) ^ c3[lane] ^ k[1];
      c3[lane] = low(p0);
    }
  }
}

bool DropoutMask::keeps(std::uint64_t i, std::uint64_t j) const {
  const std::uint64_t r = row + i, c = col + j, q = c % 64;
  const auto [t_low, t_high] = step_and_layer();
  const auto w = philox4x32_10({low(16 * (c / 64) + q % 16), low(r), t_low, t_high}, key());
  return w[q / 16] >= threshold();
}

}  // namespace mlpk
