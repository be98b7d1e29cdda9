// Progress reporting for long work: a redrawn one-line bar on a terminal, plain log lines
// otherwise (so logs and CI output stay readable).
#pragma once

#include <mlpk/trainer.hpp>

#include <cstdio>
#include <string>

namespace mlpk::tools {

class Progress {
 public:
  // Writes to `out` (stderr); draws a bar only when it is a terminal.
  Progress(std::FILE* out, std::uint64_t epochs, std::size_t samples_per_epoch);
  void batch(const BatchProgress& p);
  // Ends the bar's line, then logs the epoch's summary line.
  void epoch(const EpochReport& r, float learning_rate);

 private:
  std::FILE* out_;
  bool terminal_;
  std::uint64_t epochs_;
  std::size_t samples_per_epoch_;
  int last_logged_quarter_ = 0;
};

// "1:02:03" or "2:03".
std::string format_duration(double seconds);

}  // namespace mlpk::tools
