// The steps several kernels' plans share: copies between layouts, activations forward and
// backward on packed rows, column sums as a product. Each appends primitives to a plan, declaring
// the plan buffers it needs; the caller declares the roles it reads and writes first.
#pragma once

#include "operands.hpp"
#include "plan.hpp"

#include <mlpk/activation.hpp>

#include <oneapi/dnnl/dnnl.hpp>

namespace mlpk::onednn {

// Attributes every primitive of this backend uses: scratchpad provided per execution (thread
// safety: see Plan), plus whatever the kernel adds.
dnnl::primitive_attr base_attr();

// The attributes of a product C = alpha * op(A) * op(B) + beta * C: alpha as a run-time output
// scale when `scaled` (so one primitive serves every alpha != 1), beta as a sum post-op when not 0
// (without one, C is written and never read).
dnnl::primitive_attr product_attr(bool scaled, float beta);

// Appends the product primitive `pd` (a matmul or an inner product without bias, made with
// product_attr) reading `src` and `weights`, writing `dst`, scaled by Operand::alpha when `scaled`.
void append_product(Plan& p, const dnnl::primitive_desc_base& pd, Operand src, Operand weights,
                    Operand dst, bool scaled);

// The eltwise algorithm and alpha that compute activation g, and whether its backward reads the
// output A (use_dst_for_bwd: sigmoid and tanh, as the reference does) instead of Z.
struct EltwiseAlg {
  dnnl::algorithm alg;
  float alpha;
  bool backward_uses_dst;
};
// mlpk::Error for identity and softmax, which are not eltwise algorithms.
EltwiseAlg eltwise_alg(Activation g);
bool is_eltwise(Activation g);

// What the backward of g reads: Operand::a for softmax and the use_dst_for_bwd algorithms
// (sigmoid, tanh: as the reference, from the output), Operand::z otherwise.
Operand backward_reads(Activation g);

// Appends a copy (reorder) of role `from` into role `to`: the same shape, any strides.
void append_copy(Plan& p, Operand from, Operand to);

// Appends to = g(from), `from` Z (Operand::z or Operand::packed_z), `to` Operand::a. eltwise and
// softmax run on packed rows: a strided Z is copied into packed_z first, a strided A is written
// through packed_a (reorders cost ~3.6 us per 256x128 block, the strided eltwise ~1.4 ms).
void append_activation_forward(Plan& p, Activation g, Operand from, Operand to);

// Appends dZ = dA * g'(.) reading role backward_reads(g). `aliased`: dA and dZ are the same
// memory and layout. The primitives see packed rows only (strided operands go through packed_*
// buffers), and one layout for dA and dZ: eltwise backward takes one descriptor for both, and
// oneDNN 2.6.3's softmax backward, given two, writes dZ with dA's row stride.
void append_activation_backward(Plan& p, Activation g, bool aliased);

// Appends sums (1 x n) = alpha * ones (1 x m) * X (m x n) + beta * sums with X the role `x`;
// declares the caller's Operand::sums and the plan's Operand::ones; `scaled` binds the run-time
// output scale to Operand::alpha, which the caller declares. A matmul with a ones vector: the
// reduction primitive of oneDNN 2.6 has no vectorized implementation for this case and measured
// ~100x slower (bench_onednn: BM_ColumnSums).
void append_column_sums(Plan& p, Operand x, bool scaled, float beta);

}  // namespace mlpk::onednn
