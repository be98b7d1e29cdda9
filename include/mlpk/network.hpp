// Network: a multi-layer perceptron of any depth, trained through any Backend.
//
// Row convention: a batch X is n x d (one sample a row); layer l has weights W[l] (in x out) and
// bias b[l] (1 x out):
//     Z[l] = A[l-1] W[l] + b[l],   A[l] = g[l](Z[l]),   A[0] = X
// backward:
//     dZ[L] = (A[L] - Y)/n  (fused for softmax-CE and sigmoid-BCE; through g' for MSE; for
//             softmax-CE (A[L] sum_j Y_j - Y)/n, the same when a target row sums to 1; no /n
//             under LossReduction::sum)
//     dW[l] = A[l-1]^T dZ[l],  db[l] = sum over rows of dZ[l],  dA[l-1] = dZ[l] W[l]^T,
//     dZ[l-1] = dA[l-1] * g'(Z[l-1]),   and on request dX = dA[0] = dZ[1] W[1]^T
// Training mode (forward_training) also applies inverted dropout to the output of every hidden
// layer with a rate (LayerSpec::dropout): D[l] = M[l] * A[l] / (1 - p[l]) with M[l] a 0/1 mask,
// the next layer reads D[l] instead of A[l], and backward goes through the same masks:
//     dA[l] = M[l] * dD[l] / (1 - p[l]),   dW[l+1] = D[l]^T dZ[l+1]
// Evaluation mode (forward) drops nothing.
// The Network owns W and b (in one flat array, so an optimizer is one loop), a copy of the last X,
// the cached Z and A (and D) of every layer and the gradients; it calls nothing but the Backend
// interface to compute.
#pragma once

#include <mlpk/activation.hpp>
#include <mlpk/backend.hpp>
#include <mlpk/tensor.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mlpk {

struct LayerSpec {
  std::size_t units = 0;
  Activation activation = Activation::identity;
  // The dropout rate p of this layer's output, in [0, 1); hidden layers only (the output layer's
  // is 0). A training forward (Network::forward_training) drops each output with probability p
  // and scales the kept ones by 1/(1-p) before the next layer reads them (dropout.hpp);
  // evaluation and prediction never drop.
  float dropout = 0.0f;
  bool operator==(const LayerSpec&) const = default;  // makes Architecture's == usable
};

// Limits on an architecture, checked by Architecture::validate before anything is allocated.
// Parameters: W and b of every layer together. 2^32 floats are 16 GiB, and training holds at
// least four arrays that long (weights, gradients, Adam's two moments): past that no CPU trains
// an MLP in a sensible time, and a count of widths from user input that multiplies to more is a
// typo or an attack (1099511627776-16777216-1 would wrap a 64-bit product to zero).
inline constexpr std::uint64_t kMaxParameters = std::uint64_t{1} << 32;
// Layers: more than any MLP trains through (gradients vanish long before); the model file
// stores the count, and reading checks it against this.
inline constexpr std::size_t kMaxLayers = 4096;

struct Architecture {
  std::size_t inputs = 0;
  std::vector<LayerSpec> layers;  // hidden layers, then the output layer
  Loss loss = Loss::mean_squared_error;

  // "784-256-128-10": the input width, then each layer's units. Hidden layers use `hidden`,
  // the output layer the activation the loss is defined on (softmax, sigmoid, identity for MSE).
  // A hidden layer's width may carry its dropout rate: "784-512:0.2-256:0.1-10".
  static Architecture parse(std::string_view layers, Activation hidden, Loss loss);
  // "784-256(relu, dropout 0.2)-10(softmax) softmax-ce"
  std::string to_string() const;
  std::size_t outputs() const { return layers.empty() ? 0 : layers.back().units; }
  // Throws mlpk::Error naming what is wrong (no layers, a zero-sized layer, more than kMaxLayers
  // layers or kMaxParameters parameters, an output activation the loss is not defined on, a
  // dropout rate outside [0, 1) or on the output layer).
  void validate() const;
  // W and b of every layer; call validate() first (it guarantees the sum does not overflow).
  std::uint64_t parameter_count() const;
  bool operator==(const Architecture&) const = default;
};

// Weight initialization; biases start at zero.
//   xavier_*: variance 2/(in+out) (Glorot);  he_*: variance 2/in, for the ReLU family.
//   automatic: he_normal when the layer's activation is relu-like, xavier_uniform otherwise.
enum class Init { automatic, xavier_uniform, xavier_normal, he_uniform, he_normal };

