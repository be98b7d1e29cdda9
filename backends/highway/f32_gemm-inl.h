// f32 GEMM for one Highway target: BLIS-style blocking, packing, and an MR x NV-vector
// register-blocked micro-kernel (8 x 3 zmm on AVX-512, 6 x 2 on 16-register targets) whose
// epilogue either applies alpha/beta (plain GEMM) or adds the bias and applies an activation
// (fused dense forward) while the tile is still in registers.
//
// Included once per target by kernels.cpp and f32_dense_math.cpp (foreach_target.h); the
// toggling include guard below is Highway's idiom for that. Not a public header.
//
// Layout of the packed operands (both zero-padded to whole micro-panels, so the micro-kernel never
// branches on edges inside its K loop):
//   packed A: micro-panels of MR rows of op(A); element (r, k) of a panel at [k * MR + r]
//   packed B: micro-panels of NR = NV vectors of columns of op(B); element (k, c) at [k * NR + c]
//             (a ragged last panel is only as many vectors wide as it needs)
// Loop order (outer to inner): jc over N by NC, pc over K by KC (pack B), ic over M by MC (pack A),
// jr over NR (one B micro-panel is reused by every row tile), ir over MR.
// A is not packed when a panel would be used by at most eight column tiles (small or narrow
// outputs): the micro-kernel then broadcasts straight from A. Likewise op(B) = B is not packed
// when the output has at most kGemmPackBRows rows (a training batch): its micro-panels are read
// where B's rows hold them.

#if defined(MLPK_HIGHWAY_F32_GEMM_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef MLPK_HIGHWAY_F32_GEMM_INL_H_
#undef MLPK_HIGHWAY_F32_GEMM_INL_H_
#else
#define MLPK_HIGHWAY_F32_GEMM_INL_H_
#endif

#include <hwy/cache_control.h>
#include <hwy/highway.h>

#include "f32_common-inl.h"

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <string>

