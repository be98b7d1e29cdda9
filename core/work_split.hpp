// WorkSplit: how one kernel's output matrix is cut into independent tasks.
//
// Every output element is computed by exactly one task, over the whole reduction dimension. The
// rule that makes results bit-identical for any thread count: the blocks depend on the shapes
// alone, unless the backend computes an element to the same bits in any block (it is
// block-invariant), and then the cut may grow with the thread count (tasks_for).
#pragma once

#include <algorithm>
#include <cstddef>

namespace mlpk {

// Below this many FLOPs a task costs more to schedule than it saves (a TBB task is ~1 us; this is
// ~5 us of GEMM at this machine's speed).
inline constexpr double kMinTaskFlops = 1.0e6;
// The cut of a backend that is not block-invariant, the same for every thread count. More tasks
// balance better but repeat the packing of the operand that is not split and run the GEMM on
// narrower blocks. Measured with `mlpk bench --backend highway` (784-1024-1024-1024-10, batch
// 256): 16 tasks 42.1 ms at 1 thread, 8 tasks 34.7, 4 tasks 33.6, 2 tasks 33.3; at 2 threads
// 4 tasks 16.3 ms. Four keeps two to four cores busy at a small cost to one.
inline constexpr std::size_t kMaxTasks = 4;
// Blocks are multiples of this, so SIMD kernels see full vectors except at the matrix's end.
inline constexpr std::size_t kBlockQuantum = 16;
// The most tasks worth cutting a kernel into on `threads` threads. A block-invariant backend
// (Backend::block_invariant) is cut into one task per thread: every further task repacks the
// shared operand and balances no better (784 rows on 2 threads: 400 + 384 rows, where four tasks
// give one thread 416 and the other 368). Measured on Zen 4, best of 5 interleaved runs of
// BM_TrainStep/highway, one task per thread against at least four: 784-512-256-10 1.09x at 1
// thread and 1.05x at 2, 784-256-128-10 0.95x and 1.06x, 784-1024-1024-1024-10 1.08x and 0.99x.
// For any other backend the cut, and with it every block's shape,
// must be the same for every thread count, or the results would not be.
inline std::size_t tasks_for(std::size_t threads, bool block_invariant) {
  return block_invariant ? std::max<std::size_t>(1, threads) : kMaxTasks;
}

struct OutputBlock {
  std::size_t row, rows, col, cols;
};

// row_tasks x col_tasks blocks (split_output cuts one side, so one of the two is 1); task t is
// block (t / col_tasks, t % col_tasks).
struct WorkSplit {
  std::size_t rows = 0, cols = 0;  // the whole output
  std::size_t row_block = 0, col_block = 0;
  std::size_t row_tasks = 1, col_tasks = 1;

  std::size_t count() const { return row_tasks * col_tasks; }
  OutputBlock block(std::size_t t) const {
    const std::size_t r0 = t / col_tasks * row_block, c0 = t % col_tasks * col_block;
    return {r0, std::min(rows, r0 + row_block) - r0, c0, std::min(cols, c0 + col_block) - c0};
  }
};

// Even blocks of whole quanta covering `extent` in at most `wanted` blocks; returns the block
// size and sets `blocks` to how many it takes (784 in 4: 208, 208, 208, 160).
inline std::size_t even_block(std::size_t extent, std::size_t wanted, std::size_t& blocks) {
  const std::size_t quanta = (extent + kBlockQuantum - 1) / kBlockQuantum;
  const std::size_t tasks = std::clamp<std::size_t>(wanted, 1, std::max<std::size_t>(quanta, 1));
  if (tasks <= 1) {
    blocks = 1;
    return extent;
  }
  const std::size_t block = (quanta + tasks - 1) / tasks * kBlockQuantum;
  blocks = (extent + block - 1) / block;
  return block;
}

// Cuts the rows x cols output of a product over `depth` into at most `max_tasks` blocks (and no
// more than its FLOPs are worth), along one of the allowed sides: the one whose blocks come out
// most even (784 rows make blocks of 208, 208, 208, 160; 512 columns four of 128), the longer one
// on a tie. A grid of blocks cut along both sides (picked by a model of FLOPs plus operand reads
// per block) measured no better on 16 cores: 48.3k against 44.7k samples/s on
// 784-1024-1024-1024-10 at batch 256, 182k against 188k on 784-512-256-10 at batch 128, within
// the runs' noise; so, one side.
inline WorkSplit split_output(std::size_t rows, std::size_t cols, std::size_t depth,
                              bool rows_allowed, bool columns_allowed, std::size_t max_tasks) {
  WorkSplit whole{rows, cols, rows, cols, 1, 1};
  if (!rows_allowed && !columns_allowed) return whole;
  const double flops = 2.0 * static_cast<double>(rows) * static_cast<double>(cols) *
                       static_cast<double>(depth);
  const std::size_t wanted = std::clamp<std::size_t>(static_cast<std::size_t>(flops / kMinTaskFlops),
                                                     1, std::max<std::size_t>(1, max_tasks));
  WorkSplit by_rows = whole, by_columns = whole;
  by_rows.row_block = even_block(rows, wanted, by_rows.row_tasks);
  by_columns.col_block = even_block(cols, wanted, by_columns.col_tasks);
  if (!columns_allowed) return by_rows;
  if (!rows_allowed) return by_columns;
  // The largest block's share of the work: 1/count when every block is equal.
  const double rows_share = static_cast<double>(by_rows.row_block) / static_cast<double>(rows);
  const double cols_share = static_cast<double>(by_columns.col_block) / static_cast<double>(cols);
  if (rows_share != cols_share) return rows_share < cols_share ? by_rows : by_columns;
  return cols >= rows ? by_columns : by_rows;
}

// Owned weights. A large W is cut along its rows (the forward's reduction) into the same blocks
// for every thread count, and each block of W, of dW and of the optimizer's state is read and
// written by one task, the same task (and so the same thread) in the forward, the backward and
// the update. The forward then sums one partial product per block. Other cuts let two threads
// write the lines of one row of W or dW, and one thread write what the other read; on a 2-core
// Zen 5 VM whose cores are far apart (stores to lines the other core holds ran at 7 GB/s, 1 MB
// in 150 us against 27 us for a private axpy over 1 MB; two threads writing the two 512-byte
// halves of 1 KB rows took 9x as long as writing two halves of the rows) owning measured 1.14x,
// 1.12x and 1.04x of the step at 2 threads on 784-256-128-10 (batch 128), 784-512-256-10 (128)
// and 784-1024-1024-1024-10 (256), and 1.00x, 1.00x, 0.98x at 1 thread (the extra sum).
inline constexpr std::size_t kOwnedBlocks = 2;
// Smaller weights are not cut: a partial product costs more than their few lines save.
inline constexpr std::size_t kMinOwnedWeights = std::size_t{1} << 14;
// Each owned block has at least this many rows.
inline constexpr std::size_t kMinOwnedRows = 2 * kBlockQuantum;

// A rows x cols W cut into k_blocks row blocks (1: not owned), each cut into n_blocks column
// blocks; task t is block (t / n_blocks, t % n_blocks), as an OutputBlock of W.
struct WeightCut {
  std::size_t rows = 0, cols = 0;
  std::size_t k_block = 0, n_block = 0;
  std::size_t k_blocks = 1, n_blocks = 1;

