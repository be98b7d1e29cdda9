// mlpk::Error: the one exception type mlpk throws for bad input and failed operations.
// Its message names the problem (which argument, which shape, which file), so that a user
// can fix the call without reading mlpk's source.
#pragma once

#include <stdexcept>
#include <string>

namespace mlpk {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace mlpk
