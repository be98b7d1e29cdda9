// f32 GEMM for one Highway target: BLIS-style blocking, packing, and an MR x (2 vectors)
// register-blocked micro-kernel whose epilogue either applies alpha/beta (plain GEMM) or adds the
// bias and applies an activation (fused dense forward) while the tile is still in registers.
//
// Included once per target by kernels.cpp (foreach_target.h); the toggling include guard below is
// Highway's idiom for that. Not a public header.
//
// Layout of the packed operands (both zero-padded to whole micro-panels, so the micro-kernel never
// branches on edges inside its K loop):
//   packed A: micro-panels of MR rows of op(A); element (r, k) of a panel at [k * MR + r]
//   packed B: micro-panels of NR = 2 vectors of columns of op(B); element (k, c) at [k * NR + c]
// Loop order (outer to inner): jc over N by NC, pc over K by KC (pack B), ic over M by MC (pack A),
// jr over NR (one B micro-panel stays in L1), ir over MR (A micro-panels stream from L2).

#if defined(MLPK_HIGHWAY_F32_GEMM_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef MLPK_HIGHWAY_F32_GEMM_INL_H_
#undef MLPK_HIGHWAY_F32_GEMM_INL_H_
#else
#define MLPK_HIGHWAY_F32_GEMM_INL_H_
#endif

#include <hwy/highway.h>

#include "f32_common-inl.h"

#include <algorithm>
#include <cstddef>

HWY_BEFORE_NAMESPACE();
namespace mlpk::highway {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Tile and block sizes of this target. The tile is MR rows x 2 vectors: 2*MR accumulators,
// 2 vectors of B and one broadcast of A must fit in the register file.
#if HWY_TARGET <= HWY_AVX3
// 32 zmm: 28 accumulators + 2 B vectors + 1 broadcast.
inline constexpr std::size_t kGemmMR = 14;
inline constexpr std::size_t kGemmKC = 256;  // B micro-panel: 256 x 32 floats = 32 KiB of L1
inline constexpr std::size_t kGemmMC = 196;  // A block: 196 x 256 floats = 196 KiB of L2
inline constexpr std::size_t kGemmNC = 2048;
#else
// 16 ymm/xmm: 12 accumulators + 2 B vectors + 1 broadcast.
inline constexpr std::size_t kGemmMR = 6;
inline constexpr std::size_t kGemmKC = 256;
inline constexpr std::size_t kGemmMC = 144;
inline constexpr std::size_t kGemmNC = 2048;
#endif

// --- epilogues: what happens to a finished MR x NR tile of accumulators -----------------------

// C = alpha * acc + beta * C. `read_c` is false when beta == 0 on the first K block, so that NaN
// in C never propagates; later K blocks accumulate with beta = 1.
struct GemmEpilogue {
  float* c;
  std::size_t ldc;
  float alpha;
  float beta;
  bool read_c;

  template <class D, class V>
  HWY_INLINE void Row(D d, V v0, V v1, std::size_t i, std::size_t j, std::size_t cols) const {
    const std::size_t lanes = hn::Lanes(d);
    float* p = c + i * ldc + j;
    const V va = hn::Set(d, alpha);
    v0 = hn::Mul(va, v0);
    v1 = hn::Mul(va, v1);
    if (HWY_LIKELY(cols == 2 * lanes)) {
      if (read_c) {
        const V vb = hn::Set(d, beta);
        v0 = hn::MulAdd(vb, hn::LoadU(d, p), v0);
        v1 = hn::MulAdd(vb, hn::LoadU(d, p + lanes), v1);
      }
      hn::StoreU(v0, d, p);
      hn::StoreU(v1, d, p + lanes);
      return;
    }
    const std::size_t n0 = std::min(cols, lanes);
    const std::size_t n1 = cols - n0;
    const V vb = hn::Set(d, beta);
    if (read_c) v0 = hn::MulAdd(vb, LoadTail(d, p, n0), v0);
    StoreTail(d, v0, p, n0);
    if (n1 != 0) {
      if (read_c) v1 = hn::MulAdd(vb, LoadTail(d, p + lanes, n1), v1);
      StoreTail(d, v1, p + lanes, n1);
    }
  }
};

// Dense forward: Z = acc (+ the partial sum of earlier K blocks) + bias, A = g(Z). Before the last
// K block the partial sum is parked in Z (A when Z and A are the same matrix).
template <Activation G>
struct DenseEpilogue {
  float* z;  // == a when only A is kept
  std::size_t ldz;
  float* a;
  std::size_t lda;
  const float* bias;
  bool first;  // no partial sum to add
  bool last;   // add bias, apply g, write A

