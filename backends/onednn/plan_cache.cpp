#include "plan_cache.hpp"

namespace mlpk::onednn {

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
