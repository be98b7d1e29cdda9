// Where libmlpk_core was loaded from: modules (backends, MPI) are built and installed beside it.
#pragma once

#include <filesystem>

namespace mlpk::detail {

// Empty when the loader cannot tell.
std::filesystem::path core_directory();

}  // namespace mlpk::detail
