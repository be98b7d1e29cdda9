// Activation functions and losses: the enumerations, their names, and parsing from names.
#pragma once

#include <string>
#include <string_view>

namespace mlpk {

// g(z) of a layer. All are element-wise except softmax, which normalizes each row.
//   identity    g(z) = z
//   sigmoid     g(z) = 1 / (1 + e^-z)
//   tanh        g(z) = tanh z
//   relu        g(z) = max(z, 0)             (g'(0) = 0)
//   leaky_relu  g(z) = z > 0 ? z : 0.01 z    (g'(0) = 0.01)
//   gelu        g(z) = z/2 (1 + tanh(sqrt(2/pi) (z + 0.044715 z^3)))   (the tanh form)
//   softmax     g(z)_j = e^z_j / sum_k e^z_k, over each row
enum class Activation { identity, sigmoid, tanh, relu, leaky_relu, gelu, softmax };

inline constexpr float kLeakyReluSlope = 0.01f;
inline constexpr Activation kAllActivations[] = {
    Activation::identity, Activation::sigmoid, Activation::tanh,    Activation::relu,
    Activation::leaky_relu, Activation::gelu,  Activation::softmax,
};

// Loss functions, summed over the outputs j of each row and averaged over the n rows (samples)
// of a batch; LossReduction::sum (Network::set_loss_reduction) drops the 1/n.
//   softmax_cross_entropy   L = -(1/n) sum_i sum_j y_ij log a_ij   (output activation: softmax)
//   sigmoid_binary_cross_entropy
//                           L = -(1/n) sum_i sum_j [y log a + (1-y) log(1-a)]   (output: sigmoid)
//   mean_squared_error      L = (1/2n) sum_i sum_j (a_ij - y_ij)^2   (any output activation)
// For the first two the output gradient is fused: dZ = (A - Y)/n, for softmax-CE
// dZ = (A sum_j y_ij - Y)/n, which is (A - Y)/n when a target row sums to 1. The 1/2 of the
// squared error makes its gradient dA = (A - Y)/n, the convention of the textbook worked examples.
// Targets: softmax-CE takes any y >= 0 (one-hot, multi-hot, soft or all-zero rows), sigmoid-BCE
// y in [0, 1]; outside those the loss has no minimum, and the Network rejects such targets.
//
// PyTorch's equivalents, for logits Z (the output layer before its activation), A = g(Z), Y:
//   softmax-CE   mean: nn.CrossEntropyLoss()(Z, Y), Y as class probabilities (or class indices
//                for one-hot Y);  sum: nn.CrossEntropyLoss(reduction='sum')(Z, Y)
//   sigmoid-BCE  mean: nn.BCEWithLogitsLoss(reduction='sum')(Z, Y) / n, which is K times
//                nn.BCEWithLogitsLoss()(Z, Y) (PyTorch's mean is over all n*K elements);
//                sum: nn.BCEWithLogitsLoss(reduction='sum')(Z, Y)
//   MSE          mean: nn.MSELoss(reduction='sum')(A, Y) / (2n), which is K/2 times
//                nn.MSELoss()(A, Y);  sum: nn.MSELoss(reduction='sum')(A, Y) / 2
enum class Loss { softmax_cross_entropy, sigmoid_binary_cross_entropy, mean_squared_error };

// mean: L as above (1/n over the rows), the default; sum: n times that, so every gradient is n
// times larger (for a network chained behind a model whose loss is summed).
enum class LossReduction { mean, sum };

inline constexpr Loss kAllLosses[] = {Loss::softmax_cross_entropy,
                                      Loss::sigmoid_binary_cross_entropy,
                                      Loss::mean_squared_error};

// "relu", "leaky-relu", ... and "softmax-ce", "sigmoid-bce", "mse": the names the command line uses.
std::string_view to_string(Activation a);
std::string_view to_string(Loss l);
// Throws mlpk::Error naming the unknown name and listing the known ones.
Activation parse_activation(std::string_view name);
Loss parse_loss(std::string_view name);

// The output activation a loss is defined on (identity for MSE, which accepts any).
Activation output_activation_for(Loss loss);
// True when the loss gradient with respect to Z is simply (A - Y)/n.
bool loss_fuses_output_activation(Loss loss);

}  // namespace mlpk
