// The training progress bar (terminal) and log lines (anything else).
#include "progress.hpp"

#include <unistd.h>

#include <cmath>

namespace mlpk::tools {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const long s = std::lround(seconds);
  char text[32];
  if (s >= 3600)
    std::snprintf(text, sizeof text, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  else
    std::snprintf(text, sizeof text, "%ld:%02ld", s / 60, s % 60);
  return text;
}

Progress::Progress(std::FILE* out, std::uint64_t epochs, std::size_t samples_per_epoch)
    : out_(out), terminal_(::isatty(::fileno(out)) == 1), epochs_(epochs),
      samples_per_epoch_(samples_per_epoch) {}

void Progress::batch(const BatchProgress& p) {
  const double done = static_cast<double>(p.batch) / static_cast<double>(p.batches);
  // Samples left in this epoch and the epochs after it, at this epoch's rate.
  const double left = (1.0 - done) * static_cast<double>(samples_per_epoch_) +
                      static_cast<double>(epochs_ - p.epoch) * static_cast<double>(samples_per_epoch_);
  const double eta = p.samples_per_second > 0 ? left / p.samples_per_second : -1.0;
  if (terminal_) {
    // Redraw at most ~50 times an epoch plus the last batch: drawing is not free on a slow tty.
    const std::size_t every = std::max<std::size_t>(1, p.batches / 50);
    if (p.batch % every != 0 && p.batch != p.batches) return;
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(done * kWidth);
    std::string bar(static_cast<std::size_t>(filled), '#');
    bar.append(static_cast<std::size_t>(kWidth - filled), '.');
    std::fprintf(out_, "\repoch %llu/%llu [%s] batch %zu/%zu  loss %.4f  %.0f samples/s  ETA %s  ",
                 static_cast<unsigned long long>(p.epoch), static_cast<unsigned long long>(epochs_),
                 bar.c_str(), p.batch, p.batches, p.loss, p.samples_per_second,
                 format_duration(eta).c_str());
    std::fflush(out_);
    return;
  }
  // Plain output: a line at each quarter of an epoch.
  const int quarter = static_cast<int>(done * 4.0);
  if (quarter == last_logged_quarter_ || quarter >= 4) return;
  last_logged_quarter_ = quarter;
  std::fprintf(out_, "epoch %llu/%llu batch %zu/%zu loss %.4f samples/s %.0f eta %s\n",
               static_cast<unsigned long long>(p.epoch), static_cast<unsigned long long>(epochs_),
               p.batch, p.batches, p.loss, p.samples_per_second, format_duration(eta).c_str());
  std::fflush(out_);
}

void Progress::epoch(const EpochReport& r, float learning_rate) {
  if (terminal_) std::fprintf(out_, "\r\033[K");
  last_logged_quarter_ = 0;
  std::fprintf(out_, "epoch %llu/%llu: train loss %.4f acc %.4f",
               static_cast<unsigned long long>(r.epoch), static_cast<unsigned long long>(epochs_),
               r.train_loss, r.train_accuracy);
  if (r.validation)
    std::fprintf(out_, " | validation loss %.4f acc %.4f", r.validation->loss, r.validation->accuracy);
  std::fprintf(out_, " | %.1f s, %.0f samples/s, lr %.3g\n", r.seconds, r.samples_per_second,
               static_cast<double>(learning_rate));
  std::fflush(out_);
}

}  // namespace mlpk::tools