HWY_BEFORE_NAMESPACE();
namespace mlpk::highway {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Tile and block sizes of this target. A tile is MR rows x NV vectors: MR*NV accumulators, NV
// vectors of B and one broadcast of A must fit in the register file. The MLPK_HWY_GEMM_* macros
// exist for tuning experiments only.
#if HWY_TARGET <= HWY_AVX3
// 32 zmm registers: 8 x 3 vectors = 24 accumulators + 3 B vectors + 1 broadcast. Measured on a
// Xeon with AVX-512 (48 KiB L1d, 2 MiB L2) against 14 x 2, 12 x 2 and 6 x 4 tiles: 8 x 48 divides
// batch sizes (256) evenly and has the best mix across the MLP shapes; 11 loads per 24 FMAs.
// KC = 384 keeps A micro-panels (12 KiB) in L1 while B micro-panels (72 KiB) stream from L2.
// On Zen 4 (32 KiB L1d, 1 MiB L2, one 512-bit FMA per cycle) the same sizes reach 88-95% of
// peak on the large shapes (backends/highway/bench/RESULTS.md).
#ifndef MLPK_HWY_GEMM_MR
#define MLPK_HWY_GEMM_MR 8
#endif
#ifndef MLPK_HWY_GEMM_NV
#define MLPK_HWY_GEMM_NV 3
#endif
#ifndef MLPK_HWY_GEMM_KC
#define MLPK_HWY_GEMM_KC 384
#endif
#ifndef MLPK_HWY_GEMM_MC
#define MLPK_HWY_GEMM_MC 192
#endif
#ifndef MLPK_HWY_GEMM_NC
#define MLPK_HWY_GEMM_NC 2048
#endif
inline constexpr std::size_t kGemmMR = MLPK_HWY_GEMM_MR;
inline constexpr std::size_t kGemmNV = MLPK_HWY_GEMM_NV;
inline constexpr std::size_t kGemmKC = MLPK_HWY_GEMM_KC;
inline constexpr std::size_t kGemmMC = MLPK_HWY_GEMM_MC;
inline constexpr std::size_t kGemmNC = MLPK_HWY_GEMM_NC;
// Narrow outputs (N <= one vector, e.g. 10 classes): one vector per row, more rows.
inline constexpr std::size_t kGemmNarrowMR = 16;
#else
// 16 ymm/xmm registers: 12 accumulators + 2 B vectors + 1 broadcast. The other 12-accumulator
// tile, 4 x 3 vectors (MLPK_HWY_GEMM2_MR=4, MLPK_HWY_GEMM2_NV=3), measured 0.90-1.02x of this one
// on a Zen 5's AVX2 path (every BM_Gemm shape and two training steps, best of 3 interleaved).
#ifndef MLPK_HWY_GEMM2_MR
#define MLPK_HWY_GEMM2_MR 6
#endif
#ifndef MLPK_HWY_GEMM2_NV
#define MLPK_HWY_GEMM2_NV 2
#endif
#ifndef MLPK_HWY_GEMM2_KC
#define MLPK_HWY_GEMM2_KC 256
#endif
#ifndef MLPK_HWY_GEMM2_MC
#define MLPK_HWY_GEMM2_MC 144
#endif
inline constexpr std::size_t kGemmMR = MLPK_HWY_GEMM2_MR;
inline constexpr std::size_t kGemmNV = MLPK_HWY_GEMM2_NV;
inline constexpr std::size_t kGemmKC = MLPK_HWY_GEMM2_KC;
inline constexpr std::size_t kGemmMC = MLPK_HWY_GEMM2_MC;
inline constexpr std::size_t kGemmNC = 2048;
inline constexpr std::size_t kGemmNarrowMR = 12;
#endif

// A is packed when its panels serve more than this many column tiles. Broadcasting straight from
// MR rows of A costs little while they stay in L1, and packing them is a copy of the whole block:
// on a Zen 5, best of 4 interleaved runs, 8 against 2 gave 64^3 1.09x and 128^3 1.05x on AVX2,
// 128^3 1.06x on AVX-512, the larger products and training steps within 0.97-1.04x.
#ifndef MLPK_HWY_GEMM_PACK_A_TILES
#define MLPK_HWY_GEMM_PACK_A_TILES 8
#endif
inline constexpr std::size_t kGemmPackATiles = MLPK_HWY_GEMM_PACK_A_TILES;

// B (as stored, not transposed) is packed only when its panels serve more than this many rows of
// the output; for fewer, the micro-kernel loads B's rows where they are. With W packed, the
// forward product of a batch of 64 (64x256x392, the owned halves of 784-256-128-10's first layer)
// ran at 77% of peak against 89% for that layer's weight gradient (`mlpk profile`). Zen 5, `BM_TrainStep/highway`, A/B alternated 5-7 times, median ratio: 128 against
// always packing: 784-256-128-10 b64 1.08x (1.04x on the AVX2 path), 784-512-256-10 b128 1.02x
// at 1 thread and 1.05x at 2; 64^3 1.07x (AVX2 1.09x), 128^3 within 2%; 256 against 128 left
// the 1024-wide network at batch 256 unchanged (0.99x, 1.02x), so larger products keep packing.
#ifndef MLPK_HWY_GEMM_PACK_B_ROWS
#define MLPK_HWY_GEMM_PACK_B_ROWS 128
#endif
inline constexpr std::size_t kGemmPackBRows = MLPK_HWY_GEMM_PACK_B_ROWS;

// --- epilogues: what happens to a finished MR x NR tile of accumulators -----------------------

// Number of valid lanes of vector v in a row segment of `cols` columns.
template <class D>
HWY_INLINE std::size_t LanesOf(D d, std::size_t v, std::size_t cols) {
  const std::size_t lanes = hn::Lanes(d);
  const std::size_t start = v * lanes;
  return cols <= start ? 0 : std::min(lanes, cols - start);
}

// C = alpha * acc + beta * C. `read_c` is false when beta == 0 on the first K block, so that NaN
// in C never propagates; later K blocks accumulate with beta = 1.
struct GemmEpilogue {
  float* c;
  std::size_t ldc;
  float alpha;
  float beta;
  bool read_c;

  // Brings the tile's rows of C toward L1 while the K loop runs: C is read (beta != 0 or a later
  // K block) and written once per K block, and between blocks it has left L1 and L2.
  template <std::size_t NV, class D>
  HWY_INLINE void Prefetch(D d, std::size_t i, std::size_t j) const {
    if (!read_c) return;  // written only: nothing to wait for
    const float* p = c + i * ldc + j;
    for (std::size_t v = 0; v < NV; ++v) hwy::Prefetch(p + v * hn::Lanes(d));
  }

  template <std::size_t NV, class D>
  HWY_INLINE void FinishTile(D, std::size_t, std::size_t, std::size_t, std::size_t) const {}

  // alpha acc + beta c; with beta 1, one rounding: the bits of axpy's MulAdd(alpha, acc, c), so
  // W - lr dW as one product (a folded SGD step) is the step of dW then axpy.
  template <class D, class V, class LoadC>
  HWY_INLINE V Combine(D, V va, V vb, V a, const LoadC& load_c) const {
    if (!read_c) return hn::Mul(va, a);
    if (beta == 1.0f) return hn::MulAdd(va, a, load_c());
    return hn::MulAdd(vb, load_c(), hn::Mul(va, a));
  }

