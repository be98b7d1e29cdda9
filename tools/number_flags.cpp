// Validators of number flags: parsed with std::from_chars, which takes no sign, base prefix or
// leading space for integers, and no "nan" is finite.
#include "number_flags.hpp"

#include <charconv>
#include <cmath>
#include <string>

namespace mlpk::tools {
namespace {

std::string number_text(double v) {
  char buffer[32];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, v);
  return ec == std::errc() ? std::string(buffer, end) : std::to_string(v);
}

}  // namespace

CLI::Validator whole_number(std::uint64_t min, std::uint64_t max) {
  const std::string range = "a whole number from " + std::to_string(min) + " to " + std::to_string(max);
  return CLI::Validator(
      [min, max, range](std::string& text) -> std::string {
        std::uint64_t value = 0;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
        if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value < min ||
            value > max)
          return "'" + text + "' is not " + range;
        text = std::to_string(value);  // "007" -> "7": CLI11 would read a leading 0 as octal
        return {};
      },
      range);
}

CLI::Validator finite_number(double min, double max, bool min_allowed, bool max_allowed) {
  // "from 0 to 1", "above 0, at most 1", "from 0, below 1", "above 0, below 1"
  const char* to = !max_allowed ? ", below " : min_allowed ? " to " : ", at most ";
  const std::string range = std::string("a finite number ") + (min_allowed ? "from " : "above ") +
                            number_text(min) + to + number_text(max);
  return CLI::Validator(
      [min, max, min_allowed, max_allowed, range](std::string& text) -> std::string {
        double value = 0;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
        if (text.empty() || ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value) ||
            value < min || (value == min && !min_allowed) || value > max || (value == max && !max_allowed))
          return "'" + text + "' is not " + range;
        return {};
      },
      range);
}

}  // namespace mlpk::tools
