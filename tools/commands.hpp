// The subcommands of the mlpk command line. Each registers its flags on a CLI11 subcommand and
// runs when that subcommand was given; errors are thrown as mlpk::Error and turned into a
// one-line message and exit code 2 by main.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace mlpk::tools {

// Registers `name` on `app` and returns the function that runs it once parsed.
std::function<int()> add_info_command(CLI::App& app);
std::function<int()> add_train_command(CLI::App& app);
std::function<int()> add_eval_command(CLI::App& app);
std::function<int()> add_predict_command(CLI::App& app);
std::function<int()> add_bench_command(CLI::App& app);
std::function<int()> add_profile_command(CLI::App& app);

}  // namespace mlpk::tools
