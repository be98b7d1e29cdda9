// Names of activations and losses, and which output activation each loss is defined on.
#include <mlpk/activation.hpp>
#include <mlpk/error.hpp>

#include <string>

namespace mlpk {

std::string_view to_string(Activation a) {
  switch (a) {
    case Activation::identity: return "identity";
    case Activation::sigmoid: return "sigmoid";
    case Activation::tanh: return "tanh";
    case Activation::relu: return "relu";
    case Activation::leaky_relu: return "leaky-relu";
    case Activation::gelu: return "gelu";
    case Activation::softmax: return "softmax";
  }
  return "?";
}

std::string_view to_string(Loss l) {
  switch (l) {
    case Loss::softmax_cross_entropy: return "softmax-ce";
    case Loss::sigmoid_binary_cross_entropy: return "sigmoid-bce";
    case Loss::mean_squared_error: return "mse";
  }
  return "?";
}

Activation parse_activation(std::string_view name) {
  std::string known;
  for (Activation a : kAllActivations) {
    if (name == to_string(a)) return a;
    known += (known.empty() ? "" : ", ") + std::string(to_string(a));
  }
  if (name == "leaky_relu") return Activation::leaky_relu;
  throw Error("unknown activation '" + std::string(name) + "' (known: " + known + ")");
}

Loss parse_loss(std::string_view name) {
  std::string known;
  for (Loss l : kAllLosses) {
    if (name == to_string(l)) return l;
    known += (known.empty() ? "" : ", ") + std::string(to_string(l));
  }
  throw Error("unknown loss '" + std::string(name) + "' (known: " + known + ")");
}

Activation output_activation_for(Loss loss) {
  switch (loss) {
    case Loss::softmax_cross_entropy: return Activation::softmax;
    case Loss::sigmoid_binary_cross_entropy: return Activation::sigmoid;
    case Loss::mean_squared_error: return Activation::identity;
  }
  return Activation::identity;
}

bool loss_fuses_output_activation(Loss loss) { return loss != Loss::mean_squared_error; }

}  // namespace mlpk
