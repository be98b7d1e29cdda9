// The steady-state training step allocates nothing: every global operator new is counted, and
// after a warm-up step a whole step (forward, loss, backward, update) must not call it, on every
// backend and thread count. A backend that says it allocates inside its kernels (oneDNN's
// execute does) must at least not allocate more from step to step: no growth, no setup. The same
// holds with a Profiler attached: its records go into storage reserved when it is attached.
#include "test_support.hpp"

#include <atomic>
#include <cstdlib>
#include <new>
#include <vector>

// These operators are the program's only allocator, so malloc/free behind new/delete match; GCC
// cannot see that through the replacement and warns.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace {
std::atomic<std::size_t> allocations{0};
}

void* operator new(std::size_t size) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) { return operator new(size); }
void* operator new(std::size_t size, std::align_val_t align) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  const std::size_t a = static_cast<std::size_t>(align);
  if (void* p = std::aligned_alloc(a, (size + a - 1) / a * a)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size, std::align_val_t align) { return operator new(size, align); }
// The nothrow forms too (std::stable_sort's temporary buffer uses them): otherwise they come from
// the C++ runtime (or AddressSanitizer's), are not counted, and are freed by our delete.
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(size == 0 ? 1 : size);
}
void* operator new[](std::size_t size, const std::nothrow_t& tag) noexcept {
  return operator new(size, tag);
}
void* operator new(std::size_t size, std::align_val_t align, const std::nothrow_t&) noexcept {
  allocations.fetch_add(1, std::memory_order_relaxed);
  const std::size_t a = static_cast<std::size_t>(align);
  return std::aligned_alloc(a, (size + a - 1) / a * a);
}
void* operator new[](std::size_t size, std::align_val_t align, const std::nothrow_t& tag) noexcept {
  return operator new(size, align, tag);
}
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

namespace mlpk::test {
namespace {

class Allocation : public testing::TestWithParam<std::string> {};

TEST_P(Allocation, SteadyStateStepAllocatesNothing) {
  for (const bool profiled : {false, true})
  for (std::size_t threads : {1, 2}) {
    SCOPED_TRACE(std::to_string(threads) + " threads" + (profiled ? ", profiled" : ""));
    Network net(Architecture::parse("200-128-64-10", Activation::relu, Loss::softmax_cross_entropy),
                create_backend(GetParam()));
    net.set_threads(threads);
    Profiler profiler;
    if (profiled) net.set_profiler(&profiler);
    GuardedMatrix x(64, 200), y(64, 10);
    x.fill(1);
    for (std::size_t i = 0; i < 64; ++i) y.at(i, i % 10) = 1.0f;
    Sgd sgd(0.01f);
    for (int warm_up = 0; warm_up < 3; ++warm_up) train_batch(net, sgd, x.view(), y.view());
    std::vector<std::size_t> per_step;
    per_step.reserve(5);
    for (int step = 0; step < 5; ++step) {
      const std::size_t before = allocations.load();
      train_batch(net, sgd, x.view(), y.view());
      per_step.push_back(allocations.load() - before);
    }
    if (profiled) {
      EXPECT_EQ(profiler.steps().size(), 8u);
      EXPECT_EQ(profiler.dropped(), 0u);
    }
    if (net.backend().allocation_free()) {
      EXPECT_EQ(per_step, std::vector<std::size_t>(5, 0)) << "heap allocations in steady-state steps";
    } else {
      // Thread timing may make such a library allocate a little more on one step than another
      // (a second concurrent lease of a cached plan); a leak or a per-step setup would grow.
      for (std::size_t count : per_step)
        EXPECT_LE(count, 2 * per_step.front() + 16)
            << "a backend that allocates per call must not allocate more from step to step";
    }
  }
}

// backward with an input gradient, on target rows that take softmax-CE's corrected gradient
// (multi-hot, all zero), allocates nothing either.
TEST_P(Allocation, InputGradientAndNonNormalizedTargetsAllocateNothing) {
  Network net(Architecture::parse("50-32-10", Activation::tanh, Loss::softmax_cross_entropy),
              create_backend(GetParam()));
  net.set_threads(2);
  GuardedMatrix x(16, 50), y(16, 10), dx(16, 50);
  x.fill(2);
  for (std::size_t i = 1; i < 16; ++i) y.at(i, i % 10) = y.at(i, (i + 3) % 10) = 1.0f;  // row 0: zero
  for (int warm_up = 0; warm_up < 2; ++warm_up) {
    net.forward(x.view());
    net.backward(y.view(), dx.view());
  }
  std::vector<std::size_t> per_step;
  per_step.reserve(3);
  for (int step = 0; step < 3; ++step) {
    const std::size_t before = allocations.load();
    net.forward(x.view());
    net.backward(y.view(), dx.view());
    per_step.push_back(allocations.load() - before);
  }
  if (net.backend().allocation_free()) {
    EXPECT_EQ(per_step, std::vector<std::size_t>(3, 0));
  } else {
    for (std::size_t count : per_step) EXPECT_LE(count, 2 * per_step.front() + 16);
  }
}

// A training step through dropout masks (generated per step, per layer) allocates nothing either.
TEST_P(Allocation, DropoutStepAllocatesNothing) {
  Network net(Architecture::parse("60-48:0.3-24:0.1-10", Activation::relu, Loss::softmax_cross_entropy),
              create_backend(GetParam()));
  net.set_threads(2);
  GuardedMatrix x(32, 60), y(32, 10);
  x.fill(1);
  for (std::size_t i = 0; i < 32; ++i) y.at(i, i % 10) = 1.0f;
  Sgd sgd(0.01f);
  for (int warm_up = 0; warm_up < 3; ++warm_up) train_batch(net, sgd, x.view(), y.view(), 7);
  std::vector<std::size_t> per_step;
  per_step.reserve(3);
  for (int step = 0; step < 3; ++step) {
    const std::size_t before = allocations.load();
    train_batch(net, sgd, x.view(), y.view(), 7);
    per_step.push_back(allocations.load() - before);
  }
  if (net.backend().allocation_free()) {
    EXPECT_EQ(per_step, std::vector<std::size_t>(3, 0)) << "heap allocations in dropout steps";
  } else {
    for (std::size_t count : per_step) EXPECT_LE(count, 2 * per_step.front() + 16);
  }
}

INSTANTIATE_TEST_SUITE_P(EveryBackend, Allocation, testing::ValuesIn(backend_specs()), spec_test_name);

}  // namespace
}  // namespace mlpk::test
