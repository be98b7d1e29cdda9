// Inverted dropout of the highway backend for one Highway target: the mask's Philox4x32-10 words
// computed a vector of counters at a time, and Y = X * keep * scale applied in the same pass.
//
// dropout.hpp lays the words out so that 16 consecutive counters give 64 consecutive columns,
// 16 from each of their four words. A vector of N lanes (N = 4, 8 or 16: a divisor of 16) runs
// Philox on N counters and gets N consecutive columns from each output word, which it applies
// directly. Columns of a vector that straddles the view's edge are applied one by one from the
// same words, with the same float multiply, so a block computes the bits the whole would.
// (Mask words cannot be stored for the backward pass without memory per element; recomputing
// them costs what the forward's did.)
// Included once per target (foreach_target.h), hence the toggling include guard.

#if defined(MLPK_HIGHWAY_F32_DROPOUT_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef MLPK_HIGHWAY_F32_DROPOUT_INL_H_
#undef MLPK_HIGHWAY_F32_DROPOUT_INL_H_
#else
#define MLPK_HIGHWAY_F32_DROPOUT_INL_H_
#endif

#include <hwy/highway.h>

#include <mlpk/dropout.hpp>
#include <mlpk/tensor.hpp>

#include <array>
#include <cstddef>
#include <cstdint>

HWY_BEFORE_NAMESPACE();
namespace mlpk::highway {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// The high and low words of a * m in every lane.
template <class DU, class V = hn::Vec<DU>>
HWY_INLINE void MulHiLo(DU du, V a, std::uint32_t m, V& hi, V& lo) {
#if HWY_TARGET == HWY_SCALAR  // one lane: no wider vector to multiply into
  const std::uint64_t p = std::uint64_t{hn::GetLane(a)} * m;
  hi = hn::Set(du, static_cast<std::uint32_t>(p >> 32));
  lo = hn::Set(du, static_cast<std::uint32_t>(p));
#else
  const hn::RepartitionToWide<DU> dw;
  const V vm = hn::Set(du, m);
  const auto even = hn::MulEven(a, vm);  // the 64-bit products of lanes 0, 2, 4, ...
  const auto odd = hn::MulEven(hn::BitCast(du, hn::ShiftRight<32>(hn::BitCast(dw, a))), vm);
  // A 64-bit product's high word sits in the odd lane: odd products' in place, even ones' shifted.
  hi = hn::OddEven(hn::BitCast(du, odd), hn::BitCast(du, hn::ShiftRight<32>(even)));
  lo = hn::Mul(a, vm);  // (from the products by shift and blend it measured slower)
#endif
}

// Counter vectors that run through Philox together. The ten rounds of one vector are a chain of
// dependent multiplies; independent chains in flight keep the multipliers busy (a 256 x 512
// block on AVX-512: 104 us with one chain, 84 with four, on a loaded 2-core EPYC). Four
// streams' state and temporaries fit AVX-512's 32 registers; two fit the 16 of AVX2 and SSE.
#if HWY_TARGET <= HWY_AVX3
inline constexpr std::size_t kPhiloxStreams = 4;
#else
inline constexpr std::size_t kPhiloxStreams = 2;
#endif

// Philox4x32-10 (core/dropout.cpp, the scalar original) on kPhiloxStreams vectors of counters
// c[s][0..3]; they hold the four output words after it.
template <class DU, class V = hn::Vec<DU>>
HWY_INLINE void Philox4x32x10(DU du, V (&c)[kPhiloxStreams][4], std::array<std::uint32_t, 2> key) {
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      key[0] += 0x9E3779B9u;
      key[1] += 0xBB67AE85u;
    }
    const V k0 = hn::Set(du, key[0]), k1 = hn::Set(du, key[1]);
    for (std::size_t s = 0; s < kPhiloxStreams; ++s) {
      V hi0, lo0, hi1, lo1;
      MulHiLo(du, c[s][0], 0xD2511F53u, hi0, lo0);
      MulHiLo(du, c[s][2], 0xCD9E8D57u, hi1, lo1);
      c[s][0] = hn::Xor3(hi1, c[s][1], k0);
      c[s][2] = hn::Xor3(hi0, c[s][3], k1);
      c[s][1] = lo1;
      c[s][3] = lo0;
    }
  }
}

