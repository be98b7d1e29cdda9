// mlpk: the command line. `mlpk info | train | eval | predict | bench | profile`; see `mlpk <command> --help`.
//
// Exit codes: 0 success, 2 a bad flag, path or input (one line on stderr), 1 anything else.
#include "commands.hpp"

#include <mlpk/error.hpp>

#include <CLI/CLI.hpp>

#include <unistd.h>

#include <cstdio>
#include <exception>

int main(int argc, char** argv) {
  CLI::App app{"mlpk: train multi-layer perceptrons on CPUs through plugin compute backends"};
  app.require_subcommand(1);
  const auto info = mlpk::tools::add_info_command(app);
  const auto train = mlpk::tools::add_train_command(app);
  const auto eval = mlpk::tools::add_eval_command(app);
  const auto predict = mlpk::tools::add_predict_command(app);
  const auto bench = mlpk::tools::add_bench_command(app);
  const auto profile = mlpk::tools::add_profile_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "mlpk: error: %s (see mlpk --help)\n", e.what());
    return 2;
  }
  // On a terminal a progress bar may be half drawn: clear its line before the error.
  const char* clear = ::isatty(2) == 1 ? "\r\033[K" : "";
  try {
    if (app.got_subcommand("info")) return info();
    if (app.got_subcommand("train")) return train();
    if (app.got_subcommand("eval")) return eval();
    if (app.got_subcommand("predict")) return predict();
    if (app.got_subcommand("bench")) return bench();
    if (app.got_subcommand("profile")) return profile();
  } catch (const mlpk::Error& e) {
    std::fprintf(stderr, "%smlpk: error: %s\n", clear, e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%smlpk: internal error: %s\n", clear, e.what());
    return 1;
  }
  return 0;
}
