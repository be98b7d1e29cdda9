#include "parallel.hpp"

#include <mlpk/error.hpp>
#include <mlpk/network.hpp>

#include <oneapi/tbb/info.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/task_arena.h>

#include <cstdlib>
#include <string>

namespace mlpk {

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
  arena_->arena.execute([&] {
    tbb::parallel_for(std::size_t{0}, count, [&](std::size_t i) { task(i); },
                      tbb::simple_partitioner());
  });
}

}  // namespace mlpk
