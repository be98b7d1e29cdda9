#include "core_directory.hpp"

#include <dlfcn.h>

namespace mlpk::detail {

std::filesystem::path core_directory() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&core_directory), &info) == 0 || info.dli_fname == nullptr)
    return {};
  return std::filesystem::path(info.dli_fname).parent_path();
}

}  // namespace mlpk::detail
