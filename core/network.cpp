// Network: the forward / backward driver. It computes nothing itself: every product, bias,
// activation and reduction goes through the Backend, so one driver serves every backend.
#include <mlpk/error.hpp>
#include <mlpk/network.hpp>

#include "loss_value.hpp"
#include "parallel.hpp"
#include "profile_scope.hpp"
#include "random.hpp"
#include "work_split.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

namespace mlpk {
namespace {

static_assert(kMaxLayers <= kDropoutLayers, "every layer must be able to name its dropout mask");

constexpr std::size_t kBlockAlign = 16;  // floats: each W and b starts on a 64-byte boundary
constexpr std::size_t kCacheLine = 64;   // bytes
// How far ahead the copy of a shuffled batch fetches its rows. On a 2-core Zen 5 VM a panel of
// 128 random rows (1.6 KB each) of a 63 MB data set took 45-59 us to copy, 29-38 us fetching 4,
// 8 or 16 rows ahead (alike; 2 MB pages did not help: the rows wait on DRAM, not on the TLB).
// BM_ShuffledStep, 4 rows ahead against none, 5 alternated rounds: 1.04-1.15x at 1 thread.
constexpr std::size_t kGatherPrefetchRows = 4;

std::size_t round_up(std::size_t x) { return (x + kBlockAlign - 1) / kBlockAlign * kBlockAlign; }

// Row stride of a W with `cols` columns. Rows a multiple of 2 KiB long (512, 1024, ... columns)
// put each column of W into a few cache sets, and products that read W in place slow down: on a
// Zen 5's AVX2 path oneDNN 2.6's sgemm ran Z = X W, 256x1024x512, at 61 GFLOP/s with 1024 floats
// a row and 106 with 1040 (128x512x392: 84 and 105), highway:AVX2 (which reads W in place up to
// 128 rows) 128x1024x512 at 74 and 101; with AVX-512 up to 1.06x. Such rows get a cache line of
// zeros after them; rows of 1 KiB or less measured alike either way. Steps: bench/HISTORY.md.
constexpr std::size_t kAliasedRowFloats = 512;
std::size_t weight_row_stride(std::size_t cols) {
  return cols % kAliasedRowFloats == 0 ? cols + kCacheLine / sizeof(float) : cols;
}

bool relu_like(Activation a) { return a == Activation::relu || a == Activation::leaky_relu; }

// True when a row holds a NaN or an infinity: an all-ones exponent. Integer tests on the bits
// vectorize (isfinite's branches did not: the check of a batch was 2% of a training step).
bool has_non_finite(const float* row, std::size_t n) {
  std::uint32_t found = 0;
  for (std::size_t j = 0; j < n; ++j) {
    std::uint32_t bits;
    std::memcpy(&bits, row + j, sizeof bits);
    found |= static_cast<std::uint32_t>((bits & 0x7f800000u) == 0x7f800000u);
  }
  return found != 0;
}

[[noreturn]] void throw_non_finite(const float* row, std::size_t n, std::size_t i,
                                   const char* what) {
  std::size_t j = 0;
  while (j + 1 < n && std::isfinite(row[j])) ++j;
  throw Error(std::string(what) + " has a non-finite value (" + std::to_string(row[j]) +
              ") at row " + std::to_string(i) + ", column " + std::to_string(j));
}

void require_finite(ConstMatrixView m, const char* what) {
  for (std::size_t i = 0; i < m.rows; ++i)
    if (has_non_finite(m.row(i), m.cols)) throw_non_finite(m.row(i), m.cols, i, what);
}

// Starts fetching the `cols` floats of a row toward the cache level `Locality` names (3: L1, 2:
// L2), without waiting for them.
template <int Locality>
void prefetch_row(const float* row, std::size_t cols) {
  const char* bytes = reinterpret_cast<const char*>(row);
  for (std::size_t b = 0; b < cols * sizeof(float); b += kCacheLine) __builtin_prefetch(bytes + b, 0, Locality);
}

// Copies rows of `from` into the packed rows of `to` (row i of `to` from row rows[i], or row i when
// `rows` is empty), checking each row while it is in cache; false when a value is not finite (the
// caller finds which, in order: blocks are copied concurrently).
bool copy_finite(ConstMatrixView from, std::span<const std::size_t> rows, MatrixView to) {
  for (std::size_t i = 0; i < to.rows; ++i) {
    // Gathered rows lie far apart: the hardware prefetcher starts over at each one. Fetching
    // the row kGatherPrefetchRows ahead hides that.
    if (!rows.empty() && i + kGatherPrefetchRows < to.rows)
      prefetch_row<3>(from.row(rows[i + kGatherPrefetchRows]), from.cols);
    const float* source = from.row(rows.empty() ? i : rows[i]);
    if (from.cols > 0) std::memcpy(to.row(i), source, from.cols * sizeof(float));
    if (has_non_finite(to.row(i), to.cols)) return false;
  }
  return true;
}

// Fetches rows `rows` of `from` (a block of columns of X) toward this core's L2: the next
// batch's copy then finds them there or in L3.
void prefetch_rows(ConstMatrixView from, std::span<const std::size_t> rows) {
  for (const std::size_t r : rows) prefetch_row<2>(from.row(r), from.cols);
}

}  // namespace

Network::Network(Architecture architecture, std::shared_ptr<Backend> backend)
    : Network(std::move(architecture), std::move(backend), true) {}

Network Network::zeroed(Architecture architecture, std::shared_ptr<Backend> backend) {
  return Network(std::move(architecture), std::move(backend), false);
}

Network::Network(Architecture architecture, std::shared_ptr<Backend> backend, bool draw)
    : architecture_(std::move(architecture)), backend_(std::move(backend)) {
  architecture_.validate();
  if (!backend_) throw Error("Network: the backend is null");
  for (const auto& layer : architecture_.layers)
    if (!backend_->supports(layer.activation))
      throw Error("Network: backend '" + backend_->name() + "' does not support activation '" +
                  std::string(to_string(layer.activation)) + "'");
  std::size_t total = 0;
  std::size_t in = architecture_.inputs;
  for (const auto& layer : architecture_.layers) {
    weight_offset_.push_back(total);
    total += round_up(in * weight_row_stride(layer.units));
    bias_offset_.push_back(total);
    total += round_up(layer.units);
    in = layer.units;
  }
  params_ = Tensor(1, total);
  grads_ = Tensor(1, total);
  z_.resize(num_layers());
  a_.resize(num_layers());
  dz_.resize(num_layers());
  dropped_.resize(num_layers());
  parallel_ = std::make_unique<Parallel>();
  if (draw) initialize(0);
}

Network::~Network() = default;
Network::Network(Network&&) noexcept = default;
Network& Network::operator=(Network&&) noexcept = default;

void Network::set_threads(std::size_t threads) {
  parallel_ = std::make_unique<Parallel>(threads);
  if (profiler_ != nullptr) profiler_->prepare(parallel_->threads());
}

void Network::set_profiler(Profiler* profiler) {
  if (profiler != nullptr) profiler->prepare(parallel_->threads());
  profiler_ = profiler;
}

std::size_t Network::threads() const { return parallel_->threads(); }

void Network::initialize(std::uint64_t seed, Init init) {
  for (auto& p : parameters()) p = 0.0f;
  // The weights are one sequence of draws, layer after layer, row after row; blocks of rows are
  // drawn in parallel from the generator skipped to their first draw: the same numbers as one
  // pass (Box-Muller's log and cos made that pass 78-80 ms for 784-1024-1024-1024-10).
  std::uint64_t first_draw = 0;
  for (std::size_t l = 0; l < num_layers(); ++l) {
    MatrixView w = weights(l);
    const double in = static_cast<double>(w.rows), out = static_cast<double>(w.cols);
    Init kind = init;
    if (kind == Init::automatic)
      kind = relu_like(architecture_.layers[l].activation) ? Init::he_normal : Init::xavier_uniform;
    const bool normal = kind != Init::xavier_uniform && kind != Init::he_uniform;
    const std::uint64_t draws_per_weight = normal ? 2 : 1;  // Random::normal() draws two
    const WorkSplit rows = split_rows(w.rows, w.cols, parallel_->threads());
    parallel_->for_each(rows.count(), [&](std::size_t t) {
      const OutputBlock block = rows.block(t);
      Random random(seed);
      random.skip(first_draw + draws_per_weight * block.row * w.cols);
      for (std::size_t i = block.row; i < block.row + block.rows; ++i)
        for (std::size_t j = 0; j < w.cols; ++j) {
          double value = 0.0;
          switch (kind) {
            case Init::xavier_uniform: value = random.uniform(-1, 1) * std::sqrt(6.0 / (in + out)); break;
            case Init::xavier_normal: value = random.normal() * std::sqrt(2.0 / (in + out)); break;
            case Init::he_uniform: value = random.uniform(-1, 1) * std::sqrt(6.0 / in); break;
            case Init::he_normal:
            case Init::automatic: value = random.normal() * std::sqrt(2.0 / in); break;
          }
          w(i, j) = static_cast<float>(value);
        }
    });
    first_draw += draws_per_weight * w.rows * w.cols;
  }
}

MatrixView Network::weights(std::size_t l) {
  const ConstMatrixView w = std::as_const(*this).weights(l);
  return {params_.data() + weight_offset_[l], w.rows, w.cols, w.stride};
}

ConstMatrixView Network::weights(std::size_t l) const {
  if (l >= num_layers())
    throw Error("Network: layer " + std::to_string(l) + " does not exist (the network has " +
                std::to_string(num_layers()) + ")");
  const std::size_t in = l == 0 ? architecture_.inputs : architecture_.layers[l - 1].units;
  const std::size_t units = architecture_.layers[l].units;
  return {params_.data() + weight_offset_[l], in, units, weight_row_stride(units)};
}

std::span<float> Network::bias(std::size_t l) {
  const auto units = weights(l).cols;
  return {params_.data() + bias_offset_[l], units};
}

std::span<const float> Network::bias(std::size_t l) const {
  const auto units = weights(l).cols;
  return {params_.data() + bias_offset_[l], units};
}

std::span<float> Network::layer_gradients(std::size_t l) {
  weights(l);  // throws for a layer that does not exist
  const std::size_t begin = l == 0 ? 0 : weight_offset_[l];
  const std::size_t end = l + 1 == num_layers() ? grads_.size() : weight_offset_[l + 1];
  return grads_.flat().subspan(begin, end - begin);
}

ConstMatrixView Network::weight_gradient(std::size_t l) const {
  const ConstMatrixView w = weights(l);
  return {grads_.data() + weight_offset_[l], w.rows, w.cols, w.stride};
}

std::span<const float> Network::bias_gradient(std::size_t l) const {
  return {grads_.data() + bias_offset_[l], weights(l).cols};
}

std::size_t Network::parameter_count() const {
  return static_cast<std::size_t>(architecture_.parameter_count());
}

void Network::copy_parameters_to(std::span<float> out) const {
  if (out.size() != parameter_count())
    throw Error("Network::copy_parameters_to: the destination holds " + std::to_string(out.size()) +
                " floats but the network has " + std::to_string(parameter_count()) + " parameters");
  float* to = out.data();
  for (std::size_t l = 0; l < num_layers(); ++l) {
    const ConstMatrixView w = weights(l);
    const std::span<const float> b = bias(l);
    for (std::size_t i = 0; i < w.rows; ++i) to = std::copy_n(w.row(i), w.cols, to);
    to = std::copy(b.begin(), b.end(), to);
  }
}

void Network::set_parameters(std::span<const float> values) {
  if (values.size() != parameter_count())
    throw Error("Network::set_parameters: got " + std::to_string(values.size()) +
                " values but the network has " + std::to_string(parameter_count()) + " parameters");
  for (std::size_t i = 0; i < values.size(); ++i)
    if (!std::isfinite(values[i]))
      throw Error("Network::set_parameters: value " + std::to_string(i) + " is " +
                  std::to_string(values[i]));
  const float* from = values.data();
  for (std::size_t l = 0; l < num_layers(); ++l) {
    const MatrixView w = weights(l);
    for (std::size_t i = 0; i < w.rows; ++i, from += w.cols) std::copy_n(from, w.cols, w.row(i));
    const std::span<float> b = bias(l);
    std::copy_n(from, b.size(), b.begin());
    from += b.size();
  }
}

void Network::reserve_batch(std::size_t n) {
  if (n <= capacity_) return;
  const std::size_t max_tasks = this->max_tasks();
  const bool invariant = backend_->block_invariant();
  const WeightCut input_cut =
      cut_weights(architecture_.inputs, architecture_.layers[0].units, n, max_tasks, invariant);
  input_ = Tensor(input_cut.k_blocks * n, input_cut.k_block);
  input_panel_cols_ = input_cut.k_block;
  partial_.resize(num_layers());
  std::size_t in = architecture_.inputs;
  for (std::size_t l = 0; l < num_layers(); ++l) {
    const LayerSpec& layer = architecture_.layers[l];
    z_[l] = Tensor(n, layer.units);
    // Identity layers keep A in Z's buffer.
    a_[l] = layer.activation == Activation::identity ? Tensor() : Tensor(n, layer.units);
    dz_[l] = Tensor(n, layer.units);
    dropped_[l] = layer.dropout > 0.0f ? Tensor(n, layer.units) : Tensor();
    const WeightCut cut = cut_weights(in, layer.units, n, max_tasks, invariant);
    partial_[l] = cut.owned() ? Tensor((cut.k_blocks - 1) * n, layer.units) : Tensor();
    in = layer.units;
  }
  capacity_ = n;
}

std::size_t Network::max_tasks() const {
  return tasks_for(parallel_->threads(), backend_->block_invariant());
}

WeightCut Network::weight_cut(std::size_t l) const {
  const ConstMatrixView w = weights(l);
  return cut_weights(w.rows, w.cols, batch_, max_tasks(), backend_->block_invariant());
}

ConstMatrixView Network::layer_input(std::size_t l, std::size_t col, std::size_t cols) const {
  if (l > 0) return layer_output(l - 1).block(0, col, batch_, cols);
  const std::size_t panel = col / input_panel_cols_, first = col - panel * input_panel_cols_;
  if (first + cols > input_panel_cols_)
    throw std::logic_error("Network::layer_input: columns cross the input's panels");
  return input_.view().block(panel * capacity_, first, batch_, cols);
}

std::size_t Network::update_tasks() const {
  std::size_t tasks = max_tasks();
  for (std::size_t l = 0; l < num_layers(); ++l) tasks = std::max(tasks, weight_cut(l).count());
  return tasks;
}

void Network::update_ranges(std::size_t t, std::size_t tasks,
                            void (*visit)(void* context, std::size_t begin, std::size_t end),
                            void* context) const {
  // Share i of `pieces` of the `length` elements from `begin`, in even blocks of whole quanta.
  const auto share = [&](std::size_t begin, std::size_t length, std::size_t i, std::size_t pieces) {
    std::size_t blocks = 0;
    const std::size_t block = even_block(length, pieces, blocks);
    if (i < blocks) visit(context, begin + i * block, begin + std::min(length, (i + 1) * block));
  };
  for (std::size_t l = 0; l < num_layers(); ++l) {
    const WeightCut cut = weight_cut(l);
    const std::size_t w0 = weight_offset_[l], stride = weights(l).stride;  // rows and their padding
    if (!cut.owned()) {
      share(w0, cut.rows * stride, t, tasks);
    } else if (t < cut.count()) {  // row block t / n_blocks, as n_blocks contiguous pieces
      const OutputBlock o = cut.block(t);
      share(w0 + o.row * stride, o.rows * stride, t % cut.n_blocks, cut.n_blocks);
    }
    share(bias_offset_[l], cut.cols, t, tasks);
  }
}

ConstMatrixView Network::pre_activation(std::size_t l) const {
  weights(l);  // checks l
  return z_[l].view().top_rows(batch_);
}

ConstMatrixView Network::activation(std::size_t l) const {
  weights(l);
  const Tensor& a = architecture_.layers[l].activation == Activation::identity ? z_[l] : a_[l];
  return a.view().top_rows(batch_);
}

std::optional<DropoutMask> Network::dropout_mask(std::size_t l) const {
  const float rate = architecture_.layers[l].dropout;
  if (!training_step_ || rate == 0.0f) return std::nullopt;
  return DropoutMask{training_step_->seed, training_step_->step, static_cast<std::uint32_t>(l), rate,
                     training_step_->row, 0};
}

ConstMatrixView Network::layer_output(std::size_t l) const {
  return dropout_mask(l) ? dropped_[l].view().top_rows(batch_) : activation(l);
}

ConstMatrixView Network::forward(ConstMatrixView x) { return run_forward(x, nullptr, nullptr); }

ConstMatrixView Network::forward_training(ConstMatrixView x, DropoutStep step) {
  return run_forward(x, nullptr, &step);
}

ConstMatrixView Network::forward_training(ConstMatrixView x, std::span<const std::size_t> rows,
                                          DropoutStep step) {
  return run_forward(x, &rows, &step);
}

ConstMatrixView Network::run_forward(ConstMatrixView x, const std::span<const std::size_t>* rows,
                                     const DropoutStep* step) {
  const PhaseScope phase(profiler_, Phase::forward);
  if (x.cols != architecture_.inputs)
    throw Error("Network::forward: X is " + shape_string(x) + " but the network takes " +
                std::to_string(architecture_.inputs) + " inputs");
  if (x.rows == 0) throw Error("Network::forward: the batch X has no rows");
  const std::span<const std::size_t> gather = rows != nullptr ? *rows : std::span<const std::size_t>{};
  if (rows != nullptr) {
    if (gather.empty()) throw Error("Network::forward: the batch's list of rows of X is empty");
    for (std::size_t i = 0; i < gather.size(); ++i)
      if (gather[i] >= x.rows)
        throw Error("Network::forward: row " + std::to_string(i) + " of the batch is row " +
                    std::to_string(gather[i]) + " of X, which has " + std::to_string(x.rows));
  }
  const std::size_t n = rows != nullptr ? gather.size() : x.rows;
  // backward reads X again: it reads this copy, so the caller's X may die after forward. Until
  // the copy is whole and checked there is no forward to go back from.
  batch_ = 0;
  has_gradients_ = false;
  training_step_.reset();
  reserve_batch(n);
  // Each of layer 0's row blocks of W reads its own panel of X: the task that owns the block
  // copies it, so the panel's lines stay in that thread's cache.
  const std::size_t panels = (x.cols + input_panel_cols_ - 1) / input_panel_cols_;
  std::array<bool, kOwnedBlocks> finite{};
  {
    const OpScope op(profiler_, Op::input_copy, panels);
    parallel_->for_each(panels, [&](std::size_t p) {
      const std::size_t col = p * input_panel_cols_, cols = std::min(x.cols - col, input_panel_cols_);
      const CallScope call(op, p, Kernel::gather, n, cols, 0);
      finite[p] = copy_finite(x.block(0, col, x.rows, cols), gather,
                              input_.view().block(p * capacity_, 0, n, cols));
    });
  }
  if (!std::all_of(finite.begin(), finite.begin() + panels, [](bool f) { return f; })) {
    for (std::size_t i = 0; i < n; ++i) {  // throws, naming the first non-finite value
      const std::size_t r = rows != nullptr ? gather[i] : i;
      if (has_non_finite(x.row(r), x.cols)) throw_non_finite(x.row(r), x.cols, r, "Network::forward: X");
    }
  }
  batch_ = n;
  if (step != nullptr) training_step_ = *step;
  const std::size_t max_tasks = this->max_tasks();
  ConstMatrixView previous;  // the output of layer l - 1
  for (std::size_t l = 0; l < num_layers(); ++l) {
    const Activation g = architecture_.layers[l].activation;
    MatrixView z = z_[l].view().top_rows(batch_);
    MatrixView a = g == Activation::identity ? z : a_[l].view().top_rows(batch_);
    const ConstMatrixView w = weights(l);
    const std::span<const float> b = bias(l);
    // Dropout's mask is a function of the element's place in the layer: any block may apply it.
    const std::optional<DropoutMask> mask = dropout_mask(l);
    const MatrixView out = mask ? dropped_[l].view().top_rows(batch_) : a;
    if (const WeightCut cut = weight_cut(l); cut.owned()) {
      forward_owned(l, cut, z, a, out, mask);
      previous = out;
      continue;
    }
    const ConstMatrixView in = l == 0 ? layer_input(0, 0, w.rows) : previous;
    // Softmax couples a row's columns: such a layer is cut by rows only. A layer too small to
    // cut after an owned one (the output layer) is cut as that one's epilogue wrote the rows it
    // reads, so each block's rows are read in the cache that holds them: 784-256-128-10 at batch
    // 128, 2 threads, its 128 x 10 output took 8.0-8.6 us on one thread, 4.6-5.2 on two.
    WorkSplit split =
        split_output(batch_, w.cols, w.rows, true, g != Activation::softmax, max_tasks);
    if (split.count() == 1 && l > 0 && weight_cut(l - 1).owned())
      split = owned_epilogue_rows(l - 1, w.cols);
    const OpScope op(profiler_, Op::forward, l, split.count());
    parallel_->for_each(split.count(), [&](std::size_t t) {
      const OutputBlock o = split.block(t);
      {
        const CallScope call(op, t, Kernel::dense_forward, o.rows, o.cols, w.rows, Trans::N, Trans::N, g);
        backend_->dense_forward(in.block(o.row, 0, o.rows, in.cols),
                                w.block(0, o.col, w.rows, o.cols), b.subspan(o.col, o.cols), g,
                                z.block(o.row, o.col, o.rows, o.cols),
                                a.block(o.row, o.col, o.rows, o.cols));
      }
      if (mask) {
        const CallScope call(op, t, Kernel::dropout_forward, o.rows, o.cols, 0);
        backend_->dropout_forward(mask->at(o.row, o.col), a.block(o.row, o.col, o.rows, o.cols),
                                  out.block(o.row, o.col, o.rows, o.cols));
      }
    });
    previous = out;
  }
  return previous;
}

WorkSplit Network::owned_epilogue_rows(std::size_t l, std::size_t cols) const {
  const bool small = batch_ * weights(l).cols < kMinOwnedWeights;
  return split_rows(batch_, cols, small ? 1 : max_tasks());
}

void Network::forward_owned(std::size_t l, const WeightCut& cut, MatrixView z, MatrixView a,
                            MatrixView out, const std::optional<DropoutMask>& mask) {
  const ConstMatrixView w = weights(l);
  const Activation g = architecture_.layers[l].activation;
  // Row block k's partial product X[:, k] W[k, :]: block 0's in Z, the others' in partial_.
  const auto partial = [&](std::size_t k) {
    return k == 0 ? z : partial_[l].view().block((k - 1) * capacity_, 0, batch_, w.cols);
  };
  {
    const OpScope op(profiler_, Op::forward, l, cut.count());
    parallel_->for_each(cut.count(), [&](std::size_t t) {
      const OutputBlock o = cut.block(t);
      const CallScope call(op, t, Kernel::gemm, batch_, o.cols, o.rows, Trans::N, Trans::N);
      backend_->gemm(Trans::N, Trans::N, 1.0f, layer_input(l, o.row, o.rows),
                     w.block(o.row, o.col, o.rows, o.cols), 0.0f,
                     partial(o.row / cut.k_block).block(0, o.col, batch_, o.cols));
    });
  }
  // Z = ((P0 + P1) + ...) + b, A = g(Z), in blocks of whole rows (softmax needs them whole):
  // element-wise, in the same order for every cut. Blocks of columns, which the next layer's
  // owners read, measured 0.93x on 784-256-128-10 at 2 threads.
  const WorkSplit rows = owned_epilogue_rows(l, w.cols);
  const OpScope op(profiler_, Op::forward, l, rows.count());
  parallel_->for_each(rows.count(), [&](std::size_t t) {
    const OutputBlock o = rows.block(t);
    const MatrixView zb = z.block(o.row, 0, o.rows, o.cols), ab = a.block(o.row, 0, o.rows, o.cols);
    std::array<ConstMatrixView, kOwnedBlocks - 1> others;
    for (std::size_t k = 1; k < cut.k_blocks; ++k)
      others[k - 1] = partial(k).block(o.row, 0, o.rows, o.cols);
    {
      const CallScope call(op, t, Kernel::sum_bias_activation, o.rows, o.cols, cut.k_blocks - 1,
                           Trans::N, Trans::N, g);
      backend_->sum_bias_activation({others.data(), cut.k_blocks - 1}, bias(l), g, zb, ab);
    }
    if (mask) {
      const CallScope call(op, t, Kernel::dropout_forward, o.rows, o.cols, 0);
      backend_->dropout_forward(mask->at(o.row, 0), ab, out.block(o.row, 0, o.rows, o.cols));
    }
  });
}

void Network::prefetch_next_batch(ConstMatrixView x, std::span<const std::size_t> rows) {
  if (x.cols != architecture_.inputs)
    throw Error("Network::prefetch_next_batch: X is " + shape_string(x) + " but the network takes " +
                std::to_string(architecture_.inputs) + " inputs");
  for (std::size_t i = 0; i < rows.size(); ++i)
    if (rows[i] >= x.rows)
      throw Error("Network::prefetch_next_batch: row " + std::to_string(i) + " of the batch is row " +
                  std::to_string(rows[i]) + " of X, which has " + std::to_string(x.rows));
  next_x_ = x;
  next_rows_ = rows;
}

void Network::check_targets(ConstMatrixView y) const {
  if (batch_ == 0) throw Error("Network: loss or backward called before forward");
  if (y.rows != batch_ || y.cols != architecture_.outputs())
    throw Error("Network: targets Y are " + shape_string(y) + " but the output is " +
                std::to_string(batch_) + "x" + std::to_string(architecture_.outputs()));
  require_finite(y, "Network: targets Y");
  // Outside these ranges each loss is unbounded below: training would only chase -infinity.
  const Loss loss = architecture_.loss;
  if (loss == Loss::mean_squared_error) return;
  const bool probability = loss == Loss::sigmoid_binary_cross_entropy;
  for (std::size_t i = 0; i < y.rows; ++i)
    for (std::size_t j = 0; j < y.cols; ++j)
      if (y(i, j) < 0.0f || (probability && y(i, j) > 1.0f))
        throw Error("Network: target Y(" + std::to_string(i) + ", " + std::to_string(j) + ") is " +
                    std::to_string(y(i, j)) + ", but " + std::string(to_string(loss)) +
                    (probability ? " takes targets in [0, 1]" : " takes targets >= 0"));
}

void Network::correct_softmax_rows(ConstMatrixView y, MatrixView dz, float scale) const {
  // dL/dz_ij = scale (a_ij s_i - y_ij) with s_i = sum_j y_ij. The backend computed
  // scale (a_ij - y_ij), right when s_i = 1 (one-hot rows sum to exactly 1 in any order); the
  // other rows (multi-hot, all zero, unnormalized) are recomputed, so an all-zero row gives 0.
  const ConstMatrixView a = activation(num_layers() - 1);
  for (std::size_t i = 0; i < y.rows; ++i) {
    double sum = 0.0;
    for (std::size_t j = 0; j < y.cols; ++j) sum += y(i, j);
    if (sum == 1.0) continue;
    for (std::size_t j = 0; j < y.cols; ++j)
      dz(i, j) = static_cast<float>(static_cast<double>(scale) * (a(i, j) * sum - y(i, j)));
  }
}

double Network::loss(ConstMatrixView y) const {
  const PhaseScope phase(profiler_, Phase::loss);
  check_targets(y);
  const std::size_t last = num_layers() - 1;
  const OpScope op(profiler_, Op::loss_value);
  const CallScope call(op, 0, Kernel::loss_value, y.rows, y.cols, 0);
  const double mean = loss_value(architecture_.loss, pre_activation(last), activation(last), y);
  return reduction_ == LossReduction::sum ? mean * static_cast<double>(batch_) : mean;
}

void Network::backward(ConstMatrixView y) { backward_into(y, nullptr, batch_, nullptr); }

void Network::backward(ConstMatrixView y, MatrixView input_gradient) {
  backward_into(y, &input_gradient, batch_, nullptr);
}

void Network::backward_share(ConstMatrixView y, std::size_t batch_rows, const GradientsReady& ready) {
  if (batch_rows < batch_)
    throw Error("Network::backward_share: the batch of " + std::to_string(batch_rows) +
                " rows is smaller than the share of " + std::to_string(batch_) + " rows");
  backward_into(y, nullptr, batch_rows, ready ? &ready : nullptr);
}

ConstMatrixView Network::output_gradient() const {
  if (!has_gradients_)
    throw Error("Network::output_gradient: no backward since the last forward");
  return dz_[num_layers() - 1].view().top_rows(batch_);
}

void Network::backward_into(ConstMatrixView y, MatrixView* input_gradient, std::size_t batch_rows,
                            const GradientsReady* ready, float sgd_rate) {
  std::optional<PhaseScope> phase(std::in_place, profiler_, Phase::loss);
  // prefetch_next_batch's hint holds for this backward only, whatever happens in it.
  const ConstMatrixView next_x = next_x_;
  const std::span<const std::size_t> next = next_rows_;
  next_rows_ = {};
  check_targets(y);  // throws before any forward: then there are no panels yet
  const std::size_t input_panels = (architecture_.inputs + input_panel_cols_ - 1) / input_panel_cols_;
  if (input_gradient != nullptr &&
      (input_gradient->rows != batch_ || input_gradient->cols != architecture_.inputs))
    throw Error("Network::backward: the input gradient is " + shape_string(*input_gradient) +
                " but X was " + std::to_string(batch_) + "x" + std::to_string(architecture_.inputs));
  const std::size_t n = batch_;
  const std::size_t last = num_layers() - 1;
  const float scale = reduction_ == LossReduction::sum ? 1.0f : 1.0f / static_cast<float>(batch_rows);
  const std::size_t max_tasks = tasks_for(parallel_->threads(), backend_->block_invariant());
  {
    MatrixView dz = dz_[last].view().top_rows(n);
    const OpScope op(profiler_, Op::output_gradient, last, 1);
    {
      const CallScope call(op, 0, Kernel::loss_gradient, dz.rows, dz.cols, 0);
      backend_->loss_gradient(activation(last), y, scale, dz);
    }
    if (architecture_.loss == Loss::softmax_cross_entropy) correct_softmax_rows(y, dz, scale);
    std::span<float> db{grads_.data() + bias_offset_[last], dz.cols};
    const bool fused = loss_fuses_output_activation(architecture_.loss);
    const CallScope call(op, 0, fused ? Kernel::column_sums : Kernel::dense_backward_activation,
                         dz.rows, dz.cols, 0, Trans::N, Trans::N, architecture_.layers[last].activation);
    if (fused)
      backend_->column_sums(dz, 1.0f, 0.0f, db);
    else  // MSE: dz holds dA; turn it into dZ in place
      backend_->dense_backward_activation(architecture_.layers[last].activation,
                                          pre_activation(last), activation(last), dz, dz, db);
  }
  phase.emplace(profiler_, Phase::backward);
  for (std::size_t l = last + 1; l-- > 0;) {
    const ConstMatrixView dz = dz_[l].view().top_rows(n);
    const ConstMatrixView w = weights(l);
    // dW = A[l-1]^T dZ: every task reduces over the whole batch for its block of dW; an owned
    // W's blocks are those of the forward's tasks. Under a folded SGD step the product is
    // W - rate dW, into W, after dA[l-1] has read the old W.
    const bool fold = sgd_rate > 0.0f;
    const MatrixView dw = fold ? weights(l) : MatrixView{grads_.data() + weight_offset_[l], w.rows, w.cols, w.stride};
    const float dw_alpha = fold ? -sgd_rate : 1.0f, dw_beta = fold ? 1.0f : 0.0f;
    const WeightCut cut = weight_cut(l);
    const WorkSplit dw_split =
        cut.owned() ? cut.split() : split_output(w.rows, w.cols, n, true, true, max_tasks);
    const auto weight_gradient = [&] {
      const OpScope dw_op(profiler_, Op::weight_gradient, l, dw_split.count());
      parallel_->for_each(dw_split.count(), [&](std::size_t t) {
        // Task p of the copy gathers panel p of X, and task p of this product runs on the same
        // thread (oneTBB ran task i of a run on arena slot i in 99.9% of 72,000 tasks measured;
        // a miss costs only the prefetch); its GEMM leaves the memory idle meanwhile.
        if (l == 0 && t < input_panels && !next.empty()) {
          const std::size_t col = t * input_panel_cols_;
          prefetch_rows(next_x.block(0, col, next_x.rows, std::min(next_x.cols - col, input_panel_cols_)), next);
        }
        const OutputBlock o = dw_split.block(t);
        const CallScope call(dw_op, t, Kernel::gemm, o.rows, o.cols, n, Trans::T, Trans::N,
                             Activation::identity, fold);
        backend_->gemm(Trans::T, Trans::N, dw_alpha, layer_input(l, o.row, o.rows),
                       dz.block(0, o.col, n, o.cols), dw_beta, dw.block(o.row, o.col, o.rows, o.cols));
      });
      if (ready != nullptr) (*ready)(layer_gradients(l));  // db[l] was finished with dA[l]
    };
    if (!fold || l == 0) weight_gradient();
    if (l == 0) {
      if (input_gradient != nullptr) {  // dX = dZ[0] W[0]^T, cut as the dA products
        const MatrixView dx = *input_gradient;
        const WorkSplit dx_split = split_output(n, w.rows, w.cols, true, true, max_tasks);
        parallel_->for_each(dx_split.count(), [&](std::size_t t) {
          const OutputBlock o = dx_split.block(t);
          backend_->gemm(Trans::N, Trans::T, 1.0f, dz.block(o.row, 0, o.rows, dz.cols),
                         w.block(o.col, 0, o.cols, w.cols), 0.0f, dx.block(o.row, o.col, o.rows, o.cols));
        });
      }
      break;
    }
    // dA[l-1] = dZ W^T (through layer l-1's dropout mask, if it had one), turned into dZ[l-1] in
    // place, with db[l-1] reduced while it is hot. A block of columns holds every row, so its
    // bias gradient is complete; softmax couples the columns of a row, so it is cut by rows and
    // finished after. (A block: its op ends before a folded step's weight gradient begins.)
    {
      MatrixView da = dz_[l - 1].view().top_rows(n);
      const std::optional<DropoutMask> mask = dropout_mask(l - 1);
      const Activation g = architecture_.layers[l - 1].activation;
      const ConstMatrixView z = pre_activation(l - 1), a = activation(l - 1);
      std::span<float> db{grads_.data() + bias_offset_[l - 1], da.cols};
      const bool row_coupled = g == Activation::softmax;
      // An owned W's row block is read by the task that owns it: dA's columns follow W's rows.
      const bool owned = cut.owned() && !row_coupled;
      const WorkSplit da_split =
          split_output(n, w.rows, w.cols, row_coupled, !row_coupled, max_tasks);
      const std::size_t da_tasks = owned ? cut.count() : da_split.count();
      const OpScope da_op(profiler_, Op::input_gradient, l - 1, da_tasks);
      parallel_->for_each(da_tasks, [&](std::size_t t) {
        const OutputBlock o = owned ? cut.input_gradient_block(t, n) : da_split.block(t);
        if (o.cols == 0) return;
        const MatrixView da_block = da.block(o.row, o.col, o.rows, o.cols);
        {
          const CallScope call(da_op, t, Kernel::gemm, o.rows, o.cols, w.cols, Trans::N, Trans::T);
          backend_->gemm(Trans::N, Trans::T, 1.0f, dz.block(o.row, 0, o.rows, dz.cols),
                         w.block(o.col, 0, o.cols, w.cols), 0.0f, da_block);
        }
        if (mask) {
          const CallScope call(da_op, t, Kernel::dropout_backward, o.rows, o.cols, 0);
          backend_->dropout_backward(mask->at(o.row, o.col), da_block, da_block);
        }
        if (!row_coupled) {  // every row of these columns: their bias gradient is complete
          const CallScope call(da_op, t, Kernel::dense_backward_activation, o.rows, o.cols, 0,
                               Trans::N, Trans::N, g);
          backend_->dense_backward_activation(g, z.block(o.row, o.col, o.rows, o.cols),
                                              a.block(o.row, o.col, o.rows, o.cols), da_block, da_block,
                                              db.subspan(o.col, o.cols));
        }
      });
      if (row_coupled) {
        const CallScope call(da_op, da_tasks, Kernel::dense_backward_activation, n, da.cols, 0,
                             Trans::N, Trans::N, g);
        backend_->dense_backward_activation(g, z, a, da, da, db);
      }
    }
    if (fold) weight_gradient();
  }
  if (sgd_rate > 0.0f) {  // the biases' step, from their gradients (a few hundred values)
    phase.emplace(profiler_, Phase::update);
    const OpScope op(profiler_, Op::update, 1);
    for (std::size_t l = 0; l <= last; ++l) {
      const std::span<float> b = bias(l);
      const CallScope call(op, 0, Kernel::axpy, 1, b.size(), 0);
      backend_->axpy(-sgd_rate, std::span<const float>(grads_.data() + bias_offset_[l], b.size()), b);
    }
  }
  has_gradients_ = true;
}

void Network::backward_with_sgd_step(ConstMatrixView y, float learning_rate) {
  if (!(learning_rate > 0.0f))
    throw std::logic_error("Network::backward_with_sgd_step: the rate must be positive");
  backward_into(y, nullptr, batch_, nullptr, learning_rate);
}

}  // namespace mlpk
