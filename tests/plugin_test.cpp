// Backends as plugin modules, from a program that links only mlpk::core. CTest runs each suite
// with its own MLPK_BACKEND_PATH (see tests/CMakeLists.txt).
#include <mlpk/mlpk.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace mlpk
