// The plain-C++ face of the highway backend's SIMD kernels: one table of function pointers per
// compiled Highway target.
//
// Nothing here mentions Highway types, so highway_backend.cpp (the Backend class, option parsing,
// registration) stays ordinary C++. kernels.cpp fills one KernelTable per target; the backend
// binds an instance to one table at creation and never consults Highway's process-wide chosen
// target afterwards, so instances bound to different targets coexist (the conformance suite
// creates "highway:AVX2" and "highway:SSE4" beside the default on an AVX-512 machine).
//
// Every kernel receives arguments already validated by mlpk::Backend (shapes agree, nothing empty).
#pragma once

#include <mlpk/activation.hpp>
#include <mlpk/backend.hpp>
#include <mlpk/tensor.hpp>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace mlpk::highway {

struct KernelTable {
  // hwy::TargetName of the target these kernels were compiled for ("AVX3_DL", "AVX2", ...).
  const char* target_name;
  // The GEMM micro-kernels, named as XNNPACK names its, f32_gemm_<MR>x<NR>__<target>: the tile
  // of most products, and the one-vector-wide tile of outputs at most one vector wide (N <= NR).
  const char* gemm_kernel;
  const char* narrow_gemm_kernel;

  // C = alpha op(A) op(B) + beta C (beta == 0: C is not read).
  void (*gemm)(Trans ta, Trans tb, float alpha, ConstMatrixView a, ConstMatrixView b, float beta,
               MatrixView c);
  // Z = X W + bias, A = g(Z), bias and activation applied while the tile is in registers.
  void (*dense_forward)(ConstMatrixView x, ConstMatrixView w, const float* bias, Activation g,
                        MatrixView z, MatrixView a);
  void (*add_bias)(const float* bias, MatrixView z);
  // Z = ((Z + P[0]) + ...) + bias, A = g(Z): Backend::sum_bias_activation over `count` partials.
  void (*sum_bias_activation)(const ConstMatrixView* partials, std::size_t count, const float* bias,
                              Activation g, MatrixView z, MatrixView a);
  void (*activation_forward)(Activation g, ConstMatrixView z, MatrixView a);
  void (*activation_backward)(Activation g, ConstMatrixView z, ConstMatrixView a,
                              ConstMatrixView da, MatrixView dz);
  // dZ = dA * g' and bias_grad = column sums of dZ, in one pass over the rows.
  void (*dense_backward_activation)(Activation g, ConstMatrixView z, ConstMatrixView a,
                                    ConstMatrixView da, MatrixView dz, float* bias_grad);
  void (*column_sums)(ConstMatrixView x, float alpha, float beta, float* sums);
  void (*loss_gradient)(ConstMatrixView a, ConstMatrixView y, float scale, MatrixView g);
  void (*axpy)(float alpha, const float* x, float* y, std::size_t n);
  void (*adam_update)(const AdamStep& step, const float* g, float* w, float* m, float* s,
                      std::size_t n);
  void (*sgd_update)(const SgdStep& step, const float* g, float* w, std::size_t n);
  void (*momentum_update)(const MomentumStep& step, const float* g, float* w, float* v,
                          std::size_t n);
  // Y = X * keep * scale with the mask's words computed in vectors (dropout forward and backward).
  void (*dropout)(const DropoutMask& mask, ConstMatrixView x, MatrixView y);
};

// A compiled target that this CPU supports.
struct TargetKernels {
  std::int64_t target;  // the HWY_* bit
  const KernelTable* table;
};

// Every compiled and supported target, best first.
std::vector<TargetKernels> supported_target_kernels();

// Per-thread scratch of at least `floats` floats, 64-byte aligned, reused across calls: GEMM pack
// buffers live here so that concurrent calls from several threads never share one.
// `slot` selects one of a few independent buffers (packed A, packed B, row scratch).
float* thread_scratch(int slot, std::size_t floats);

}  // namespace mlpk::highway
