// Tests of the oneDNN backend's plans (backends/onednn/plan.hpp), below the Backend interface:
// buffers handed over by role reach the arguments of their role in any order, and a plan refuses,
// with an error naming the role and the argument, every binding that could give a primitive the
// wrong buffer. Also: every variant the backend advertises is a valid option string.
//
// Not here: the kernels' results on every shape and option (onednn_test.cpp, the conformance
// suite).
#include "memory_descs.hpp"
#include "options.hpp"
#include "plan.hpp"
#include "steps.hpp"

#include <mlpk/error.hpp>

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mlpk::onednn {
namespace {

using dnnl::memory;

const dnnl::engine& cpu() {
  static const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

// The message of the mlpk::Error that `f` throws ("" when it throws none).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

#define EXPECT_ERROR_MENTIONS(statement, ...)                                                     \
  do {                                                                                            \
    const std::string message = error_of([&] { statement; });                                     \
    ASSERT_FALSE(message.empty()) << #statement " threw no mlpk::Error";                          \
    for (const char* part : {__VA_ARGS__})                                                        \
      EXPECT_NE(message.find(part), std::string::npos) << "'" << part << "' not in: " << message; \
  } while (0)

// C (2x3) = alpha * A (2x4) * B (4x3): every role has its own shape, so a role bound to the wrong
// argument is also a wrong descriptor.
constexpr std::size_t kM = 2, kK = 4, kN = 3;

dnnl::matmul::primitive_desc scaled_matmul() {
  auto attr = base_attr();
  attr.set_output_scales(0, {DNNL_RUNTIME_F32_VAL});
  return dnnl::matmul::primitive_desc(
      dnnl::matmul::desc(matrix_desc(kM, kK, kK, false), matrix_desc(kK, kN, kN, false),
                         matrix_desc(kM, kN, kN, false)),
      attr, cpu());
}

dnnl::matmul::primitive_desc plain_matmul() {
  auto attr = base_attr();
  return dnnl::matmul::primitive_desc(
      dnnl::matmul::desc(matrix_desc(kM, kK, kK, false), matrix_desc(kK, kN, kN, false),
                         matrix_desc(kM, kN, kN, false)),
      attr, cpu());
}

// A plan that declares the product's operands and no step yet.
struct ProductPlan {
  Plan plan{cpu()};
  ProductPlan() {
    plan.add_operand(Operand::gemm_a, matrix_desc(kM, kK, kK, false));
    plan.add_operand(Operand::gemm_b, matrix_desc(kK, kN, kN, false));
    plan.add_operand(Operand::gemm_c, matrix_desc(kM, kN, kN, false));
    plan.add_operand(Operand::alpha, scalar_desc());
  }
  void add_product() {
    plan.add_step(scaled_matmul(), {{DNNL_ARG_SRC, Operand::gemm_a},
                                    {DNNL_ARG_WEIGHTS, Operand::gemm_b},
                                    {DNNL_ARG_DST, Operand::gemm_c},
                                    {DNNL_ARG_ATTR_OUTPUT_SCALES, Operand::alpha}});
  }
};

struct ProductBuffers {
  std::vector<float> a, b, c;
  float alpha = 0.5f;
  ProductBuffers() : a(kM * kK), b(kK * kN), c(kM * kN, -1.0f) {
    for (std::size_t i = 0; i < a.size(); ++i) a[i] = 1.0f + static_cast<float>(i);
    for (std::size_t i = 0; i < b.size(); ++i) b[i] = 0.25f * static_cast<float>(i) - 1.0f;
  }
  float expected(std::size_t i, std::size_t j) const {
    float sum = 0.0f;
    for (std::size_t p = 0; p < kK; ++p) sum += a[i * kK + p] * b[p * kN + j];
    return alpha * sum;
  }
};

void expect_product(const ProductBuffers& buffers) {
  for (std::size_t i = 0; i < kM; ++i)
    for (std::size_t j = 0; j < kN; ++j)
      EXPECT_FLOAT_EQ(buffers.c[i * kN + j], buffers.expected(i, j)) << i << "," << j;
}

TEST(OnednnPlan, BuffersReachTheirRolesInAnyOrder) {
  ProductPlan p;
  p.add_product();
  ProductBuffers in_order, reversed;
  reversed.alpha = -2.0f;
  p.plan.execute({{Operand::gemm_a, in_order.a.data()},
                  {Operand::gemm_b, in_order.b.data()},
                  {Operand::gemm_c, in_order.c.data()},
                  {Operand::alpha, &in_order.alpha}});
  p.plan.execute({{Operand::alpha, &reversed.alpha},
                  {Operand::gemm_c, reversed.c.data()},
                  {Operand::gemm_b, reversed.b.data()},
                  {Operand::gemm_a, reversed.a.data()}});
  expect_product(in_order);
  expect_product(reversed);
  EXPECT_EQ(p.plan.steps(), 1u);
}

TEST(OnednnPlan, RefusesAStepThatLeavesAnArgumentUnbound) {
  ProductPlan p;
  EXPECT_ERROR_MENTIONS(
      p.plan.add_step(scaled_matmul(), {{DNNL_ARG_SRC, Operand::gemm_a},
                                        {DNNL_ARG_WEIGHTS, Operand::gemm_b},
                                        {DNNL_ARG_ATTR_OUTPUT_SCALES, Operand::alpha}}),
      "matmul", "DNNL_ARG_DST", "unbound");
  EXPECT_ERROR_MENTIONS(p.plan.add_step(scaled_matmul(), {{DNNL_ARG_SRC, Operand::gemm_a},
                                                          {DNNL_ARG_WEIGHTS, Operand::gemm_b},
                                                          {DNNL_ARG_DST, Operand::gemm_c}}),
                        "DNNL_ARG_ATTR_OUTPUT_SCALES", "unbound");
  EXPECT_EQ(p.plan.steps(), 0u);
}

TEST(OnednnPlan, RefusesAnArgumentBoundTwice) {
  ProductPlan p;
  EXPECT_ERROR_MENTIONS(p.plan.add_step(plain_matmul(), {{DNNL_ARG_SRC, Operand::gemm_a},
                                                         {DNNL_ARG_WEIGHTS, Operand::gemm_b},
                                                         {DNNL_ARG_DST, Operand::gemm_c},
                                                         {DNNL_ARG_SRC, Operand::gemm_b}}),
                        "DNNL_ARG_SRC", "twice");
}

TEST(OnednnPlan, RefusesAnArgumentThePrimitiveDoesNotHave) {
  ProductPlan p;
  p.plan.add_operand(Operand::bias, row_desc(kN));
  EXPECT_ERROR_MENTIONS(p.plan.add_step(plain_matmul(), {{DNNL_ARG_SRC, Operand::gemm_a},
                                                         {DNNL_ARG_WEIGHTS, Operand::gemm_b},
                                                         {DNNL_ARG_BIAS, Operand::bias},
                                                         {DNNL_ARG_DST, Operand::gemm_c}}),
                        "DNNL_ARG_BIAS", "'bias'", "does not have");
  // A run-time output scale on a primitive made without one.
  EXPECT_ERROR_MENTIONS(
      p.plan.add_step(plain_matmul(), {{DNNL_ARG_SRC, Operand::gemm_a},
                                       {DNNL_ARG_WEIGHTS, Operand::gemm_b},
                                       {DNNL_ARG_DST, Operand::gemm_c},
                                       {DNNL_ARG_ATTR_OUTPUT_SCALES, Operand::alpha}}),
      "DNNL_ARG_ATTR_OUTPUT_SCALES", "no run-time output scale");
  EXPECT_ERROR_MENTIONS(p.plan.add_step(plain_matmul(), {{DNNL_ARG_SRC, Operand::gemm_a},
                                                         {DNNL_ARG_WEIGHTS, Operand::gemm_b},
                                                         {DNNL_ARG_DST, Operand::gemm_c},
                                                         {DNNL_ARG_SCRATCHPAD, Operand::bias}}),
                        "DNNL_ARG_SCRATCHPAD");
}

TEST(OnednnPlan, RefusesARoleItDoesNotDeclare) {
  ProductPlan p;
  EXPECT_ERROR_MENTIONS(p.plan.add_step(plain_matmul(), {{DNNL_ARG_SRC, Operand::gemm_a},
                                                         {DNNL_ARG_WEIGHTS, Operand::gemm_b},
                                                         {DNNL_ARG_DST, Operand::z}}),
                        "DNNL_ARG_DST", "'z'", "does not declare");
  EXPECT_ERROR_MENTIONS(p.plan.desc(Operand::w), "'w'", "not declared");
  EXPECT_ERROR_MENTIONS(p.plan.add_operand(Operand::gemm_a, scalar_desc()), "'gemm_a'",
                        "declared twice");
  EXPECT_ERROR_MENTIONS(p.plan.add_constant(Operand::ones, row_desc(3), {1.0f, 1.0f}), "'ones'");
}

// Swapped roles: A's buffer where the primitive reads B. The descriptors differ, so the step is
// refused before any buffer is bound.
TEST(OnednnPlan, RefusesARoleWhoseDescriptorIsNotThePrimitives) {
  ProductPlan p;
  EXPECT_ERROR_MENTIONS(p.plan.add_step(plain_matmul(), {{DNNL_ARG_SRC, Operand::gemm_b},
                                                         {DNNL_ARG_WEIGHTS, Operand::gemm_a},
                                                         {DNNL_ARG_DST, Operand::gemm_c}}),
                        "DNNL_ARG_SRC", "'gemm_b'", "4x3 strides 3,1", "2x4 strides 4,1");
}

TEST(OnednnPlan, RefusesACallThatMissesRepeatsOrAddsARole) {
  ProductPlan p;
  p.plan.add_buffer(Operand::packed_z, matrix_desc(kM, kN, kN, false));
  p.add_product();
  ProductBuffers x;
  EXPECT_ERROR_MENTIONS(p.plan.execute({{Operand::gemm_a, x.a.data()},
                                        {Operand::gemm_c, x.c.data()},
                                        {Operand::alpha, &x.alpha}}),
                        "'gemm_b'", "unbound");
  EXPECT_ERROR_MENTIONS(p.plan.execute({{Operand::gemm_a, x.a.data()},
                                        {Operand::gemm_b, x.b.data()},
                                        {Operand::gemm_a, x.b.data()},
                                        {Operand::gemm_c, x.c.data()},
                                        {Operand::alpha, &x.alpha}}),
                        "'gemm_a'", "twice");
  EXPECT_ERROR_MENTIONS(p.plan.execute({{Operand::gemm_a, x.a.data()},
                                        {Operand::gemm_b, x.b.data()},
                                        {Operand::gemm_c, x.c.data()},
                                        {Operand::alpha, &x.alpha},
                                        {Operand::z, x.c.data()}}),
                        "'z'", "does not take");
  // A buffer of the plan's own is not the caller's to hand over.
  EXPECT_ERROR_MENTIONS(p.plan.execute({{Operand::gemm_a, x.a.data()},
                                        {Operand::gemm_b, x.b.data()},
                                        {Operand::gemm_c, x.c.data()},
                                        {Operand::alpha, &x.alpha},
                                        {Operand::packed_z, x.c.data()}}),
                        "'packed_z'", "does not take");
  // Nothing ran, and the plan still works.
  EXPECT_EQ(x.c, std::vector<float>(kM * kN, -1.0f));
  p.plan.execute({{Operand::gemm_a, x.a.data()},
                  {Operand::gemm_b, x.b.data()},
                  {Operand::gemm_c, x.c.data()},
                  {Operand::alpha, &x.alpha}});
  expect_product(x);
}

TEST(OnednnPlan, ArgumentMapGivesEachArgumentItsRolesMemory) {
  OperandMemories memories;
  const memory::desc md = row_desc(4);
  std::vector<float> x(4), z(4);
  memories[index(Operand::x)] = memory(md, cpu(), x.data());
  memories[index(Operand::z)] = memory(md, cpu(), z.data());
  const Argument arguments[] = {{DNNL_ARG_SRC, Operand::x}, {DNNL_ARG_DST, Operand::z}};
  const auto map = argument_map(arguments, memories);
  ASSERT_EQ(map.size(), 2u);
  EXPECT_EQ(map.at(DNNL_ARG_SRC).get_data_handle(), x.data());
  EXPECT_EQ(map.at(DNNL_ARG_DST).get_data_handle(), z.data());

  const Argument twice[] = {{DNNL_ARG_SRC, Operand::x}, {DNNL_ARG_SRC, Operand::z}};
  EXPECT_ERROR_MENTIONS(argument_map(twice, memories), "DNNL_ARG_SRC", "twice");
  const Argument no_memory[] = {{DNNL_ARG_SRC, Operand::x}, {DNNL_ARG_DST, Operand::a}};
  EXPECT_ERROR_MENTIONS(argument_map(no_memory, memories), "DNNL_ARG_DST", "'a'", "no memory");
}

// A constant of the plan (the ones row of column sums) reaches its argument in every binding,
// without the caller handing it over.
TEST(OnednnPlan, ColumnSumsReadThePlansOnesRow) {
  Plan plan(cpu());
  plan.add_operand(Operand::x, matrix_desc(3, 2, 5, false));  // strided rows
  plan.add_operand(Operand::alpha, scalar_desc());
  append_column_sums(plan, Operand::x, /*scaled=*/true, /*beta=*/0.0f);
  const std::vector<float> x = {1, 2, 0, 0, 0, 3, 4, 0, 0, 0, 5, 6, 0, 0, 0};
  std::vector<float> sums(2, -1.0f);
  const float alpha = 0.5f;
  plan.execute({{Operand::sums, sums.data()}, {Operand::x, x.data()}, {Operand::alpha, &alpha}});
  EXPECT_EQ(sums, (std::vector<float>{4.5f, 6.0f}));
  EXPECT_ERROR_MENTIONS(plan.execute({{Operand::x, x.data()},
                                      {Operand::alpha, &alpha},
                                      {Operand::sums, sums.data()},
                                      {Operand::ones, x.data()}}),
                        "'ones'", "does not take");
}

TEST(OnednnOptions, EveryVariantIsAValidOptionStringThatChangesSomething) {
  const std::string defaults = describe(Options{});
  ASSERT_FALSE(option_variants().empty());
  for (const std::string& variant : option_variants()) {
    const std::string message = error_of([&] { parse_options(variant); });
    EXPECT_EQ(message, "") << variant;
    if (message.empty()) {
      EXPECT_NE(describe(parse_options(variant)), defaults) << variant;
    }
  }
  EXPECT_EQ(describe(parse_options("")), defaults);
  const Options combined = parse_options("threads=3,gemm=sgemm,dense=matmul");
  EXPECT_EQ(combined.threads, 3);
  EXPECT_EQ(combined.gemm, GemmMode::sgemm);
  EXPECT_EQ(combined.dense, DenseMode::matmul);
}

}  // namespace
}  // namespace mlpk::onednn
