// Optimizers, schedules and clipping against steps computed by hand.
//
// The network is a single 1 -> 1 identity unit, so its parameters are one weight w and one bias
// b; each test sets the gradients directly and checks w after each step against numbers worked
// out in the comments (w0 = 1, lr = 0.1 unless said otherwise).
#include <mlpk/error.hpp>
#include <mlpk/optimizer.hpp>
#include <mlpk/registry.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <numbers>

namespace mlpk {
namespace {

class OptimizerTest : public ::testing::Test {
 protected:
  OptimizerTest()
      : net_(Architecture::parse("1-1", Activation::identity, Loss::mean_squared_error),
             create_backend("reference")) {
    for (auto& p : net_.parameters()) p = 0.0f;
    w() = 1.0f;
  }
  float& w() { return net_.weights(0)(0, 0); }
  float b() { return net_.bias(0)[0]; }
  // Gradient of w is `gw`, of b is `gb`; every other (padding) entry is zero.
  void set_gradients(float gw, float gb = 0.0f) {
    auto g = net_.gradients();
    for (auto& v : g) v = 0.0f;
    const auto base = net_.parameters().data();
    g[static_cast<std::size_t>(net_.weights(0).data - base)] = gw;
    g[static_cast<std::size_t>(net_.bias(0).data() - base)] = gb;
  }
  // One step with gradient g of w; returns the new w.
  float step(Optimizer& o, float g) {
    set_gradients(g);
    o.step(net_);
    return w();
  }
  static OptimizerOptions options(float lr = 0.1f) {
    OptimizerOptions o;
    o.learning_rate = lr;
    return o;
  }