  template <std::size_t NV, class D, class V>
  HWY_INLINE void Row(D d, const V (&acc)[NV], std::size_t i, std::size_t j,
                      std::size_t cols) const {
    const std::size_t lanes = hn::Lanes(d);
    float* p = c + i * ldc + j;
    const V va = hn::Set(d, alpha);
    const V vb = hn::Set(d, beta);
    if (HWY_LIKELY(cols == NV * lanes)) {
      if (alpha == 1.0f && !read_c) {  // the common C = op(A) op(B): store as is
#pragma GCC unroll 4
        for (std::size_t v = 0; v < NV; ++v) hn::StoreU(acc[v], d, p + v * lanes);
        return;
      }
#pragma GCC unroll 4
      for (std::size_t v = 0; v < NV; ++v)
        hn::StoreU(Combine(d, va, vb, acc[v], [&] { return hn::LoadU(d, p + v * lanes); }), d, p + v * lanes);
      return;
    }
    for (std::size_t v = 0; v < NV; ++v) {
      const std::size_t n = LanesOf(d, v, cols);
      if (n == 0) break;
      StoreTail(d, Combine(d, va, vb, acc[v], [&] { return LoadTail(d, p + v * lanes, n); }), p + v * lanes, n);
    }
  }
};

// Dense forward: Z = acc (+ the partial sum of earlier K blocks) + bias, A = g(Z). Before the last
// K block the partial sum is parked in Z (A when Z and A are the same matrix).
//
// Cheap g (identity, ReLU, leaky ReLU) is applied to the accumulators in registers. Heavy g
// (sigmoid, tanh, GELU: exp/tanh polynomials with several temporaries each) is applied once the
// whole tile is stored, by a separate pass over the tile while it is in L1: applied in registers
// it ran with all MR x NV accumulators live, spilled, and made the fused kernel slower than
// GEMM + activation pass (measured: GELU 784->512 at batch 256, 1.44 ms fused vs 1.33 composed).
template <Activation G, class D>
HWY_NOINLINE void ActivateTile(D d, const float* src, std::size_t lds, float* dst,
                               std::size_t ldd, std::size_t rows, std::size_t cols) {
  for (std::size_t r = 0; r < rows; ++r, src += lds, dst += ldd)
    ForEachVector(d, cols, [&]<bool kFull>(std::size_t j, std::size_t n) {
      StorePart<kFull>(d, ActivationForward<G>(d, LoadPart<kFull>(d, src + j, n)), dst + j, n);
    });
}

template <Activation G>
struct DenseEpilogue {
  // g built from exp/tanh polynomials, dozens of instructions per vector.
  static constexpr bool kHeavy =
      G == Activation::sigmoid || G == Activation::tanh || G == Activation::gelu;

  float* z;  // == a when only A is kept
  std::size_t ldz;
  float* a;
  std::size_t lda;
  const float* bias;
  bool first;  // no partial sum to add
  bool last;   // add bias, apply g, write A

  // See GemmEpilogue::Prefetch: the partial sums of earlier K blocks are read back from Z.
  template <std::size_t NV, class D>
  HWY_INLINE void Prefetch(D d, std::size_t i, std::size_t j) const {
    if (first) return;  // written only: nothing to wait for
    const float* pz = z + i * ldz + j;
    for (std::size_t v = 0; v < NV; ++v) hwy::Prefetch(pz + v * hn::Lanes(d));
  }

  template <bool kFull, class D, class V>
  HWY_INLINE void Vector(D d, V t, float* pz, float* pa, const float* b, std::size_t n) const {
    if (!first) t = hn::Add(t, LoadPart<kFull>(d, pz, n));
    if (!last) {
      StorePart<kFull>(d, t, pz, n);
      return;
    }
    t = hn::Add(t, LoadPart<kFull>(d, b, n));
    if constexpr (kHeavy) {
      StorePart<kFull>(d, t, pz, n);  // FinishTile applies g
    } else {
      if (z != a) StorePart<kFull>(d, t, pz, n);
      StorePart<kFull>(d, ActivationForward<G>(d, t), pa, n);
    }
  }

  // After the last K block's tile is stored: heavy g over the tile, Z -> A (in place when Z is A).
  template <std::size_t NV, class D>
  HWY_INLINE void FinishTile(D d, std::size_t i, std::size_t j, std::size_t rows,
                             std::size_t cols) const {
    if constexpr (kHeavy) {
      if (last) ActivateTile<G>(d, z + i * ldz + j, ldz, a + i * lda + j, lda, rows, cols);
    }
  }

