// A small SVG line-chart writer for training curves: axes with "nice" ticks, one polyline and
// markers per curve, a legend. No dependency: an SVG is text.
#include "svg_plot.hpp"

#include "atomic_file.hpp"

#include <mlpk/error.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace mlpk::tools {
namespace {

constexpr double kPanelWidth = 480, kPanelHeight = 340;
constexpr double kLeft = 64, kRight = 16, kTop = 36, kBottom = 48;

std::string num(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f", v);
  return text;
}

std::string tick_label(double v, double step) {
  char text[32];
  const int decimals = step >= 1 ? 0 : std::min(6, static_cast<int>(std::ceil(-std::log10(step))));
  std::snprintf(text, sizeof text, "%.*f", decimals, v);
  return text;
}

std::string escape(const std::string& s) {
  std::string out;
  for (const char c : s) {
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else out += c;
  }
  return out;
}

// A step of 1, 2 or 5 times a power of ten giving about `count` ticks over [lo, hi].
double nice_step(double lo, double hi, int count) {
  const double raw = std::max((hi - lo) / count, 1e-12);
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  for (const double m : {1.0, 2.0, 5.0, 10.0})
    if (m * power >= raw) return m * power;
  return 10 * power;
}

// On log axes a curve is drawn in log10 of its values.
std::vector<Curve> plotted(const Panel& p) {
  std::vector<Curve> curves = p.curves;
  if (p.log_axes)
    for (auto& c : curves)
      for (std::size_t i = 0; i < c.x.size(); ++i) {
        c.x[i] = c.x[i] > 0 ? std::log10(c.x[i]) : std::numeric_limits<double>::quiet_NaN();
        c.y[i] = c.y[i] > 0 ? std::log10(c.y[i]) : std::numeric_limits<double>::quiet_NaN();
      }
  return curves;
}

void panel(std::string& svg, const Panel& p, double x0) {
  const std::vector<Curve> curves = plotted(p);
  double xmin = std::numeric_limits<double>::infinity(), xmax = -xmin, ymin = xmin, ymax = -xmin;
  for (const auto& c : curves)
    for (std::size_t i = 0; i < c.x.size(); ++i) {
      if (!std::isfinite(c.y[i]) || !std::isfinite(c.x[i])) continue;
      xmin = std::min(xmin, c.x[i]);
      xmax = std::max(xmax, c.x[i]);
      ymin = std::min(ymin, c.y[i]);
      ymax = std::max(ymax, c.y[i]);
    }
  if (!std::isfinite(xmin)) xmin = 0, xmax = 1, ymin = 0, ymax = 1;
  if (xmax - xmin < 1e-12) xmin -= 0.5, xmax += 0.5;
  if (ymax - ymin < 1e-12) ymin -= 0.5, ymax += 0.5;
  const double ystep = p.log_axes ? 1.0 : nice_step(ymin, ymax, 5);
  ymin = std::floor(ymin / ystep) * ystep;
  ymax = std::ceil(ymax / ystep) * ystep;
  if (p.log_axes) xmin = std::floor(xmin), xmax = std::ceil(xmax);
  const double xstep = std::max(1.0, nice_step(xmin, xmax, 8));
  const auto label = [&](double v, double step) {
    if (!p.log_axes) return tick_label(v, step);
    char text[32];
    std::snprintf(text, sizeof text, "%g", std::pow(10.0, v));
    return std::string(text);
  };
  const double w = kPanelWidth - kLeft - kRight, h = kPanelHeight - kTop - kBottom;
  auto sx = [&](double x) { return x0 + kLeft + (x - xmin) / (xmax - xmin) * w; };
  auto sy = [&](double y) { return kTop + (1.0 - (y - ymin) / (ymax - ymin)) * h; };

  svg += "<text x=\"" + num(x0 + kLeft + w / 2) + "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">" +
         escape(p.title) + "</text>\n";
  // Grid and ticks.
  for (double y = ymin; y <= ymax + ystep / 2; y += ystep) {
    svg += "<line x1=\"" + num(sx(xmin)) + "\" y1=\"" + num(sy(y)) + "\" x2=\"" + num(sx(xmax)) +
           "\" y2=\"" + num(sy(y)) + "\" stroke=\"#ddd\"/>\n";
    svg += "<text x=\"" + num(sx(xmin) - 6) + "\" y=\"" + num(sy(y) + 4) +
           "\" text-anchor=\"end\" font-size=\"11\">" + label(y, ystep) + "</text>\n";
  }
  for (double x = std::ceil(xmin / xstep) * xstep; x <= xmax + 1e-9; x += xstep) {
    svg += "<line x1=\"" + num(sx(x)) + "\" y1=\"" + num(sy(ymin)) + "\" x2=\"" + num(sx(x)) +
           "\" y2=\"" + num(sy(ymin) + 5) + "\" stroke=\"#333\"/>\n";
    svg += "<text x=\"" + num(sx(x)) + "\" y=\"" + num(sy(ymin) + 18) +
           "\" text-anchor=\"middle\" font-size=\"11\">" + label(x, xstep) + "</text>\n";
  }
  svg += "<rect x=\"" + num(sx(xmin)) + "\" y=\"" + num(kTop) + "\" width=\"" + num(w) + "\" height=\"" +
         num(h) + "\" fill=\"none\" stroke=\"#333\"/>\n";
  svg += "<text x=\"" + num(x0 + kLeft + w / 2) + "\" y=\"" + num(kPanelHeight - 8) +
         "\" text-anchor=\"middle\" font-size=\"12\">" + escape(p.x_label) + "</text>\n";
  svg += "<text transform=\"translate(" + num(x0 + 16) + "," + num(kTop + h / 2) +
         ") rotate(-90)\" text-anchor=\"middle\" font-size=\"12\">" + escape(p.y_label) + "</text>\n";
  // Curves, then the legend in the top-right corner (or the bottom-right).
  std::size_t drawn = 0;
  for (const auto& c : curves)
    for (std::size_t i = 0; i < c.x.size(); ++i)
      if (std::isfinite(c.y[i]) && std::isfinite(c.x[i])) {
        ++drawn;
        break;
      }
  double legend_y = p.legend_at_bottom ? sy(ymin) - 8 - 16.0 * static_cast<double>(drawn ? drawn - 1 : 0)
                                       : kTop + 16;
  for (const auto& c : curves) {
    std::string points;
    for (std::size_t i = 0; i < c.x.size(); ++i) {
      if (!std::isfinite(c.y[i]) || !std::isfinite(c.x[i])) continue;
      points += num(sx(c.x[i])) + "," + num(sy(c.y[i])) + " ";
      svg += "<circle cx=\"" + num(sx(c.x[i])) + "\" cy=\"" + num(sy(c.y[i])) + "\" r=\"2.5\" fill=\"" +
             c.color + "\"/>\n";
    }
    if (points.empty()) continue;
    if (c.line)
      svg += "<polyline fill=\"none\" stroke-width=\"2\" stroke=\"" + c.color + "\" points=\"" + points + "\"/>\n";
    const double lx = sx(xmax) - 170;
    svg += "<line x1=\"" + num(lx) + "\" y1=\"" + num(legend_y - 4) + "\" x2=\"" + num(lx + 20) + "\" y2=\"" +
           num(legend_y - 4) + "\" stroke-width=\"2\" stroke=\"" + c.color + "\"/>\n";
    svg += "<text x=\"" + num(lx + 26) + "\" y=\"" + num(legend_y) + "\" font-size=\"11\">" + escape(c.label) +
           "</text>\n";
    legend_y += 16;
  }
}

}  // namespace

std::string svg_plot(const std::vector<Panel>& panels) {
  const double width = kPanelWidth * static_cast<double>(std::max<std::size_t>(panels.size(), 1));
  std::string svg = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  svg += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(width) + "\" height=\"" +
         num(kPanelHeight) + "\" viewBox=\"0 0 " + num(width) + " " + num(kPanelHeight) +
         "\" font-family=\"sans-serif\">\n";
  svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  for (std::size_t i = 0; i < panels.size(); ++i) panel(svg, panels[i], kPanelWidth * static_cast<double>(i));
  svg += "</svg>\n";
  return svg;
}

void write_svg_plot(const std::filesystem::path& path, std::string_view what, const std::vector<Panel>& panels) {
  write_file_atomically(path, svg_plot(panels), what);
}

}  // namespace mlpk::tools
