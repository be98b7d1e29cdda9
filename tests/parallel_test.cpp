// Parallel (core/parallel.hpp): every task runs exactly once, its writes are seen by the caller
// when run() returns, a task's exception reaches the caller, and nothing blocks when its helper
// loops stop for want of work, are not started yet, compete with another pool's, or were left
// behind by fork().
#include "parallel.hpp"

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

namespace {

using mlpk::Parallel;

// Runs `count` tasks and returns how many times each ran.
std::vector<int> run_counts(Parallel& pool, std::size_t count) {
  std::vector<std::atomic<int>> runs(count);
  pool.for_each(count, [&](std::size_t i) { runs[i].fetch_add(1, std::memory_order_relaxed); });
  std::vector<int> out;
  for (const auto& r : runs) out.push_back(r.load(std::memory_order_relaxed));
  return out;
}

TEST(Parallel, RunsEveryTaskExactlyOnce) {
  for (std::size_t threads : {1, 2, 3, 4, 8}) {
    Parallel pool(threads);
    for (std::size_t count : {0, 1, 2, 3, 5, 17, 100}) {
      const std::vector<int> runs = run_counts(pool, count);
      for (std::size_t i = 0; i < count; ++i)
        EXPECT_EQ(runs[i], 1) << "task " << i << " of " << count << " on " << threads << " threads";
    }
  }
}

TEST(Parallel, TheCallerSeesEveryTasksWritesWhenRunReturns) {
  Parallel pool(2);
  std::vector<std::size_t> out(2);  // plain memory: the hand-off must order it
  for (std::size_t round = 1; round <= 20000; ++round) {
    pool.for_each(2, [&](std::size_t i) {
      // A few microseconds of work, so that the helper takes task 1 rather than the caller both.
      volatile std::size_t sink = 0;
      for (std::size_t k = 0; k < 2000; ++k) sink = sink + k;
      out[i] = round * 2 + i;
    });
    ASSERT_EQ(out[0], round * 2);
    ASSERT_EQ(out[1], round * 2 + 1);
  }
}

TEST(Parallel, ATasksExceptionReachesTheCallerAndThePoolGoesOn) {
  Parallel pool(2);
  for (std::size_t thrower : {0, 1, 3}) {
    std::atomic<int> ran{0};
    try {
      pool.for_each(4, [&](std::size_t i) {
        ran.fetch_add(1);
        if (i == thrower) throw std::runtime_error("task " + std::to_string(i) + " failed");
      });
      ADD_FAILURE() << "no exception from task " << thrower;
    } catch (const std::runtime_error& e) {
      EXPECT_EQ(std::string(e.what()), "task " + std::to_string(thrower) + " failed");
    }
    EXPECT_EQ(ran.load(), 4);  // the other tasks still ran: run() returned after all of them
    const std::vector<int> runs = run_counts(pool, 4);
    EXPECT_EQ(runs, std::vector<int>(4, 1));
  }
}

TEST(Parallel, GoesOnAfterItsHelpersStopForWantOfWork) {
  Parallel pool(2);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(run_counts(pool, 2), std::vector<int>(2, 1));
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // longer than a helper waits
  }
}

TEST(Parallel, TwoPoolsTakingTurnsNeverBlockEachOther) {
  // Each pool's helper may hold the machine's only oneTBB worker while the other runs: the other
  // then runs its tasks on the caller.
  Parallel a(2), b(2);
  for (int i = 0; i < 2000; ++i) {
    ASSERT_EQ(run_counts(i % 2 ? a : b, 3), std::vector<int>(3, 1));
  }
}

TEST(Parallel, DestroyedRightAfterARun) {
  // Its helper is then often queued but not started: destruction must wait for it, not free it.
  for (int i = 0; i < 200; ++i) {
    Parallel pool(4);
    ASSERT_EQ(run_counts(pool, 4), std::vector<int>(4, 1));
  }
}

TEST(Parallel, AChildForkedRightAfterARunRunsAndDestroysThePoolAlone) {
  // fork() right after a run, while the helper still spins: the child has no helper thread. It
  // must run its tasks on its own and destroy the pool without waiting for one.
  for (int i = 0; i < 5; ++i) {
    auto pool = std::make_unique<Parallel>(2);
    ASSERT_EQ(run_counts(*pool, 2), std::vector<int>(2, 1));
    const pid_t child = fork();
    ASSERT_NE(child, -1);
    if (child == 0) {
      const bool ok = run_counts(*pool, 4) == std::vector<int>(4, 1);
      pool.reset();
      _exit(ok ? 0 : 1);
    }
    int status = 0;
    pid_t done = 0;
    for (int waited_ms = 0; done == 0 && waited_ms < 20000; waited_ms += 10) {
      done = waitpid(child, &status, WNOHANG);
      if (done == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (done == 0) {
      kill(child, SIGKILL);
      waitpid(child, &status, 0);
      FAIL() << "the forked child hung for 20 s";
    }
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "the child's tasks did not each run once";
  }
}

}  // namespace
