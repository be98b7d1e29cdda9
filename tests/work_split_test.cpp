// How the Network cuts a kernel's output into tasks: every element in exactly one block, blocks
// in whole SIMD quanta, no more tasks than the work or the threads are worth.
#include "work_split.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace mlpk {
namespace {

// Counts how many blocks of `s` cover each element of its output.
std::vector<int> coverage(const WorkSplit& s) {
  std::vector<int> hits(s.rows * s.cols, 0);
  for (std::size_t t = 0; t < s.count(); ++t) {
    const OutputBlock o = s.block(t);
    for (std::size_t i = o.row; i < o.row + o.rows; ++i)
      for (std::size_t j = o.col; j < o.col + o.cols; ++j) ++hits[i * s.cols + j];
  }
  return hits;
}

TEST(WorkSplit, CoversEveryElementOnceInWholeQuanta) {
  for (std::size_t rows : {1, 10, 16, 17, 128, 256, 784})
    for (std::size_t cols : {1, 10, 48, 100, 512, 1024})
      for (std::size_t depth : {3, 256, 1024})
        for (std::size_t max_tasks : {1, 4, 16})
          for (auto [by_rows, by_cols] : {std::pair{true, true}, {true, false}, {false, true}}) {
            SCOPED_TRACE(testing::Message() << rows << "x" << cols << "x" << depth << " tasks "
                                            << max_tasks << " rows " << by_rows << " cols " << by_cols);
            const WorkSplit s = split_output(rows, cols, depth, by_rows, by_cols, max_tasks);
            ASSERT_GE(s.count(), 1u);
            EXPECT_LE(s.count(), max_tasks);
            EXPECT_LE(s.count(), std::max(1.0, 2.0 * rows * cols * depth / kMinTaskFlops));
            if (!by_rows) { EXPECT_EQ(s.row_tasks, 1u); }
            if (!by_cols) { EXPECT_EQ(s.col_tasks, 1u); }
            if (s.row_tasks > 1) { EXPECT_EQ(s.row_block % kBlockQuantum, 0u); }
            if (s.col_tasks > 1) { EXPECT_EQ(s.col_block % kBlockQuantum, 0u); }
            for (int h : coverage(s)) ASSERT_EQ(h, 1);
            for (std::size_t t = 0; t < s.count(); ++t) {
              EXPECT_GT(s.block(t).rows, 0u);
              EXPECT_GT(s.block(t).cols, 0u);
            }
          }
}

TEST(WorkSplit, SmallProductsStayWhole) {
  EXPECT_EQ(split_output(32, 4, 3, true, true, 16).count(), 1u);     // 768 FLOPs
  EXPECT_EQ(split_output(64, 64, 64, true, true, 16).count(), 1u);   // 0.5 MFLOPs
}

TEST(WorkSplit, FourTasksCutTheLongSideEvenly) {
  // The forward product of a 1024-wide layer at batch 256: four column blocks of 256.
  const WorkSplit wide = split_output(256, 1024, 1024, true, true, 4);
  EXPECT_EQ(wide.row_tasks, 1u);
  EXPECT_EQ(wide.col_tasks, 4u);
  EXPECT_EQ(wide.col_block, 256u);
  // dW of 784 -> 512 at batch 128: columns (4 x 128) beat rows (208, 208, 208, 160).
  const WorkSplit dw = split_output(784, 512, 128, true, true, 4);
  EXPECT_EQ(dw.col_tasks, 4u);
  EXPECT_EQ(dw.col_block, 128u);
  // Softmax layers are cut by rows only: 256 rows in four blocks of 64.
  const WorkSplit softmax = split_output(256, 1024, 1024, true, false, 4);
  EXPECT_EQ(softmax.row_tasks, 4u);
  EXPECT_EQ(softmax.row_block, 64u);
  EXPECT_EQ(softmax.col_tasks, 1u);
}

TEST(WorkSplit, OneTaskPerThreadOnBlockInvariantBackends) {
  EXPECT_EQ(tasks_for(0, true), 1u);
  EXPECT_EQ(tasks_for(1, true), 1u);
  EXPECT_EQ(tasks_for(2, true), 2u);
  EXPECT_EQ(tasks_for(16, true), 16u);
  const WorkSplit s = split_output(256, 1024, 1024, true, true, tasks_for(16, true));
  EXPECT_EQ(s.count(), 16u);
  EXPECT_EQ(s.col_block, 64u);
}

TEST(WorkSplit, TheCutOfOtherBackendsIgnoresTheThreadCount) {
  for (std::size_t threads : {1, 2, 3, 8, 16, 64}) EXPECT_EQ(tasks_for(threads, false), kMaxTasks);
}

}  // namespace
}  // namespace mlpk
