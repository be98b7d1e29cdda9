// The backend registry: backends register themselves as their shared objects load; this file
// keeps the list, discovers modules on first use, and creates backends by name.
//
// Locks: the registry's mutex is held only for short reads and writes of the list, never while
// a module is loaded. dlopen holds the loader's own lock while it runs a module's constructor,
// and that constructor takes the registry's mutex (register_backend): holding the registry's
// mutex across dlopen would take the two in both orders when two threads load modules.
#include "core_directory.hpp"

#include <mlpk/error.hpp>
#include <mlpk/registry.hpp>

#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <set>
#include <sstream>

namespace mlpk {
namespace {

struct Registry {
  std::mutex mutex;  // guards the two lists
  std::vector<BackendRegistration> backends;
  std::vector<std::string> refused;  // "name: reason", for messages
  std::once_flag discovered;         // other threads wait until the first discovery is done
};

// While this thread runs load_backend_module's dlopen: the names its module registers (dlopen
// runs a module's constructors on the calling thread). Other threads' loads are not counted.
thread_local std::vector<std::string>* names_added_by_this_load = nullptr;

Registry& registry() {
  static Registry r;
  return r;
}

std::vector<std::string> split(std::string_view text, char sep) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in{std::string(text)};
  while (std::getline(in, part, sep))
    if (!part.empty()) parts.push_back(part);
  return parts;
}

bool disabled(const std::string& name) {
  const char* env = std::getenv("MLPK_DISABLE_BACKENDS");
  if (env == nullptr) return false;
  const auto names = split(env, ',');
  return std::find(names.begin(), names.end(), name) != names.end();
}

void* open_module(const std::filesystem::path& path, std::string& error) {
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) error = dlerror();
  return handle;
}

// Loads every libmlpk_backend_*.so in MLPK_BACKEND_PATH, or when that is unset beside
// libmlpk_core. A module that fails to open is remembered for the error message of
// create_backend. Called without the registry's lock (the modules take it to register).
void discover_modules_once(Registry& r) {
  std::vector<std::filesystem::path> dirs;
  if (const char* env = std::getenv("MLPK_BACKEND_PATH"))
    for (const auto& d : split(env, ':')) dirs.emplace_back(d);
  else
    dirs.push_back(detail::core_directory());
  std::set<std::string> seen;
  for (const auto& dir : dirs) {
    std::error_code ec;
    if (dir.empty() || !std::filesystem::is_directory(dir, ec)) continue;
    std::vector<std::filesystem::path> modules;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      const std::string file = entry.path().filename().string();
      if (file.rfind("libmlpk_backend_", 0) == 0 && entry.path().extension() == ".so")
        modules.push_back(entry.path());
    }
    std::sort(modules.begin(), modules.end());
    for (const auto& module : modules) {
      if (!seen.insert(module.filename().string()).second) continue;  // first directory wins
      std::string error;
      if (open_module(module, error) == nullptr) {
        std::lock_guard lock(r.mutex);
        r.refused.push_back(module.string() + ": " + error);
      }
    }
  }
}

// Loads the modules on first use; every caller returns after they are loaded.
void discover_modules(Registry& r) {
  std::call_once(r.discovered, [&r] { discover_modules_once(r); });
}

const BackendRegistration* find(Registry& r, std::string_view name) {
  for (const auto& b : r.backends)
    if (b.name == name) return &b;
  return nullptr;
}

std::vector<std::string> usable_names(Registry& r) {
  std::vector<const BackendRegistration*> sorted;
  for (const auto& b : r.backends)
    if (b.abi_version == kBackendAbiVersion && !disabled(b.name)) sorted.push_back(&b);
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](auto* x, auto* y) { return x->priority > y->priority; });
  std::vector<std::string> names;
  for (auto* b : sorted) names.push_back(b->name);
  return names;
}

std::string joined(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
  return s.empty() ? "none" : s;
}

}  // namespace

void register_backend(BackendRegistration registration) noexcept {
  try {
    Registry& r = registry();
    std::lock_guard lock(r.mutex);
    if (find(r, registration.name) != nullptr) return;
    if (registration.abi_version != kBackendAbiVersion)
      r.refused.push_back(registration.name + ": built for backend ABI " +
                          std::to_string(registration.abi_version) + ", this mlpk has " +
                          std::to_string(kBackendAbiVersion));
    r.backends.push_back(std::move(registration));
    if (names_added_by_this_load != nullptr)
      names_added_by_this_load->push_back(r.backends.back().name);
  } catch (...) {
    // Out of memory while loading a library: the backend is simply not registered.
  }
}

std::vector<std::string> available_backends() {
  Registry& r = registry();
  discover_modules(r);
  std::lock_guard lock(r.mutex);
  return usable_names(r);
}

std::unique_ptr<Backend> create_backend(std::string_view spec) {
  const std::size_t colon = spec.find(':');
  const std::string name(spec.substr(0, colon));
  const std::string_view options = colon == std::string_view::npos ? "" : spec.substr(colon + 1);
  BackendFactory factory;
  {
    Registry& r = registry();
    discover_modules(r);
    std::lock_guard lock(r.mutex);
    const BackendRegistration* b = find(r, name);
    const auto names = usable_names(r);
    if (b == nullptr || std::find(names.begin(), names.end(), name) == names.end()) {
      std::string message = "unknown backend '" + name + "' (available: " + joined(names) + ")";
      if (b != nullptr && disabled(name)) message = "backend '" + name + "' is disabled by MLPK_DISABLE_BACKENDS";
      for (const auto& why : r.refused) message += "; not loaded: " + why;
      throw Error(message);
    }
    factory = b->factory;
  }
  auto backend = factory(options);
  if (!backend) throw Error("backend '" + name + "' could not be created");
  return backend;
}

std::string default_backend_name() {
  const auto names = available_backends();
  if (const char* env = std::getenv("MLPK_BACKEND"); env != nullptr && *env != '\0') {
    // A spec: the name, and optionally ":option" ("highway:AVX2" pins the default's SIMD target).
    const std::string spec = env, name = spec.substr(0, spec.find(':'));
    if (std::find(names.begin(), names.end(), name) == names.end())
      throw Error("MLPK_BACKEND names unknown backend '" + name + "' (available: " + joined(names) + ")");
    return spec;
  }
  if (names.empty()) throw Error("no mlpk backend is available (is MLPK_BACKEND_PATH right?)");
  return names.front();
}

std::vector<std::string> load_backend_module(const std::filesystem::path& path) {
  std::vector<std::string> added;
  std::string error;
  void* handle = nullptr;
  {
    struct Collect {  // unset again even if open_module throws
      explicit Collect(std::vector<std::string>* names) { names_added_by_this_load = names; }
      ~Collect() { names_added_by_this_load = nullptr; }
    } collect(&added);
    handle = open_module(path, error);
  }
  if (handle == nullptr) throw Error("cannot load backend module " + path.string() + ": " + error);
  if (added.empty()) {
    // Either it is no backend, or it was loaded before (then dlopen ran no constructor again).
    dlclose(handle);
    throw Error("module " + path.string() + " registered no new backend (not an mlpk backend, "
                "or one already loaded)");
  }
  return added;
}

}  // namespace mlpk
