// The value of a loss on a batch (double accumulation). Not a kernel: one pass over the output
// layer per batch, computed from the logits Z where that is the numerically stable form.
#pragma once

#include <mlpk/activation.hpp>
#include <mlpk/tensor.hpp>

namespace mlpk {

double loss_value(Loss loss, ConstMatrixView z, ConstMatrixView a, ConstMatrixView y);

}  // namespace mlpk
