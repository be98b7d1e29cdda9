// What `mlpk profile` and `mlpk train --profile` make of a Profiler's records: the table per
// layer and kernel (one column group per backend), the JSON of every aggregate and the machine's
// limits, a Chrome trace-event file (Perfetto, chrome://tracing) and the roofline as SVG.
#pragma once

#include <mlpk/machine.hpp>
#include <mlpk/network.hpp>
#include <mlpk/profiler.hpp>

#include <memory>
#include <string>
#include <vector>

namespace mlpk::tools {

struct BackendProfile {
  std::string backend, description;
  std::unique_ptr<Profiler> profiler;
  ProfileSummary summary;
};

struct ProfileRun {
  std::string layers;
  std::string optimizer;  // the update the profiled steps end with
  std::size_t batch_size = 0, threads = 0;
  MachineLimits limits;
  std::vector<BackendProfile> backends;  // the first is the others' reference in ratios
};

// A Profiler with storage for the records of `steps` steps of `net`.
std::unique_ptr<Profiler> profiler_for(const Network& net, std::size_t steps);

// The table: each backend's step on top, then a row per layer and kernel by the first backend's
// time, with each other backend's time ratio to the first.
std::string profile_table(const ProfileRun& run);
std::string profile_json(const ProfileRun& run);
// One process per backend, one track per thread: the operations and the driver's time on the
// calling thread's track, each thread's kernel calls on its own.
std::string trace_json(const ProfileRun& run);
// Every file named (empty: none), through AtomicFile.
void write_profile_files(const ProfileRun& run, const std::string& json_path, const char* json_flag,
                         const std::string& trace_path, const std::string& svg_path);

}  // namespace mlpk::tools
