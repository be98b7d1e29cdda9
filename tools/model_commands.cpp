// `mlpk eval` and `mlpk predict`: use a saved model on a data set.
#include "commands.hpp"
#include "data_flags.hpp"
#include "json.hpp"

#include "atomic_file.hpp"

#include <mlpk/error.hpp>
#include <mlpk/metrics.hpp>
#include <mlpk/model_file.hpp>
#include <mlpk/registry.hpp>
#include <mlpk/trainer.hpp>

#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>

namespace mlpk::tools {
namespace {

struct ModelFlags {
  DataFlags data;
  std::string model, backend, output, csv;
};

// The model on the chosen backend, and its input statistics applied to `data`.
Network open_model(const ModelFlags& f, Dataset& data) {
  const std::string name = f.backend.empty() ? default_backend_name() : f.backend;
  std::optional<Standardizer> standardizer;
  Network net = load_model(f.model, create_backend(name), &standardizer);
  if (data.dimensions() != net.architecture().inputs)
    throw Error("the data has " + std::to_string(data.dimensions()) + " features but model " + f.model +
                " takes " + std::to_string(net.architecture().inputs));
  if (standardizer) standardizer->apply(data);
  return net;
}

int run_eval(const ModelFlags& f) {
  Dataset data = f.data.load(false);
  Network net = open_model(f, data);
  if (data.classes > net.architecture().outputs())
    throw Error("the data has " + std::to_string(data.classes) + " classes but the model " +
                std::to_string(net.architecture().outputs()) + " outputs");
  data.classes = net.architecture().outputs();
  one_hot(data);
  const Evaluation e = evaluate(net, data);
  if (!std::isfinite(e.loss))
    throw Error("the loss is " + std::to_string(e.loss) + ": the outputs of model " + f.model +
                " overflow on this data");
  std::fprintf(stderr, "%s", e.confusion.to_string().c_str());
  Json json;
  json.number("accuracy", e.accuracy);
  json.number("loss", e.loss);
  json.integer("samples", e.samples);
  json.string("model", f.model);
  json.string("layers", net.architecture().to_string());  // with the dropout rates it trained with
  std::printf("%s\n", json.str().c_str());
  return 0;
}

int run_predict(const ModelFlags& f) {
  require_writable(f.output, "--output");
  Dataset data;
  if (!f.csv.empty()) {
    if (!f.data.dataset.empty()) throw Error("give either --dataset or --csv, not both");
    CsvOptions o = f.data.csv_options();
    // Without --label-column every column is a feature; with it, that column is skipped.
    o.has_label = f.data.label_column != kNoLabel;
    data = load_csv(f.csv, o);
  } else {
    data = f.data.load(false);
  }
  Network net = open_model(f, data);
  // --output is replaced atomically, only once every prediction is written.
  std::optional<AtomicFile> file;
  if (!f.output.empty()) file.emplace(f.output, "--output");
  constexpr std::size_t kBatch = 1000;
  std::string lines;
  for (std::size_t first = 0; first < data.size(); first += kBatch) {
    const std::size_t count = std::min(kBatch, data.size() - first);
    const ConstMatrixView outputs = net.forward(data.features.view().block(first, 0, count, data.dimensions()));
    // NaN compares false with everything: an overflowing sample would silently be "class 0".
    for (std::size_t i = 0; i < outputs.rows; ++i)
      for (std::size_t j = 0; j < outputs.cols; ++j)
        if (!std::isfinite(outputs(i, j)))
          throw Error("sample " + std::to_string(first + i) + ": the output of model " + f.model +
                      " is not finite (the input overflows the network)");
    const auto classes = predicted_classes(outputs);
    lines.clear();
    for (const auto c : classes) {
      lines += std::to_string(c);
      lines += '\n';
    }
    if (file) {
      file->write(lines);
    } else if (std::fwrite(lines.data(), 1, lines.size(), stdout) != lines.size()) {
      throw Error("writing the predictions to standard output failed");
    }
  }
  if (file) file->commit();
  if (std::fflush(stdout) != 0) throw Error("writing the predictions to standard output failed");
  return 0;
}

}  // namespace

std::function<int()> add_eval_command(CLI::App& app) {
  auto f = std::make_shared<ModelFlags>();
  CLI::App* cmd = app.add_subcommand("eval", "Evaluate a saved model: loss, accuracy, confusion matrix");
  cmd->add_option("--model", f->model, "A model file written by mlpk train --save")->required();
  cmd->add_option("--backend", f->backend, "Compute backend (default: mlpk's default backend)");
  f->data.add_to(*cmd, false);
  return [f] { return run_eval(*f); };
}

std::function<int()> add_predict_command(CLI::App& app) {
  auto f = std::make_shared<ModelFlags>();
  f->data.label_column = kNoLabel;
  CLI::App* cmd = app.add_subcommand("predict", "Write the predicted class of every sample, one per line");
  cmd->add_option("--model", f->model, "A model file written by mlpk train --save")->required();
  cmd->add_option("--backend", f->backend, "Compute backend (default: mlpk's default backend)");
  cmd->add_option("--output", f->output, "Write here instead of to standard output");
  cmd->add_option("--csv", f->csv, "Samples to classify: a CSV file of features");
  f->data.add_to(*cmd, false);
  return [f] { return run_predict(*f); };
}

}  // namespace mlpk::tools
