#include "profile_report.hpp"

#include "atomic_file.hpp"
#include "json.hpp"
#include "svg_plot.hpp"

#include <algorithm>
#include <cstdio>
#include <map>

namespace mlpk::tools {
namespace {

std::string format(const char* fmt, double a) {
  char text[64];
  std::snprintf(text, sizeof text, fmt, a);
  return text;
}

std::string pad(std::string s, std::size_t width, bool right = true) {
  if (s.size() >= width) return s;
  return right ? std::string(width - s.size(), ' ') + s : s + std::string(width - s.size(), ' ');
}

const KernelSummary* find(const ProfileSummary& s, const std::string& name) {
  for (const auto& k : s.kernels)
    if (k.name == name) return &k;
  return nullptr;
}

double step_gflops(const ProfileSummary& s) { return s.flops_per_step / s.step_seconds * 1e-9; }

std::string step_line(const BackendProfile& b, std::size_t batch) {
  const ProfileSummary& s = b.summary;
  const double all = s.kernel_seconds + s.driver_seconds;
  char line[512];
  std::snprintf(line, sizeof line,
                "%s (%s): step %.3f ms (median of %zu), %.0f samples/s, %.1f GFLOP/s = %.1f%% of "
                "the %.0f GFLOP/s peak of %zu threads; kernels %.1f%%, driver %.1f%% of the step%s\n",
                b.backend.c_str(), b.description.c_str(), s.step_seconds * 1e3, s.steps,
                static_cast<double>(batch) / s.step_seconds, step_gflops(s),
                s.peak_gflops > 0 ? 100.0 * step_gflops(s) / s.peak_gflops : 0.0, s.peak_gflops,
                s.threads, 100.0 * s.kernel_seconds / all, 100.0 * s.driver_seconds / all,
                s.dropped ? " (records were dropped: the figures are incomplete)" : "");
  return line;
}

std::string bound_text(const KernelSummary& k) {
  if (k.op == Op::driver) return "-";
  return format("%.0f%%", 100.0 * k.bound_fraction) + (k.compute_bound ? " cmp" : k.l2_resident ? " L2" : " mem");
}

std::string kernel_json(const KernelSummary& k, std::size_t steps) {
  Json j;
  j.string("name", k.name);
  j.string("phase", to_string(k.phase));
  j.string("op", to_string(k.op));
  j.string("kernel", to_string(k.kernel));
  j.number("layer", k.layer >= 0 ? k.layer + 1 : 0, 6);
  j.integer("calls", k.calls);
  j.number("seconds", k.seconds);
  j.number("seconds_per_step", k.seconds / static_cast<double>(steps));
  j.number("mean_call_seconds", k.mean_call_seconds);
  j.number("share", k.share);
  j.number("flops_per_step", k.flops / static_cast<double>(steps));
  j.number("bytes_per_step", k.bytes / static_cast<double>(steps));
  j.number("gflops", k.gflops);
  j.number("gbps", k.gbps);
  j.number("intensity", k.intensity);
  j.integer("cores", k.cores);
  j.string("bound", k.op == Op::driver ? "none" : k.compute_bound ? "compute" : "memory");
  j.string("memory_level", k.l2_resident ? "L2" : "DRAM");
  j.number("bound_gflops", k.bound_gflops);
  j.number("bound_fraction", k.bound_fraction);
  return j.str();
}

std::vector<Panel> roofline(const ProfileRun& run) {
  const MachineLimits& m = run.limits;
  const double cores = static_cast<double>(std::max<std::size_t>(run.threads, 1));
  const double peak = m.fp32_gflops_per_core * cores;
  const double dram = cores >= static_cast<double>(m.cores) ? m.dram_gbps_all_cores
                                                            : std::min(m.dram_gbps_all_cores, m.dram_gbps_one_core * cores);
  const double l2 = m.l2_gbps_one_core * cores;
  Panel p;
  p.title = "Roofline: " + run.layers + ", batch " + std::to_string(run.batch_size) + ", " +
            std::to_string(run.threads) + " threads";
  p.x_label = "arithmetic intensity (FLOP/byte)";
  p.y_label = "GFLOP/s";
  p.log_axes = true;
  p.legend_at_bottom = true;  // points crowd the top (the peak); the high-intensity bottom is empty
  const double lo = 0.05, hi = 200.0;
  p.curves.push_back({"peak " + format("%.0f", peak) + " GFLOP/s", "#333333", {lo, hi}, {peak, peak}, true});
  p.curves.push_back({"DRAM " + format("%.0f", dram) + " GB/s", "#d62728", {lo, peak / dram}, {dram * lo, peak}, true});
  p.curves.push_back({"L2 " + format("%.0f", l2) + " GB/s", "#ff7f0e", {lo, peak / l2}, {l2 * lo, peak}, true});
  const char* colors[] = {"#1f77b4", "#2ca02c", "#9467bd", "#8c564b"};
  for (std::size_t i = 0; i < run.backends.size(); ++i) {
    Curve c{run.backends[i].backend + " kernels", colors[i % 4], {}, {}, false};
    for (const auto& k : run.backends[i].summary.kernels)
      if (k.op != Op::driver && k.intensity > 0 && k.gflops > 0) {
        c.x.push_back(k.intensity);
        c.y.push_back(k.gflops);
      }
    p.curves.push_back(std::move(c));
  }
  return {p};
}

}  // namespace

// Every operation's tasks, at most max(4, threads) each (WorkSplit, WeightCut): a layer's forward
// runs up to three kernels a task (an owned W's partial product, then the partials' sum with bias
// and activation, and dropout; that is two operations), its backward up to four, and the update
// one range of its W and one of its b a task. Operation records: a layer's forward (two), weight and input
// gradients, and a step's input copy, loss, output gradient and update, each with the driver's
// time before it, and the driver's time at each phase's start and end (four phases) and at the
// step's end.
std::unique_ptr<Profiler> profiler_for(const Network& net, std::size_t steps) {
  const std::size_t tasks = std::max<std::size_t>(4, net.threads());
  const std::size_t calls = net.num_layers() * tasks * (3 + 4 + 2) + 8;
  const std::size_t ops = 2 * (4 * net.num_layers() + 4) + 2 * 4 + 1;
  return std::make_unique<Profiler>(calls * (steps + 1), ops * (steps + 1), steps + 1);
}

std::string profile_table(const ProfileRun& run) {
  std::string out;
  for (const auto& b : run.backends) out += step_line(b, run.batch_size);
  out += "\n";
  if (run.backends.empty()) return out;
  const BackendProfile& first = run.backends.front();
  std::size_t name_width = 6;
  for (const auto& k : first.summary.kernels) name_width = std::max(name_width, k.name.size());
  std::string header = pad("kernel", name_width, false);
  for (const auto& b : run.backends)
    header += " | " + pad(b.backend, 6, false) + pad("calls", 7) + pad("total ms", 10) + pad("mean us", 9) +
              pad("share", 7) + pad("GFLOP/s", 9) + pad("GB/s", 8) + pad("FLOP/B", 7) + pad("% bound", 10);
  for (std::size_t i = 1; i < run.backends.size(); ++i)
    header += " | " + run.backends[i].backend + " vs " + first.backend;
  out += header + "\n" + std::string(header.size(), '-') + "\n";
  for (const auto& k : first.summary.kernels) {
    std::string line = pad(k.name, name_width, false);
    for (const auto& b : run.backends) {
      const KernelSummary* r = find(b.summary, k.name);
      line += " | " + std::string(6, ' ');
      if (r == nullptr) {
        line += pad("-", 76);
        continue;
      }
      line += pad(std::to_string(r->calls), 7) + pad(format("%.3f", r->seconds * 1e3), 10) +
              pad(r->calls ? format("%.1f", r->mean_call_seconds * 1e6) : "-", 9) +
              pad(format("%.1f%%", 100.0 * r->share), 7) +
              pad(r->op == Op::driver ? "-" : format("%.1f", r->gflops), 9) +
              pad(r->op == Op::driver ? "-" : format("%.1f", r->gbps), 8) +
              pad(r->op == Op::driver ? "-" : format("%.2f", r->intensity), 7) + pad(bound_text(*r), 10);
    }
    for (std::size_t i = 1; i < run.backends.size(); ++i) {
      const KernelSummary* r = find(run.backends[i].summary, k.name);
      const double a = k.seconds / static_cast<double>(first.summary.steps);
      if (r == nullptr || a <= 0) {
        line += " | -";
        continue;
      }
      const double b = r->seconds / static_cast<double>(run.backends[i].summary.steps);
      line += " | " + format("%.2fx", b / a) + " (" + (b < a ? run.backends[i].backend : first.backend) +
              " faster)";
    }
    out += line + "\n";
  }
  out += "\ntimes: wall time of all profiled steps, an operation's split among its kernels by their calls' "
         "durations; mean: one call on its thread; % bound: of min(peak of the cores used, "
         "bandwidth x FLOP/B), cmp: the peak, L2: L2 bandwidth (a call's bytes fit L2), mem: DRAM "
         "bandwidth; ratios: time per step; gemm +=: the product is added into C (plain SGD's step "
         "folded into the weight gradient: W -= lr dW)\n";
  return out;
}

std::string profile_json(const ProfileRun& run) {
  Json machine;
  const MachineLimits& m = run.limits;
  machine.number("fp32_gflops_per_core", m.fp32_gflops_per_core);
  machine.string("fp32_isa", m.fp32_isa);
  machine.number("dram_gbps_one_core", m.dram_gbps_one_core);
  machine.number("dram_gbps_all_cores", m.dram_gbps_all_cores);
  machine.integer("cores", m.cores);
  machine.integer("dram_working_set_bytes", m.dram_working_set_bytes);
  machine.number("l2_gbps_one_core", m.l2_gbps_one_core);
  machine.integer("l2_working_set_bytes", m.l2_working_set_bytes);
  machine.integer("l2_cache_bytes", m.l2_cache_bytes);
  machine.integer("last_level_cache_bytes", m.last_level_cache_bytes);
  std::vector<std::string> backends;
  for (const auto& b : run.backends) {
    const ProfileSummary& s = b.summary;
    Json j;
    j.string("backend", b.backend);
    j.string("description", b.description);
    j.integer("steps", s.steps);
    j.integer("threads", s.threads);
    j.number("step_seconds", s.step_seconds);
    j.number("samples_per_second", static_cast<double>(run.batch_size) / s.step_seconds);
    j.number("flops_per_step", s.flops_per_step);
    j.number("gflops", step_gflops(s));
    j.number("peak_gflops", s.peak_gflops);
    j.number("peak_fraction", s.peak_gflops > 0 ? step_gflops(s) / s.peak_gflops : 0.0);
    j.number("total_seconds", s.total_seconds);
    j.number("kernel_seconds", s.kernel_seconds);
    j.number("driver_seconds", s.driver_seconds);
    j.integer("dropped_records", s.dropped);
    std::vector<std::string> kernels;
    for (const auto& k : s.kernels) kernels.push_back(kernel_json(k, s.steps));
    j.json("kernels", json_array(kernels));
    backends.push_back(j.str());
  }
  Json top;
  top.string("layers", run.layers);
  top.string("optimizer", run.optimizer);
  top.integer("batch_size", run.batch_size);
  top.integer("threads", run.threads);
  top.json("machine", machine.str());
  top.json("backends", json_array(backends));
  return top.str() + "\n";
}

std::string trace_json(const ProfileRun& run) {
  std::vector<std::string> events;
  const auto meta = [&](int pid, int tid, const char* what, const std::string& name) {
    Json j, args;
    args.string("name", name);
    j.string("name", what);
    j.string("ph", "M");
    j.integer("pid", static_cast<unsigned>(pid));
    j.integer("tid", static_cast<unsigned>(tid));
    j.json("args", args.str());
    events.push_back(j.str());
  };
  const auto slice = [&](int pid, int tid, const std::string& name, const char* category,
                         std::int64_t start_ns, std::int64_t duration_ns, Json args) {
    Json j;
    j.string("name", name);
    j.string("cat", category);
    j.string("ph", "X");
    j.number("ts", static_cast<double>(start_ns) * 1e-3, 15);
    j.number("dur", static_cast<double>(duration_ns) * 1e-3, 15);
    j.integer("pid", static_cast<unsigned>(pid));
    j.integer("tid", static_cast<unsigned>(tid));
    j.json("args", args.str());
    events.push_back(j.str());
  };
  for (std::size_t b = 0; b < run.backends.size(); ++b) {
    const int pid = static_cast<int>(b) + 1;
    const Profiler& p = *run.backends[b].profiler;
    meta(pid, 0, "process_name", run.backends[b].backend);
    meta(pid, 0, "thread_name", "calling thread: operations and driver");
    for (std::size_t t = 0; t < p.threads(); ++t)
      meta(pid, static_cast<int>(t) + 1, "thread_name", "thread " + std::to_string(t) + ": kernel calls");
    const auto ops = p.ops();
    const auto op_name = [&](const OpRecord& op) {
      std::string name = op.layer >= 0 ? "layer " + std::to_string(op.layer + 1) + " " : "";
      return name + std::string(to_string(op.op));
    };
    for (const OpRecord& op : ops) {
      Json args;
      args.string("phase", to_string(op.phase));
      args.integer("step", op.step);
      args.integer("tasks", op.tasks);
      slice(pid, 0, op_name(op), op.op == Op::driver ? "driver" : "op", op.start_ns, op.duration_ns, args);
    }
    for (std::size_t t = 0; t < p.threads(); ++t)
      for (const KernelCall& c : p.calls(t)) {
        Json args;
        const KernelCost cost = kernel_cost(c);
        args.integer("m", c.m);
        args.integer("n", c.n);
        args.integer("k", c.k);
        if (c.kernel == Kernel::gemm) {
          args.string("trans_a", c.trans_a == Trans::N ? "N" : "T");
          args.string("trans_b", c.trans_b == Trans::N ? "N" : "T");
          if (c.accumulates) args.string("into", "C += product");
        }
        args.string("activation", to_string(c.activation));
        args.integer("task", c.task);
        args.integer("step", c.step);
        args.number("flops", cost.flops);
        args.number("bytes", cost.bytes);
        std::string name(to_string(c.kernel));
        if (c.op < ops.size()) name += " (" + op_name(ops[c.op]) + ")";
        slice(pid, static_cast<int>(t) + 1, name, "kernel", c.start_ns, c.duration_ns, args);
      }
  }
  Json top;
  top.json("traceEvents", json_array(events));
  top.string("displayTimeUnit", "ns");
  return top.str() + "\n";
}

void write_profile_files(const ProfileRun& run, const std::string& json_path, const char* json_flag,
                         const std::string& trace_path, const std::string& svg_path) {
  if (!json_path.empty()) write_file_atomically(json_path, profile_json(run), json_flag);
  if (!trace_path.empty()) write_file_atomically(trace_path, trace_json(run), "--trace");
  if (!svg_path.empty()) write_svg_plot(svg_path, "--svg", roofline(run));
}

}  // namespace mlpk::tools