// What a training step's dropout masks are drawn from (dropout.hpp): the run's seed and the
// step, the number of optimizer steps taken before it (Optimizer::steps()), so that a resumed
// run draws the masks the uninterrupted one would have.
// A data-parallel rank that trains on rows [row, row + n) of the step's batch sets `row`, so
// that its share draws the masks of those rows of the whole batch.
struct DropoutStep {
  std::uint64_t seed = 0;
  std::uint64_t step = 0;
  std::uint64_t row = 0;  // the batch row of the forward's first row
};

class Optimizer;
class Parallel;
struct WeightCut;
struct WorkSplit;
class Profiler;

// The most threads a Network runs on: 4096, more cores than any machine mlpk runs on has; a
// larger count is a mistake (a wrapped -1), and each thread costs a stack.
inline constexpr std::size_t kMaxThreads = 4096;

// The thread count a Network uses by default: MLPK_NUM_THREADS if set (throws mlpk::Error when
// it is not an integer from 1 to kMaxThreads), otherwise every core the process may run on.
std::size_t default_thread_count();

class Network {
 public:
  // Throws mlpk::Error for an invalid architecture, a null backend, or an activation the backend
  // does not support. Weights start initialized with Init::automatic and seed 0.
  Network(Architecture architecture, std::shared_ptr<Backend> backend);
  // The same with every parameter 0, for parameters set next (a model file's, set_parameters, a
  // caller's own initialization) without drawing the default ones first: Box-Muller over every
  // weight, 4-5 ms for 784-256-128-10 and 42-80 ms for 784-1024-1024-1024-10 on 2 cores.
  static Network zeroed(Architecture architecture, std::shared_ptr<Backend> backend);
  ~Network();
  Network(Network&&) noexcept;
  Network& operator=(Network&&) noexcept;

  // The threads forward and backward run on (a oneTBB arena owned by this network). 0 means the
  // default: MLPK_NUM_THREADS if set, otherwise every core; above kMaxThreads throws
  // mlpk::Error. Results do not depend on it: each
  // output element of a product is computed whole, over the entire reduction, by one task.
  void set_threads(std::size_t threads);
  std::size_t threads() const;

  // Attaches a profiler that records every kernel call of forward, loss, backward and the
  // optimizer's update (see profiler.hpp); nullptr detaches. The Network does not own it: it must
  // outlive the attachment. Reserves the profiler's storage for threads() threads.
  void set_profiler(Profiler* profiler);
  Profiler* profiler() const { return profiler_; }

  const Architecture& architecture() const { return architecture_; }
  Backend& backend() const { return *backend_; }
  std::size_t num_layers() const { return architecture_.layers.size(); }

  // Deterministic for a given seed on every platform (mlpk's own generator and distributions).
  void initialize(std::uint64_t seed, Init init = Init::automatic);

  // Parameters of layer `l` (0-based): W is inputs x units, b has `units` entries. W's row stride
  // is `units`, or a cache line more when a row is a multiple of 2 KiB long (512, 1024, ... units),
  // which keeps the products that read W's columns from thrashing a few cache sets.
  MatrixView weights(std::size_t l);
  ConstMatrixView weights(std::size_t l) const;
  std::span<float> bias(std::size_t l);
  std::span<const float> bias(std::size_t l) const;
  ConstMatrixView weight_gradient(std::size_t l) const;
  std::span<const float> bias_gradient(std::size_t l) const;
  // The part of gradients() that holds layer l's (dW[l] and db[l], with the padding around them),
  // as backward_share hands it to its `ready` callback: the parts of all layers cover gradients()
  // whole, in order.
  std::span<float> layer_gradients(std::size_t l);

  // Every parameter, and its gradient at the same index, in one flat array each, as the
  // optimizers see them: W[0], b[0], W[1], b[1], ..., each block starting on a 64-byte boundary,
  // so the arrays hold zero padding between blocks (a 3-4-3-1 network has 35 parameters in a
  // span of 96), and after the rows of a W with padded rows (weights()). Padding stays zero; use
  // weights()/bias() or the unpadded copies below to read or write parameters by position.
  std::span<float> parameters() { return params_.flat(); }
  std::span<const float> parameters() const { return params_.flat(); }
  std::span<float> gradients() { return grads_.flat(); }
  std::span<const float> gradients() const { return grads_.flat(); }

