// mlpk's kernels as plans: for each Backend kernel the oneDNN work, the key of its plan (every
// parameter the plan's build depends on), the build, and the call that hands the caller's buffers
// over by role. The Backend (onednn_backend.cpp) adds the thread count and the error context.
// Not here: kernels that run as plain loops (onednn_backend.cpp).
#pragma once

#include "options.hpp"
#include "plan_cache.hpp"

#include <mlpk/activation.hpp>
#include <mlpk/backend.hpp>
#include <mlpk/tensor.hpp>

#include <span>

namespace mlpk::onednn {

// C = alpha * op(A) * op(B) + beta * C: a matmul, an inner product or dnnl_sgemm (GemmMode).
void gemm(PlanCache& cache, const Options& options, Trans ta, Trans tb, float alpha,
          ConstMatrixView a, ConstMatrixView b, float beta, MatrixView c);

// Z[i][j] += bias[j] for a contiguous Z: a binary add (on strided Z oneDNN 2.6's binary runs
// its reference code; the backend adds there with a plain loop).
void add_bias(PlanCache& cache, std::span<const float> bias, MatrixView z);

// A = g(Z); A may be Z.
void activation_forward(PlanCache& cache, Activation g, ConstMatrixView z, MatrixView a);

// dZ = dA * g'(Z); dZ may be dA.
void activation_backward(PlanCache& cache, Activation g, ConstMatrixView z, ConstMatrixView a,
                         ConstMatrixView da, MatrixView dz);

// sums = alpha * column sums of X + beta * sums.
void column_sums(PlanCache& cache, ConstMatrixView x, float alpha, float beta,
                 std::span<float> sums);

// Z = X W + bias, A = g(Z), in one plan (only A when A is Z).
void dense_forward(PlanCache& cache, const Options& options, ConstMatrixView x, ConstMatrixView w,
                   std::span<const float> bias, Activation g, MatrixView z, MatrixView a);

// dZ = dA * g'(Z) and bias_grad = column sums of dZ, in one plan.
void dense_backward_activation(PlanCache& cache, Activation g, ConstMatrixView z, ConstMatrixView a,
                               ConstMatrixView da, MatrixView dz, std::span<float> bias_grad);

}  // namespace mlpk::onednn