  bool owned() const { return k_blocks > 1; }
  std::size_t count() const { return k_blocks * n_blocks; }
  // The blocks of W, and of dW: the same cut as a WorkSplit of the rows x cols output.
  WorkSplit split() const { return {rows, cols, k_block, n_block, k_blocks, n_blocks}; }
  OutputBlock block(std::size_t t) const { return split().block(t); }
  // Task t's block of the rows of W, cut into n_blocks: the columns of dA = dZ W^T it computes
  // (of `batch` rows), with its row block's owner. Empty when the row block has fewer quanta.
  OutputBlock input_gradient_block(std::size_t t, std::size_t batch) const {
    const std::size_t k0 = t / n_blocks * k_block, k1 = std::min(rows, k0 + k_block);
    std::size_t pieces = 0;
    const std::size_t piece = even_block(k1 - k0, n_blocks, pieces);
    const std::size_t c0 = std::min(k1, k0 + t % n_blocks * piece);
    return {0, batch, c0, std::min(k1, c0 + piece) - c0};
  }
};

// The cut of a layer's rows x cols W for a batch of `batch` rows: k_blocks from W's shape alone
// (so the forward's sums are the same for every thread count and batch), n_blocks as many as
// the FLOPs of one row block's product are worth, up to max_tasks tasks in all, on a
// block-invariant backend; on any other, 1 (its cut may not depend on the thread count, and
// the onednn backend measured 1.19x and 1.08x with row blocks alone against each cut in two, on
// 784-256-128-10 at batch 64 and 784-512-256-10 at 128, 2 threads: fewer, larger calls).
inline WeightCut cut_weights(std::size_t rows, std::size_t cols, std::size_t batch,
                             std::size_t max_tasks, bool block_invariant) {
  WeightCut cut{rows, cols, rows, cols, 1, 1};
  if (rows * cols < kMinOwnedWeights || rows < kOwnedBlocks * kMinOwnedRows) return cut;
  cut.k_block = even_block(rows, kOwnedBlocks, cut.k_blocks);
  const double flops = 2.0 * static_cast<double>(batch) * static_cast<double>(cols) *
                       static_cast<double>(cut.k_block);
  const std::size_t wanted = std::clamp<std::size_t>(
      static_cast<std::size_t>(flops / kMinTaskFlops), 1, std::max<std::size_t>(1, max_tasks / cut.k_blocks));
  cut.n_block = even_block(cols, block_invariant ? wanted : 1, cut.n_blocks);
  return cut;
}

// A rows x cols output cut into at most `tasks` even blocks of rows: an element-wise pass.
inline WorkSplit split_rows(std::size_t rows, std::size_t cols, std::size_t tasks) {
  WorkSplit split{rows, cols, rows, cols, 1, 1};
  split.row_block = even_block(rows, tasks, split.row_tasks);
  return split;
}

}  // namespace mlpk
