// The fused dense forward (GEMM + bias + activation epilogue) for the activations built from
// exp/tanh polynomials (sigmoid, tanh, GELU), for every Highway target. A translation unit of its
// own only so that the build compiles it in parallel with kernels.cpp: these epilogues are the
// largest instantiations of the backend. kernels.cpp calls DenseForwardMath of the same target.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "f32_dense_math.cpp"  // resolved through this folder's include directory
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include <hwy/highway.h>

#include "f32_gemm-inl.h"

HWY_BEFORE_NAMESPACE();
namespace mlpk::highway {
namespace HWY_NAMESPACE {

void DenseForwardMath(ConstMatrixView x, ConstMatrixView w, const float* bias, Activation g,
                      MatrixView z, MatrixView a) {
  switch (g) {
    case Activation::sigmoid: return DenseForwardAs<Activation::sigmoid>(x, w, bias, z, a);
    case Activation::tanh: return DenseForwardAs<Activation::tanh>(x, w, bias, z, a);
    case Activation::gelu: return DenseForwardAs<Activation::gelu>(x, w, bias, z, a);
    default: break;  // kernels.cpp handles the others
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace mlpk::highway
HWY_AFTER_NAMESPACE();