  template <class D, class V>
  HWY_INLINE V Finish(D d, V t, const float* p, const float* b, std::size_t n, bool full) const {
    if (!first) t = hn::Add(t, full ? hn::LoadU(d, p) : LoadTail(d, p, n));
    if (last) t = hn::Add(t, full ? hn::LoadU(d, b) : LoadTail(d, b, n));
    return t;
  }

  template <class D, class V>
  HWY_INLINE void Put(D d, V t, float* pz, float* pa, std::size_t n, bool full) const {
    if (!last || z != a) full ? hn::StoreU(t, d, pz) : StoreTail(d, t, pz, n);
    if (last) {
      const V g = ActivationForward<G>(d, t);
      full ? hn::StoreU(g, d, pa) : StoreTail(d, g, pa, n);
    }
  }

  template <class D, class V>
  HWY_INLINE void Row(D d, V v0, V v1, std::size_t i, std::size_t j, std::size_t cols) const {
    const std::size_t lanes = hn::Lanes(d);
    float* pz = z + i * ldz + j;
    float* pa = a + i * lda + j;
    const float* b = bias + j;
    if (HWY_LIKELY(cols == 2 * lanes)) {
      v0 = Finish(d, v0, pz, b, lanes, true);
      v1 = Finish(d, v1, pz + lanes, b + lanes, lanes, true);
      Put(d, v0, pz, pa, lanes, true);
      Put(d, v1, pz + lanes, pa + lanes, lanes, true);
      return;
    }
    const std::size_t n0 = std::min(cols, lanes);
    const std::size_t n1 = cols - n0;
    Put(d, Finish(d, v0, pz, b, n0, false), pz, pa, n0, false);
    if (n1 != 0)
      Put(d, Finish(d, v1, pz + lanes, b + lanes, n1, false), pz + lanes, pa + lanes, n1, false);
  }
};

// --- the micro-kernel -----------------------------------------------------------------------

// acc[MR][2 vectors] = sum over k of packed A column k (broadcast) times packed B row k, then the
// epilogue writes the `rows` x `cols` valid part at (i0, j0). MR is a template parameter so that
// the accumulators are named registers after full unrolling.
template <std::size_t MR, class D, class Epilogue>
HWY_INLINE void GemmMicroKernel(D d, std::size_t kc, const float* HWY_RESTRICT ap,
                                const float* HWY_RESTRICT bp, std::size_t rows,
                                std::size_t cols, std::size_t i0, std::size_t j0,
                                const Epilogue& epilogue) {
  using V = hn::Vec<D>;
  const std::size_t lanes = hn::Lanes(d);
  V c0[MR], c1[MR];
#pragma GCC unroll 16
  for (std::size_t r = 0; r < MR; ++r) {
    c0[r] = hn::Zero(d);
    c1[r] = hn::Zero(d);
  }
  for (std::size_t k = 0; k < kc; ++k) {
    const V b0 = hn::Load(d, bp);
    const V b1 = hn::Load(d, bp + lanes);
#pragma GCC unroll 16
    for (std::size_t r = 0; r < MR; ++r) {
      const V av = hn::Set(d, ap[r]);
      c0[r] = hn::MulAdd(av, b0, c0[r]);
      c1[r] = hn::MulAdd(av, b1, c1[r]);
    }
    ap += MR;
    bp += 2 * lanes;
  }
#pragma GCC unroll 16
  for (std::size_t r = 0; r < MR; ++r)
    if (r < rows) epilogue.Row(d, c0[r], c1[r], i0 + r, j0, cols);
}

// --- packing ----------------------------------------------------------------------------------

// Packs rows [i0, i0+mc) x depth [k0, k0+kc) of op(A) into MR-row micro-panels.
template <std::size_t MR>
HWY_INLINE void PackA(Trans ta, ConstMatrixView a, std::size_t i0, std::size_t mc,
                      std::size_t k0, std::size_t kc, float* HWY_RESTRICT dst) {
  for (std::size_t ir = 0; ir < mc; ir += MR, dst += MR * kc) {
    const std::size_t rows = std::min(MR, mc - ir);
    if (ta == Trans::N) {
      // op(A)(i, k) = a(i, k): gather one element from each of MR rows per k.
      const float* src[MR];
      for (std::size_t r = 0; r < MR; ++r)
        src[r] = a.data + (i0 + ir + (r < rows ? r : 0)) * a.stride + k0;
      if (rows == MR) {
        for (std::size_t k = 0; k < kc; ++k)
#pragma GCC unroll 16
          for (std::size_t r = 0; r < MR; ++r) dst[k * MR + r] = src[r][k];
      } else {
        for (std::size_t k = 0; k < kc; ++k)
          for (std::size_t r = 0; r < MR; ++r) dst[k * MR + r] = r < rows ? src[r][k] : 0.0f;
      }
    } else {
      // op(A)(i, k) = a(k, i): each k is a contiguous run of MR elements.
      const float* src = a.data + k0 * a.stride + i0 + ir;
      if (rows == MR) {
        for (std::size_t k = 0; k < kc; ++k, src += a.stride)
#pragma GCC unroll 16
          for (std::size_t r = 0; r < MR; ++r) dst[k * MR + r] = src[r];
      } else {
        for (std::size_t k = 0; k < kc; ++k, src += a.stride)
          for (std::size_t r = 0; r < MR; ++r) dst[k * MR + r] = r < rows ? src[r] : 0.0f;
      }
    }
  }
}

// Packs depth [k0, k0+kc) x columns [j0, j0+nc) of op(B) into NR-column micro-panels.
template <class D>
HWY_INLINE void PackB(D d, Trans tb, ConstMatrixView b, std::size_t k0, std::size_t kc,
                      std::size_t j0, std::size_t nc, float* HWY_RESTRICT dst) {
  const std::size_t lanes = hn::Lanes(d);
  const std::size_t nr = 2 * lanes;
  for (std::size_t jr = 0; jr < nc; jr += nr, dst += nr * kc) {
    const std::size_t cols = std::min(nr, nc - jr);
    if (tb == Trans::N) {
      // op(B)(k, j) = b(k, j): each k is a contiguous run of NR elements.
      const float* src = b.data + k0 * b.stride + j0 + jr;
      if (cols == nr) {
        for (std::size_t k = 0; k < kc; ++k, src += b.stride) {
          hn::Store(hn::LoadU(d, src), d, dst + k * nr);
          hn::Store(hn::LoadU(d, src + lanes), d, dst + k * nr + lanes);
        }
      } else {
        const std::size_t n0 = std::min(cols, lanes);
        const std::size_t n1 = cols - n0;
        for (std::size_t k = 0; k < kc; ++k, src += b.stride) {
          hn::Store(LoadTail(d, src, n0), d, dst + k * nr);
          hn::Store(n1 ? LoadTail(d, src + lanes, n1) : hn::Zero(d), d, dst + k * nr + lanes);
        }
      }
    } else {
      // op(B)(k, j) = b(j, k): transpose; read each source row sequentially.
      for (std::size_t c = 0; c < nr; ++c) {
        if (c < cols) {
          const float* src = b.data + (j0 + jr + c) * b.stride + k0;
          for (std::size_t k = 0; k < kc; ++k) dst[k * nr + c] = src[k];
        } else {
          for (std::size_t k = 0; k < kc; ++k) dst[k * nr + c] = 0.0f;
        }
      }
    }
  }
}

// --- the blocked driver -------------------------------------------------------------------------

// Splits `total` into equal blocks of at most `max_block`, rounded up to a multiple of `multiple`,
// so that no block is a sliver (784 = 4 x 196 rather than 3 x 256 + 16).
inline std::size_t EvenBlock(std::size_t total, std::size_t max_block, std::size_t multiple) {
  const std::size_t blocks = (total + max_block - 1) / max_block;
  const std::size_t block = (total + blocks - 1) / blocks;
  return (block + multiple - 1) / multiple * multiple;
}

// C-shaped output of M x N from op(A) (M x K) and op(B) (K x N); make_epilogue(first, last)
// gives the epilogue for the K block that is first / last.
template <class MakeEpilogue>
HWY_NOINLINE void GemmBlocked(Trans ta, Trans tb, ConstMatrixView a, ConstMatrixView b,
                              std::size_t m, std::size_t n, std::size_t k,
                              const MakeEpilogue& make_epilogue) {
  const hn::ScalableTag<float> d;
  constexpr std::size_t MR = kGemmMR;
  const std::size_t nr = 2 * hn::Lanes(d);
  const std::size_t kc_step = EvenBlock(k, kGemmKC, 1);
  const std::size_t mc_step = EvenBlock(m, kGemmMC, MR);
  const std::size_t nc_step = EvenBlock(n, kGemmNC, nr);
  float* packed_a = thread_scratch(0, mc_step * kc_step);
  float* packed_b = thread_scratch(1, nc_step * kc_step);

  for (std::size_t jc = 0; jc < n; jc += nc_step) {
    const std::size_t nc = std::min(nc_step, n - jc);
    for (std::size_t pc = 0; pc < k; pc += kc_step) {
      const std::size_t kc = std::min(kc_step, k - pc);
      PackB(d, tb, b, pc, kc, jc, nc, packed_b);
      const auto epilogue = make_epilogue(pc == 0, pc + kc == k);
      for (std::size_t ic = 0; ic < m; ic += mc_step) {
        const std::size_t mc = std::min(mc_step, m - ic);
        PackA<MR>(ta, a, ic, mc, pc, kc, packed_a);
        for (std::size_t jr = 0; jr < nc; jr += nr) {
          const std::size_t cols = std::min(nr, nc - jr);
          const float* bp = packed_b + jr * kc;
          for (std::size_t ir = 0; ir < mc; ir += MR) {
            GemmMicroKernel<MR>(d, kc, packed_a + ir * kc, bp, std::min(MR, mc - ir), cols,
                                ic + ir, jc + jr, epilogue);
          }
        }
      }
    }
  }
}

inline void Gemm(Trans ta, Trans tb, float alpha, ConstMatrixView a, ConstMatrixView b,
                 float beta, MatrixView c) {
  const std::size_t k = ta == Trans::N ? a.cols : a.rows;
  GemmBlocked(ta, tb, a, b, c.rows, c.cols, k, [&](bool first, bool) {
    return GemmEpilogue{c.data, c.stride, alpha, first ? beta : 1.0f, !first || beta != 0.0f};
  });
}

template <Activation G>
void DenseForwardAs(ConstMatrixView x, ConstMatrixView w, const float* bias, MatrixView z,
                    MatrixView a) {
  GemmBlocked(Trans::N, Trans::N, x, w, x.rows, w.cols, x.cols, [&](bool first, bool last) {
    return DenseEpilogue<G>{z.data, z.stride, a.data, a.stride, bias, first, last};
  });
}

}  // namespace HWY_NAMESPACE
}  // namespace mlpk::highway
HWY_AFTER_NAMESPACE();

#endif  // MLPK_HIGHWAY_F32_GEMM_INL_H_
