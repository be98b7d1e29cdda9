// Dropout masks: which elements of a hidden layer's output a training step drops.
//
// Inverted dropout with rate p: a kept element is scaled by 1/(1 - p) and a dropped one becomes
// 0, so each output's expectation is its value in evaluation mode, where nothing is dropped.
//
// Whether element (r, c) of layer l's output (row r of the batch, column c) is dropped in
// training step t is a pure function of (seed, t, l, r, c): a counter-based generator,
// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011), gives
// each element its own 32-bit word without any state carried from one element to the next. So
// a mask is the same bits for any thread count, any cut of the work into blocks and any
// backend; a run resumed at step t draws the masks the uninterrupted run would have; and the
// backward pass regenerates the forward's mask instead of storing it.
//
// The word of element (r, c): columns are grouped in tiles of 64. With T = c / 64, q = c % 64:
//   counter = {16 T + q % 16, r, t mod 2^32, ((t >> 32) * 4096 + l) mod 2^32}
//   key     = {seed mod 2^32, seed >> 32}
// and the element takes word q / 16 of the four philox4x32_10(counter, key) returns. 16
// counters thus give the words of 64 consecutive columns, 16 consecutive columns from each of
// the four words: a SIMD backend computes a vector of up to 16 counters at once and reads its
// columns straight from each output vector, with no shuffle. The element is dropped when its
// word is below threshold() = floor(p * 2^32), so it is kept with probability 1 - p (to 2^-32).
// Masks of steps t and t + 2^52 coincide (the optimizer stops at 2^53 steps); every other
// (seed, step, layer) draws a mask of its own.
#pragma once

#include <array>
#include <cstdint>

namespace mlpk {

// The four words of `counter` under `key`: ten rounds of the Philox 4x32 bijection, as in
// Random123's philox4x32_10 (the tests check its published known answers).
std::array<std::uint32_t, 4> philox4x32_10(std::array<std::uint32_t, 4> counter,
                                           std::array<std::uint32_t, 2> key);

// Layers a mask can name: layer l is the 0-based index of the layer whose output is dropped,
// below 4096 (as many as a Network may have, kMaxLayers).
inline constexpr std::uint32_t kDropoutLayers = 4096;

// The mask of one layer in one training step, positioned on the view a kernel is given:
// element (i, j) of the view is element (row + i, col + j) of the layer's output.
struct DropoutMask {
  std::uint64_t seed = 0;   // of the training run (TrainingState::dropout_seed)
  std::uint64_t step = 0;   // the training step: optimizer steps taken before it
  std::uint32_t layer = 0;  // below kDropoutLayers
  float rate = 0.0f;        // p, in [0, 1)
  std::uint64_t row = 0, col = 0;

  // The same mask positioned on the block at (i, j) of this one's view.
  DropoutMask at(std::uint64_t i, std::uint64_t j) const {
    DropoutMask m = *this;
    m.row += i;
    m.col += j;
    return m;
  }
  // An element whose word is below it is dropped: floor(rate * 2^32).
  std::uint32_t threshold() const;
  // 1 / (1 - rate) rounded once to float: the factor of a kept element in float kernels.
  float scale() const;
  std::array<std::uint32_t, 2> key() const;  // {seed mod 2^32, seed >> 32}
  // The counter words that depend on neither the row nor the column, counter[2] and counter[3]
  // above: {t mod 2^32, ((t >> 32) * 4096 + layer) mod 2^32}.
  std::array<std::uint32_t, 2> step_and_layer() const;
  // The 64 words of columns 64 tile .. 64 tile + 63 in row r of the layer's output (layer
  // coordinates, not the view's).
  void tile_words(std::uint64_t r, std::uint64_t tile, std::uint32_t words[64]) const;
  // Whether element (i, j) of the view is kept. One Philox call an element: kernels that walk
  // rows use tile_words instead, a call for four elements.
  bool keeps(std::uint64_t i, std::uint64_t j) const;
};

}  // namespace mlpk