  Network net_;
};

constexpr double kTol = 1e-6;

TEST_F(OptimizerTest, Sgd) {
  Sgd sgd(0.1f);
  EXPECT_NEAR(step(sgd, 0.5f), 0.95, kTol);  // 1 - 0.1 * 0.5
  EXPECT_NEAR(step(sgd, 0.5f), 0.90, kTol);  // 0.95 - 0.05
  EXPECT_EQ(sgd.steps(), 2u);
}

TEST_F(OptimizerTest, SgdWithWeightDecay) {
  auto o = options();
  o.weight_decay = 0.1f;
  Sgd sgd(o);
  EXPECT_NEAR(step(sgd, 0.5f), 0.94, kTol);    // g' = 0.5 + 0.1*1 = 0.6;     1 - 0.06
  EXPECT_NEAR(step(sgd, 0.5f), 0.8806, kTol);  // g' = 0.5 + 0.1*0.94 = 0.594; 0.94 - 0.0594
}

TEST_F(OptimizerTest, Momentum) {
  Momentum m(options(), false);  // mu = 0.9
  EXPECT_NEAR(step(m, 0.5f), 0.95, kTol);    // v = 0.5;              w = 1 - 0.05
  EXPECT_NEAR(step(m, 0.5f), 0.855, kTol);   // v = 0.45 + 0.5 = 0.95; w = 0.95 - 0.095
  EXPECT_NEAR(step(m, 0.5f), 0.7195, kTol);  // v = 0.855 + 0.5 = 1.355; w = 0.855 - 0.1355
  ASSERT_EQ(m.state().size(), 1u);
}

TEST_F(OptimizerTest, Nesterov) {
  Momentum n(options(), true);
  EXPECT_NEAR(step(n, 0.5f), 0.905, kTol);   // v = 0.5;  d = 0.5 + 0.9*0.5 = 0.95;   w = 1 - 0.095
  EXPECT_NEAR(step(n, 0.5f), 0.7695, kTol);  // v = 0.95; d = 0.5 + 0.9*0.95 = 1.355; w = 0.905 - 0.1355
}

TEST_F(OptimizerTest, Adam) {
  Adam adam(0.1f);  // b1 = 0.9, b2 = 0.999, eps = 1e-8
  // t=1, g=0.5:   m = 0.05, s = 0.00025; m^ = 0.5, s^ = 0.25; w = 1 - 0.1 * 0.5/0.5 = 0.9
  EXPECT_NEAR(step(adam, 0.5f), 0.9, kTol);
  // t=2, g=-0.25: m = 0.045 - 0.025 = 0.02; s = 0.00024975 + 0.0000625 = 0.00031225
  //   m^ = 0.02/0.19 = 0.1052632; s^ = 0.00031225/0.001999 = 0.1562031, sqrt = 0.3952254
  //   w = 0.9 - 0.1 * 0.1052632/0.3952254 = 0.9 - 0.0266337 = 0.8733663
  EXPECT_NEAR(step(adam, -0.25f), 0.8733663, kTol);
  // t=3, g=0.125: m = 0.018 + 0.0125 = 0.0305; s = 0.00031194 + 0.000015625 = 0.00032756
  //   m^ = 0.0305/0.271 = 0.1125461; s^ = 0.00032756/0.002997 = 0.1092961, sqrt = 0.3305996
  //   w = 0.8733663 - 0.1 * 0.3404302 = 0.8393234
  EXPECT_NEAR(step(adam, 0.125f), 0.8393234, kTol);
  ASSERT_EQ(adam.state().size(), 2u);
}

TEST_F(OptimizerTest, AdamWithL2WeightDecay) {
  auto o = options();
  o.weight_decay = 0.1f;
  Adam adam(o);  // L2 by default, as torch.optim.Adam
  EXPECT_EQ(adam.weight_decay_kind(), AdamWeightDecay::l2);
  EXPECT_EQ(adam.kind(), OptimizerKind::adam);
  // t=1: g' = 0.5 + 0.1 = 0.6; m^ = 0.6, s^ = 0.36: w = 1 - 0.1 = 0.9
  EXPECT_NEAR(step(adam, 0.5f), 0.9, kTol);
  // t=2: g' = -0.25 + 0.09 = -0.16; m = 0.054 - 0.016 = 0.038; s = 0.00035964 + 0.0000256
  //   m^ = 0.2; s^ = 0.00038524/0.001999 = 0.1927164, sqrt = 0.4389948; w = 0.9 - 0.0455586
  EXPECT_NEAR(step(adam, -0.25f), 0.8544414, kTol);
}

TEST_F(OptimizerTest, AdamWDecouplesWeightDecay) {
  auto o = options();
  o.weight_decay = 0.1f;
  Adam adamw(o, AdamWeightDecay::decoupled);
  // t=1: w = 1 - 0.1*0.1*1 = 0.99, then the plain Adam step of 0.1: 0.89
  EXPECT_NEAR(step(adamw, 0.5f), 0.89, kTol);
  // t=2: w = 0.89 * 0.99 = 0.8811, then Adam's second step (as in the Adam test) 0.0266337
  EXPECT_NEAR(step(adamw, -0.25f), 0.8544663, kTol);
  EXPECT_EQ(adamw.kind(), OptimizerKind::adamw);
}

TEST_F(OptimizerTest, BiasIsUpdatedToo) {
  Sgd sgd(0.5f);
  set_gradients(0.0f, 2.0f);
  sgd.step(net_);
  EXPECT_FLOAT_EQ(b(), -1.0f);  // 0 - 0.5 * 2
  EXPECT_FLOAT_EQ(w(), 1.0f);
}

TEST_F(OptimizerTest, ClipByGlobalNorm) {
  auto o = options(1.0f);
  o.clip_norm = 1.0f;
  Sgd sgd(o);
  // ||(3, 4)|| = 5 > 1: scaled by 1/5 to (0.6, 0.8); w = 1 - 0.6, b = 0 - 0.8
  set_gradients(3.0f, 4.0f);
  sgd.step(net_);
  EXPECT_NEAR(w(), 0.4, kTol);
  EXPECT_NEAR(b(), -0.8, kTol);
  EXPECT_NEAR(sgd.last_gradient_norm(), 5.0, kTol);
  // Below the norm: untouched.
  std::vector<float> g = {0.3f, 0.4f};
  EXPECT_NEAR(clip_by_global_norm(g, 1.0), 0.5, kTol);
  EXPECT_FLOAT_EQ(g[0], 0.3f);
}

TEST(Schedule, ConstantStepCosineWarmup) {
  LearningRateSchedule s;
  EXPECT_FLOAT_EQ(s.at(0.1f, 1000), 0.1f);
  s.kind = ScheduleKind::step;
  s.step_size = 2;
  s.gamma = 0.5f;
  EXPECT_FLOAT_EQ(s.at(0.1f, 1), 0.1f);
  EXPECT_FLOAT_EQ(s.at(0.1f, 2), 0.05f);
  EXPECT_FLOAT_EQ(s.at(0.1f, 5), 0.025f);
  s.kind = ScheduleKind::cosine;
  s.total_steps = 10;
  EXPECT_FLOAT_EQ(s.at(0.1f, 0), 0.1f);
  EXPECT_NEAR(s.at(0.1f, 5), 0.05, 1e-7);  // halfway: (1 + cos(pi/2))/2 = 1/2
  EXPECT_NEAR(s.at(0.1f, 10), 0.0, 1e-7);
  EXPECT_NEAR(s.at(0.1f, 20), 0.0, 1e-7);  // stays at the minimum
  s.warmup_steps = 4;
  s.total_steps = 14;
  EXPECT_FLOAT_EQ(s.at(0.1f, 0), 0.025f);  // 0.1 * 1/4
  EXPECT_FLOAT_EQ(s.at(0.1f, 1), 0.05f);
  EXPECT_FLOAT_EQ(s.at(0.1f, 3), 0.1f);
  EXPECT_FLOAT_EQ(s.at(0.1f, 4), 0.1f);     // cosine starts after the warm-up
  EXPECT_NEAR(s.at(0.1f, 9), 0.05, 1e-7);   // 5 of its 10 steps
}

TEST(Schedule, OneCycleRisesLinearlyThenFallsOnACosine) {
  LearningRateSchedule s;
  s.kind = ScheduleKind::one_cycle;
  s.warmup_steps = 4;
  s.total_steps = 10;
  s.initial_fraction = 0.04f;
  s.min_fraction = 0.01f;
  EXPECT_FLOAT_EQ(s.at(1.0f, 0), 0.04f);  // base * initial_fraction
  EXPECT_FLOAT_EQ(s.at(1.0f, 1), 0.28f);  // 0.04 + 0.96 * 1/4
  EXPECT_FLOAT_EQ(s.at(1.0f, 3), 0.76f);  // 0.04 + 0.96 * 3/4
  EXPECT_FLOAT_EQ(s.at(1.0f, 4), 1.0f);   // the peak, then the cosine over 6 steps
  EXPECT_FLOAT_EQ(s.at(1.0f, 7), 0.505f);  // halfway: 0.01 + 0.99 / 2
  EXPECT_FLOAT_EQ(s.at(1.0f, 5), static_cast<float>(0.01 + 0.99 * (1 + std::cos(std::numbers::pi / 6)) / 2));
  EXPECT_FLOAT_EQ(s.at(1.0f, 10), 0.01f);  // the end: base * min_fraction, and it stays there
  EXPECT_FLOAT_EQ(s.at(1.0f, 1000), 0.01f);
  EXPECT_FLOAT_EQ(s.at(0.5f, 4), 0.5f);    // relative to the base
  EXPECT_EQ(parse_schedule("one-cycle"), ScheduleKind::one_cycle);
  EXPECT_EQ(to_string(ScheduleKind::one_cycle), "one-cycle");
  OptimizerOptions o;
  o.schedule = s;
  o.schedule.initial_fraction = 0.0f;
  EXPECT_THROW(Sgd{o}, Error);
  o.schedule.initial_fraction = 1.5f;
  EXPECT_THROW(Sgd{o}, Error);
}

TEST_F(OptimizerTest, ScheduleDrivesTheStep) {
  auto o = options();
  o.schedule.kind = ScheduleKind::step;
  o.schedule.step_size = 1;
  o.schedule.gamma = 0.5f;
  Sgd sgd(o);
  EXPECT_NEAR(step(sgd, 1.0f), 0.9, kTol);   // lr 0.1
  EXPECT_NEAR(step(sgd, 1.0f), 0.85, kTol);  // lr 0.05
  EXPECT_FLOAT_EQ(sgd.current_learning_rate(), 0.025f);
}

TEST(OptimizerOptions, RejectsBadValues) {
  OptimizerOptions o;
  o.learning_rate = -1.0f;
  EXPECT_THROW(Adam{o}, Error);
  EXPECT_THROW(Adam(0.0f), Error);
  EXPECT_THROW(Adam{std::numeric_limits<float>::infinity()}, Error);  // braces: clang reads Adam(x) as a declaration
  o.learning_rate = 0.1f;
  o.momentum = 1.0f;
  EXPECT_THROW(Momentum(o, false), Error);
  o.momentum = 0.9f;
  o.weight_decay = -0.1f;
  EXPECT_THROW(Sgd{o}, Error);
  EXPECT_THROW(Sgd(std::nanf("")), Error);
  EXPECT_THROW(parse_optimizer("adagrad"), Error);
  EXPECT_EQ(parse_optimizer("nesterov"), OptimizerKind::nesterov);
  EXPECT_EQ(make_optimizer(OptimizerKind::adamw, OptimizerOptions{})->kind(), OptimizerKind::adamw);
}

}  // namespace
}  // namespace mlpk
