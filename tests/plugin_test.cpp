// Backends as plugin modules, from a program that links only mlpk::core. CTest runs each suite
// with its own MLPK_BACKEND_PATH (see tests/CMakeLists.txt).
#include <mlpk/mlpk.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace mlpk {
namespace {

using testing::HasSubstr;

// Computes [1 2] * [3; 4] = 11 with a backend, to show it is real and working.
float dot_through(Backend& backend) {
  const float a[] = {1, 2}, b[] = {3, 4};
  float c = 0;
  backend.gemm(Trans::N, Trans::N, 1.0f, {a, 1, 2}, {b, 2, 1}, 0.0f, {&c, 1, 1});
  return c;
}

// No MLPK_BACKEND_PATH: modules beside libmlpk_core are found.
TEST(Discovery, BackendsBesideTheCoreLibraryAreFound) {
  EXPECT_THAT(available_backends(), testing::Contains("reference"));
  EXPECT_EQ(dot_through(*create_backend("reference")), 11.0f);
}

// MLPK_BACKEND_PATH names an empty directory: nothing until a module is loaded by path.
TEST(LoadByPath, ModuleRegistersItsBackendWhenLoaded) {
  EXPECT_THAT(available_backends(), testing::IsEmpty());
  EXPECT_THAT([] { create_backend("reference"); },
              testing::ThrowsMessage<Error>(HasSubstr("unknown backend 'reference' (available: none)")));
  EXPECT_THAT(load_backend_module(MLPK_REFERENCE_MODULE), testing::ElementsAre("reference"));
  EXPECT_EQ(dot_through(*create_backend("reference")), 11.0f);
  EXPECT_THAT([] { load_backend_module(MLPK_REFERENCE_MODULE); },
              testing::ThrowsMessage<Error>(HasSubstr("registered no new backend")));
}

TEST(LoadByPath, BadModulesAreClearErrors) {
  EXPECT_THAT([] { load_backend_module("/nonexistent/libmlpk_backend_x.so"); },
              testing::ThrowsMessage<Error>(HasSubstr("cannot load backend module /nonexistent/")));
  EXPECT_THAT([] { load_backend_module("/etc/hostname"); },
              testing::ThrowsMessage<Error>(HasSubstr("cannot load backend module /etc/hostname")));
}

// MLPK_BACKEND_PATH lists a missing directory and one holding a copy of the reference module.
TEST(EnvironmentPath, ModulesInTheListedDirectoriesAreFound) {
  EXPECT_THAT(available_backends(), testing::ElementsAre("reference"));
  EXPECT_EQ(dot_through(*create_backend("reference")), 11.0f);
}

// Releases every thread at once, so the calls below really overlap.
class StartLine {
 public:
  explicit StartLine(int threads) : waiting_(threads) {}
  void wait() {
    waiting_.fetch_sub(1);
    while (waiting_.load() > 0) std::this_thread::yield();
  }

 private:
  std::atomic<int> waiting_;
};

std::vector<std::string> module_paths() {
  std::vector<std::string> paths;
  std::istringstream list(MLPK_BACKEND_MODULES);
  for (std::string path; std::getline(list, path, ':');) paths.push_back(path);
  return paths;
}

// Threads load every backend module, each in its own order, while listing and creating backends.
// Each module is loaded once: one thread gets its name back, the others "registered no new
// backend". (The registry once held its lock across dlopen, while a module's constructor took
// it too: a lock-order hazard against the loader's lock.)
TEST(ConcurrentLoads, ThreadsLoadModulesListAndCreateBackendsAtOnce) {
  const auto modules = module_paths();
  ASSERT_FALSE(modules.empty());
  ASSERT_THAT(available_backends(), testing::IsEmpty());
  constexpr int kThreads = 8;
  StartLine start(kThreads);
  std::mutex mutex;
  std::vector<std::string> added, unexpected;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      start.wait();
      for (std::size_t k = 0; k < modules.size(); ++k) {
        const std::string& module = modules[(static_cast<std::size_t>(t) + k) % modules.size()];
        std::vector<std::string> names;
        std::string error;
        try {
          names = load_backend_module(module);
        } catch (const Error& e) {
          error = e.what();
        }
        const auto available = available_backends();
        float dot = 11.0f;
        if (std::find(available.begin(), available.end(), "reference") != available.end())
          dot = dot_through(*create_backend("reference"));
        std::lock_guard lock(mutex);
        added.insert(added.end(), names.begin(), names.end());
        if (!error.empty() && error.find("registered no new backend") == std::string::npos)
          unexpected.push_back(error);
        if (dot != 11.0f) unexpected.push_back("reference computed " + std::to_string(dot));
      }
    });
  for (std::thread& t : threads) t.join();
  EXPECT_THAT(unexpected, testing::IsEmpty());
  EXPECT_EQ(added.size(), modules.size()) << "one name per module, returned to one thread";
  EXPECT_THAT(available_backends(), testing::UnorderedElementsAreArray(added));
  EXPECT_EQ(dot_through(*create_backend("reference")), 11.0f);
}

// Threads make the first calls at once: each waits for the one discovery, none sees half of it.
TEST(ConcurrentDiscovery, ThreadsFirstCallsSeeTheWholeDiscovery) {
  constexpr int kThreads = 8;
  StartLine start(kThreads);
  std::vector<std::vector<std::string>> seen(kThreads);
  std::vector<float> dots(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      start.wait();
      if (t % 2 == 0) {
        seen[t] = available_backends();
        dots[t] = dot_through(*create_backend("reference"));
      } else {
        dots[t] = dot_through(*create_backend("reference"));
        seen[t] = available_backends();
      }
    });
  for (std::thread& t : threads) t.join();
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_THAT(seen[t], testing::ElementsAre("reference")) << "thread " << t;
    EXPECT_EQ(dots[t], 11.0f) << "thread " << t;
  }
}

}  // namespace
}  // namespace mlpk
