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
  if (n <= hn::Lanes(d)) {
    // A row in one vector (ten classes): the same operations as below, without storing the
    // exponentials and loading them back, which a masked store makes wait (the loop's third pass
    // took 17 ns a row of ten on Zen 5).
    const auto valid = hn::FirstN(d, n);
    const V lowest = hn::Set(d, -std::numeric_limits<float>::infinity());
    const V v = hn::IfThenElse(valid, LoadTail(d, z, n), lowest);
    const V e = hn::IfThenElseZero(valid, hn::Exp(d, hn::Sub(v, hn::MaxOfLanes(d, v))));
    StoreTail(d, hn::Div(e, hn::SumOfLanes(d, e)), a, n);
    return;
  }
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

// sums = alpha * (column sums of dz) + beta * sums (beta == 0: not read), where dz = da * g' is
// formed and written row by row when kWriteDz, and is da itself otherwise. The rows are added to
// an L1 scratch row, so every matrix streams in memory order; each column still adds its rows in
// order. (Walking blocks of columns down all the rows, with the sums in registers, read three
// matrices at a 2 KiB stride: relu_bwd_bias 256x512 ran at 41 GB/s, against 59-75 GB/s now.)
template <Activation G, bool kWriteDz>
HWY_INLINE void SumRows(ConstMatrixView z, ConstMatrixView a, ConstMatrixView da, MatrixView dz,
                        float alpha, float beta, float* sums) {
  const hn::ScalableTag<float> d;
  float* acc = thread_scratch(2, da.cols);
  std::fill(acc, acc + da.cols, 0.0f);
  for (std::size_t i = 0; i < da.rows; ++i) {
    ForEachVector(d, da.cols, [&]<bool kFull>(std::size_t j, std::size_t n) {
      auto v = LoadPart<kFull>(d, da.row(i) + j, n);
      if constexpr (kWriteDz) {
        const auto vz = BackwardReadsZ(G) ? LoadPart<kFull>(d, z.row(i) + j, n) : hn::Zero(d);
        const auto va = BackwardReadsA(G) ? LoadPart<kFull>(d, a.row(i) + j, n) : hn::Zero(d);
        v = ActivationBackward<G>(d, vz, va, v);
        StorePart<kFull>(d, v, dz.row(i) + j, n);
      }
      StorePart<kFull>(d, hn::Add(LoadPart<kFull>(d, acc + j, n), v), acc + j, n);
    });
  }
  const auto valpha = hn::Set(d, alpha), vbeta = hn::Set(d, beta);
  ForEachVector(d, da.cols, [&]<bool kFull>(std::size_t j, std::size_t n) {
    auto s = hn::Mul(valpha, LoadPart<kFull>(d, acc + j, n));
    if (beta != 0.0f) s = hn::MulAdd(vbeta, LoadPart<kFull>(d, sums + j, n), s);
    StorePart<kFull>(d, s, sums + j, n);
  });
}

inline void ColumnSums(ConstMatrixView x, float alpha, float beta, float* sums) {
  SumRows<Activation::identity, false>(x, x, x, MatrixView{}, alpha, beta, sums);
}

