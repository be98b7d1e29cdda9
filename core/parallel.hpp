// Parallel: a oneTBB task arena of a chosen size that runs a fixed number of independent tasks,
// handed to helper loops that the arena runs (parallel.cpp says why not tbb::parallel_for).
//
// The caller decides how work is cut (into tasks whose results do not depend on which thread runs
// them or when), so results are bit-identical for any number of threads; this class only decides
// which thread runs which task. Nothing here allocates after construction, except when a helper
// that stopped for want of work is started again (oneTBB's task).
#pragma once

#include <cstddef>
#include <memory>
#include <type_traits>
#include <utility>

namespace mlpk {

// A non-owning reference to a callable void(std::size_t): no allocation, unlike std::function.
class TaskRef {
 public:
  template <class F>
  TaskRef(F& f)  // NOLINT: binds any callable lvalue
      : object_(static_cast<void*>(&f)), call_([](void* o, std::size_t i) { (*static_cast<F*>(o))(i); }) {}
  void operator()(std::size_t i) const { call_(object_, i); }

 private:
  void* object_;
  void (*call_)(void*, std::size_t);
};

class Parallel {
 public:
  // threads == 0 means the default: MLPK_NUM_THREADS if set, otherwise every core TBB sees.
  explicit Parallel(std::size_t threads = 0);
  ~Parallel();
  Parallel(const Parallel&) = delete;
  Parallel& operator=(const Parallel&) = delete;

  std::size_t threads() const { return threads_; }

  // Runs task(0) ... task(count - 1), in parallel when there are several threads and tasks.
  void run(std::size_t count, TaskRef task);

  template <class F>
  void for_each(std::size_t count, F&& f) {
    run(count, TaskRef(f));
  }

  // Which of its pool's threads is running this: 0 for run()'s caller (and any thread outside a
  // pool), from 1 for a helper. The profiler keeps one record buffer per participant.
  static std::size_t participant();

  // The thread count MLPK_NUM_THREADS asks for, or every core; throws mlpk::Error when the
  // variable is not a positive integer.
  static std::size_t default_threads();

 private:
  struct Crew;
  std::size_t threads_;
  std::unique_ptr<Crew> crew_;
};

}  // namespace mlpk