  template <std::size_t NV, class D, class V>
  HWY_INLINE void Row(D d, const V (&acc)[NV], std::size_t i, std::size_t j,
                      std::size_t cols) const {
    const std::size_t lanes = hn::Lanes(d);
    float* pz = z + i * ldz + j;
    float* pa = a + i * lda + j;
    const float* b = bias + j;
    if (HWY_LIKELY(cols == NV * lanes)) {
#pragma GCC unroll 4
      for (std::size_t v = 0; v < NV; ++v)
        Vector<true>(d, acc[v], pz + v * lanes, pa + v * lanes, b + v * lanes, lanes);
      return;
    }
    for (std::size_t v = 0; v < NV; ++v) {
      const std::size_t n = LanesOf(d, v, cols);
      if (n == 0) break;
      Vector<false>(d, acc[v], pz + v * lanes, pa + v * lanes, b + v * lanes, n);
    }
  }
};

// --- the micro-kernel -----------------------------------------------------------------------

// Where the micro-kernel finds element (r, k) of its MR x kc slice of op(A).
// A packed micro-panel: (r, k) at [k * MR + r].
template <std::size_t MR>
struct PackedPanelA {
  const float* p;
  HWY_INLINE float At(std::size_t r) const { return p[r]; }
  HWY_INLINE void Next() { p += MR; }
};
// Unpacked op(A) = A (row-major): rows `row_step` apart, k contiguous.
struct RowMajorA {
  const float* p;
  std::size_t row_step;
  HWY_INLINE float At(std::size_t r) const { return p[r * row_step]; }
  HWY_INLINE void Next() { p += 1; }
};
// Unpacked op(A) = A^T: rows contiguous, k `k_step` apart.
struct TransposedA {
  const float* p;
  std::size_t k_step;
  HWY_INLINE float At(std::size_t r) const { return p[r]; }
  HWY_INLINE void Next() { p += k_step; }
};

// acc[MR][NV] = sum over k of column k of A's slice (broadcast) times row k of the B micro-panel
// (at bp + k * b_step: packed, or B's own rows), then the epilogue writes the `rows` x `cols`
// valid part at (i0, j0). MR and NV are template parameters so that the accumulators become named
// registers after full unrolling.
template <std::size_t MR, std::size_t NV, class D, class ASlice, class Epilogue>
HWY_INLINE void GemmMicroKernel(D d, std::size_t kc, ASlice ap, const float* HWY_RESTRICT bp,
                                std::size_t b_step, std::size_t rows, std::size_t cols, std::size_t i0,
                                std::size_t j0, const Epilogue& epilogue) {
  using V = hn::Vec<D>;
  const std::size_t lanes = hn::Lanes(d);
  V acc[MR][NV];
#pragma GCC unroll 32
  for (std::size_t r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (std::size_t v = 0; v < NV; ++v) acc[r][v] = hn::Zero(d);
  for (std::size_t r = 0; r < rows; ++r) epilogue.template Prefetch<NV>(d, i0 + r, j0);
  // With 16 registers the tile is 12 FMAs a step of k, and the loop's own additions, compare and
  // branch are a sixth of its instructions: four steps a turn. On a Zen 5's AVX2 path, in one
  // process alternating the two loops: GEMMs 0.99-1.02x (256x256x512 1.017, 512^3 1.019, 128^3
  // 0.991), training steps 1.01-1.04x; on AVX-512 (8 x 3 tiles, 24 FMAs a step) the
  // 784-1024-1024-1024-10 step lost (0.985), so that target turns once a step.
#if HWY_TARGET > HWY_AVX3
#pragma GCC unroll 4
#endif
  for (std::size_t k = 0; k < kc; ++k) {
    V b[NV];
#pragma GCC unroll 4
    for (std::size_t v = 0; v < NV; ++v) b[v] = hn::LoadU(d, bp + v * lanes);
#pragma GCC unroll 32
    for (std::size_t r = 0; r < MR; ++r) {
      const V av = hn::Set(d, ap.At(r));
#pragma GCC unroll 4
      for (std::size_t v = 0; v < NV; ++v) acc[r][v] = hn::MulAdd(av, b[v], acc[r][v]);
    }
    ap.Next();
    bp += b_step;
  }
#pragma GCC unroll 32
  for (std::size_t r = 0; r < MR; ++r)
    if (r < rows) epilogue.template Row<NV>(d, acc[r], i0 + r, j0, cols);
  epilogue.template FinishTile<NV>(d, i0, j0, rows, cols);
}

// GemmMicroKernel with NV or fewer vectors per row: `nv` (<= NV) is the width of this tile's
// packed B micro-panel in vectors.
template <std::size_t MR, std::size_t NV, class D, class ASlice, class Epilogue>
HWY_INLINE void GemmMicroKernelUpTo(D d, std::size_t nv, std::size_t kc, ASlice ap,
                                    const float* HWY_RESTRICT bp, std::size_t b_step, std::size_t rows,
                                    std::size_t cols, std::size_t i0, std::size_t j0,
                                    const Epilogue& epilogue) {
  if constexpr (NV > 1) {
    if (HWY_UNLIKELY(nv < NV)) {
      GemmMicroKernelUpTo<MR, NV - 1>(d, nv, kc, ap, bp, b_step, rows, cols, i0, j0, epilogue);
      return;
    }
  }
  GemmMicroKernel<MR, NV>(d, kc, ap, bp, b_step, rows, cols, i0, j0, epilogue);
}

// --- packing ----------------------------------------------------------------------------------

// Targets with 256-bit shuffles for the 8 x 8 transpose (evaluated again for each target).
#ifndef MLPK_HWY_TRANSPOSE_8X8
#define MLPK_HWY_TRANSPOSE_8X8 \
  (HWY_TARGET == HWY_AVX2 || HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL)
#endif

#if MLPK_HWY_TRANSPOSE_8X8
// Columns c .. c+7 of eight rows (row r at src[r] + c) transposed in 256-bit registers: 8 loads,
// 24 shuffles, 8 stores for 64 elements. Output column j goes to o + j * out_stride, stored in
// increasing j, so that with out_stride < 8 each store's tail is overwritten by the next one.
HWY_INLINE void Transpose8x8(const float* const* src, std::size_t c, float* HWY_RESTRICT o,
                             std::size_t out_stride) {
  const hn::FixedTag<float, 8> d8;
  const hn::Repartition<double, decltype(d8)> d64;
  const auto r0v = hn::LoadU(d8, src[0] + c), r1v = hn::LoadU(d8, src[1] + c);
  const auto r2v = hn::LoadU(d8, src[2] + c), r3v = hn::LoadU(d8, src[3] + c);
  const auto r4v = hn::LoadU(d8, src[4] + c), r5v = hn::LoadU(d8, src[5] + c);
  const auto r6v = hn::LoadU(d8, src[6] + c), r7v = hn::LoadU(d8, src[7] + c);
  // Pairs of rows, per 128-bit half: t0 = r0_0 r1_0 r0_1 r1_1 | r0_4 r1_4 r0_5 r1_5.
  const auto t0 = hn::BitCast(d64, hn::InterleaveLower(d8, r0v, r1v));
  const auto t1 = hn::BitCast(d64, hn::InterleaveUpper(d8, r0v, r1v));
  const auto t2 = hn::BitCast(d64, hn::InterleaveLower(d8, r2v, r3v));
  const auto t3 = hn::BitCast(d64, hn::InterleaveUpper(d8, r2v, r3v));
  const auto t4 = hn::BitCast(d64, hn::InterleaveLower(d8, r4v, r5v));
  const auto t5 = hn::BitCast(d64, hn::InterleaveUpper(d8, r4v, r5v));
  const auto t6 = hn::BitCast(d64, hn::InterleaveLower(d8, r6v, r7v));
  const auto t7 = hn::BitCast(d64, hn::InterleaveUpper(d8, r6v, r7v));
  // Quads of rows: u0 = rows 0-3 of columns 0 | 4, u1 of 1 | 5, u2 of 2 | 6, u3 of 3 | 7.
  const auto u0 = hn::BitCast(d8, hn::InterleaveLower(d64, t0, t2));
  const auto u1 = hn::BitCast(d8, hn::InterleaveUpper(d64, t0, t2));
  const auto u2 = hn::BitCast(d8, hn::InterleaveLower(d64, t1, t3));
  const auto u3 = hn::BitCast(d8, hn::InterleaveUpper(d64, t1, t3));
  const auto u4 = hn::BitCast(d8, hn::InterleaveLower(d64, t4, t6));
  const auto u5 = hn::BitCast(d8, hn::InterleaveUpper(d64, t4, t6));
  const auto u6 = hn::BitCast(d8, hn::InterleaveLower(d64, t5, t7));
  const auto u7 = hn::BitCast(d8, hn::InterleaveUpper(d64, t5, t7));
  hn::StoreU(hn::ConcatLowerLower(d8, u4, u0), d8, o);
  hn::StoreU(hn::ConcatLowerLower(d8, u5, u1), d8, o + out_stride);
  hn::StoreU(hn::ConcatLowerLower(d8, u6, u2), d8, o + 2 * out_stride);
  hn::StoreU(hn::ConcatLowerLower(d8, u7, u3), d8, o + 3 * out_stride);
  hn::StoreU(hn::ConcatUpperUpper(d8, u4, u0), d8, o + 4 * out_stride);
  hn::StoreU(hn::ConcatUpperUpper(d8, u5, u1), d8, o + 5 * out_stride);
  hn::StoreU(hn::ConcatUpperUpper(d8, u6, u2), d8, o + 6 * out_stride);
  hn::StoreU(hn::ConcatUpperUpper(d8, u7, u3), d8, o + 7 * out_stride);
}
#endif

// Transposing copy of a rows x cols block: out[c * out_stride + r] = src[r * src_stride + c].
// Packing op(A) = A and op(B) = B^T needs it. 4 x 4 blocks are transposed in 128-bit registers
// (4 loads, 8 shuffles, 4 stores for 16 elements); the ragged edges are copied one by one.
// In 4 x 4 blocks columns are the outer loop, so that each group of 4 output rows (a few cache
// lines) is finished before the next; the 8 x 8 blocks below go row group by row group.
HWY_INLINE void TransposeCopy(const float* HWY_RESTRICT src, std::size_t src_stride,
                              std::size_t rows, std::size_t cols, float* HWY_RESTRICT out,
                              std::size_t out_stride) {
  std::size_t c = 0;
  std::size_t rows4 = 0;
#if MLPK_HWY_TRANSPOSE_8X8
  // 8 x 8 blocks (packing op(B) = B^T in 4 x 4 blocks was 10% of a 256x784x512 nt product).
  {
    const std::size_t rows8 = rows / 8 * 8;
    // Eight source rows at a time, each along its whole length: eight streams that the hardware
    // prefetcher follows. Blocks of eight columns of all rows at a time walked 48 rows at once for
    // an AVX-512 panel (Zen 5, one process alternating the two: 256x1024x1024 nt 1.073x,
    // 256x784x512 nt 1.035x, 256x512x256 nt 1.008-1.027x; AVX2's 16-row panels 0.997-1.006x).
    const std::size_t cols8 = cols / 8 * 8;
    for (std::size_t r0 = 0; r0 < rows8; r0 += 8) {
      const float* row[8];
      for (std::size_t r = 0; r < 8; ++r) row[r] = src + (r0 + r) * src_stride;
      for (std::size_t c8 = 0; c8 < cols8; c8 += 8)
        Transpose8x8(row, c8, out + c8 * out_stride + r0, out_stride);
    }
    for (std::size_t cc = 0; cc < cols8; ++cc)
      for (std::size_t r = rows8; r < rows; ++r) out[cc * out_stride + r] = src[r * src_stride + cc];
    c = cols8;
  }
#endif
#if HWY_TARGET != HWY_SCALAR
  rows4 = rows / 4 * 4;
  const hn::FixedTag<float, 4> d4;
  for (; c + 4 <= cols; c += 4) {
    for (std::size_t r0 = 0; r0 < rows4; r0 += 4) {
      const float* s = src + r0 * src_stride + c;
      const auto x0 = hn::LoadU(d4, s);
      const auto x1 = hn::LoadU(d4, s + src_stride);
      const auto x2 = hn::LoadU(d4, s + 2 * src_stride);
      const auto x3 = hn::LoadU(d4, s + 3 * src_stride);
      const auto t0 = hn::InterleaveLower(d4, x0, x1);  // x0[0] x1[0] x0[1] x1[1]
      const auto t1 = hn::InterleaveLower(d4, x2, x3);  // x2[0] x3[0] x2[1] x3[1]
      const auto t2 = hn::InterleaveUpper(d4, x0, x1);  // x0[2] x1[2] x0[3] x1[3]
      const auto t3 = hn::InterleaveUpper(d4, x2, x3);
      float* o = out + c * out_stride + r0;
      hn::StoreU(hn::ConcatLowerLower(d4, t1, t0), d4, o);
      hn::StoreU(hn::ConcatUpperUpper(d4, t1, t0), d4, o + out_stride);
      hn::StoreU(hn::ConcatLowerLower(d4, t3, t2), d4, o + 2 * out_stride);
      hn::StoreU(hn::ConcatUpperUpper(d4, t3, t2), d4, o + 3 * out_stride);
    }
    for (std::size_t cc = c; cc < c + 4; ++cc)
      for (std::size_t r = rows4; r < rows; ++r) out[cc * out_stride + r] = src[r * src_stride + cc];
  }
#endif
  for (; c < cols; ++c)
    for (std::size_t r = 0; r < rows; ++r) out[c * out_stride + r] = src[r * src_stride + c];
}

// Floats past the last packed A panel that PackA may write.
inline constexpr std::size_t kPackASlack = 8;

// Packs rows [i0, i0+mc) x depth [k0, k0+kc) of op(A) into MR-row micro-panels.
template <std::size_t MR>
HWY_NOINLINE void PackA(Trans ta, ConstMatrixView a, std::size_t i0, std::size_t mc,
                        std::size_t k0, std::size_t kc, float* HWY_RESTRICT dst) {
  for (std::size_t ir = 0; ir < mc; ir += MR, dst += MR * kc) {
    const std::size_t rows = std::min(MR, mc - ir);
    if (ta == Trans::N) {
      // op(A)(i, k) = a(i, k): a transpose of the rows x kc block; zero the padding rows.
      const float* src = a.data + (i0 + ir) * a.stride + k0;
      bool copied = false;
#if MLPK_HWY_TRANSPOSE_8X8
      if constexpr (MR == 6) {
        // 8 x 8 blocks of six rows and two copies of the last, each output column stored 8 wide
        // in order, its two extra floats overwritten by the next (the last block's spill past the
        // panel lands in the next panel, packed after, or in kPackASlack).
        const float* row[8];
        for (std::size_t r = 0; r < 8; ++r) row[r] = src + std::min(r, rows - 1) * a.stride;
        const std::size_t kc8 = kc / 8 * 8;
        for (std::size_t c8 = 0; c8 < kc8; c8 += 8) Transpose8x8(row, c8, dst + c8 * MR, MR);
        for (std::size_t k = kc8; k < kc; ++k)
          for (std::size_t r = 0; r < rows; ++r) dst[k * MR + r] = src[r * a.stride + k];
        copied = true;
      }
#endif
      if (!copied) TransposeCopy(src, a.stride, rows, kc, dst, MR);
      if (rows < MR)
        for (std::size_t k = 0; k < kc; ++k)
          for (std::size_t r = rows; r < MR; ++r) dst[k * MR + r] = 0.0f;
    } else {
      // op(A)(i, k) = a(k, i): each k is a contiguous run of MR elements.
      const float* src = a.data + k0 * a.stride + i0 + ir;
      if (rows == MR) {
        for (std::size_t k = 0; k < kc; ++k, src += a.stride)
#pragma GCC unroll 32
          for (std::size_t r = 0; r < MR; ++r) dst[k * MR + r] = src[r];
      } else {
        for (std::size_t k = 0; k < kc; ++k, src += a.stride)
          for (std::size_t r = 0; r < MR; ++r) dst[k * MR + r] = r < rows ? src[r] : 0.0f;
      }
    }
  }
}

// Width in floats of the packed B micro-panel that starts at column jr of an nc-wide block: NR,
// except that a ragged last panel is only as many whole vectors wide as it needs, so that a
// narrower micro-kernel computes it (64 columns are 48 + 16, not 48 + a third of 48).
template <class D>
HWY_INLINE std::size_t PanelWidth(D d, std::size_t nr, std::size_t jr, std::size_t nc) {
  const std::size_t lanes = hn::Lanes(d);
  const std::size_t cols = std::min(nr, nc - jr);
  return (cols + lanes - 1) / lanes * lanes;
}

// Packs depth [k0, k0+kc) x columns [j0, j0+nc) of op(B) into micro-panels of NR = NV vectors of
// columns (the last one PanelWidth wide), each zero-padded to its width.
template <std::size_t NV, class D>
HWY_NOINLINE void PackB(D d, Trans tb, ConstMatrixView b, std::size_t k0, std::size_t kc,
                        std::size_t j0, std::size_t nc, float* HWY_RESTRICT dst) {
  const std::size_t lanes = hn::Lanes(d);
  const std::size_t nr = NV * lanes;
  for (std::size_t jr = 0; jr < nc; jr += nr, dst += nr * kc) {
    const std::size_t cols = std::min(nr, nc - jr);
    const std::size_t width = PanelWidth(d, nr, jr, nc);
    if (tb == Trans::N) {
      // op(B)(k, j) = b(k, j): each k is a contiguous run of `width` elements.
      const float* src = b.data + k0 * b.stride + j0 + jr;
      if (cols == nr) {
        for (std::size_t k = 0; k < kc; ++k, src += b.stride)
#pragma GCC unroll 4
          for (std::size_t v = 0; v < NV; ++v)
            hn::Store(hn::LoadU(d, src + v * lanes), d, dst + k * nr + v * lanes);
      } else {
        for (std::size_t k = 0; k < kc; ++k, src += b.stride)
          for (std::size_t v = 0; v * lanes < width; ++v) {
            const std::size_t n = LanesOf(d, v, cols);
            hn::Store(n == lanes ? hn::LoadU(d, src + v * lanes) : LoadTail(d, src + v * lanes, n),
                      d, dst + k * width + v * lanes);
          }
      }
    } else {
      // op(B)(k, j) = b(j, k): a transpose of the cols x kc block; zero the padding columns.
      TransposeCopy(b.data + (j0 + jr) * b.stride + k0, b.stride, cols, kc, dst, width);
      if (cols < width)
        for (std::size_t k = 0; k < kc; ++k)
          for (std::size_t c = cols; c < width; ++c) dst[k * width + c] = 0.0f;
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

// The M x N output from op(A) (M x K) and op(B) (K x N) with MR x NV-vector tiles;
// make_epilogue(first, last) gives the epilogue for the K block that is first / last.
// A is packed into micro-panels when each is reused over many column tiles; otherwise full
// tiles broadcast straight from A (narrow or small outputs, where packing would cost as much as
// the product), and only the ragged last row tile is packed.
// kTransposedA: op(A) may be A^T (plain GEMM); dense forward always has op(A) = A, so its
// instantiations leave that path out.
template <std::size_t MR, std::size_t NV, bool kTransposedA, class MakeEpilogue>
HWY_NOINLINE void GemmBlockedTiles(Trans ta, Trans tb, ConstMatrixView a, ConstMatrixView b,
                                   std::size_t m, std::size_t n, std::size_t k,
                                   const MakeEpilogue& make_epilogue) {
  const hn::ScalableTag<float> d;
  const std::size_t nr = NV * hn::Lanes(d);
  const std::size_t kc_step = EvenBlock(k, kGemmKC, 1);
  const std::size_t mc_step = EvenBlock(m, kGemmMC, MR);
  const std::size_t nc_step = EvenBlock(n, kGemmNC, nr);
  float* packed_a = thread_scratch(0, mc_step * kc_step + kPackASlack);
  float* packed_b = thread_scratch(1, nc_step * kc_step);
  const bool pack_a = nc_step / nr > kGemmPackATiles;
  const bool pack_b = tb == Trans::T || m > kGemmPackBRows;

  for (std::size_t jc = 0; jc < n; jc += nc_step) {
    const std::size_t nc = std::min(nc_step, n - jc);
    for (std::size_t pc = 0; pc < k; pc += kc_step) {
      const std::size_t kc = std::min(kc_step, k - pc);
      if (pack_b) PackB<NV>(d, tb, b, pc, kc, jc, nc, packed_b);
      const auto epilogue = make_epilogue(pc == 0, pc + kc == k);
      for (std::size_t ic = 0; ic < m; ic += mc_step) {
        const std::size_t mc = std::min(mc_step, m - ic);
        if (pack_a) PackA<MR>(ta, a, ic, mc, pc, kc, packed_a);
        for (std::size_t jr = 0; jr < nc; jr += nr) {
          const std::size_t cols = std::min(nr, nc - jr);
          const std::size_t width = PanelWidth(d, nr, jr, nc), nv = width / hn::Lanes(d);
          // Row k of the B micro-panel at bp + k * b_step: packed, or op(B) = B itself, whose rows
          // hold whole vectors except in a ragged last panel (that one is packed, zero-padded).
          const float* bp = packed_b + jr * kc;
          std::size_t b_step = width;
          if (!pack_b && cols == width) {
            bp = b.data + pc * b.stride + jc + jr;
            b_step = b.stride;
          } else if (!pack_b) {
            PackB<NV>(d, tb, b, pc, kc, jc + jr, cols, packed_b);
            bp = packed_b;
          }
          for (std::size_t ir = 0; ir < mc; ir += MR) {
            const std::size_t rows = std::min(MR, mc - ir);
            const std::size_t i = ic + ir;
            const std::size_t j = jc + jr;
            if (pack_a) {
              GemmMicroKernelUpTo<MR, NV>(d, nv, kc, PackedPanelA<MR>{packed_a + ir * kc}, bp,
                                          b_step, rows, cols, i, j, epilogue);
            } else if (rows < MR) {  // the edge tile: pack its rows, zero-padded
              PackA<MR>(ta, a, i, rows, pc, kc, packed_a);
              GemmMicroKernelUpTo<MR, NV>(d, nv, kc, PackedPanelA<MR>{packed_a}, bp, b_step, rows,
                                          cols, i, j, epilogue);
            } else if (!kTransposedA || ta == Trans::N) {
              GemmMicroKernelUpTo<MR, NV>(d, nv, kc, RowMajorA{a.data + i * a.stride + pc, a.stride},
                                          bp, b_step, rows, cols, i, j, epilogue);
            } else if constexpr (kTransposedA) {
              GemmMicroKernelUpTo<MR, NV>(d, nv, kc, TransposedA{a.data + pc * a.stride + i, a.stride},
                                          bp, b_step, rows, cols, i, j, epilogue);
            }
          }
        }
      }
    }
  }
}

// Picks the tile shape: one-vector-wide tiles when the whole output is that narrow.
template <bool kTransposedA, class MakeEpilogue>
HWY_INLINE void GemmBlocked(Trans ta, Trans tb, ConstMatrixView a, ConstMatrixView b,
                            std::size_t m, std::size_t n, std::size_t k,
                            const MakeEpilogue& make_epilogue) {
  const hn::ScalableTag<float> d;
  if (kGemmNV > 1 && n <= hn::Lanes(d))
    GemmBlockedTiles<kGemmNarrowMR, 1, kTransposedA>(ta, tb, a, b, m, n, k, make_epilogue);
  else
    GemmBlockedTiles<kGemmMR, kGemmNV, kTransposedA>(ta, tb, a, b, m, n, k, make_epilogue);
}

// "f32_gemm_8x48__avx3": the name of the MR x NV-vector micro-kernel of this target.
inline std::string GemmKernelName(std::size_t mr, std::size_t nv) {
  const hn::ScalableTag<float> d;
  std::string target = hwy::TargetName(HWY_TARGET);
  for (char& c : target) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return "f32_gemm_" + std::to_string(mr) + "x" + std::to_string(nv * hn::Lanes(d)) + "__" + target;
}

inline void Gemm(Trans ta, Trans tb, float alpha, ConstMatrixView a, ConstMatrixView b,
                 float beta, MatrixView c) {
  const std::size_t k = ta == Trans::N ? a.cols : a.rows;
  GemmBlocked<true>(ta, tb, a, b, c.rows, c.cols, k, [&](bool first, bool) {
    return GemmEpilogue{c.data, c.stride, alpha, first ? beta : 1.0f, !first || beta != 0.0f};
  });
}

template <Activation G>
void DenseForwardAs(ConstMatrixView x, ConstMatrixView w, const float* bias, MatrixView z,
                    MatrixView a) {
  GemmBlocked<false>(Trans::N, Trans::N, x, w, x.rows, w.cols, x.cols, [&](bool first, bool last) {
    return DenseEpilogue<G>{z.data, z.stride, a.data, a.stride, bias, first, last};
  });
}

}  // namespace HWY_NAMESPACE
}  // namespace mlpk::highway
HWY_AFTER_NAMESPACE();

#endif  // MLPK_HIGHWAY_F32_GEMM_INL_H_
