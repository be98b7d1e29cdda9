#include "parallel.hpp"

#include <mlpk/error.hpp>
#include <mlpk/network.hpp>

#include <oneapi/tbb/info.h>
#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_group.h>

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace mlpk {
namespace {

// Apart from the lines next to it too (the adjacent-line prefetcher fetches pairs).
constexpr std::size_t kApart = 128;

void relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#else
  std::this_thread::yield();
#endif
}

// A claim word: the job's generation, the next unclaimed place in one participant's list of
// tasks, and the list's length. A claim is a compare-and-swap of the whole word, so a helper
// still holding an earlier job's generation claims nothing of a later job.
constexpr std::uint64_t claim_word(std::uint32_t generation, std::uint64_t next, std::uint64_t length) {
  return std::uint64_t{generation} << 32 | next << 16 | length;
}
constexpr std::uint64_t kMaxListLength = 0xffff;

thread_local std::size_t this_participant = 0;

// fork() copies only the thread that calls it: in the child a helper that was running is gone,
// and its pool would wait for it forever. Children count their forks here (one handler for the
// process); a pool made before the last fork runs every task on its caller from then on, and is
// left unfreed rather than waited for when it is destroyed.
std::atomic<unsigned> forks{0};
unsigned forks_so_far() {
  static const int registered = pthread_atfork(nullptr, nullptr, [] { forks.fetch_add(1); });
  static_cast<void>(registered);
  return forks.load(std::memory_order_relaxed);
}

struct alignas(kApart) Padded {
  std::atomic<std::uint64_t> value{0};
};

}  // namespace

// The threads beyond the caller's. oneTBB's fork and join of one run cost 3-5 us on a 2-core
// Zen 5 VM against 0.75 us for a handshake through two cache lines (two tasks of 2-10 us each,
// 20,000 runs, medians), and a training step of 784-256-128-10 runs about 14 of them. So each
// extra thread is a helper: a loop that oneTBB runs as one task of this arena and that waits for
// jobs by spinning on `generation`; it ends, giving the worker back to oneTBB, after kIdleLimit
// without a job, and run() starts it again when it is next needed.
//
// A job: participant p (the caller is 0, helper h is h) runs tasks p, p + threads, p + 2 threads,
// ... (task t always runs on the same participant, so each owned block stays in one core's
// cache), then claims what is left in the others' lists, so that a helper that is not running
// (not started yet, or stopped) costs time but never blocks a run.
struct Parallel::Crew {
  // Within a training step jobs come microseconds apart: a helper spins for them. After
  // kYieldAfter without one it yields the core between looks (to a oneDNN OpenMP thread, say),
  // and after kIdleLimit it ends.
  static constexpr std::chrono::microseconds kYieldAfter{50};
  static constexpr std::chrono::microseconds kIdleLimit{2000};

  explicit Crew(std::size_t threads)
      : threads(threads), arena(static_cast<int>(threads)), lists(threads), helpers(threads) {}

  bool forked() const { return forks_so_far() != born; }

  const std::size_t threads;
  const unsigned born = forks_so_far();
  tbb::task_arena arena;
  tbb::task_group group;  // the helper loops

  // The job, published by the release store to `generation`.
  alignas(kApart) std::atomic<std::uint32_t> generation{0};
  std::atomic<const TaskRef*> task{nullptr};
  alignas(kApart) std::atomic<std::size_t> finished{0};
  std::vector<Padded> lists;  // claim words, one per participant
  std::atomic<bool> failed{false};
  std::exception_ptr error;  // the first task's exception, written by the one that set `failed`
  std::atomic<bool> stopping{false};

  enum State : int { absent, queued, running };
  struct alignas(kApart) Helper {
    std::atomic<int> state{absent};
    std::uint32_t served = 0;  // the last generation it ran; only its loop reads or writes it
  };
  std::vector<Helper> helpers;  // [0] unused: the caller

  // Claims and runs the next task of participant q's list of job g; false when none is left.
  bool run_one(std::uint32_t g, std::size_t q) {
    std::uint64_t word = lists[q].value.load(std::memory_order_relaxed);
    for (;;) {
      if (word >> 32 != g) return false;
      const std::uint64_t next = word >> 16 & 0xffff, length = word & 0xffff;
      if (next >= length) return false;
      if (lists[q].value.compare_exchange_weak(word, claim_word(g, next + 1, length),
                                               std::memory_order_acq_rel, std::memory_order_relaxed)) {
        // The claim means job g is still running (it waits for this task): `task` is its own.
        const TaskRef& body = *task.load(std::memory_order_acquire);
        try {
          body(q + next * threads);
        } catch (...) {
          if (!failed.exchange(true, std::memory_order_acq_rel)) error = std::current_exception();
        }
        finished.fetch_add(1, std::memory_order_release);
        return true;
      }
    }
  }

