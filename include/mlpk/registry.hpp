// The backend registry: find backends by name, create them, load them as plugin modules.
//
// A backend library registers itself when it is loaded, whether it was linked into the program
// or opened as a module at run time (MLPK_REGISTER_BACKEND below). On first use the registry
// also loads the modules named libmlpk_backend_<name>.so found in the directory that holds
// libmlpk_core itself, so a program that links only mlpk::core can use every installed backend.
//
// Environment:
//   MLPK_BACKEND            the default backend's spec, e.g. "onednn" or "highway:AVX2"
//                           (otherwise: the highest priority one)
//   MLPK_BACKEND_PATH       colon-separated module directories searched instead of libmlpk_core's
//   MLPK_DISABLE_BACKENDS   comma-separated names to ignore, e.g. "onednn,highway"
#pragma once

#include <mlpk/backend.hpp>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace mlpk {

// Bumped whenever the Backend class layout changes; a module built against another value is
// refused at load time instead of crashing.
inline constexpr int kBackendAbiVersion = 6;  // 2: adam_update, 3: block_invariant, 4: dropout,
                                              // 5: momentum_update, 6: sgd_update

// Creates a backend; `options` is what followed the ':' in "name:options" (may be empty).
using BackendFactory = std::function<std::unique_ptr<Backend>(std::string_view options)>;

struct BackendRegistration {
  std::string name;
  int priority = 0;  // the default backend is the available one with the highest priority
  BackendFactory factory;
  int abi_version = kBackendAbiVersion;
};

// Adds a backend. A second registration of an already registered name is ignored (the same
// backend reached twice, linked and as a module); a wrong ABI version is recorded and reported
// by create_backend. Never throws: it runs while a shared object is being loaded.
// Every function here may be called from several threads at once.
void register_backend(BackendRegistration registration) noexcept;

// Names of the usable backends, highest priority first (discovers modules on first call).
std::vector<std::string> available_backends();

// "highway" or "highway:AVX2". Throws mlpk::Error for an unknown or disabled name, listing the
// available ones.
std::unique_ptr<Backend> create_backend(std::string_view spec);

// MLPK_BACKEND if set (a spec for create_backend: a name, optionally ":option"), otherwise the
// highest-priority available backend's name.
std::string default_backend_name();

// Opens a backend module (a shared object) by path; it registers itself as it loads.
// Throws mlpk::Error if it cannot be opened or registers no backend. Returns the names it added
// (only this call's: a module another thread loads meanwhile is not counted here).
std::vector<std::string> load_backend_module(const std::filesystem::path& path);

}  // namespace mlpk

// Registers a backend when its shared object is loaded. Use once, in the backend's own library.
#define MLPK_REGISTER_BACKEND(NAME, PRIORITY, FACTORY)                                       \
  namespace {                                                                               \
  const bool mlpk_backend_registered_ = [] {                                                \
    ::mlpk::register_backend(::mlpk::BackendRegistration{NAME, PRIORITY, FACTORY,           \
                                                         ::mlpk::kBackendAbiVersion});      \
    return true;                                                                            \
  }();                                                                                      \
  }
