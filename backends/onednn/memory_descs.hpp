// oneDNN memory descriptors of mlpk's operands: float32 matrices in row-major views (any row
// stride, optionally read transposed), rows, scalars, and the packed layouts oneDNN's vectorized
// element-wise code needs.
#pragma once

#include <mlpk/tensor.hpp>

#include <oneapi/dnnl/dnnl.hpp>

#include <cstddef>

namespace mlpk::onednn {

// The rows x cols operand op(X) of a matrix X stored with `stride` floats per row. Not
// transposed: element (i, k) at i * stride + k. Transposed, op(X)(i, k) = X(k, i) at
// i + k * stride: the same memory with swapped strides, so a transposed operand costs nothing.
dnnl::memory::desc matrix_desc(std::size_t rows, std::size_t cols, std::size_t stride,
                               bool transposed);
dnnl::memory::desc matrix_desc(ConstMatrixView v);

// A 1 x n packed row: a bias, a sums vector, the ones of a column sum.
dnnl::memory::desc row_desc(std::size_t n);

// n packed floats as a 1-D vector: the bias of an inner product.
dnnl::memory::desc vector_desc(std::size_t n);

// One float: a run-time output scale (alpha).
dnnl::memory::desc scalar_desc();

// Whether a 2-D descriptor has packed rows. oneDNN 2.6's eltwise and softmax have vectorized
// code only for packed data; on a strided view they run their reference loops (ref:any), 38x
// (GELU) to 480x (ReLU) slower on a 256x128 block of a 256x512 matrix. mlpk's Network cuts
// products into column blocks, which are such views.
bool packed(const dnnl::memory::desc& md);

// A packed 2-D descriptor of the same shape as `md`.
dnnl::memory::desc packed_like(const dnnl::memory::desc& md);

}  // namespace mlpk::onednn
