#include "kernels.hpp"

#include "isa.hpp"
#include "memory_descs.hpp"
#include "steps.hpp"

#include <mlpk/error.hpp>

#include <bit>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

namespace mlpk::onednn {
namespace {

// The first word of every key.
enum KernelId : std::int64_t {
  kGemm = 1,
  kDense,
  kBias,
  kActivationForward,
  kActivationBackward,
  kColumnSums,
  kDenseBackward
};

std::int64_t sz(std::size_t v) { return static_cast<std::int64_t>(v); }
std::int64_t sz(bool v) { return v ? 1 : 0; }
std::int64_t float_bits(float f) { return std::bit_cast<std::uint32_t>(f); }

// An inner product oneDNN runs with its naive loops: slower than any matmul.
bool is_reference(const dnnl::inner_product_forward::primitive_desc& pd) {
  return std::string_view(pd.impl_info_str()).starts_with("ref");
}

// Whether gemm runs as an inner product (a function of the options and the key's shape, so the
// cache key need not say it).
bool gemm_by_inner_product(const Options& options, Trans ta, Trans tb, std::size_t n) {
  if (options.gemm == GemmMode::inner_product) return true;
  return options.gemm == GemmMode::automatic && ta == Trans::N && tb == Trans::N && n >= 32;
}

// dnnl_sgemm (row-major since oneDNN 1.0, see dnnl.h): one call, no primitive to cache; it
// re-decides its blocking on every call, which is what the benchmark weighs against matmul.
void sgemm(Trans ta, Trans tb, float alpha, ConstMatrixView a, ConstMatrixView b, float beta,
           MatrixView c) {
  const auto k = static_cast<dnnl_dim_t>(ta == Trans::N ? a.cols : a.rows);
  const dnnl::status status = dnnl::sgemm(
      ta == Trans::N ? 'N' : 'T', tb == Trans::N ? 'N' : 'T', static_cast<dnnl_dim_t>(c.rows),
      static_cast<dnnl_dim_t>(c.cols), k, alpha, a.data, static_cast<dnnl_dim_t>(a.stride), b.data,
      static_cast<dnnl_dim_t>(b.stride), beta, c.data, static_cast<dnnl_dim_t>(c.stride));
  if (status != dnnl::status::success)
    throw dnnl::error(static_cast<dnnl_status_t>(status), "dnnl_sgemm failed");
}

// oneDNN 2.6 below avx512_core (its AVX2 sgemm, which its matmul and inner product run too)
// reads B in place for small outputs (its no-copy kernels: 1/M + 1/N >= 0.0038 in its sgemm
// driver) and is slow there when B's rows are a multiple of 2 KiB apart and start on a 32-byte
// boundary. On a Zen 5's AVX2 path (bench/HISTORY.md), B = dZ of a weight gradient dW = X^T dZ:
// 392x512x128 tn 61 GFLOP/s against 94 with rows a cache line longer, 512x512x256 56 / 83,
// 256x1024x512 42 / 89; 392x1024x128, 512x1024x256, 784x512x256 and 1024 rows, which oneDNN
// packs, alike (0.98-1.01x); 128x1024x392 nn 56 / 106. Such a B goes over as this thread's copy
// with longer rows: K x N floats copied before a product of M x N x K.
constexpr std::size_t kAliasedRowFloats = 512;
constexpr std::size_t kRowPadding = 16;  // floats: one cache line
constexpr double kNoCopyOutputs = 0.0038;

ConstMatrixView with_unaliased_rows(Trans tb, ConstMatrixView b, std::size_t m) {
  static const bool slow_on_aliased_rows = below_avx512_core();
  const double small_output = 1.0 / static_cast<double>(m) + 1.0 / static_cast<double>(b.cols);
  // (Whatever B's alignment: which plan runs, and so the bits, must not depend on an address.)
  if (!slow_on_aliased_rows || tb != Trans::N || b.stride % kAliasedRowFloats != 0 ||
      small_output < kNoCopyOutputs)
    return b;
  thread_local std::vector<float> copy;
  std::size_t stride = (b.cols + kRowPadding - 1) / kRowPadding * kRowPadding + kRowPadding;
  if (stride % kAliasedRowFloats == 0) stride += kRowPadding;
  if (copy.size() < b.rows * stride) copy.resize(b.rows * stride);
  for (std::size_t r = 0; r < b.rows; ++r) std::memcpy(copy.data() + r * stride, b.row(r), b.cols * sizeof(float));
  return {copy.data(), b.rows, b.cols, stride};
}

}  // namespace

void gemm(PlanCache& cache, const Options& options, Trans ta, Trans tb, float alpha,
          ConstMatrixView a, ConstMatrixView b_as_given, float beta, MatrixView c) {
  const ConstMatrixView b = with_unaliased_rows(tb, b_as_given, c.rows);
  const bool plain = alpha == 1.0f && beta == 0.0f;
  if (options.gemm == GemmMode::sgemm ||
      (options.gemm == GemmMode::automatic && ta == Trans::T && (c.cols < 32 || !plain)))
    return sgemm(ta, tb, alpha, a, b, beta, c);
  const std::size_t k = ta == Trans::N ? a.cols : a.rows;
  const bool scaled = alpha != 1.0f;
  auto plan = cache.get(
      make_key({kGemm, ta == Trans::T, tb == Trans::T, sz(c.rows), sz(c.cols), sz(k), sz(a.stride),
                sz(b.stride), sz(c.stride), scaled, float_bits(beta)}),
      [&](Plan& p) {
        const dnnl::memory::desc a_md = matrix_desc(c.rows, k, a.stride, ta == Trans::T);
        const dnnl::memory::desc c_md = matrix_desc(c);
        const auto attr = product_attr(scaled, beta);
        p.add_operand(Operand::gemm_a, a_md);
        p.add_operand(Operand::gemm_c, c_md);
        p.add_operand(Operand::alpha, scalar_desc());
        const auto add_product = [&](const dnnl::primitive_desc_base& pd) {
          append_product(p, pd, Operand::gemm_a, Operand::gemm_b, Operand::gemm_c, scaled);
        };
        if (gemm_by_inner_product(options, ta, tb, c.cols)) {
          // op(B) read as the inner product's {N, K} weights: its transpose, so the strides swap
          // once more.
          const dnnl::memory::desc weights = matrix_desc(c.cols, k, b.stride, tb == Trans::N);
          dnnl::inner_product_forward::primitive_desc ip(
              dnnl::inner_product_forward::desc(dnnl::prop_kind::forward_inference, a_md, weights,
                                                c_md),
              attr, p.engine(), /*allow_empty=*/true);
          if (ip && !is_reference(ip)) {
            p.add_operand(Operand::gemm_b, weights);
            return add_product(ip);
          }
        }
        const dnnl::memory::desc b_md = matrix_desc(k, c.cols, b.stride, tb == Trans::T);
        dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_md, b_md, c_md), attr, p.engine());
        p.add_operand(Operand::gemm_b, b_md);
        add_product(pd);
      });
  plan->execute({{Operand::gemm_a, a.data},
                 {Operand::gemm_b, b.data},
                 {Operand::gemm_c, c.data},
                 {Operand::alpha, &alpha}});
}

