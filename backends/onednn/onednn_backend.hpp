// Internal hooks of the oneDNN backend for its own test (tests/onednn_test.cpp): not public API,
// never installed, never included by core. They let the test see the backend's primitive cache,
// which the Backend interface deliberately does not expose.
#pragma once

#include <mlpk/backend.hpp>

#include <cstddef>

#define MLPK_ONEDNN_TEST_API __attribute__((visibility("default")))

namespace mlpk::onednn_test {

// How many oneDNN primitives `backend` (which must be an "onednn" backend, else mlpk::Error)
// has created so far. A steady-state call creates none: the count stays put when a kernel is
// called again with the same shapes.
MLPK_ONEDNN_TEST_API std::size_t primitives_created(const Backend& backend);

// How many cache entries (distinct kernel configurations) the backend holds.
MLPK_ONEDNN_TEST_API std::size_t cached_plans(const Backend& backend);

// The most entries the cache keeps: a new configuration then evicts the least recently used.
MLPK_ONEDNN_TEST_API std::size_t max_cached_plans();

}  // namespace mlpk::onednn_test
