#include "parallel.hpp"

#include <mlpk/error.hpp>
#include <mlpk/network.hpp>

#include <oneapi/tbb/info.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/task_arena.h>

#include <atomic>
#include <cstdlib>
#include <string>

// ThreadSanitizer builds (scripts/sanitize.sh thread): Debian's oneTBB library is not
// instrumented, so TSan cannot see the two orderings tbb::parallel_for guarantees and our callers
// rely on: a task starts after run() was called, and every task has finished when run() returns.
// ForkJoinEdges states them with atomics TSan sees; in every other build it is empty.
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MLPK_THREAD_SANITIZER 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define MLPK_THREAD_SANITIZER 1
#endif

namespace mlpk {
namespace {

#ifdef MLPK_THREAD_SANITIZER
// Global, not one per run(): a worker must not read anything of the caller's stack (where a run's
// task body lives) before its acquire. Runs of unrelated pools share the edges, which hides no
// race of one run.
class ForkJoinEdges {
 public:
  static void fork() { fork_.fetch_add(1, std::memory_order_release); }
  static void task_starts() { static_cast<void>(fork_.load(std::memory_order_acquire)); }
  static void task_ends() { join_.fetch_add(1, std::memory_order_release); }
  static void join() { static_cast<void>(join_.load(std::memory_order_acquire)); }

 private:
  static inline std::atomic<int> fork_{0}, join_{0};
};
#else
struct ForkJoinEdges {
  static void fork() {}
  static void task_starts() {}
  static void task_ends() {}
  static void join() {}
};
#endif

}  // namespace

struct Parallel::Arena {
  explicit Arena(int threads) : arena(threads) {}
  tbb::task_arena arena;
};

std::size_t Parallel::default_threads() {
  if (const char* env = std::getenv("MLPK_NUM_THREADS"); env != nullptr && *env != '\0') {
    char* end = nullptr;
    const long value = std::strtol(env, &end, 10);
    if (*end != '\0' || value <= 0 || value > static_cast<long>(kMaxThreads))
      throw Error(std::string("MLPK_NUM_THREADS must be a positive integer, not '") + env + "'");
    return static_cast<std::size_t>(value);
  }
  return static_cast<std::size_t>(std::max(1, tbb::info::default_concurrency()));
}

std::size_t default_thread_count() { return Parallel::default_threads(); }

Parallel::Parallel(std::size_t threads) : threads_(threads == 0 ? default_threads() : threads) {
  if (threads_ > kMaxThreads)
    throw Error("thread count " + std::to_string(threads_) + " is more than the " +
                std::to_string(kMaxThreads) + " mlpk runs on");
  if (threads_ > 1) arena_ = std::make_unique<Arena>(static_cast<int>(threads_));
}

Parallel::~Parallel() = default;

void Parallel::run(std::size_t count, TaskRef task) {
  if (count == 0) return;
  if (!arena_ || count == 1) {
    for (std::size_t i = 0; i < count; ++i) task(i);
    return;
  }
  // The body is written before the fork edge; a worker reads it only after its acquire.
  const auto body = [&task](std::size_t i) {
    ForkJoinEdges::task_starts();
    task(i);
    ForkJoinEdges::task_ends();
  };
  ForkJoinEdges::fork();
  arena_->arena.execute(
      [&] { tbb::parallel_for(std::size_t{0}, count, body, tbb::simple_partitioner()); });
  ForkJoinEdges::join();
}

}  // namespace mlpk
