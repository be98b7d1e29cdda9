// Architecture: parsing "784-256-10", printing, and validation.
#include <mlpk/error.hpp>
#include <mlpk/network.hpp>

#include <charconv>
#include <optional>
#include <string>

namespace mlpk {

namespace {

// The whole of `text` as a number, or nothing.
template <typename T>
std::optional<T> parse_number(std::string_view text) {
  T value{};
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// "0.2", "0.25": a dropout rate as printed by to_string (the shortest text that reads back).
std::string rate_text(float rate) {
  char buffer[32];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, rate);
  return ec == std::errc() ? std::string(buffer, end) : std::to_string(rate);
}

}  // namespace

Architecture Architecture::parse(std::string_view text, Activation hidden, Loss loss) {
  const auto fail = [&](const std::string& problem) {
    return Error("layers '" + std::string(text) + "': " + problem);
  };
  std::vector<LayerSpec> parts;  // the input width first
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t dash = std::min(text.find('-', start), text.size());
    const std::string_view part = text.substr(start, dash - start);
    const std::size_t colon = std::min(part.find(':'), part.size());
    const auto width = parse_number<std::size_t>(part.substr(0, colon));
    if (!width)
      throw fail("'" + std::string(part) + "' is not a layer width (expected e.g. 784-256-10, or " +
                 "784-256:0.2-10 with a dropout rate)");
    LayerSpec spec{*width, hidden};
    if (colon < part.size()) {
      const std::string_view rate = part.substr(colon + 1);
      const auto value = parse_number<float>(rate);
      if (!value)
        throw fail("'" + std::string(rate) + "' is not a dropout rate (expected e.g. 784-256:0.2-10)");
      if (parts.empty()) throw fail("the input width takes no dropout rate");
      spec.dropout = *value;
    }
    parts.push_back(spec);
    start = dash + 1;
  }
  if (parts.size() < 2) throw fail("give the input width and at least one layer, e.g. 784-10");
  Architecture a;
  a.inputs = parts.front().units;
  a.loss = loss;
  a.layers.assign(parts.begin() + 1, parts.end());
  a.layers.back().activation = output_activation_for(loss);
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
    if (layer.dropout != 0.0f) s += ", dropout " + rate_text(layer.dropout);
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
  for (std::size_t l = 0; l < layers.size(); ++l) {
    if (layers[l].units == 0)
      throw Error("architecture: layer " + std::to_string(l + 1) + " has zero units");
    const float p = layers[l].dropout;
    if (!(p >= 0.0f && p < 1.0f))
      throw Error("architecture: layer " + std::to_string(l + 1) + "'s dropout rate " + rate_text(p) +
                  " is not in [0, 1)");
  }
  if (layers.back().dropout != 0.0f)
    throw Error("architecture: layer " + std::to_string(layers.size()) +
                " is the output layer, which takes no dropout (only hidden layers do)");
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
