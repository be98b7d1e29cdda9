// Fuzzes the --layers string (Architecture::parse) and the --activation and --loss names. The
// input's first line is the layers string; a second and third line, when present, are parsed as
// the hidden activation and the loss.
#include "fuzz_support.hpp"

#include <mlpk/activation.hpp>
#include <mlpk/error.hpp>
#include <mlpk/network.hpp>

namespace {

std::string_view next_line(std::string_view& text) {
  const std::size_t end = std::min(text.find('\n'), text.size());
  const std::string_view line = text.substr(0, end);
  text.remove_prefix(std::min(end + 1, text.size()));
  return line;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::string_view layers = next_line(text);
  const std::string_view activation = next_line(text);
  const std::string_view loss = next_line(text);
  mlpk::Activation hidden = mlpk::Activation::relu;
  try {
    if (!activation.empty()) hidden = mlpk::parse_activation(activation);
  } catch (const mlpk::Error&) {
  }
  std::vector<mlpk::Loss> losses = {mlpk::Loss::mean_squared_error, mlpk::Loss::softmax_cross_entropy,
                                    mlpk::Loss::sigmoid_binary_cross_entropy};
  try {
    if (!loss.empty()) losses = {mlpk::parse_loss(loss)};
  } catch (const mlpk::Error&) {
  }
  for (const auto l : losses) {
    try {
      const auto a = mlpk::Architecture::parse(layers, hidden, l);
      a.validate();  // parse promises a valid architecture
      FUZZ_CHECK(a.inputs > 0 && !a.layers.empty() && a.loss == l);
      FUZZ_CHECK(!a.to_string().empty());
    } catch (const mlpk::Error&) {
    }
  }
  return 0;
}
