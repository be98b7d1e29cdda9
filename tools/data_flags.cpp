// Data flags of the mlpk command line and the loading they select.
#include "data_flags.hpp"
#include "number_flags.hpp"

#include "atomic_file.hpp"

#include <mlpk/error.hpp>

namespace mlpk::tools {

void DataFlags::add_to(CLI::App& app, bool train) {
  app.add_option("--dataset", dataset, "A built-in data set: fashion-mnist")
      ->check(CLI::IsMember({"fashion-mnist"}));
  app.add_option("--data-dir", data_dir, "Where the Fashion-MNIST IDX files are");
  if (train) {
    app.add_option("--train-csv", train_csv, "Training samples: a CSV file");
    app.add_option("--train-limit", train_limit, "Use only the first N training samples (0: all)")
        ->transform(whole_number(0, SIZE_MAX));
  }
  app.add_option("--test-csv", test_csv, "Test samples: a CSV file");
  app.add_option("--label-column", label_column,
                 "The CSV label column, from 0; negative counts from the end (-1: last)");
  app.add_flag("--csv-header", csv_header, "The CSV files' first line is a header");
  app.add_flag("--csv-no-header", csv_no_header, "The CSV files have no header (default: detect)");
}

CsvOptions DataFlags::csv_options() const {
  if (csv_header && csv_no_header) throw Error("--csv-header and --csv-no-header contradict each other");
  CsvOptions o;
  o.label_column = label_column;
  if (csv_header) o.header = true;
  if (csv_no_header) o.header = false;
  return o;
}

Dataset DataFlags::load(bool train) const {
  const std::string& csv = train ? train_csv : test_csv;
  if (!dataset.empty() && uses_csv())
    throw Error("give either --dataset or --train-csv/--test-csv, not both");
  Dataset data;
  if (!dataset.empty()) {
    data = load_fashion_mnist(data_dir, train);
  } else if (!csv.empty()) {
    data = load_csv(csv, csv_options());
  } else {
    throw Error(train ? "no training data: give --dataset fashion-mnist or --train-csv FILE"
                      : "no test data: give --dataset fashion-mnist or --test-csv FILE");
  }
  if (train && train_limit > 0 && train_limit < data.size()) {
    std::vector<std::size_t> first(train_limit);
    for (std::size_t i = 0; i < train_limit; ++i) first[i] = i;
    data = subset(data, first);
  }
  return data;
}

void require_writable(const std::string& path, const char* flag) {
  if (!path.empty()) check_writable(path, flag);
}

}  // namespace mlpk::tools
