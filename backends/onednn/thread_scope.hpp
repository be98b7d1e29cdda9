// Pins the calling thread's OpenMP thread count for one kernel call. Debian's oneDNN runs on
// OpenMP (libgomp) and, in 2.6, asks omp_get_max_threads() of the calling thread; it has no
// set_max_threads of its own for that runtime.
#pragma once

#include <omp.h>

namespace mlpk::onednn {

// Sets the calling thread's OpenMP thread count to `threads` (when > 0 and different) for the
// scope's lifetime, then restores the previous one, so the caller's own OpenMP setting survives.
class ThreadScope {
 public:
  explicit ThreadScope(int threads) : previous_(threads > 0 ? omp_get_max_threads() : 0) {
    if (threads > 0 && threads != previous_)
      omp_set_num_threads(threads);
    else
      previous_ = 0;
  }
  ~ThreadScope() {
    if (previous_ > 0) omp_set_num_threads(previous_);
  }
  ThreadScope(const ThreadScope&) = delete;
  ThreadScope& operator=(const ThreadScope&) = delete;

 private:
  int previous_;  // the count to restore; 0: nothing was changed
};

}  // namespace mlpk::onednn