void add_bias(PlanCache& cache, std::span<const float> bias, MatrixView z) {
  auto plan = cache.get(make_key({kBias, sz(z.rows), sz(z.cols), sz(z.stride)}), [&](Plan& p) {
    p.add_operand(Operand::z, matrix_desc(z));
    p.add_operand(Operand::bias, row_desc(z.cols));
    auto attr = base_attr();
    dnnl::binary::primitive_desc pd(
        dnnl::binary::desc(dnnl::algorithm::binary_add, p.desc(Operand::z), p.desc(Operand::bias),
                           p.desc(Operand::z)),
        attr, p.engine());
    p.add_step(pd, {{DNNL_ARG_SRC_0, Operand::z},
                    {DNNL_ARG_SRC_1, Operand::bias},
                    {DNNL_ARG_DST, Operand::z}});
  });
  plan->execute({{Operand::z, z.data}, {Operand::bias, bias.data()}});
}

// Softmax in place goes through a buffer of the binding (Z copied there first): oneDNN's
// in-place softmax measured ~3x slower than out of place on 256x10 (bench: BM_ActivationForward).
void activation_forward(PlanCache& cache, Activation g, ConstMatrixView z, MatrixView a) {
  const bool in_place = z.data == a.data;
  if (g == Activation::identity && in_place) return;
  auto plan = cache.get(make_key({kActivationForward, static_cast<std::int64_t>(g), sz(z.rows),
                                  sz(z.cols), sz(z.stride), sz(a.stride), sz(in_place)}),
                        [&](Plan& p) {
                          p.add_operand(Operand::z, matrix_desc(z));
                          p.add_operand(Operand::a, matrix_desc(a));
                          if (in_place && g == Activation::softmax) {
                            p.add_buffer(Operand::packed_z, packed_like(p.desc(Operand::z)));
                            append_copy(p, Operand::z, Operand::packed_z);
                            append_activation_forward(p, g, Operand::packed_z, Operand::a);
                          } else {
                            append_activation_forward(p, g, Operand::z, Operand::a);
                          }
                        });
  plan->execute({{Operand::z, z.data}, {Operand::a, a.data}});
}