  // The parameters without padding, in the order of the model file and of a flat copy from
  // another framework's per-layer (in x out) weights: W[0] (row-major, inputs x units), b[0],
  // W[1], b[1], ... parameter_count() values in all.
  std::size_t parameter_count() const;
  // Throws mlpk::Error unless `out` / `values` holds exactly parameter_count() floats;
  // set_parameters also rejects NaN and infinities (naming the index) and then changes nothing.
  void copy_parameters_to(std::span<float> out) const;
  void set_parameters(std::span<const float> values);

  // How loss() and backward() reduce over the rows of a batch (activation.hpp): mean by
  // default. The Trainer and evaluate() report means under either.
  void set_loss_reduction(LossReduction reduction) { reduction_ = reduction; }
  LossReduction loss_reduction() const { return reduction_; }

  // Runs the network on X (n x inputs) in evaluation mode, without dropout (prediction,
  // evaluation, the validation loss), and returns A[L] (n x outputs). The view stays valid
  // until the next call to forward or forward_training. Throws on a wrong width, an empty
  // batch, or NaN/Inf in X; after a throw, loss and backward throw until the next forward
  // succeeds. The network keeps a copy of X for backward(), so X need not outlive this call.
  // Buffers (that copy, Z, A, D, dZ) grow to the largest batch seen and are reused: a
  // steady-state step allocates nothing.
  ConstMatrixView forward(ConstMatrixView x);
  // The same in training mode: the output of every hidden layer l with a dropout rate is
  // dropped by the mask of (step.seed, step.step, l) before layer l + 1 reads it, and the next
  // backward goes through the same masks. The mask of an element depends on nothing else (not
  // on threads() nor on the backend). What Trainer::fit and train_batch run; the same as
  // forward(x) for a network without dropout rates.
  ConstMatrixView forward_training(ConstMatrixView x, DropoutStep step);
  // The same on the rows `rows` of X, in that order, as the batch: a shuffled mini-batch is
  // gathered by the copy the network makes of its input anyway, in parallel, instead of by the
  // caller before it. Throws mlpk::Error on an empty `rows` or a row outside X.
  ConstMatrixView forward_training(ConstMatrixView x, std::span<const std::size_t> rows,
                                   DropoutStep step);
  // A hint for a training loop that knows its next shuffled batch: the next backward fetches
  // these rows of X toward the caches of the threads that copy them in forward_training, while
  // its last products run, instead of that copy waiting on DRAM for each far-apart row. Results
  // do not change. X and rows must stay valid until the next backward returns, which drops the
  // hint. Throws mlpk::Error for X of another width or a row outside X.
  void prefetch_next_batch(ConstMatrixView x, std::span<const std::size_t> rows);
  // The loss of the last forward's output against targets Y (n x outputs). Throws mlpk::Error
  // naming the element for a target the loss is unbounded below on: softmax-CE takes any
  // Y >= 0 (a row need not sum to 1: multi-hot and all-zero rows get their true gradient),
  // sigmoid-BCE takes Y in [0, 1], MSE any finite Y.
  double loss(ConstMatrixView y) const;
  // Gradients of that loss with respect to every parameter (overwrites gradients()).
  void backward(ConstMatrixView y);
  // The same, and dL/dX of the last forward's X into `input_gradient` (n x inputs, any stride;
  // throws mlpk::Error for another shape): the gradient to pass on to a model in front of this
  // one, or a saliency map. Costs one more product, n x inputs x units of the first layer.
  void backward(ConstMatrixView y, MatrixView input_gradient);
  // Data-parallel training: the last forward held a share of a batch of `batch_rows` rows (at
  // least the share's), and the gradients are those of the whole batch's loss restricted to the
  // share, under the mean reduction (A - Y)/batch_rows, so that the ranks' gradients sum to the
  // batch's. The same as backward(y) when batch_rows is the forward's row count, or under
  // LossReduction::sum. Throws mlpk::Error for batch_rows below the share's rows.
  // `ready`, when set, is called as soon as a layer's gradients are final, last layer first,
  // with layer_gradients(l), so that their reduction over the ranks can start while
  // the layers below are computed.
  using GradientsReady = std::function<void(std::span<float> layer_gradients)>;
  void backward_share(ConstMatrixView y, std::size_t batch_rows, const GradientsReady& ready = {});
  // dL/dZ[L] of the output layer from the last backward (n x outputs), valid until the next
  // forward: for softmax-CE and sigmoid-BCE the fused (A - Y)/n (see activation.hpp), for MSE
  // (A - Y)/n through g' (without the /n under LossReduction::sum). Throws mlpk::Error when
  // there was no backward since the last forward.
  ConstMatrixView output_gradient() const;

