// Fuzzes backend specs as given to --backend and MLPK_BACKEND ("highway:AVX2",
// "onednn:threads=2", ...): create_backend either returns a backend or throws mlpk::Error.
#include "fuzz_support.hpp"

#include <mlpk/backend.hpp>
#include <mlpk/error.hpp>
#include <mlpk/registry.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view spec(reinterpret_cast<const char*>(data), size);
  try {
    const auto backend = mlpk::create_backend(spec);
    FUZZ_CHECK(backend != nullptr);
    FUZZ_CHECK(!backend->name().empty());
  } catch (const mlpk::Error&) {
  }
  return 0;
}
