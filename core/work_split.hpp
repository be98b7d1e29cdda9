// WorkSplit: how one kernel's output matrix is cut into independent tasks.
//
// Every output element is computed by exactly one task, over the whole reduction dimension, by a
// kernel whose arithmetic for that element does not depend on the block around it: so results are
// bit-identical however the output is cut, and the cut may grow with the thread count.
#pragma once

#include <algorithm>
#include <cstddef>

namespace mlpk {

struct WorkSplit {
  std::size_t count = 1;       // tasks
  std::size_t block = 0;       // rows or columns per task (the last may have fewer)
  bool by_columns = false;

  // Rows [begin, end) or columns of task t.
  std::size_t begin(std::size_t t) const { return t * block; }
  std::size_t end(std::size_t t, std::size_t extent) const { return std::min(extent, (t + 1) * block); }
};

// Below this many FLOPs a task costs more to schedule than it saves (a TBB task is ~1 us; this is
// ~5 us of GEMM at this machine's speed).
inline constexpr double kMinTaskFlops = 1.0e6;
// More tasks balance better but repeat the packing of the operand that is not split and run the
// GEMM on narrower blocks. Measured with `mlpk bench --backend highway` (784-1024-1024-1024-10,
// batch 256): 16 tasks 42.1 ms at 1 thread, 8 tasks 34.7, 4 tasks 33.6, 2 tasks 33.3; at 2 threads
// 4 tasks 16.3 ms. Four keeps two to four cores busy at almost no cost to one; beyond four
// threads, one task per thread (see tasks_for).
inline constexpr std::size_t kMaxTasks = 4;
// Blocks are multiples of this, so SIMD kernels see full vectors except at the matrix's end.
inline constexpr std::size_t kBlockQuantum = 16;

// Cuts `extent` into at most `wanted` blocks that are multiples of kBlockQuantum.
inline WorkSplit split_extent(std::size_t extent, std::size_t wanted, bool by_columns) {
  WorkSplit s;
  s.by_columns = by_columns;
  s.block = extent;
  const std::size_t quanta = (extent + kBlockQuantum - 1) / kBlockQuantum;
  const std::size_t tasks = std::min(wanted, quanta);
  if (tasks <= 1) return s;
  s.block = (quanta + tasks - 1) / tasks * kBlockQuantum;
  s.count = (extent + s.block - 1) / s.block;
  return s;
}

// The most tasks worth cutting a kernel into on `threads` threads.
inline std::size_t tasks_for(std::size_t threads) { return std::max(kMaxTasks, threads); }

// Splits a rows x cols output whose computation costs `flops` into at most `max_tasks` tasks. Of the allowed sides, the one whose
// blocks come out most even is cut (784 rows make blocks of 208, 208, 208, 160; 512 columns four
// of 128), the longer one on a tie.
inline WorkSplit split_output(std::size_t rows, std::size_t cols, double flops, bool rows_allowed,
                              bool columns_allowed, std::size_t max_tasks) {
  if (!rows_allowed && !columns_allowed) return {1, rows, false};
  const std::size_t wanted = std::clamp<std::size_t>(static_cast<std::size_t>(flops / kMinTaskFlops),
                                                     1, std::max<std::size_t>(1, max_tasks));
  const WorkSplit by_rows = split_extent(rows, wanted, false);
  const WorkSplit by_columns = split_extent(cols, wanted, true);
  if (!columns_allowed) return by_rows;
  if (!rows_allowed) return by_columns;
  // The largest block's share of the work: 1/count when every block is equal.
  const double rows_share = static_cast<double>(by_rows.block) / static_cast<double>(rows);
  const double cols_share = static_cast<double>(by_columns.block) / static_cast<double>(cols);
  if (rows_share != cols_share) return rows_share < cols_share ? by_rows : by_columns;
  return cols >= rows ? by_columns : by_rows;
}

}  // namespace mlpk
