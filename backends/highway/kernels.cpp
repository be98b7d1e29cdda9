// The highway backend's kernels compiled for every Highway target, and the table of them per
// target. foreach_target.h re-includes this file once per target; HWY_EXPORT builds the table of
// GetKernelTable per target, which supported_target_kernels() indexes directly (never through
// HWY_DYNAMIC_DISPATCH), so no process-wide Highway state is read or changed.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels.cpp"  // resolved through this folder's include directory
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include <hwy/highway.h>

#include "f32_dropout-inl.h"
#include "f32_eltwise-inl.h"
#include "f32_gemm-inl.h"
#include "kernel_table.hpp"

HWY_BEFORE_NAMESPACE();
namespace mlpk::highway {
namespace HWY_NAMESPACE {

// Defined in f32_dense_math.cpp for sigmoid, tanh and GELU (compiled in parallel with this file).
void DenseForwardMath(ConstMatrixView x, ConstMatrixView w, const float* bias, Activation g,
                      MatrixView z, MatrixView a);

inline void DenseForward(ConstMatrixView x, ConstMatrixView w, const float* bias, Activation g,
                         MatrixView z, MatrixView a) {
  switch (g) {
    case Activation::identity: return DenseForwardAs<Activation::identity>(x, w, bias, z, a);
    case Activation::relu: return DenseForwardAs<Activation::relu>(x, w, bias, z, a);
    case Activation::leaky_relu: return DenseForwardAs<Activation::leaky_relu>(x, w, bias, z, a);
    case Activation::softmax:
      // Softmax needs whole rows: the GEMM epilogue adds the bias into Z, then one row pass.
      DenseForwardAs<Activation::identity>(x, w, bias, z, z);
      ActivationForwardAll(g, z, a);
      return;
    case Activation::sigmoid:
    case Activation::tanh:
    case Activation::gelu: return DenseForwardMath(x, w, bias, g, z, a);
  }
}

// The kernels of this target. Returned by pointer so the table outlives every backend instance.
const KernelTable* GetKernelTable() {
  static const std::string gemm = GemmKernelName(kGemmMR, kGemmNV);
  static const std::string narrow_gemm = GemmKernelName(kGemmNarrowMR, 1);
  static const KernelTable table{
      hwy::TargetName(HWY_TARGET),
      gemm.c_str(),
      narrow_gemm.c_str(),
      &Gemm,
      &DenseForward,
      &AddBias,
      &SumBiasActivation,
      &ActivationForwardAll,
      &ActivationBackwardAll,
      &DenseBackwardActivation,
      &ColumnSums,
      &LossGradient,
      &Axpy,
      &AdamUpdate,
      &SgdUpdate,
      &MomentumUpdate,
      &DropoutForward,
  };
  return &table;
}

}  // namespace HWY_NAMESPACE
}  // namespace mlpk::highway
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace mlpk::highway {

HWY_EXPORT(GetKernelTable);

namespace {

// Position of `target` (one HWY_* bit) in an HWY_EXPORT table, as Highway 1.0.3 computes it in
// ChosenTarget::GetIndex (targets.h): entry 0 is the self-dispatching trampoline (never used
// here: it would set the process-wide chosen target), entries 1..HWY_MAX_DYNAMIC_TARGETS are the
// dynamic targets in HWY_CHOOSE_TARGET_LIST order, the last entry is the EMU128/SCALAR fallback.
// Returns 0 for a target this table has no entry for.
std::size_t DispatchIndex(std::int64_t target) {
  if (target == HWY_EMU128 || target == HWY_SCALAR) return HWY_MAX_DYNAMIC_TARGETS + 1;
  const std::int64_t shifted = HWY_CHOSEN_TARGET_SHIFT(target);
  if (shifted == 0) return 0;
  return static_cast<std::size_t>(hwy::Num0BitsBelowLS1Bit_Nonzero64(static_cast<std::uint64_t>(shifted)));
}

}  // namespace

std::vector<TargetKernels> supported_target_kernels() {
  // Computed once. hwy::SupportedTargets() of Highway 1.0.3 also initializes the process-wide
  // chosen target to the detected set (what the first HWY_DYNAMIC_DISPATCH anywhere would do);
  // calling it once, at the first backend creation, keeps that side effect from recurring while
  // kernels of other components may be dispatching.
  static const std::vector<TargetKernels> result = [] {
    std::vector<TargetKernels> found;
    // The fallback (EMU128 or SCALAR) runs everywhere; SupportedTargets() may not list it.
    const std::int64_t fallback = (HWY_TARGETS & HWY_EMU128) ? HWY_EMU128 : HWY_SCALAR;
    const std::int64_t usable = HWY_TARGETS & (hwy::SupportedTargets() | fallback);
    // Lower bits are better targets: walk the set bits from the lowest.
    for (std::int64_t rest = usable; rest != 0; rest &= rest - 1) {
      const std::int64_t target = rest & -rest;
      const std::size_t index = DispatchIndex(target);
      if (index == 0) continue;
      const auto get_table = HWY_DISPATCH_TABLE(GetKernelTable)[index];
      if (get_table == nullptr) continue;
      found.push_back({target, get_table()});
    }
    return found;
  }();
  return result;
}

}  // namespace mlpk::highway
#endif  // HWY_ONCE
