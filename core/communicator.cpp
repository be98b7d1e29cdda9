// The single-process communicator, shares of a batch, and the loader of the MPI module.
#include "core_directory.hpp"

#include <mlpk/communicator.hpp>
#include <mlpk/error.hpp>

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>

namespace mlpk {
namespace {

class SingleProcess final : public Communicator {
 public:
  std::size_t rank() const override { return 0; }
  std::size_t size() const override { return 1; }
  std::string description() const override { return "single process"; }
  void all_reduce_sum(std::span<float>) override {}
  void all_reduce_sum(std::span<double>) override {}
  void broadcast(std::span<std::byte>, std::size_t root) override {
    if (root != 0) throw Error("broadcast: root " + std::to_string(root) + " of a single process");
  }
  void barrier() override {}
  [[noreturn]] void abort(int code, std::string_view message) override {
    std::fprintf(stderr, "%.*s\n", static_cast<int>(message.size()), message.data());
    std::fflush(stderr);
    std::_Exit(code);
  }
};

std::filesystem::path mpi_module_path() {
  if (const char* env = std::getenv("MLPK_MPI_MODULE"); env != nullptr && *env != '\0') return env;
  return detail::core_directory() / "libmlpk_mpi.so";
}

// Opened once and never closed: MPI cannot be unloaded and started again in one process.
// RTLD_GLOBAL because Open MPI opens components of its own that resolve libmpi's symbols
// globally; with RTLD_LOCAL they fail to load.
void* open_mpi_module() {
  const std::filesystem::path path = mpi_module_path();
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
  if (handle == nullptr)
    throw Error("cannot load the MPI module " + path.string() + ": " + dlerror() +
                " (mlpk was built without MPI, or MLPK_MPI_MODULE names the wrong file)");
  const auto abi = reinterpret_cast<MpiModuleAbiFunction>(dlsym(handle, "mlpk_mpi_module_abi"));
  if (abi == nullptr || abi() != kCommunicatorAbiVersion)
    throw Error("the MPI module " + path.string() + " is not an mlpk MPI module of ABI version " +
                std::to_string(kCommunicatorAbiVersion));
  return handle;
}

}  // namespace

Share share_of(std::size_t rows, std::size_t rank, std::size_t ranks) {
  if (ranks == 0 || rank >= ranks)
    throw Error("share_of: rank " + std::to_string(rank) + " of " + std::to_string(ranks) + " ranks");
  const std::size_t base = rows / ranks, extra = rows % ranks;
  return {rank * base + std::min(rank, extra), base + (rank < extra ? 1 : 0)};
}

std::shared_ptr<Communicator> single_process_communicator() {
  return std::make_shared<SingleProcess>();
}

bool launched_by_mpi() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"})
    if (std::getenv(name) != nullptr) return true;
  return false;
}

std::shared_ptr<Communicator> mpi_communicator() {
  static std::mutex mutex;
  static std::weak_ptr<Communicator> current;
  static void* module = nullptr;
  const std::lock_guard lock(mutex);
  if (auto existing = current.lock()) return existing;
  if (module == nullptr) module = open_mpi_module();
  const auto create = reinterpret_cast<MpiModuleCreateFunction>(dlsym(module, "mlpk_mpi_create"));
  if (create == nullptr) throw Error("the MPI module has no mlpk_mpi_create");
  char error[512] = {};
  Communicator* made = create(error, sizeof error);
  if (made == nullptr) throw Error(std::string("MPI: ") + error);
  std::shared_ptr<Communicator> shared(made);
  current = shared;
  return shared;
}

std::shared_ptr<Communicator> communicator_from_environment() {
  return launched_by_mpi() ? mpi_communicator() : single_process_communicator();
}

}  // namespace mlpk
