// Inverted dropout of the highway backend for one Highway target: the mask's Philox4x32-10 words
// computed a vector of counters at a time, and Y = X * keep * scale applied in the same pass.
//
// dropout.hpp lays the words out so that 16 consecutive counters give 64 consecutive columns,
// 16 from each of their four words. A vector of N lanes (N = 4, 8 or 16: a divisor of 16) runs
// Philox on N counters and gets N consecutive columns from each output word, which it applies
// directly. Columns of a vector that straddles the view's edge are applied one by one from the
// same words, with the same float multiply, so a block computes the bits the whole would.
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
  lo = hn::Mul(a, vm);
#endif
}

// Philox4x32-10 (core/dropout.cpp, the scalar original) on a vector of counters c0..c3; they
// hold the four output words after it.
template <class DU, class V = hn::Vec<DU>>
HWY_INLINE void Philox4x32x10(DU du, V& c0, V& c1, V& c2, V& c3, std::array<std::uint32_t, 2> key) {
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      key[0] += 0x9E3779B9u;
      key[1] += 0xBB67AE85u;
    }
    V hi0, lo0, hi1, lo1;
    MulHiLo(du, c0, 0xD2511F53u, hi0, lo0);
    MulHiLo(du, c2, 0xCD9E8D57u, hi1, lo1);
    c0 = hn::Xor(hn::Xor(hi1, c1), hn::Set(du, key[0]));
    c2 = hn::Xor(hn::Xor(hi0, c3), hn::Set(du, key[1]));
    c1 = lo1;
    c3 = lo0;
  }
}

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
  for (std::size_t i = 0; i < x.rows; ++i) {
    const float* xr = x.row(i);
    float* yr = y.row(i);  // may be xr: dropout may run in place
    const auto row_word = static_cast<std::uint32_t>(mask.row + i);
    for (std::uint64_t tile = first / 64; tile * 64 < end; ++tile)
      for (std::size_t s = 0; s < 16; s += lanes) {
        VU words[4] = {hn::Iota(du, static_cast<std::uint32_t>(16 * tile + s)), hn::Set(du, row_word),
                       hn::Set(du, step_and_layer[0]), hn::Set(du, step_and_layer[1])};
        Philox4x32x10(du, words[0], words[1], words[2], words[3], key);
        for (std::size_t k = 0; k < 4; ++k) {
          const std::uint64_t c = 64 * tile + 16 * k + s;  // the layer column of lane 0
          if (c + lanes <= first || c >= end) continue;
          if (c >= first && c + lanes <= end) {
            const std::size_t j = c - first;
            const auto dropped = hn::RebindMask(df, hn::Lt(words[k], vthreshold));
            hn::StoreU(hn::IfThenZeroElse(dropped, hn::Mul(hn::LoadU(df, xr + j), vscale)), df, yr + j);
            continue;
          }
          HWY_ALIGN std::uint32_t word[16];
          hn::Store(words[k], du, word);
          for (std::size_t lane = 0; lane < lanes; ++lane) {
            if (c + lane < first || c + lane >= end) continue;
            const std::size_t j = c + lane - first;
            yr[j] = word[lane] >= threshold ? xr[j] * scale : 0.0f;
          }
        }
      }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace mlpk::highway
HWY_AFTER_NAMESPACE();

#endif  // MLPK_HIGHWAY_F32_DROPOUT_INL_H_
