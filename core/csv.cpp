// The CSV loader: one sample per line, numeric features, one label column.
//
// Strict on purpose: a cell that is not a number, NaN or infinity, or a row with a different
// number of cells is an error naming the line and column, never a silently skipped sample.
#include <mlpk/data.hpp>
#include <mlpk/error.hpp>

#include <charconv>
#include <cmath>
#include <fstream>
#include <limits>

namespace mlpk {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> split_cells(std::string_view line, char delimiter) {
  std::vector<std::string_view> cells;
  std::size_t start = 0;
  while (true) {
    const std::size_t end = line.find(delimiter, start);
    cells.push_back(trim(line.substr(start, end == std::string_view::npos ? end : end - start)));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return cells;
}

// A finite number filling the whole cell, or nothing.
std::optional<double> parse_number(std::string_view cell) {
  if (!cell.empty() && cell.front() == '+') cell.remove_prefix(1);
  double value = 0.0;
  const auto [end, ec] = std::from_chars(cell.data(), cell.data() + cell.size(), value);
  if (cell.empty() || ec != std::errc() || end != cell.data() + cell.size()) return std::nullopt;
  return value;
}

[[noreturn]] void fail(const std::filesystem::path& path, std::size_t line, std::size_t column,
                       const std::string& problem) {
  std::string message = "CSV file ";
  message += path.string();
  message += ", line ";
  message += std::to_string(line);
  if (column > 0) {
    message += ", column ";
    message += std::to_string(column);
  }
  message += ": ";
  message += problem;
  throw Error(message);
}

// 'cell' followed by `problem`, built with += (GCC 12 warns falsely on some + chains).
std::string quoted(std::string_view cell, const char* problem) {
  std::string s = "'";
  s += cell;
  s += "' ";
  s += problem;
  return s;
}

}  // namespace

Dataset load_csv(const std::filesystem::path& path, const CsvOptions& options) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    std::string message = "CSV file ";
    message += path.string();
    message += ": no such file";
    throw Error(message);
  }
  std::ifstream in(path);
  if (!in) fail(path, 0, 0, "cannot open");

  std::vector<float> features, targets;
  std::vector<std::uint32_t> labels;
  std::size_t width = 0;         // cells per row, fixed by the first row
  std::size_t label_index = 0;   // resolved once the width is known
  std::size_t rows = 0;
  std::string line;
  std::size_t line_number = 0;
  bool first = true;
  std::uint32_t max_label = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (trim(line).empty()) continue;  // blank lines, e.g. at the end of the file
    const auto cells = split_cells(line, options.delimiter);
    if (first) {
      first = false;
      width = cells.size();
      if (width < (options.has_label ? 2u : 1u))
        fail(path, line_number, 0, "a row needs a label and at least one feature");
      const long column = options.label_column < 0 ? static_cast<long>(width) + options.label_column
                                                   : options.label_column;
      if (options.has_label && (column < 0 || column >= static_cast<long>(width)))
        fail(path, line_number, 0,
             "label column " + std::to_string(options.label_column) + " does not exist (rows have " +
                 std::to_string(width) + " columns, numbered from 0)");
      label_index = options.has_label ? static_cast<std::size_t>(column) : width;
      bool header = false;
      if (options.header) {
        header = *options.header;
      } else {
        // A header has a name in some cell; an empty cell alone is a data error, not a name.
        for (const auto cell : cells)
          if (!cell.empty() && !parse_number(cell)) header = true;
      }
      if (header) continue;
    }
    if (cells.size() != width)
      fail(path, line_number, 0,
           "ragged row: " + std::to_string(cells.size()) + " cells where the first row has " +
               std::to_string(width));
    for (std::size_t c = 0; c < width; ++c) {
      const auto value = parse_number(cells[c]);
      if (!value)
        fail(path, line_number, c + 1,
             cells[c].empty() ? std::string("empty cell") : quoted(cells[c], "is not a number"));
      if (!std::isfinite(*value))
        fail(path, line_number, c + 1, quoted(cells[c], "is not a finite number"));
      // Features and targets are floats: a larger double has no float value (the cast is UB).
      if (std::fabs(*value) > std::numeric_limits<float>::max())
        fail(path, line_number, c + 1, quoted(cells[c], "is too large for a 32-bit float"));
      if (c != label_index) {
        features.push_back(static_cast<float>(*value));
        continue;
      }
      if (!options.classification) {
        targets.push_back(static_cast<float>(*value));
        continue;
      }
      if (*value < 0 || *value != std::floor(*value) || *value > 1e6)
        fail(path, line_number, c + 1,
             quoted(cells[c], "is not a class label (a non-negative integer)"));
      labels.push_back(static_cast<std::uint32_t>(*value));
      max_label = std::max(max_label, labels.back());
    }
    ++rows;
  }
  if (in.bad()) fail(path, line_number, 0, "read error");
  if (rows == 0) fail(path, line_number, 0, "holds no data rows");

  Dataset data;
  data.features = Tensor(rows, options.has_label ? width - 1 : width);
  std::copy(features.begin(), features.end(), data.features.data());
  if (!options.has_label) return data;
  if (options.classification) {
    data.labels = std::move(labels);
    data.classes = std::size_t{max_label} + 1;
  } else {
    data.targets = Tensor(rows, 1);
    std::copy(targets.begin(), targets.end(), data.targets.data());
  }
  return data;
}

}  // namespace mlpk
