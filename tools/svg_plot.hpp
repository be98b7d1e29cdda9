// Charts as an SVG file: training curves (loss and accuracy per epoch), and the profiler's roofline
// (log-log, kernels as points under the peak and bandwidth lines).
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace mlpk::tools {

struct Curve {
  std::string label;
  std::string color;        // an SVG color, e.g. "#1f77b4"
  std::vector<double> x, y;  // same length
  bool line = true;          // false: markers only (a scatter)
};

struct Panel {
  std::string title, x_label, y_label;
  std::vector<Curve> curves;
  bool log_axes = false;  // log-log, ticks at powers of ten; values <= 0 are left out
  bool legend_at_bottom = false;  // bottom-right instead of top-right (a roofline's empty corner)
};

// The panels side by side in one SVG document.
std::string svg_plot(const std::vector<Panel>& panels);
// Writes svg_plot(panels) to `path` atomically; throws mlpk::Error "<what> <path>: ..." when it cannot.
void write_svg_plot(const std::filesystem::path& path, std::string_view what, const std::vector<Panel>& panels);

}  // namespace mlpk::tools
