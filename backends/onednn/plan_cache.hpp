// The backend's cache of plans: one per kernel configuration, looked up by a key of fixed size
// (so a lookup allocates nothing), at most kMaxPlans of them, the least recently used evicted.
#pragma once

#include "plan.hpp"

#include <mlpk/error.hpp>

#include <oneapi/dnnl/dnnl.hpp>
#include <omp.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace mlpk::onednn {

// A kernel configuration: the kernel's id and its parameters, unused words zero, and in the last
// word the OpenMP thread count the primitives are made for (oneDNN sizes a primitive's work split
// and scratchpad at creation from omp_get_max_threads()). The hash and make_key are inline: both
// run on every call.
using Key = std::array<std::int64_t, 12>;
struct KeyHash {
  std::size_t operator()(const Key& key) const noexcept {
    std::uint64_t h = 1469598103934665603ull;  // FNV-1a over the 64-bit words
    for (std::int64_t v : key) {
      h ^= static_cast<std::uint64_t>(v);
      h *= 1099511628211ull;
    }
    return static_cast<std::size_t>(h);
  }
};

// The key of `parts` (at most 11 words) on the calling thread's OpenMP thread count.
inline Key make_key(std::initializer_list<std::int64_t> parts) {
  Key k{};
  if (parts.size() >= k.size()) throw Error("onednn: internal error: cache key too long");
  std::copy(parts.begin(), parts.end(), k.begin());
  k.back() = omp_get_max_threads();
  return k;
}

// At most kMaxPlans plans; a new one evicts the least recently used. The keys hold the batch
// size, so a caller that varies it (an evaluation's last partial batch, a server's requests)
// would otherwise grow the cache without end. Training with a full and a last partial batch
// used 20 plans (784-512-256-10) and 23 (784-1024-1024-1024-10), measured on 2 cores; the
// Network's blocks of a product come in a few shapes, so more threads add a few dozen at most.
// 256 keeps every steady-state step's plans; a plan is a few primitives and its bindings.
inline constexpr std::size_t kMaxPlans = 256;

class PlanCache {
 public:
  explicit PlanCache(const dnnl::engine& engine) : engine_(engine) {}

  // The plan for `key`, built by `build(Plan&)` on a new plan (under the lock: a first call may
  // wait for another thread's build of the same plan rather than build it twice). Shared: a plan
  // evicted while another thread executes it lives until that thread lets go of it.
  template <class Build>
  std::shared_ptr<Plan> get(const Key& key, Build&& build) {
    std::lock_guard lock(mutex_);
    auto it = plans_.find(key);
    if (it == plans_.end()) {
      auto plan = std::make_shared<Plan>(engine_);
      build(*plan);
      primitives_created_ += plan->steps();
      if (plans_.size() >= kMaxPlans) evict_least_recently_used();
      it = plans_.emplace(key, Entry{std::move(plan), 0}).first;
    }
    it->second.last_used = ++clock_;
    return it->second.plan;
  }

  const dnnl::engine& engine() const { return engine_; }
  // How many primitives the plans built so far hold (evicted ones included).
  std::size_t primitives_created() const { return primitives_created_.load(); }
  // How many plans the cache holds now.
  std::size_t plans() const;

 private:
  void evict_least_recently_used();  // under mutex_

  struct Entry {
    std::shared_ptr<Plan> plan;
    std::uint64_t last_used;  // clock_ at the last get
  };

  dnnl::engine engine_;
  mutable std::mutex mutex_;
  std::unordered_map<Key, Entry, KeyHash> plans_;  // guarded by mutex_
  std::uint64_t clock_ = 0;                        // guarded by mutex_
  std::atomic<std::size_t> primitives_created_{0};
};

}  // namespace mlpk::onednn
