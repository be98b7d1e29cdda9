// The registry in a program that links its backends: they register by being linked.
#include "test_support.hpp"

#include <gmock/gmock.h>

#include <cstdlib>

namespace mlpk::test {
namespace {

using testing::HasSubstr;

TEST(Registry, LinkedBackendsAreAvailableInPriorityOrder) {
  ::unsetenv("MLPK_BACKEND");  // the order's default, not one the environment picks (CI sets it)
  const auto names = available_backends();
  ASSERT_THAT(names, testing::Contains("reference"));
  EXPECT_EQ(names.back(), "reference") << "the oracle has the lowest priority";
  EXPECT_EQ(default_backend_name(), names.front());
}

TEST(Registry, EnvironmentChoosesAndDisablesBackends) {
  ::setenv("MLPK_BACKEND", "reference", 1);
  EXPECT_EQ(default_backend_name(), "reference");
  ::setenv("MLPK_BACKEND", "reference:an-option", 1);  // a spec: checked by name here
  EXPECT_EQ(default_backend_name(), "reference:an-option");
  ::setenv("MLPK_BACKEND", "nonesuch", 1);
  EXPECT_THAT([] { default_backend_name(); },
              testing::ThrowsMessage<Error>(HasSubstr("MLPK_BACKEND names unknown backend 'nonesuch'")));
  ::unsetenv("MLPK_BACKEND");
  ::setenv("MLPK_DISABLE_BACKENDS", "reference", 1);
  EXPECT_THAT(available_backends(), testing::Not(testing::Contains("reference")));
  EXPECT_THAT([] { create_backend("reference"); },
              testing::ThrowsMessage<Error>(HasSubstr("disabled by MLPK_DISABLE_BACKENDS")));
  ::unsetenv("MLPK_DISABLE_BACKENDS");
  EXPECT_EQ(create_backend("reference")->name(), "reference");
}

TEST(Registry, SecondRegistrationOfANameIsIgnored) {
  const auto before = available_backends();
  register_backend({"reference", 1000, [](std::string_view) -> std::unique_ptr<Backend> { return nullptr; }});
  EXPECT_EQ(available_backends(), before);
  EXPECT_NE(create_backend("reference"), nullptr);
}

TEST(Registry, ModuleOfAnotherAbiIsRefusedWithAReason) {
  register_backend({"from-the-future", 5, [](std::string_view) { return create_backend("reference"); },
                    kBackendAbiVersion + 1});
  EXPECT_THAT(available_backends(), testing::Not(testing::Contains("from-the-future")));
  EXPECT_THAT([] { create_backend("from-the-future"); },
              testing::ThrowsMessage<Error>(HasSubstr("built for backend ABI")));
}

}  // namespace
}  // namespace mlpk::test
