// Element-wise and reduction kernels of the highway backend for one Highway target: bias
// broadcast, activations forward/backward (row softmax included), column sums, the fused
// backward activation + bias gradient, loss gradient and axpy.
//
// Matrices whose rows are packed (stride == cols) are processed as one long row, so narrow
// matrices (10 classes) still fill whole vectors; otherwise row by row with a masked tail.
// Included once per target (foreach_target.h), hence the toggling include guard.

#if defined(MLPK_HIGHWAY_F32_ELTWISE_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef MLPK_HIGHWAY_F32_ELTWISE_INL_H_
#undef MLPK_HIGHWAY_F32_ELTWISE_INL_H_
#else
#define MLPK_HIGHWAY_F32_ELTWISE_INL_H_
#endif

#include <hwy/highway.h>
#include <hwy/contrib/math/math-inl.h>

#include "f32_common-inl.h"

#include <algorithm>
#include <cstddef>
#include <limits>

HWY_BEFORE_NAMESPACE();
namespace mlpk::highway {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Calls segment(row, length) once with the whole matrix when every view involved is packed, or
// once per row.
template <class Segment>
HWY_INLINE void ForEachSegment(std::size_t rows, std::size_t cols, bool packed,
                               const Segment& segment) {
  if (packed) {
    segment(std::size_t{0}, rows * cols);
  } else {
    for (std::size_t i = 0; i < rows; ++i) segment(i, cols);
  }
}

// Calls fn.template operator()<G>() with G the compile-time value of g.
template <class Fn>
HWY_INLINE void WithActivation(Activation g, const Fn& fn) {
  switch (g) {
    case Activation::identity: return fn.template operator()<Activation::identity>();
    case Activation::sigmoid: return fn.template operator()<Activation::sigmoid>();
    case Activation::tanh: return fn.template operator()<Activation::tanh>();
    case Activation::relu: return fn.template operator()<Activation::relu>();
    case Activation::leaky_relu: return fn.template operator()<Activation::leaky_relu>();
    case Activation::gelu: return fn.template operator()<Activation::gelu>();
    case Activation::softmax: return fn.template operator()<Activation::softmax>();
  }
}

inline void AddBias(const float* bias, MatrixView z) {
  const hn::ScalableTag<float> d;
  for (std::size_t i = 0; i < z.rows; ++i) {
    float* row = z.row(i);
    ForEachVector(d, z.cols, [&]<bool kFull>(std::size_t j, std::size_t n) {
      StorePart<kFull>(d, hn::Add(LoadPart<kFull>(d, row + j, n), LoadPart<kFull>(d, bias + j, n)),
                       row + j, n);
    });
  }
}

// --- softmax over rows ---------------------------------------------------------------------

// a = exp(z - max) / sum exp(z - max) over one row of n; a may be z.
template <class D>
HWY_INLINE void SoftmaxRow(D d, const float* z, float* a, std::size_t n) {
  using V = hn::Vec<D>;
  V vmax = hn::Set(d, -std::numeric_limits<float>::infinity());
  ForEachVector(d, n, [&]<bool kFull>(std::size_t j, std::size_t count) {
    V v = LoadPart<kFull>(d, z + j, count);
    if constexpr (!kFull) v = hn::IfThenElse(hn::FirstN(d, count), v, vmax);
    vmax = hn::Max(vmax, v);
  });
  const V row_max = hn::MaxOfLanes(d, vmax);
  V vsum = hn::Zero(d);
  ForEachVector(d, n, [&]<bool kFull>(std::size_t j, std::size_t count) {
    V e = hn::Exp(d, hn::Sub(LoadPart<kFull>(d, z + j, count), row_max));
    if constexpr (!kFull) e = hn::IfThenElseZero(hn::FirstN(d, count), e);
    StorePart<kFull>(d, e, a + j, count);
    vsum = hn::Add(vsum, e);
  });
  const V sum = hn::SumOfLanes(d, vsum);
  ForEachVector(d, n, [&]<bool kFull>(std::size_t j, std::size_t count) {
    StorePart<kFull>(d, hn::Div(LoadPart<kFull>(d, a + j, count), sum), a + j, count);
  });
}

// dz = a (da - sum_k da_k a_k) over one row of n; dz may be da.
template <class D>
HWY_INLINE void SoftmaxBackwardRow(D d, const float* a, const float* da, float* dz, std::size_t n) {
  using V = hn::Vec<D>;
  V vdot = hn::Zero(d);
  ForEachVector(d, n, [&]<bool kFull>(std::size_t j, std::size_t count) {
    vdot = hn::MulAdd(LoadPart<kFull>(d, da + j, count), LoadPart<kFull>(d, a + j, count), vdot);
  });
  const V dot = hn::SumOfLanes(d, vdot);
  ForEachVector(d, n, [&]<bool kFull>(std::size_t j, std::size_t count) {
    const V va = LoadPart<kFull>(d, a + j, count);
    StorePart<kFull>(d, hn::Mul(va, hn::Sub(LoadPart<kFull>(d, da + j, count), dot)), dz + j, count);
  });
}

// --- activations ------------------------------------------------------------------------------

inline void ActivationForwardAll(Activation g, ConstMatrixView z, MatrixView a) {
  const hn::ScalableTag<float> d;
  if (g == Activation::softmax) {
    for (std::size_t i = 0; i < z.rows; ++i) SoftmaxRow(d, z.row(i), a.row(i), z.cols);
    return;
  }
  WithActivation(g, [&]<Activation G>() {
    ForEachSegment(z.rows, z.cols, z.contiguous() && a.contiguous(), [&](std::size_t i, std::size_t n) {
      const float* zr = z.row(i);
      float* ar = a.row(i);
      ForEachVector(d, n, [&]<bool kFull>(std::size_t j, std::size_t count) {
        StorePart<kFull>(d, ActivationForward<G>(d, LoadPart<kFull>(d, zr + j, count)), ar + j, count);
      });
    });
  });
}

inline void ActivationBackwardAll(Activation g, ConstMatrixView z, ConstMatrixView a,
                                  ConstMatrixView da, MatrixView dz) {
  const hn::ScalableTag<float> d;
  if (g == Activation::softmax) {
    for (std::size_t i = 0; i < z.rows; ++i) SoftmaxBackwardRow(d, a.row(i), da.row(i), dz.row(i), z.cols);
    return;
  }
  const bool packed = z.contiguous() && a.contiguous() && da.contiguous() && dz.contiguous();
  WithActivation(g, [&]<Activation G>() {
    ForEachSegment(z.rows, z.cols, packed, [&](std::size_t i, std::size_t n) {
      const float* zr = z.row(i);
      const float* ar = a.row(i);
      const float* dar = da.row(i);
      float* dzr = dz.row(i);
      ForEachVector(d, n, [&]<bool kFull>(std::size_t j, std::size_t count) {
        const auto vz = BackwardReadsZ(G) ? LoadPart<kFull>(d, zr + j, count) : hn::Zero(d);
        const auto va = BackwardReadsA(G) ? LoadPart<kFull>(d, ar + j, count) : hn::Zero(d);
        const auto vda = LoadPart<kFull>(d, dar + j, count);
        StorePart<kFull>(d, ActivationBackward<G>(d, vz, va, vda), dzr + j, count);
      });
    });
  });
}

// --- column sums, alone and fused with the backward activation ---------------------------------

// Over a block of up to kBlockVectors vectors of columns starting at j0: dz = da * g' (when
// kWriteDz), acc += dz over all rows; then sums = alpha * acc + beta * sums (beta == 0: not read).
// The accumulators stay in registers for the whole column of rows.
inline constexpr std::size_t kBlockVectors = 4;

template <Activation G, bool kWriteDz, bool kFull, class D>
HWY_INLINE void ColumnBlock(D d, std::size_t j0, std::size_t width, ConstMatrixView z,
                            ConstMatrixView a, ConstMatrixView da, MatrixView dz, float alpha,
                            float beta, float* sums) {
  using V = hn::Vec<D>;
  const std::size_t lanes = hn::Lanes(d);
  std::size_t count[kBlockVectors];
  for (std::size_t v = 0; v < kBlockVectors; ++v) {
    const std::size_t start = std::min(width, v * lanes);
    count[v] = std::min(lanes, width - start);
  }
  V acc[kBlockVectors];
  for (std::size_t v = 0; v < kBlockVectors; ++v) acc[v] = hn::Zero(d);
  for (std::size_t i = 0; i < da.rows; ++i) {
    const std::size_t zo = i * z.stride + j0, ao = i * a.stride + j0;
    const std::size_t dao = i * da.stride + j0, dzo = i * dz.stride + j0;
#pragma GCC unroll 4
    for (std::size_t v = 0; v < kBlockVectors; ++v) {
      if (!kFull && count[v] == 0) break;
      const std::size_t off = v * lanes;
      const V vda = LoadPart<kFull>(d, da.data + dao + off, count[v]);
      if constexpr (kWriteDz) {
        const V vz = BackwardReadsZ(G) ? LoadPart<kFull>(d, z.data + zo + off, count[v]) : hn::Zero(d);
        const V va = BackwardReadsA(G) ? LoadPart<kFull>(d, a.data + ao + off, count[v]) : hn::Zero(d);
        const V g = ActivationBackward<G>(d, vz, va, vda);
        StorePart<kFull>(d, g, dz.data + dzo + off, count[v]);
        acc[v] = hn::Add(acc[v], g);
      } else {
        acc[v] = hn::Add(acc[v], vda);
      }
    }
  }
  for (std::size_t v = 0; v < kBlockVectors; ++v) {
    if (!kFull && count[v] == 0) break;
    float* out = sums + j0 + v * lanes;
    V s = hn::Mul(hn::Set(d, alpha), acc[v]);
    if (beta != 0.0f) s = hn::MulAdd(hn::Set(d, beta), LoadPart<kFull>(d, out, count[v]), s);
    StorePart<kFull>(d, s, out, count[v]);
  }
}

template <Activation G, bool kWriteDz>
HWY_INLINE void ColumnBlocks(ConstMatrixView z, ConstMatrixView a, ConstMatrixView da,
                             MatrixView dz, float alpha, float beta, float* sums) {
  const hn::ScalableTag<float> d;
  const std::size_t block = kBlockVectors * hn::Lanes(d);
  for (std::size_t j0 = 0; j0 < da.cols; j0 += block) {
    const std::size_t width = std::min(block, da.cols - j0);
    if (width == block)
      ColumnBlock<G, kWriteDz, true>(d, j0, width, z, a, da, dz, alpha, beta, sums);
    else
      ColumnBlock<G, kWriteDz, false>(d, j0, width, z, a, da, dz, alpha, beta, sums);
  }
}

inline void ColumnSums(ConstMatrixView x, float alpha, float beta, float* sums) {
  ColumnBlocks<Activation::identity, false>(x, x, x, MatrixView{}, alpha, beta, sums);
}

inline void DenseBackwardActivation(Activation g, ConstMatrixView z, ConstMatrixView a,
                                    ConstMatrixView da, MatrixView dz, float* bias_grad) {
  if (g == Activation::softmax) {  // needs whole rows first: the row dot product
    ActivationBackwardAll(g, z, a, da, dz);
    ColumnSums(dz, 1.0f, 0.0f, bias_grad);
    return;
  }
  WithActivation(g, [&]<Activation G>() {
    if constexpr (G != Activation::softmax)
      ColumnBlocks<G, true>(z, a, da, dz, 1.0f, 0.0f, bias_grad);
  });
}

// --- loss gradient and axpy -------------------------------------------------------------------

inline void LossGradient(ConstMatrixView a, ConstMatrixView y, float scale, MatrixView g) {
  const hn::ScalableTag<float> d;
  const auto vscale = hn::Set(d, scale);
  ForEachSegment(a.rows, a.cols, a.contiguous() && y.contiguous() && g.contiguous(),
                 [&](std::size_t i, std::size_t n) {
    const float* ar = a.row(i);
    const float* yr = y.row(i);
    float* gr = g.row(i);
    ForEachVector(d, n, [&]<bool kFull>(std::size_t j, std::size_t count) {
      const auto diff = hn::Sub(LoadPart<kFull>(d, ar + j, count), LoadPart<kFull>(d, yr + j, count));
      StorePart<kFull>(d, hn::Mul(vscale, diff), gr + j, count);
    });
  });
}

inline void Axpy(float alpha, const float* x, float* y, std::size_t n) {
  const hn::ScalableTag<float> d;
  const auto valpha = hn::Set(d, alpha);
  ForEachVector(d, n, [&]<bool kFull>(std::size_t j, std::size_t count) {
    StorePart<kFull>(d, hn::MulAdd(valpha, LoadPart<kFull>(d, x + j, count), LoadPart<kFull>(d, y + j, count)),
                     y + j, count);
  });
}

}  // namespace HWY_NAMESPACE
}  // namespace mlpk::highway
HWY_AFTER_NAMESPACE();

#endif  // MLPK_HIGHWAY_F32_ELTWISE_INL_H_
