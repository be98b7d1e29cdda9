// Trainer: the epoch / mini-batch loop and evaluation. It computes nothing itself; the Network
// does forward and backward through its Backend and the Optimizer updates the weights.
#include <mlpk/error.hpp>
#include <mlpk/metrics.hpp>
#include <mlpk/trainer.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <cmath>
#include <optional>
#include <span>
#include <string>

namespace mlpk {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

void require_targets(const Network& net, const Dataset& data, const char* what) {
  if (data.targets.rows() != data.size() || data.size() == 0)
    throw Error(std::string(what) + ": the data set has no targets (one_hot it first) or is empty");
  if (data.dimensions() != net.architecture().inputs)
    throw Error(std::string(what) + ": the data has " + std::to_string(data.dimensions()) +
                " features but the network takes " + std::to_string(net.architecture().inputs));
  if (data.targets.cols() != net.architecture().outputs())
    throw Error(std::string(what) + ": the targets have " + std::to_string(data.targets.cols()) +
                " columns but the network has " + std::to_string(net.architecture().outputs()) +
                " outputs");
}

// The index of the first NaN or infinity, if any.
std::optional<std::size_t> first_non_finite(std::span<const float> values) {
  for (std::size_t i = 0; i < values.size(); ++i)
    if (!std::isfinite(values[i])) return i;
  return std::nullopt;
}

std::string diverged(std::uint64_t epoch, std::size_t step, std::size_t steps, const std::string& what) {
  return "training diverged in epoch " + std::to_string(epoch) + ", step " + std::to_string(step) +
         " of " + std::to_string(steps) + ": " + what +
         " (lower the learning rate, or clip the gradients); nothing of this epoch was saved";
}

// The loss of the last forward averaged over its rows, under either reduction.
double mean_loss(const Network& net, ConstMatrixView y) {
  const double loss = net.loss(y);
  return net.loss_reduction() == LossReduction::sum ? loss / static_cast<double>(y.rows) : loss;
}

// y' = (1 - e) y + e / K, in place on a batch's copy of the targets.
void smooth_labels(MatrixView y, float e) {
  const double keep = 1.0 - static_cast<double>(e), spread = static_cast<double>(e) / static_cast<double>(y.cols);
  for (std::size_t i = 0; i < y.rows; ++i)
    for (std::size_t j = 0; j < y.cols; ++j) y(i, j) = static_cast<float>(keep * y(i, j) + spread);
}

// This process alone: what a Trainer without a communicator trains over.
Communicator& alone() {
  static const std::shared_ptr<Communicator> single = single_process_communicator();
  return *single;
}

// A fingerprint of a data set's sizes, features and targets: ranks compare theirs before
// training, since a rank that read other data would train a different model without a sign.
double fingerprint(const Dataset& data) {
  std::uint64_t h = 0x9e3779b97f4a7c15ull ^ data.size() ^ (std::uint64_t{data.dimensions()} << 32);
  const auto mix = [&h](const Tensor& t) {
    const std::span<const float> v = t.flat();
    for (std::size_t i = 0; i < v.size(); ++i) {
      std::uint32_t bits;
      std::memcpy(&bits, &v[i], sizeof bits);
      h = (h ^ bits) * 0x100000001b3ull;
    }
  };
  mix(data.features);
  mix(data.targets);
  return static_cast<double>(h >> 11);  // 53 bits: exact in a double
}

// Makes every rank hold rank 0's parameters, after checking that every rank has the same data.
void start_together(Communicator& c, Network& net, const Dataset& train) {
  const double mine = fingerprint(train);
  double theirs = mine;
  c.broadcast(std::as_writable_bytes(std::span(&theirs, 1)), 0);
  std::vector<double> differs(c.size(), 0.0);
  differs[c.rank()] = theirs == mine ? 0.0 : 1.0;
  c.all_reduce_sum(std::span<double>(differs));
  for (std::size_t r = 0; r < c.size(); ++r)
    if (differs[r] != 0.0)
      throw Error("Trainer::fit: rank " + std::to_string(r) + "'s training data differs from rank 0's (" +
                  std::to_string(train.size()) + " samples here): every rank must read the same data");
  c.broadcast(std::as_writable_bytes(net.parameters()), 0);
}

}  // namespace

Evaluation evaluate(Network& net, const Dataset& data, std::size_t batch_size) {
  return evaluate(net, data, alone(), batch_size);
}

