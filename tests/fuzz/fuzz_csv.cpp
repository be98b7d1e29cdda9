// Fuzzes load_csv: every input is read with several option sets (header detection, a label in
// the first or the last column, no label, regression, another delimiter).
#include "fuzz_support.hpp"

#include <mlpk/data.hpp>
#include <mlpk/error.hpp>

#include <cmath>

namespace {

void check(const mlpk::Dataset& d, const mlpk::CsvOptions& o) {
  FUZZ_CHECK(d.size() > 0);
  FUZZ_CHECK(d.dimensions() > 0);
  for (std::size_t i = 0; i < d.size() * d.dimensions(); ++i) FUZZ_CHECK(std::isfinite(d.features.data()[i]));
  if (!o.has_label) return;
  if (o.classification) {
    FUZZ_CHECK(d.labels.size() == d.size());
    for (const auto label : d.labels) FUZZ_CHECK(label < d.classes);
  } else {
    FUZZ_CHECK(d.targets.rows() == d.size() && d.targets.cols() == 1);
    for (std::size_t i = 0; i < d.size(); ++i) FUZZ_CHECK(std::isfinite(d.targets.data()[i]));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto path = mlpk_fuzz::write_scratch("input.csv", data, size);
  mlpk::CsvOptions options[5];
  options[1].header = false;
  options[1].label_column = 0;
  options[2].has_label = false;
  options[3].classification = false;
  options[3].header = true;
  options[4].delimiter = ';';
  options[4].label_column = -2;
  for (const auto& o : options) {
    try {
      check(mlpk::load_csv(path, o), o);
    } catch (const mlpk::Error&) {
      // a message for the user: the expected answer to a malformed file
    }
  }
  return 0;
}