inline void DenseBackwardActivation(Activation g, ConstMatrixView z, ConstMatrixView a,
                                    ConstMatrixView da, MatrixView dz, float* bias_grad) {
  if (g == Activation::softmax) {  // needs whole rows first: the row dot product
    ActivationBackwardAll(g, z, a, da, dz);
    ColumnSums(dz, 1.0f, 0.0f, bias_grad);
    return;
  }
  WithActivation(g, [&]<Activation G>() {
    if constexpr (G != Activation::softmax) SumRows<G, true>(z, a, da, dz, 1.0f, 0.0f, bias_grad);
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

// Backend::sum_bias_activation: each vector of Z is loaded once, summed with the partials' and
// the bias (Add(z, p) is axpy's MulAdd(1, p, z): the same bits), stored, and activated.
// Element-wise g only: softmax, which needs whole summed rows, is the Backend's composition.
inline void SumBiasActivation(const ConstMatrixView* partials, std::size_t count, const float* bias,
                              Activation g, MatrixView z, MatrixView a) {
  const hn::ScalableTag<float> d;
  const bool in_place = a.data == z.data;
  WithActivation(g, [&]<Activation G>() {
    if constexpr (G != Activation::softmax) {
      for (std::size_t i = 0; i < z.rows; ++i) {
        float* zr = z.row(i);
        float* ar = a.row(i);
        ForEachVector(d, z.cols, [&]<bool kFull>(std::size_t j, std::size_t n) {
          auto v = LoadPart<kFull>(d, zr + j, n);
          for (std::size_t k = 0; k < count; ++k)
            v = hn::Add(v, LoadPart<kFull>(d, partials[k].row(i) + j, n));
          v = hn::Add(v, LoadPart<kFull>(d, bias + j, n));
          if (G == Activation::identity && in_place) {
            StorePart<kFull>(d, v, zr + j, n);
          } else {
            if (!in_place) StorePart<kFull>(d, v, zr + j, n);
            StorePart<kFull>(d, ActivationForward<G>(d, v), ar + j, n);
          }
        });
      }
    }
  });
}

// Backend::adam_update, one vector of parameters at a time. The operations are those of
// AdamStep::update, in its order and without fused multiply-adds, so the
// update is the same bits on every backend and only runs in wider vectors: the square root and
// the division bound it, and 16 lanes take half the time of the default loop's 4.
inline void AdamUpdate(const AdamStep& p, const float* g, float* w, float* m, float* s,
                       std::size_t n) {
  const hn::ScalableTag<float> d;
  const auto b1 = hn::Set(d, p.beta1), one_minus_b1 = hn::Set(d, 1.0f - p.beta1);
  const auto b2 = hn::Set(d, p.beta2), one_minus_b2 = hn::Set(d, 1.0f - p.beta2);
  const auto eps = hn::Set(d, p.epsilon), step_size = hn::Set(d, p.step_size);
  const auto inverse_sqrt_c2 = hn::Set(d, p.inverse_sqrt_c2);
  const auto decay = hn::Set(d, p.decay), l2 = hn::Set(d, p.l2);
  ForEachVector(d, n, [&]<bool kFull>(std::size_t j, std::size_t count) {
    const auto vw = LoadPart<kFull>(d, w + j, count);
    const auto grad = hn::Add(LoadPart<kFull>(d, g + j, count), hn::Mul(l2, vw));
    const auto m1 = hn::Add(hn::Mul(b1, LoadPart<kFull>(d, m + j, count)), hn::Mul(one_minus_b1, grad));
    const auto s1 = hn::Add(hn::Mul(b2, LoadPart<kFull>(d, s + j, count)),
                            hn::Mul(hn::Mul(one_minus_b2, grad), grad));
    const auto denominator = hn::Add(hn::Mul(hn::Sqrt(s1), inverse_sqrt_c2), eps);
    StorePart<kFull>(d, m1, m + j, count);
    StorePart<kFull>(d, s1, s + j, count);
    StorePart<kFull>(d, hn::Sub(hn::Mul(decay, vw), hn::Div(hn::Mul(step_size, m1), denominator)),
                     w + j, count);
  });
}

// Backend::sgd_update, one vector at a time: SgdStep::update's operations, as AdamUpdate.
inline void SgdUpdate(const SgdStep& p, const float* g, float* w, std::size_t n) {
  const hn::ScalableTag<float> d;
  const auto lr = hn::Set(d, p.learning_rate), wd = hn::Set(d, p.weight_decay);
  ForEachVector(d, n, [&]<bool kFull>(std::size_t j, std::size_t count) {
    const auto vw = LoadPart<kFull>(d, w + j, count);
    const auto grad = hn::Add(LoadPart<kFull>(d, g + j, count), hn::Mul(wd, vw));
    StorePart<kFull>(d, hn::Sub(vw, hn::Mul(lr, grad)), w + j, count);
  });
}

// Backend::momentum_update, one vector of parameters at a time: MomentumStep::update's
// operations in its order, without fused multiply-adds, as AdamUpdate (the Backend's default
// loop runs at the x86-64 baseline's four lanes).
inline void MomentumUpdate(const MomentumStep& p, const float* g, float* w, float* v,
                           std::size_t n) {
  const hn::ScalableTag<float> d;
  const auto lr = hn::Set(d, p.learning_rate), mu = hn::Set(d, p.momentum);
  const auto wd = hn::Set(d, p.weight_decay);
  const auto run = [&]<bool kNesterov>() {
    ForEachVector(d, n, [&]<bool kFull>(std::size_t j, std::size_t count) {
      const auto vw = LoadPart<kFull>(d, w + j, count);
      const auto grad = hn::Add(LoadPart<kFull>(d, g + j, count), hn::Mul(wd, vw));
      const auto velocity = hn::Add(hn::Mul(mu, LoadPart<kFull>(d, v + j, count)), grad);
      StorePart<kFull>(d, velocity, v + j, count);
      const auto direction = kNesterov ? hn::Add(grad, hn::Mul(mu, velocity)) : velocity;
      StorePart<kFull>(d, hn::Sub(vw, hn::Mul(lr, direction)), w + j, count);
    });
  };
  if (p.nesterov)
    run.template operator()<true>();
  else
    run.template operator()<false>();
}

}  // namespace HWY_NAMESPACE
}  // namespace mlpk::highway
HWY_AFTER_NAMESPACE();

#endif  // MLPK_HIGHWAY_F32_ELTWISE_INL_H_
