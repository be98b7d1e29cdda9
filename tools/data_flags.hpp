// The command line's data flags (--dataset, --train-csv, --test-csv, ...) and loading the data
// they name, shared by train, eval and predict.
#pragma once

#include <mlpk/data.hpp>

#include <CLI/CLI.hpp>

#include <optional>
#include <string>

namespace mlpk::tools {

// predict's --label-column default: the CSV has no label column.
inline constexpr int kNoLabel = -1000000;

struct DataFlags {
  std::string dataset;          // "fashion-mnist" or empty
  std::string data_dir = kFashionMnistDirectory;
  std::string train_csv, test_csv;
  int label_column = -1;
  bool csv_header = false;      // --csv-header: the first line is a header
  bool csv_no_header = false;   // --csv-no-header: it is data (otherwise detected)
  std::size_t train_limit = 0;  // use only the first N training samples (0: all)

  // Adds the flags to a subcommand; `train` adds the training-set ones too.
  void add_to(CLI::App& app, bool train);
  CsvOptions csv_options() const;
  bool uses_csv() const { return !train_csv.empty() || !test_csv.empty(); }
  // Loads the training (train = true) or test set, labels only (no targets yet). Throws
  // mlpk::Error when no source, or two sources, are named.
  Dataset load(bool train) const;
};

// Throws mlpk::Error("<flag> <path>: cannot write ...") unless a file can be created beside
// `path`: checked before a long run, not after it.
void require_writable(const std::string& path, const char* flag);

}  // namespace mlpk::tools