void activation_backward(PlanCache& cache, Activation g, ConstMatrixView z, ConstMatrixView a,
                         ConstMatrixView da, MatrixView dz) {
  const Operand reads = backward_reads(g);
  const ConstMatrixView data = reads == Operand::a ? a : z;
  const bool aliased = da.data == dz.data && da.stride == dz.stride;
  if (g == Activation::identity && aliased) return;
  auto plan = cache.get(make_key({kActivationBackward, static_cast<std::int64_t>(g), sz(z.rows),
                                  sz(z.cols), sz(data.stride), sz(da.stride), sz(dz.stride)}),
                        [&](Plan& p) {
                          p.add_operand(reads, matrix_desc(data));
                          p.add_operand(Operand::da, matrix_desc(da));
                          p.add_operand(Operand::dz, matrix_desc(dz));
                          append_activation_backward(p, g, aliased);
                        });
  plan->execute({{reads, data.data}, {Operand::da, da.data}, {Operand::dz, dz.data}});
}

void column_sums(PlanCache& cache, ConstMatrixView x, float alpha, float beta,
                 std::span<float> sums) {
  const bool scaled = alpha != 1.0f;
  auto plan = cache.get(
      make_key({kColumnSums, sz(x.rows), sz(x.cols), sz(x.stride), scaled, float_bits(beta)}),
      [&](Plan& p) {
        p.add_operand(Operand::x, matrix_desc(x));
        p.add_operand(Operand::alpha, scalar_desc());
        append_column_sums(p, Operand::x, scaled, beta);
      });
  plan->execute({{Operand::x, x.data}, {Operand::sums, sums.data()}, {Operand::alpha, &alpha}});
}

void dense_backward_activation(PlanCache& cache, Activation g, ConstMatrixView z, ConstMatrixView a,
                               ConstMatrixView da, MatrixView dz, std::span<float> bias_grad) {
  const Operand reads = backward_reads(g);
  const ConstMatrixView data = reads == Operand::a ? a : z;
  const bool aliased = da.data == dz.data && da.stride == dz.stride;
  auto plan = cache.get(make_key({kDenseBackward, static_cast<std::int64_t>(g), sz(z.rows),
                                  sz(z.cols), sz(data.stride), sz(da.stride), sz(dz.stride),
                                  sz(g == Activation::identity && aliased)}),
                        [&](Plan& p) {
                          p.add_operand(reads, matrix_desc(data));
                          p.add_operand(Operand::da, matrix_desc(da));
                          p.add_operand(Operand::dz, matrix_desc(dz));
                          append_activation_backward(p, g, aliased);
                          append_column_sums(p, Operand::dz, /*scaled=*/false, /*beta=*/0.0f);
                        });
  plan->execute({{reads, data.data},
                 {Operand::da, da.data},
                 {Operand::dz, dz.data},
                 {Operand::sums, bias_grad.data()}});
}