  // Participant p's part of job g: its own list, then the others'.
  void serve(std::uint32_t g, std::size_t p) {
    for (std::size_t i = 0; i < threads; ++i) {
      const std::size_t q = (p + i) % threads;
      while (run_one(g, q)) {
      }
    }
  }

  void helper_loop(std::size_t h) {
    // Acquiring what run() published before it started this loop orders it after that run, and
    // after the loop of h that ran before (run() saw it absent first).
    static_cast<void>(generation.load(std::memory_order_acquire));
    Helper& self = helpers[h];
    this_participant = h;
    self.state.store(running, std::memory_order_release);
    auto last_job = std::chrono::steady_clock::now();
    bool yielding = false;
    for (unsigned spins = 0;; ++spins) {
      const std::uint32_t g = generation.load(std::memory_order_acquire);
      if (g != self.served) {
        self.served = g;
        serve(g, h);
        last_job = std::chrono::steady_clock::now();
        yielding = false;
        continue;
      }
      if (stopping.load(std::memory_order_acquire)) break;
      if (spins % 64 == 0) {
        const auto idle = std::chrono::steady_clock::now() - last_job;
        if (idle > kIdleLimit) break;
        yielding = idle > kYieldAfter;
      }
      if (yielding)
        std::this_thread::yield();
      else
        relax();
    }
    this_participant = 0;
    // A job published after this point is served by the caller (and run() starts this loop again).
    self.state.store(absent, std::memory_order_release);
  }

  void run(std::size_t n, const TaskRef& body) {
    if ((n + threads - 1) / threads > kMaxListLength)
      throw std::logic_error("Parallel::run: more tasks than a list holds");
    const std::uint32_t g = generation.load(std::memory_order_relaxed) + 1;
    for (std::size_t p = 0; p < threads; ++p)
      lists[p].value.store(claim_word(g, 0, n > p ? (n - p + threads - 1) / threads : 0),
                           std::memory_order_relaxed);
    task.store(&body, std::memory_order_relaxed);
    finished.store(0, std::memory_order_relaxed);
    generation.store(g, std::memory_order_release);
    // Helpers that stopped (or never started) start again; this run goes on without waiting.
    for (std::size_t h = 1; h < threads && h < n; ++h) {
      if (helpers[h].state.load(std::memory_order_acquire) != absent) continue;
      helpers[h].state.store(queued, std::memory_order_relaxed);
      try {
        arena.execute([&] { group.run([this, h] { helper_loop(h); }); });
      } catch (...) {  // no helper then (oneTBB could not queue it): the caller runs its tasks
        helpers[h].state.store(absent, std::memory_order_relaxed);
      }
    }
    serve(g, 0);
    while (finished.load(std::memory_order_acquire) < n) relax();
    if (failed.load(std::memory_order_acquire)) {
      failed.store(false, std::memory_order_relaxed);
      std::rethrow_exception(std::exchange(error, nullptr));
    }
  }

  ~Crew() {
    stopping.store(true, std::memory_order_release);
    arena.execute([&] { group.wait(); });  // runs queued loops here, if no worker took them
    // Each loop's last write is its state: acquiring it orders the loop before the frees below
    // (oneTBB's wait orders them too, in code ThreadSanitizer does not see).
    for (std::size_t h = 1; h < threads; ++h)
      while (helpers[h].state.load(std::memory_order_acquire) != absent) relax();
  }
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

std::size_t Parallel::participant() { return this_participant; }

Parallel::Parallel(std::size_t threads) : threads_(threads == 0 ? default_threads() : threads) {
  if (threads_ > kMaxThreads)
    throw Error("thread count " + std::to_string(threads_) + " is more than the " +
                std::to_string(kMaxThreads) + " mlpk runs on");
  if (threads_ > 1) crew_ = std::make_unique<Crew>(threads_);
}

Parallel::~Parallel() {
  if (crew_ && crew_->forked()) static_cast<void>(crew_.release());  // see forks_so_far()
}

void Parallel::run(std::size_t count, TaskRef task) {
  if (count == 0) return;
  if (!crew_ || count == 1 || crew_->forked()) {
    for (std::size_t i = 0; i < count; ++i) task(i);
    return;
  }
  crew_->run(count, task);
}

}  // namespace mlpk
