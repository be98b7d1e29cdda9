// Trainer: epochs of shuffled mini-batches over a Dataset, per-batch and per-epoch callbacks,
// and evaluation (loss, accuracy, confusion matrix) on a Dataset.
//
// Determinism: the only randomness is the per-epoch shuffle, drawn from mlpk's portable
// generator whose state is part of TrainingState, and the dropout masks, a pure function of
// TrainingState::dropout_seed and the optimizer's step count (dropout.hpp), so a run resumed
// from a checkpoint of (weights, optimizer state, TrainingState) takes exactly the steps of an
// uninterrupted run.
#pragma once

#include <mlpk/communicator.hpp>
#include <mlpk/data.hpp>
#include <mlpk/metrics.hpp>
#include <mlpk/network.hpp>
#include <mlpk/optimizer.hpp>

#include <cstdint>
#include <functional>
#include <optional>

namespace mlpk {

// Where a training run stands: what a checkpoint needs besides weights and optimizer state.
struct TrainingState {
  std::uint64_t epoch = 0;         // epochs completed
  std::uint64_t rng_state = 0;     // the shuffle generator's state after them
  std::uint64_t dropout_seed = 0;  // the seed of every dropout mask of the run
};

struct Evaluation {
  double loss = 0.0;      // mean over the samples
  double accuracy = 0.0;  // 0 for a regression set
  std::size_t samples = 0;
  ConfusionMatrix confusion;
};

// Runs `net` over `data` in batches of `batch_size` (no training). Needs `data.targets`; the
// accuracy and confusion need `data.labels`. The loss is NaN or infinite when the network's
// outputs overflow on this data: callers that report it check it.
Evaluation evaluate(Network& net, const Dataset& data, std::size_t batch_size = 1000);
// The same over the ranks of `communicator`, each running its share of `data` (share_of): every
// rank gets the whole set's result. Collective: every rank calls it with the same data.
Evaluation evaluate(Network& net, const Dataset& data, Communicator& communicator,
                    std::size_t batch_size = 1000);

struct BatchProgress {
  std::uint64_t epoch = 0;  // 1-based
  std::size_t batch = 0;    // 1-based, of `batches`
  std::size_t batches = 0;
  double loss = 0.0;         // running mean over this epoch so far
  double samples_per_second = 0.0;
};

struct EpochReport {
  std::uint64_t epoch = 0;     // 1-based
  // Both of the training forwards, so under dropout when the network has rates.
  double train_loss = 0.0;     // mean of the batch losses, weighted by batch size
  double train_accuracy = 0.0; // of the predictions made while training (before each update)
  std::optional<Evaluation> validation;
  double seconds = 0.0;        // training time of the epoch, evaluation excluded
  double samples_per_second = 0.0;
  // With early stopping: the epoch whose weights are the best so far (this one if it improved
  // on the monitored value); 0 without it.
  std::uint64_t best_epoch = 0;
};

// The largest mini-batch: 2^20 samples. Every layer keeps batch x units activations, their
// pre-activations and gradients, so a batch of a million samples of a 512-unit layer already
// holds 6 GiB; a larger one comes from a typo or a wrapped negative number, not from a plan.
inline constexpr std::size_t kMaxBatchSize = std::size_t{1} << 20;

// Early stopping: after each epoch the validation loss (or accuracy) is compared with the best
// so far; an epoch improves on it when it is lower than best - min_delta (higher than
// best + min_delta for accuracy), and its weights are kept. After `patience` epochs in a row
// without improvement training stops, and fit() ends with the kept weights restored, whether it
// stopped early or ran all epochs. As Keras's EarlyStopping(restore_best_weights=True).
enum class EarlyStoppingMonitor { none, validation_loss, validation_accuracy };

struct EarlyStopping {
  EarlyStoppingMonitor monitor = EarlyStoppingMonitor::none;
  std::uint64_t patience = 5;  // at least 1
  double min_delta = 0.0;      // >= 0, in the units of the monitored value
};

struct TrainerOptions {
  std::uint64_t epochs = 10;  // the total: a resumed run continues up to it
  std::size_t batch_size = 128;  // 1 to kMaxBatchSize
  std::uint64_t seed = 1;     // seeds the shuffle and the dropout masks of a fresh run
  EarlyStopping early_stopping = {};
  // Label smoothing e in [0, 1), for softmax-CE only: training targets become
  // (1 - e) y + e / K over the K outputs (as PyTorch's CrossEntropyLoss(label_smoothing=e));
  // the training loss is against them, validation and evaluate() use the targets as they are.
  float label_smoothing = 0.0f;
  // Data-parallel training over the ranks of a communicator (nullptr: this process alone). Each
  // global batch keeps the size and shuffle order of a one-process run and is cut into the
  // ranks' shares (share_of); each rank computes its share's part of the batch's gradient, the
  // parts are summed over the ranks in rank order, and every rank applies the same update. fit()
  // first broadcasts rank 0's parameters and checks that every rank holds the same training
  // data. Validation runs over the ranks' shares as well. The communicator must outlive the
  // Trainer; every rank runs fit() with the same options and data.
  Communicator* communicator = nullptr;
};

class Trainer {
 public:
  // Throws mlpk::Error for a batch size of zero or above kMaxBatchSize, early stopping with a
  // patience of 0 or a negative or non-finite min_delta, or label smoothing outside [0, 1) or
  // on a loss other than softmax-CE.
  Trainer(Network& net, Optimizer& optimizer, TrainerOptions options);

  // Called after every batch (for progress bars) and after every epoch (metrics, checkpoints).
  std::function<void(const BatchProgress&)> on_batch;
  std::function<void(const EpochReport&)> on_epoch;

  // Trains epochs state().epoch + 1 .. options.epochs on `train` (which needs targets), evaluating
  // on `validation` after each epoch when it is non-empty. Returns the reports of those epochs.
  // Training steps run in training mode (Network::forward_training, with dropout), evaluation
  // without dropout.
  // Early stopping needs a validation set (throws mlpk::Error without one). A fit that starts
  // from a resumed state (state().epoch > 0) first evaluates the resumed weights and keeps them
  // as the best so far, with none of the patience used: exact when the checkpoint was written at
  // the best epoch, as `mlpk train --save` does under early stopping.
  // Training that diverges stops with mlpk::Error naming the epoch and step: a batch loss that is
  // not finite (checked every step), or a parameter or validation loss that is not (checked at
  // the end of every epoch, before on_epoch can save it).
  std::vector<EpochReport> fit(const Dataset& train, const Dataset* validation = nullptr);

  TrainingState& state() { return state_; }
  const TrainingState& state() const { return state_; }
  const TrainerOptions& options() const { return options_; }
  // With early stopping, after fit(): the epoch whose weights the network now holds (0 when no
  // epoch was evaluated), and whether patience ran out before options().epochs.
  std::uint64_t best_epoch() const { return best_epoch_; }
  bool stopped_early() const { return stopped_early_; }

 private:
  // Whether `validation` improves on the best so far; records it as the best if so.
  bool improves(const Evaluation& validation);

  Network& net_;
  Optimizer& optimizer_;
  TrainerOptions options_;
  TrainingState state_;
  std::vector<float> best_parameters_;  // the padded flat array of the best epoch
  std::optional<double> best_value_;
  std::uint64_t best_epoch_ = 0;
  bool stopped_early_ = false;
};

}  // namespace mlpk
