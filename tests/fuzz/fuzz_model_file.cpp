// Fuzzes model files: read_model, load_model and resume_from (checkpoints). Each input is read as
// it is, then with its last 4 bytes replaced by the right CRC-32, so that mutations reach the
// fields behind the checksum. A file that reads must load, resume when it holds a checkpoint, and
// come back the same from save_model.
#include "fuzz_support.hpp"

#include <mlpk/error.hpp>
#include <mlpk/model_file.hpp>
#include <mlpk/registry.hpp>

#include <cstring>
#include <vector>
#include <zlib.h>

namespace {

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

void exercise(const std::filesystem::path& path) {
  mlpk::ModelFile file;
  try {
    file = mlpk::read_model(path);
  } catch (const mlpk::Error&) {
    return;
  }
  std::shared_ptr<mlpk::Backend> backend = mlpk::create_backend("reference");
  std::optional<mlpk::Standardizer> standardizer;
  mlpk::Network net = [&] {
    try {
      return mlpk::load_model(path, backend, &standardizer);
    } catch (const mlpk::Error& e) {
      std::fprintf(stderr, "read_model accepted what load_model refuses: %s\n", e.what());
      std::abort();
    }
  }();
  FUZZ_CHECK(net.architecture() == file.architecture);

  const mlpk::OptimizerKind kind = file.checkpoint ? file.checkpoint->optimizer : mlpk::OptimizerKind::sgd;
  auto optimizer = mlpk::make_optimizer(kind, {});
  mlpk::TrainingState training;
  bool resumed = false;
  try {
    mlpk::resume_from(path, net, *optimizer, training);
    resumed = true;
    FUZZ_CHECK(file.checkpoint.has_value());
    FUZZ_CHECK(training.epoch == file.checkpoint->training.epoch);
    FUZZ_CHECK(training.rng_state == file.checkpoint->training.rng_state);
    FUZZ_CHECK(training.dropout_seed == file.checkpoint->training.dropout_seed);
  } catch (const mlpk::Error&) {
    FUZZ_CHECK(!file.checkpoint || !file.checkpoint->optimizer_state.empty());
  }

  // What was read is what gets written back.
  const auto copy = mlpk_fuzz::scratch_path("copy.mlpk");
  try {
    mlpk::save_model(copy, net, standardizer ? &*standardizer : nullptr, resumed ? optimizer.get() : nullptr,
                     resumed ? &training : nullptr);
  } catch (const mlpk::Error&) {
    return;  // e.g. a standardizer whose width is not the network's
  }
  const mlpk::ModelFile again = mlpk::read_model(copy);
  FUZZ_CHECK(again.architecture == file.architecture);
  FUZZ_CHECK(same_bits(again.parameters, file.parameters));
  FUZZ_CHECK(again.checkpoint.has_value() == resumed);
  if (resumed) {
    FUZZ_CHECK(again.checkpoint->optimizer_steps == file.checkpoint->optimizer_steps);
    FUZZ_CHECK(again.checkpoint->training.dropout_seed == file.checkpoint->training.dropout_seed);
    FUZZ_CHECK(again.checkpoint->optimizer_state.size() == file.checkpoint->optimizer_state.size());
    for (std::size_t i = 0; i < again.checkpoint->optimizer_state.size(); ++i)
      FUZZ_CHECK(same_bits(again.checkpoint->optimizer_state[i], file.checkpoint->optimizer_state[i]));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  exercise(mlpk_fuzz::write_scratch("input.mlpk", data, size));
  if (size >= 4) {
    std::vector<std::uint8_t> fixed(data, data + size);
    const auto crc = static_cast<std::uint32_t>(crc32(0L, fixed.data(), static_cast<uInt>(size - 4)));
    for (int i = 0; i < 4; ++i) fixed[size - 4 + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(crc >> (8 * i));
    exercise(mlpk_fuzz::write_scratch("fixed.mlpk", fixed.data(), fixed.size()));
  }
  return 0;
}