// One plan, one lookup: Z = X W + bias in one product primitive (bias fused), then A = g(Z).
//   A is Z, g element-wise:  the activation is the product's eltwise post-op: one primitive.
//   A is Z, softmax:         the product writes a buffer of the plan's binding, softmax reads it
//                            into A (oneDNN's softmax in place measured ~2.7x slower on 256x10).
//   Z and A both kept:       the product writes Z, then an eltwise/softmax/copy primitive Z -> A
//                            (writing both from one primitive is not possible: one dst).
// The product is an inner product (W read as its {out, in} weights with swapped strides) for
// layers of 32 outputs or more, the same choice as gemm=auto: its gemm:jit beat matmul's
// brgemm on the bare 256x512x784 product in five runs by 5-8%, though in dense_forward the
// difference stays within this shared machine's noise (bench_onednn BM_DenseForward ip_* vs
// matmul_*). A matmul for narrower layers (256x256->10 in one run: matmul 20 us, inner product
// 27 us), with dense=matmul, and where the inner product would be its reference code (strided
// operands).
void dense_forward(PlanCache& cache, const Options& options, ConstMatrixView x, ConstMatrixView w,
                   std::span<const float> bias, Activation g, MatrixView z, MatrixView a) {
  const bool in_place = z.data == a.data;
  auto plan = cache.get(
      make_key({kDense, sz(x.rows), sz(w.cols), sz(x.cols), sz(x.stride), sz(w.stride),
                sz(z.stride), sz(a.stride), static_cast<std::int64_t>(g), sz(in_place)}),
      [&](Plan& p) {
        p.add_operand(Operand::x, matrix_desc(x));
        p.add_operand(Operand::z, matrix_desc(z));
        p.add_operand(Operand::a, matrix_desc(a));
        Operand product_dst = Operand::z;
        auto attr = base_attr();
        if (in_place && is_eltwise(g)) {
          const EltwiseAlg e = eltwise_alg(g);
          dnnl::post_ops ops;
          ops.append_eltwise(1.0f, e.alg, e.alpha, 0.0f);
          attr.set_post_ops(ops);
        } else if (in_place && g == Activation::softmax) {
          product_dst = Operand::packed_z;
          p.add_buffer(product_dst, packed_like(p.desc(Operand::z)));
        }
        const dnnl::memory::desc& dst = p.desc(product_dst);
        const auto add_product = [&](const dnnl::primitive_desc_base& pd) {
          p.add_step(pd, {{DNNL_ARG_SRC, Operand::x},
                          {DNNL_ARG_WEIGHTS, Operand::w},
                          {DNNL_ARG_BIAS, Operand::bias},
                          {DNNL_ARG_DST, product_dst}});
        };
        dnnl::inner_product_forward::primitive_desc ip;
        if (options.dense == DenseMode::inner_product && w.cols >= 32) {
          const dnnl::memory::desc weights = matrix_desc(w.cols, w.rows, w.stride, true);
          const dnnl::memory::desc bias_1d = vector_desc(w.cols);
          ip = dnnl::inner_product_forward::primitive_desc(
              dnnl::inner_product_forward::desc(dnnl::prop_kind::forward_inference,
                                                p.desc(Operand::x), weights, bias_1d, dst),
              attr, p.engine(), /*allow_empty=*/true);
          if (ip && is_reference(ip)) ip = {};
          if (ip) {
            p.add_operand(Operand::w, weights);
            p.add_operand(Operand::bias, bias_1d);
            add_product(ip);
          }
        }
        if (!ip) {
          p.add_operand(Operand::w, matrix_desc(w));
          p.add_operand(Operand::bias, row_desc(w.cols));
          dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(p.desc(Operand::x), p.desc(Operand::w),
                                                             p.desc(Operand::bias), dst),
                                          attr, p.engine());
          add_product(pd);
        }
        if (!in_place || g == Activation::softmax)
          append_activation_forward(p, g, product_dst, Operand::a);
      });
  plan->execute({{Operand::x, x.data},
                 {Operand::w, w.data},
                 {Operand::bias, bias.data()},
                 {Operand::z, z.data},
                 {Operand::a, a.data}});
}

}  // namespace mlpk::onednn
