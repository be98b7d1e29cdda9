// Architecture: parsing "784-256-10", printing, and validation.
#include <mlpk/error.hpp>
#include <mlpk/network.hpp>

#include <charconv>

namespace mlpk {

Architecture Architecture::parse(std::string_view text, Activation hidden, Loss loss) {
  std::vector<std::size_t> widths;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t dash = std::min(text.find('-', start), text.size());
    const std::string_view part = text.substr(start, dash - start);
    std::size_t value = 0;
    const auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), value);
    if (part.empty() || ec != std::errc() || end != part.data() + part.size())
      throw Error("layers '" + std::string(text) + "': '" + std::string(part) +
                  "' is not a layer width (expected e.g. 784-256-10)");
    widths.push_back(value);
    start = dash + 1;
  }
  if (widths.size() < 2)
    throw Error("layers '" + std::string(text) +
                "': give the input width and at least one layer, e.g. 784-10");
  Architecture a;
  a.inputs = widths.front();
  a.loss = loss;
  for (std::size_t i = 1; i < widths.size(); ++i)
    a.layers.push_back({widths[i], i + 1 == widths.size() ? output_activation_for(loss) : hidden});
  try {
    a.validate();
  } catch (const Error& e) {
    throw Error("layers '" + std::string(text) + "': " + e.what());
  }
  return a;
}

std::string Architecture::to_string() const {
  std::string s = std::to_string(inputs);
  for (const auto& layer : layers) {
    s += '-';
    s += std::to_string(layer.units);
    s += '(';
    s += mlpk::to_string(layer.activation);
    s += ')';
  }
  s += ' ';
  s += mlpk::to_string(loss);
  return s;
}

void Architecture::validate() const {
  if (inputs == 0) throw Error("architecture: the input width is zero");
  if (layers.empty()) throw Error("architecture: the network has no layers");
  if (layers.size() > kMaxLayers)
    throw Error("architecture: " + std::to_string(layers.size()) + " layers are more than the " +
                std::to_string(kMaxLayers) + " mlpk allows");
  for (std::size_t l = 0; l < layers.size(); ++l)
    if (layers[l].units == 0)
      throw Error("architecture: layer " + std::to_string(l + 1) + " has zero units");
  // Checked layer by layer, each product by division first: no sum or product can wrap.
  std::uint64_t total = 0;
  std::uint64_t in = inputs;
  for (std::size_t l = 0; l < layers.size(); ++l) {
    const std::uint64_t units = layers[l].units;
    const std::uint64_t left = kMaxParameters - total;
    if (in > left / units || in * units + units > left)
      throw Error("architecture: more than " + std::to_string(kMaxParameters) +
                  " parameters (the limit) by layer " + std::to_string(l + 1) + " (" +
                  std::to_string(in) + " x " + std::to_string(units) + " weights)");
    total += in * units + units;
    in = units;
  }
  const Activation out = layers.back().activation;
  if (loss == Loss::softmax_cross_entropy && out != Activation::softmax)
    throw Error("architecture: softmax-ce needs a softmax output layer, not '" +
                std::string(mlpk::to_string(out)) + "'");
  if (loss == Loss::sigmoid_binary_cross_entropy && out != Activation::sigmoid)
    throw Error("architecture: sigmoid-bce needs a sigmoid output layer, not '" +
                std::string(mlpk::to_string(out)) + "'");
}

std::uint64_t Architecture::parameter_count() const {
  std::uint64_t total = 0;
  std::uint64_t in = inputs;
  for (const auto& layer : layers) {
    total += in * layer.units + layer.units;
    in = layer.units;
  }
  return total;
}

}  // namespace mlpk