// Counter vector u of a row holds counters N u .. N u + N - 1 (N lanes, a divisor of 16), which
// are counters 16 T + q of tile T = N u / 16, q = N u % 16 + lane: their word k is the mask word
// of columns 64 T + 16 k + q (dropout.hpp). The view's columns [first, end) of every row need
// the vectors [u_begin, u_end); rows and vectors are walked as one sequence, kPhiloxStreams at
// a time, so that a narrow block (one vector a row) still fills every stream.
inline void DropoutForward(const DropoutMask& mask, ConstMatrixView x, MatrixView y) {
  const hn::CappedTag<std::uint32_t, 16> du;
  const hn::Rebind<float, decltype(du)> df;
  using VU = hn::Vec<decltype(du)>;
  const std::size_t lanes = hn::Lanes(du);
  const std::array<std::uint32_t, 2> key = mask.key(), step_and_layer = mask.step_and_layer();
  const std::uint32_t threshold = mask.threshold();
  const float scale = mask.scale();
  const VU vthreshold = hn::Set(du, threshold);
  const auto vscale = hn::Set(df, scale);
  const std::uint64_t first = mask.col, end = mask.col + x.cols;  // the view's layer columns
  const std::uint64_t u_begin = first / 64 * 16 / lanes, u_end = (end + 63) / 64 * 16 / lanes;

  // Applies the words of vector u to row i of the view.
  const auto apply = [&](std::size_t i, std::uint64_t u, const VU (&words)[4]) {
    const float* xr = x.row(i);
    float* yr = y.row(i);  // may be xr: dropout may run in place
    const std::uint64_t counter = lanes * u;
    for (std::size_t k = 0; k < 4; ++k) {
      const std::uint64_t c = counter / 16 * 64 + 16 * k + counter % 16;  // the column of lane 0
      if (c + lanes <= first || c >= end) continue;
      if (c >= first && c + lanes <= end) {
        const std::size_t j = c - first;
        const auto dropped = hn::RebindMask(df, hn::Lt(words[k], vthreshold));
        hn::StoreU(hn::IfThenZeroElse(dropped, hn::Mul(hn::LoadU(df, xr + j), vscale)), df, yr + j);
        continue;
      }
      // A vector across the view's edge: its columns inside, one by one, with the same multiply.
      HWY_ALIGN std::uint32_t word[16];
      hn::Store(words[k], du, word);
      for (std::size_t lane = 0; lane < lanes; ++lane) {
        if (c + lane < first || c + lane >= end) continue;
        const std::size_t j = c + lane - first;
        yr[j] = word[lane] >= threshold ? xr[j] * scale : 0.0f;
      }
    }
  };

  std::size_t row = 0;
  std::uint64_t u = u_begin;
  while (row < x.rows) {
    std::size_t rows[kPhiloxStreams];
    std::uint64_t vectors[kPhiloxStreams];
    std::size_t streams = 0;
    for (; streams < kPhiloxStreams && row < x.rows; ++streams) {
      rows[streams] = row;
      vectors[streams] = u;
      if (++u == u_end) {
        u = u_begin;
        ++row;
      }
    }
    VU words[kPhiloxStreams][4];
    for (std::size_t s = 0; s < kPhiloxStreams; ++s) {
      const std::size_t from = s < streams ? s : 0;  // unused streams repeat the first
      words[s][0] = hn::Iota(du, static_cast<std::uint32_t>(lanes * vectors[from]));
      words[s][1] = hn::Set(du, static_cast<std::uint32_t>(mask.row + rows[from]));
      words[s][2] = hn::Set(du, step_and_layer[0]);
      words[s][3] = hn::Set(du, step_and_layer[1]);
    }
    Philox4x32x10(du, words, key);
    for (std::size_t s = 0; s < streams; ++s) apply(rows[s], vectors[s], words[s]);
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace mlpk::highway
HWY_AFTER_NAMESPACE();

#endif  // MLPK_HIGHWAY_F32_DROPOUT_INL_H_