  // The cached pre-activation Z[l] and activation A[l] of the last forward (l is 0-based); A[l]
  // is the activation before dropout.
  ConstMatrixView pre_activation(std::size_t l) const;
  ConstMatrixView activation(std::size_t l) const;

 private:
  friend class Optimizer;  // updates the parameters on this network's threads
  // Every parameter 0 (the buffers start zeroed) unless `draw`: then initialize(0).
  Network(Architecture architecture, std::shared_ptr<Backend> backend, bool draw);
  void reserve_batch(std::size_t n);
  // The most tasks a kernel is cut into (tasks_for), and layer l's cut of W for the last
  // forward's batch (cut_weights): an owned W's blocks are computed, and updated, by one task.
  std::size_t max_tasks() const;
  WeightCut weight_cut(std::size_t l) const;
  // Columns [col, col + cols) of what layer l read in the last forward: X, from the copy's
  // panels (a range never crosses one), or the output of layer l - 1.
  ConstMatrixView layer_input(std::size_t l, std::size_t col, std::size_t cols) const;
  // The update's tasks, and the ranges of parameters() task t updates: of each owned W, a
  // contiguous piece of the row block that forward and backward task t computed; an even share
  // of everything else.
  std::size_t update_tasks() const;
  void update_ranges(std::size_t t, std::size_t tasks,
                     void (*visit)(void* context, std::size_t begin, std::size_t end),
                     void* context) const;
  // rows: the rows of X that make the batch, in order; all of X's when null.
  ConstMatrixView run_forward(ConstMatrixView x, const std::span<const std::size_t>* rows,
                              const DropoutStep* step);
  // The forward of a layer with owned weights: one partial product per row block of W, summed.
  void forward_owned(std::size_t l, const WeightCut& cut, MatrixView z, MatrixView a, MatrixView out,
                     const std::optional<DropoutMask>& mask);
  // The blocks of rows in which forward_owned sums, biases and activates owned layer l's output,
  // as blocks of a batch x cols output.
  WorkSplit owned_epilogue_rows(std::size_t l, std::size_t cols) const;
  // Layer l's mask in the last forward, when it was a training one and l has a dropout rate.
  std::optional<DropoutMask> dropout_mask(std::size_t l) const;
  // What layer l + 1 read in the last forward: D[l] under a mask, A[l] otherwise.
  ConstMatrixView layer_output(std::size_t l) const;
  void check_targets(ConstMatrixView y) const;
  // sgd_rate > 0 folds a plain SGD step into the backward: each weight-gradient product writes
  // W - sgd_rate dW into W (after the input gradient has read the old W) instead of dW into the
  // gradients, one pass over the weights fewer, and the biases take their step after.
  void backward_into(ConstMatrixView y, MatrixView* input_gradient, std::size_t batch_rows,
                     const GradientsReady* ready, float sgd_rate = 0.0f);
  // backward(y) and W -= learning_rate dW, b -= learning_rate db, folded (Optimizer's
  // backward_and_step); the weights' gradients are not written.
  void backward_with_sgd_step(ConstMatrixView y, float learning_rate);
  void correct_softmax_rows(ConstMatrixView y, MatrixView dz, float scale) const;

  Architecture architecture_;
  std::shared_ptr<Backend> backend_;
  std::vector<std::size_t> weight_offset_, bias_offset_;  // into params_ / grads_
  Tensor params_, grads_;                                 // 1 x total, blocks 64-byte aligned
  std::size_t capacity_ = 0;                              // rows of the buffers below
  std::size_t batch_ = 0;                                 // rows of the last forward
  bool has_gradients_ = false;                            // a backward since that forward
  LossReduction reduction_ = LossReduction::mean;
  // X of the last forward, copied as the panels of layer 0's row blocks of W: panel p holds
  // its columns at rows [p * capacity_, p * capacity_ + batch_).
  Tensor input_;
  std::size_t input_panel_cols_ = 0;
  std::optional<DropoutStep> training_step_;               // of the last forward, if training
  // prefetch_next_batch's rows of X, until the next backward.
  ConstMatrixView next_x_;
  std::span<const std::size_t> next_rows_;
  std::vector<Tensor> z_, a_, dz_;                        // per layer, capacity_ x units
  std::vector<Tensor> dropped_;                           // D: layers with a dropout rate only
  // Owned layers: the partial products of row blocks 1, 2, ... (block 0's is summed in Z).
  std::vector<Tensor> partial_;
  std::unique_ptr<Parallel> parallel_;
  Profiler* profiler_ = nullptr;  // observes, when attached
};

}  // namespace mlpk
