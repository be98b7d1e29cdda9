// Data sets for training: loading (IDX as used by MNIST / Fashion-MNIST, CSV), standardization,
// validation splits, shuffled mini-batches and one-hot targets.
//
// Every loader validates its input before trusting it and throws mlpk::Error with a message that
// names the file and the problem (and the line and column for CSV).
#pragma once

#include <mlpk/tensor.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace mlpk {

// n samples: features X (n x d) and, for classification, one class index per sample.
// `targets` (n x k) is what the loss is computed against: one-hot rows for classification,
// or regression values read from a CSV.
struct Dataset {
  Tensor features;                   // n x d
  std::vector<std::uint32_t> labels;  // n class indices in [0, classes); empty for regression
  Tensor targets;                    // n x k; empty until one_hot() or a regression load
  std::size_t classes = 0;           // 0 for regression

  std::size_t size() const { return features.rows(); }
  std::size_t dimensions() const { return features.cols(); }
};

// --- IDX (http://yann.lecun.com/exdb/mnist/ format) -------------------------------------------
// An IDX file of unsigned bytes: magic 0x0000 08 NN (NN = number of dimensions), then NN
// big-endian uint32 sizes, then the data. Plain or gzip-compressed (detected from the content).
struct IdxArray {
  std::vector<std::uint32_t> dims;
  std::vector<std::uint8_t> data;  // product(dims) bytes
};
// Throws for a missing file, wrong magic, non-byte type, absurd dimensions (over
// kIdxMaxElements in all, checked from the header before anything is allocated or read) or a
// truncated body.
IdxArray read_idx(const std::filesystem::path& path);
// The most bytes an IDX file may hold: 2^30 (1 GiB). Each becomes a 4-byte float feature, so
// this bounds the features at 4 GiB; Fashion-MNIST's training images are 47 million bytes. The
// bound is on what the header announces, not on the compressed size: an 18 MB gzip decompresses
// to gigabytes.
inline constexpr std::uint64_t kIdxMaxElements = std::uint64_t{1} << 30;

// Images (n x rows x cols, pixels scaled to [0, 1]) and their labels (n, each < classes).
// Throws when the counts differ or a label is out of range.
Dataset load_idx(const std::filesystem::path& images, const std::filesystem::path& labels,
                 std::size_t classes = 10);

// Fashion-MNIST in `directory` ({train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]).
inline constexpr const char* kFashionMnistDirectory = "/usr/share/datasets/fashion-mnist";
Dataset load_fashion_mnist(const std::filesystem::path& directory, bool train);

// The most classes a data set may have: 65,536 (labels 0 to 65,535). Every sample's one-hot
// target row and the output layer are that wide, so a stray large label (a year, an id) would
// otherwise build a network and targets of gigabytes; no classification task an MLP is trained
// on here comes close.
inline constexpr std::size_t kMaxClasses = std::size_t{1} << 16;

// --- CSV ------------------------------------------------------------------------------------
struct CsvOptions {
  // Whether the first line is a header; nullopt detects it: a first line with a cell that is not
  // a number is a header.
  std::optional<bool> header;
  // The label column (0-based); negative counts from the end (-1: the last column).
  int label_column = -1;
  // false: every column is a feature (data to predict on); label_column is then ignored.
  bool has_label = true;
  // true: the label is a class index (a non-negative integer); false: a regression target.
  bool classification = true;
  char delimiter = ',';
};
// Every other column is a numeric feature. Lines end in \n, \r\n or a lone \r; a UTF-8
// byte-order mark is skipped. Throws naming the file for a path that is missing or not a regular
// file, and file, line and column for a cell that is not a number, NaN, infinite or beyond the
// range of a float, a row with a different number of cells, or a bad label (not an integer in
// [0, kMaxClasses)).
// For classification, `classes` is one more than the largest label seen.
Dataset load_csv(const std::filesystem::path& path, const CsvOptions& options = {});

// --- preparation ----------------------------------------------------------------------------
// Fills `targets` with one-hot rows (n x classes) from `labels`.
void one_hot(Dataset& data);

// Per-feature mean and standard deviation, computed on a training set and applied to others,
// so that no statistic of the test data leaks into training.
struct Standardizer {
  std::vector<float> mean, stddev;  // stddev of a constant feature is taken as 1
  static Standardizer fit(const Dataset& train);
  // x = (x - mean) / stddev; throws on a width mismatch, or naming the sample and feature whose
  // standardized value overflows a float.
  void apply(Dataset& data) const;
};

// Moves the last `fraction` of a shuffled order of `data` into the returned validation set
// (deterministic for a seed). fraction in [0, 1); 0 returns an empty set.
Dataset split_validation(Dataset& data, double fraction, std::uint64_t seed);

// The rows of `data` listed in `rows`, in that order.
Dataset subset(const Dataset& data, std::span<const std::size_t> rows);

// A permutation of 0..n-1 from mlpk's portable generator, advancing `rng_state`
// (SplitMix64 state), so a run resumed from a saved state shuffles exactly as before.
std::vector<std::size_t> shuffled_indices(std::size_t n, std::uint64_t& rng_state);

// Copies rows `rows[first..first+count)` of X and of the targets into the batch buffers
// (count x d and count x k; the buffers must have at least `count` rows).
void gather_batch(const Dataset& data, std::span<const std::size_t> rows, std::size_t first,
                  std::size_t count, MatrixView x, MatrixView y);

}  // namespace mlpk
