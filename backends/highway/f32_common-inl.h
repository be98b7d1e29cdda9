// Per-target helpers shared by the highway backend's kernels: safe partial-vector loads and
// stores for row tails, and the activation functions g and g' on vectors.
//
// Included once per target (foreach_target.h), hence the toggling include guard.

#if defined(MLPK_HIGHWAY_F32_COMMON_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef MLPK_HIGHWAY_F32_COMMON_INL_H_
#undef MLPK_HIGHWAY_F32_COMMON_INL_H_
#else
#define MLPK_HIGHWAY_F32_COMMON_INL_H_
#endif

#include <hwy/highway.h>
#include <hwy/contrib/math/math-inl.h>

#include "kernel_table.hpp"

#include <cstddef>
#include <cstring>

HWY_BEFORE_NAMESPACE();
namespace mlpk::highway {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// The first n (< Lanes) elements at p, the other lanes zero, without touching memory past p + n:
// a row tail may end at the end of a mapping, and another thread may own the floats after it.
// AVX2 and AVX-512 have fault-suppressing masked loads and stores; Highway 1.0.3's SSE4/EMU128
// MaskedLoad and BlendedStore access the whole vector, so those targets go through a buffer.
template <class D>
HWY_INLINE hn::Vec<D> LoadTail(D d, const float* HWY_RESTRICT p, std::size_t n) {
#if HWY_TARGET <= HWY_AVX2
  return hn::MaskedLoad(hn::FirstN(d, n), d, p);
#else
  HWY_ALIGN float buffer[hn::MaxLanes(d)] = {};
  std::memcpy(buffer, p, n * sizeof(float));
  return hn::Load(d, buffer);
#endif
}

template <class D>
HWY_INLINE void StoreTail(D d, hn::Vec<D> v, float* HWY_RESTRICT p, std::size_t n) {
#if HWY_TARGET <= HWY_AVX2
  hn::BlendedStore(v, hn::FirstN(d, n), d, p);
#else
  HWY_ALIGN float buffer[hn::MaxLanes(d)];
  hn::Store(v, d, buffer);
  std::memcpy(p, buffer, n * sizeof(float));
#endif
}

// A full vector or a tail, chosen at compile time so the common case has no branch.
template <bool kFull, class D>
HWY_INLINE hn::Vec<D> LoadPart(D d, const float* HWY_RESTRICT p, std::size_t n) {
  if constexpr (kFull) {
    (void)n;
    return hn::LoadU(d, p);
  } else {
    return LoadTail(d, p, n);
  }
}

template <bool kFull, class D>
HWY_INLINE void StorePart(D d, hn::Vec<D> v, float* HWY_RESTRICT p, std::size_t n) {
  if constexpr (kFull) {
    (void)n;
    hn::StoreU(v, d, p);
  } else {
    StoreTail(d, v, p, n);
  }
}

// Calls body.template operator()<kFull>(offset, count) over [0, n): whole vectors, then one tail.
template <class D, class Body>
HWY_INLINE void ForEachVector(D d, std::size_t n, const Body& body) {
  const std::size_t lanes = hn::Lanes(d);
  std::size_t i = 0;
  for (; i + lanes <= n; i += lanes) body.template operator()<true>(i, lanes);
  if (i < n) body.template operator()<false>(i, n - i);
}

inline constexpr float kGeluC = 0.7978845608028654f;  // sqrt(2/pi)
inline constexpr float kGeluA = 0.044715f;

// sqrt(2/pi) (z + 0.044715 z^3), the argument of tanh in the tanh form of GELU.
template <class D, class V>
HWY_INLINE V GeluInner(D d, V z) {
  const V z2 = hn::Mul(z, z);
  return hn::Mul(hn::Mul(hn::Set(d, kGeluC), z), hn::MulAdd(hn::Set(d, kGeluA), z2, hn::Set(d, 1.0f)));
}

// g(z) for the element-wise activations (softmax is a row operation, handled elsewhere).
template <Activation G, class D, class V>
HWY_INLINE V ActivationForward(D d, V z) {
  if constexpr (G == Activation::sigmoid) {
    // e = exp(-|z|) never overflows; sigmoid(z) = 1/(1+e) for z >= 0 and e/(1+e) below.
    const V e = hn::Exp(d, hn::Neg(hn::Abs(z)));
    const V r = hn::Div(hn::Set(d, 1.0f), hn::Add(hn::Set(d, 1.0f), e));
    return hn::IfThenElse(hn::Ge(z, hn::Zero(d)), r, hn::Mul(e, r));
  } else if constexpr (G == Activation::tanh) {
    return hn::Tanh(d, z);
  } else if constexpr (G == Activation::relu) {
    return hn::IfThenElseZero(hn::Gt(z, hn::Zero(d)), z);  // NaN and -0 give 0, as the reference
  } else if constexpr (G == Activation::leaky_relu) {
    return hn::IfThenElse(hn::Gt(z, hn::Zero(d)), z, hn::Mul(hn::Set(d, kLeakyReluSlope), z));
  } else if constexpr (G == Activation::gelu) {
    const V half_z = hn::Mul(hn::Set(d, 0.5f), z);
    return hn::MulAdd(half_z, hn::Tanh(d, GeluInner(d, z)), half_z);
  } else {
    (void)d;
    return z;  // identity
  }
}

// dA * g'(z), with a = g(z) where the derivative is cheaper from it (sigmoid, tanh).
template <Activation G, class D, class V>
HWY_INLINE V ActivationBackward(D d, V z, V a, V da) {
  if constexpr (G == Activation::sigmoid) {
    return hn::Mul(da, hn::Mul(a, hn::Sub(hn::Set(d, 1.0f), a)));
  } else if constexpr (G == Activation::tanh) {
    return hn::Mul(da, hn::NegMulAdd(a, a, hn::Set(d, 1.0f)));
  } else if constexpr (G == Activation::relu) {
    return hn::IfThenElseZero(hn::Gt(z, hn::Zero(d)), da);
  } else if constexpr (G == Activation::leaky_relu) {
    return hn::IfThenElse(hn::Gt(z, hn::Zero(d)), da, hn::Mul(hn::Set(d, kLeakyReluSlope), da));
  } else if constexpr (G == Activation::gelu) {
    // g' = (1 + t)/2 + z/2 (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 z^2), t = tanh(inner).
    const V one = hn::Set(d, 1.0f);
    const V half = hn::Set(d, 0.5f);
    const V t = hn::Tanh(d, GeluInner(d, z));
    const V z2 = hn::Mul(z, z);
    const V dinner = hn::Mul(hn::Set(d, kGeluC), hn::MulAdd(hn::Set(d, 3.0f * kGeluA), z2, one));
    const V sech2 = hn::NegMulAdd(t, t, one);
    const V deriv = hn::MulAdd(hn::Mul(half, z), hn::Mul(sech2, dinner), hn::Mul(half, hn::Add(one, t)));
    return hn::Mul(da, deriv);
  } else {
    (void)d;
    (void)z;
    (void)a;
    return da;  // identity
  }
}

// Whether g' reads Z / A (so a kernel loads only what it needs).
constexpr bool BackwardReadsZ(Activation g) {
  return g == Activation::relu || g == Activation::leaky_relu || g == Activation::gelu;
}
constexpr bool BackwardReadsA(Activation g) {
  return g == Activation::sigmoid || g == Activation::tanh;
}

}  // namespace HWY_NAMESPACE
}  // namespace mlpk::highway
HWY_AFTER_NAMESPACE();

#endif  // MLPK_HIGHWAY_F32_COMMON_INL_H_
