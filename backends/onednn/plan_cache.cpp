#include "plan_cache.hpp"

#include <mlpk/error.hpp>

#include <omp.h>

#include <algorithm>

namespace mlpk::onednn {

std::size_t KeyHash::operator()(const Key& key) const noexcept {
  std::uint64_t h = 1469598103934665603ull;  // FNV-1a over the 64-bit words
  for (std::int64_t v : key) {
    h ^= static_cast<std::uint64_t>(v);
    h *= 1099511628211ull;
  }
  return static_cast<std::size_t>(h);
}

Key make_key(std::initializer_list<std::int64_t> parts) {
  Key k{};
  if (parts.size() >= k.size()) throw Error("onednn: internal error: cache key too long");
  std::copy(parts.begin(), parts.end(), k.begin());
  k.back() = omp_get_max_threads();
  return k;
}

std::size_t PlanCache::plans() const {
  std::lock_guard lock(mutex_);
  return plans_.size();
}

// A linear scan: it runs only before a build, which costs far more (primitive creation).
void PlanCache::evict_least_recently_used() {
  auto oldest = plans_.begin();
  for (auto it = plans_.begin(); it != plans_.end(); ++it)
    if (it->second.last_used < oldest->second.last_used) oldest = it;
  plans_.erase(oldest);
}

}  // namespace mlpk::onednn