Evaluation evaluate(Network& net, const Dataset& data, Communicator& communicator, std::size_t batch_size) {
  require_targets(net, data, "evaluate");
  if (batch_size == 0) throw Error("evaluate: the batch size is zero");
  const bool labelled = !data.labels.empty();
  const Share share = share_of(data.size(), communicator.rank(), communicator.size());
  // The loss summed over this rank's rows, then each row's predicted class at its index (0
  // elsewhere): one sum over the ranks gives every rank the whole set's, exact in doubles.
  std::vector<double> sums(1 + (labelled && communicator.size() > 1 ? data.size() : 0), 0.0);
  std::vector<std::uint32_t> predicted(labelled ? data.size() : 0);
  for (std::size_t first = share.first; first < share.first + share.count; first += batch_size) {
    const std::size_t count = std::min(batch_size, share.first + share.count - first);
    const ConstMatrixView x = data.features.view().block(first, 0, count, data.dimensions());
    const ConstMatrixView y = data.targets.view().block(first, 0, count, data.targets.cols());
    const ConstMatrixView out = net.forward(x);
    sums[0] += mean_loss(net, y) * static_cast<double>(count);
    if (labelled) {
      const std::vector<std::uint32_t> classes = predicted_classes(out);
      std::copy(classes.begin(), classes.end(), predicted.begin() + static_cast<std::ptrdiff_t>(first));
    }
  }
  if (communicator.size() > 1) {
    for (std::size_t i = 0; labelled && i < share.count; ++i)
      sums[1 + share.first + i] = predicted[share.first + i];
    communicator.all_reduce_sum(std::span<double>(sums));
    for (std::size_t i = 0; labelled && i < data.size(); ++i)
      predicted[i] = static_cast<std::uint32_t>(sums[1 + i]);
  }
  Evaluation e;
  e.samples = data.size();
  e.confusion = ConfusionMatrix(labelled ? net.architecture().outputs() : 0);
  if (labelled) e.confusion.add(data.labels, predicted);
  e.loss = sums[0] / static_cast<double>(data.size());
  e.accuracy = e.confusion.accuracy();
  return e;
}

Trainer::Trainer(Network& net, Optimizer& optimizer, TrainerOptions options)
    : net_(net), optimizer_(optimizer), options_(options) {
  if (options_.batch_size == 0) throw Error("Trainer: the batch size is zero");
  if (options_.batch_size > kMaxBatchSize)
    throw Error("Trainer: the batch size " + std::to_string(options_.batch_size) + " is more than " +
                std::to_string(kMaxBatchSize));
  state_.rng_state = options_.seed;
  state_.dropout_seed = options_.seed;
  const float smoothing = options_.label_smoothing;
  if (!(smoothing >= 0.0f && smoothing < 1.0f))
    throw Error("Trainer: label smoothing must be in [0, 1), not " + std::to_string(smoothing));
  if (smoothing > 0.0f && net_.architecture().loss != Loss::softmax_cross_entropy)
    throw Error("Trainer: label smoothing needs the softmax-ce loss, not " +
                std::string(to_string(net_.architecture().loss)));
  const EarlyStopping& e = options_.early_stopping;
  if (e.monitor != EarlyStoppingMonitor::none && e.patience == 0)
    throw Error("Trainer: early stopping needs a patience of at least 1 epoch");
  if (!(e.min_delta >= 0.0 && std::isfinite(e.min_delta)))
    throw Error("Trainer: early stopping's min_delta must be a finite number >= 0, not " +
                std::to_string(e.min_delta));
}

bool Trainer::improves(const Evaluation& validation) {
  const bool by_loss = options_.early_stopping.monitor == EarlyStoppingMonitor::validation_loss;
  const double value = by_loss ? validation.loss : validation.accuracy;
  const double delta = options_.early_stopping.min_delta;
  if (best_value_ && (by_loss ? !(value < *best_value_ - delta) : !(value > *best_value_ + delta)))
    return false;
  best_value_ = value;
  const std::span<const float> p = net_.parameters();
  std::copy(p.begin(), p.end(), best_parameters_.begin());
  return true;
}

