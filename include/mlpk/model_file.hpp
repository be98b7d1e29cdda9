// Model files: a trained Network (and, for checkpoints, what resuming its training needs) in a
// versioned binary format.
//
// Layout, all integers and floats little-endian:
//   "MLPKMODL"                       8-byte magic
//   u32 version                      kModelFileVersion
//   u32 inputs, u32 layers, then per layer: u32 units, string activation, f32 dropout rate;
//   string loss
//   u8 has_standardizer [u32 d, f32 mean[d], f32 stddev[d]]
//   u64 count, f32 parameters[count] W[0], b[0], W[1], b[1], ... each row-major, unpadded
//   u8 has_checkpoint [string optimizer, u64 optimizer steps, u32 arrays, each u64 count + f32[],
//                      u64 epochs completed, u64 shuffle RNG state, u64 dropout seed]
//   u32 CRC-32 (zlib) of every byte before it
// Version 1 files (before dropout) are read too: they hold neither the dropout rates nor the
// dropout seed, which read as 0 (a version 1 network drops nothing).
// where a string is a u32 length and that many bytes.
//
// Writes are atomic: the file is written beside its destination under a new temporary name,
// flushed to disk, then renamed over it, so a crash leaves the old file or the new one, never half
// of one. Only a regular file (or a symbolic link to one) is replaced: a directory, a device or a
// FIFO at the path is refused.
#pragma once

#include <mlpk/data.hpp>
#include <mlpk/network.hpp>
#include <mlpk/optimizer.hpp>
#include <mlpk/trainer.hpp>

#include <filesystem>
#include <memory>
#include <optional>

namespace mlpk {

inline constexpr std::uint32_t kModelFileVersion = 2;  // 2: dropout rates and seed

// What resuming training needs besides the weights.
struct Checkpoint {
  OptimizerKind optimizer = OptimizerKind::sgd;
  std::uint64_t optimizer_steps = 0;
  std::vector<std::vector<float>> optimizer_state;  // unpadded, like the parameters
  TrainingState training;
};

// The content of a model file.
struct ModelFile {
  Architecture architecture;
  std::optional<Standardizer> standardizer;  // the input statistics the model was trained with
  std::vector<float> parameters;             // unpadded: W[0], b[0], W[1], b[1], ...
  std::optional<Checkpoint> checkpoint;
};

// Writes `net` (with standardizer and, when `optimizer` and `training` are given, a checkpoint).
// Throws mlpk::Error naming the path when it cannot be written.
void save_model(const std::filesystem::path& path, const Network& net,
                const Standardizer* standardizer = nullptr, const Optimizer* optimizer = nullptr,
                const TrainingState* training = nullptr);

// Reads and checks a model file: throws mlpk::Error naming the path for a missing, truncated,
// corrupted (checksum), wrong-magic or wrong-version file.
ModelFile read_model(const std::filesystem::path& path);

// A Network with the file's architecture and weights on `backend`.
Network load_model(const std::filesystem::path& path, std::shared_ptr<Backend> backend,
                   std::optional<Standardizer>* standardizer = nullptr);

// Restores weights, optimizer state and training state into an existing run. Throws when the
// file's architecture differs from the network's, its optimizer from `optimizer`'s, or it holds
// no checkpoint.
void resume_from(const std::filesystem::path& path, Network& net, Optimizer& optimizer,
                 TrainingState& training);

}  // namespace mlpk
