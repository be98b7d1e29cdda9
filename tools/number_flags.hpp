// Checks of the command line's number flags. CLI11 reads "-1" into an unsigned flag as
// 2^64 - 1, "010" as octal and "nan" into a double without a word; these validators run on the
// text first, so that such values are an error naming the flag, not a two-week training run.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>

namespace mlpk::tools {

// A whole decimal number in [min, max] (no sign, exponent or hex). Use with ->transform(): it
// rewrites the text in plain decimal, so CLI11 converts exactly the number that was checked.
CLI::Validator whole_number(std::uint64_t min, std::uint64_t max);

// A finite decimal number in [min, max]; without min when `min_allowed` is false, without max
// when `max_allowed` is false (a rate in [0, 1): finite_number(0, 1, true, false)).
CLI::Validator finite_number(double min, double max, bool min_allowed = true, bool max_allowed = true);

}  // namespace mlpk::tools