std::vector<EpochReport> Trainer::fit(const Dataset& train, const Dataset* validation) {
  require_targets(net_, train, "Trainer::fit");
  const std::size_t n = train.size(), bs = std::min(options_.batch_size, n);
  const std::size_t batches = (n + bs - 1) / bs;
  const bool labelled = !train.labels.empty();
  Tensor y(bs, train.targets.cols());
  std::vector<EpochReport> reports;
  const bool early_stopping = options_.early_stopping.monitor != EarlyStoppingMonitor::none;
  const bool validating = validation != nullptr && validation->size() > 0;
  if (early_stopping && !validating)
    throw Error("Trainer::fit: early stopping needs a non-empty validation set");
  Communicator& group = options_.communicator != nullptr ? *options_.communicator : alone();
  if (group.size() > 1) start_together(group, net_, train);
  std::uint64_t epochs_without_improvement = 0;
  bool patience_ran_out = false;
  best_value_.reset();
  best_epoch_ = 0;
  stopped_early_ = false;
  if (early_stopping) {
    best_parameters_.resize(net_.parameters().size());  // once: each improvement copies into it
    if (state_.epoch > 0) {  // resumed: the weights to beat are the ones resumed from
      const Evaluation resumed = evaluate(net_, *validation, group);
      if (!std::isfinite(resumed.loss))
        throw Error("Trainer::fit: the validation loss of the weights resumed after epoch " +
                    std::to_string(state_.epoch) + " is " + std::to_string(resumed.loss) +
                    ": early stopping has nothing to compare with");
      improves(resumed);
      best_epoch_ = state_.epoch;
    }
  }
  // The batch's loss and correct predictions, summed over the ranks with the gradients.
  std::array<double, 2> batch_totals{};
  // Each layer's gradients start their reduction as soon as backward has them.
  const Network::GradientsReady reduce_layer = [&group](std::span<float> g) { group.start_all_reduce_sum(g); };
  const Network::GradientsReady& ready = group.size() > 1 ? reduce_layer : Network::GradientsReady{};
  // Alone, nothing is reduced between the backward and the update: the optimizer may fold its
  // update into the backward (Optimizer::backward_and_step), once the loss is known finite.
  const bool alone = group.size() == 1;
  while (state_.epoch < options_.epochs && !patience_ran_out) {
    const auto start = Clock::now();
    const auto order = shuffled_indices(n, state_.rng_state);
    EpochReport report;
    report.epoch = state_.epoch + 1;
    double loss_sum = 0.0;
    std::size_t right = 0, seen = 0;
    for (std::size_t b = 0; b < batches; ++b) {
      const std::size_t first = b * bs, count = std::min(bs, n - first);
      const Share share = share_of(count, group.rank(), group.size());
      batch_totals = {0.0, 0.0};
      if (share.count > 0) {
        // The network gathers the batch's rows of X as it copies them; the targets are gathered here.
        const std::span<const std::size_t> rows(order.data() + first + share.first, share.count);
        gather_rows(train.targets.view(), rows, y.view().top_rows(share.count));
        if (options_.label_smoothing > 0.0f)
          smooth_labels(y.view().top_rows(share.count), options_.label_smoothing);
        const ConstMatrixView yb = y.view().top_rows(share.count);
        const ConstMatrixView out = net_.forward_training(
            train.features.view(), rows, {state_.dropout_seed, optimizer_.steps(), share.first});
        if (b + 1 < batches) {  // this rank's rows of the next batch, fetched during backward
          const std::size_t next_first = first + bs, next_count = std::min(bs, n - next_first);
          const Share next = share_of(next_count, group.rank(), group.size());
          net_.prefetch_next_batch(train.features.view(),
                                   std::span<const std::size_t>(order.data() + next_first + next.first, next.count));
        }
        batch_totals[0] = mean_loss(net_, yb) * static_cast<double>(share.count);
        if (labelled)  // row by row: the step allocates nothing, nor should its bookkeeping
          for (std::size_t i = 0; i < share.count; ++i)
            batch_totals[1] += predicted_class(out, i) == train.labels[order[first + share.first + i]];
        if (!alone) net_.backward_share(yb, count, ready);
      } else {  // a last batch with fewer rows than ranks: this rank adds nothing to it
        std::fill(net_.gradients().begin(), net_.gradients().end(), 0.0f);
        for (std::size_t l = net_.num_layers(); l-- > 0;)  // the pieces the other ranks sum
          group.start_all_reduce_sum(net_.layer_gradients(l));
      }
      group.wait();
      group.all_reduce_sum(std::span<double>(batch_totals));
      const double loss = batch_totals[0] / static_cast<double>(count);
      if (!std::isfinite(loss))
        throw Error(diverged(report.epoch, b + 1, batches, "the batch loss is " + std::to_string(loss)));
      loss_sum += batch_totals[0];
      right += static_cast<std::size_t>(batch_totals[1]);
      if (alone)
        optimizer_.backward_and_step(net_, y.view().top_rows(share.count));
      else
        optimizer_.step(net_);
      seen += count;
      if (on_batch) {
        BatchProgress p;
        p.epoch = report.epoch;
        p.batch = b + 1;
        p.batches = batches;
        p.loss = loss_sum / static_cast<double>(seen);
        p.samples_per_second = static_cast<double>(seen) / std::max(seconds_since(start), 1e-9);
        on_batch(p);
      }
    }
    if (const auto bad = first_non_finite(net_.parameters()))
      throw Error(diverged(report.epoch, batches, batches,
                           "parameter " + std::to_string(*bad) + " is " +
                               std::to_string(net_.parameters()[*bad])));
    report.seconds = seconds_since(start);
    report.samples_per_second = static_cast<double>(n) / std::max(report.seconds, 1e-9);
    report.train_loss = loss_sum / static_cast<double>(n);
    report.train_accuracy = labelled ? static_cast<double>(right) / static_cast<double>(n) : 0.0;
    if (validating) {
      report.validation = evaluate(net_, *validation, group);
      if (!std::isfinite(report.validation->loss))  // finite but huge weights overflow
        throw Error(diverged(report.epoch, batches, batches,
                             "the validation loss is " + std::to_string(report.validation->loss)));
    }
    if (early_stopping) {
      if (improves(*report.validation)) {
        best_epoch_ = report.epoch;
        epochs_without_improvement = 0;
      } else {
        patience_ran_out = ++epochs_without_improvement >= options_.early_stopping.patience;
      }
      report.best_epoch = best_epoch_;
    }
    ++state_.epoch;
    reports.push_back(report);
    if (on_epoch) on_epoch(report);
  }
  stopped_early_ = patience_ran_out && state_.epoch < options_.epochs;
  if (early_stopping && best_value_) {
    const std::span<float> p = net_.parameters();
    std::copy(best_parameters_.begin(), best_parameters_.end(), p.begin());
  }
  return reports;
}

}  // namespace mlpk
