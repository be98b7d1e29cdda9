// Data-parallel training over MPI, run under `mpirun -np 2` (and more): the collectives of the
// MPI communicator, and Trainer::fit over the ranks against one process.
//
// Every rank runs every test and the collectives inside it in the same order, so a check that
// fails never skips a collective: EXPECT_*, never ASSERT_* before a collective.
#include <mlpk/communicator.hpp>
#include <mlpk/error.hpp>
#include <mlpk/optimizer.hpp>
#include <mlpk/registry.hpp>
#include <mlpk/trainer.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

namespace mlpk {
namespace {

Communicator* world = nullptr;

// A value of rank r at index i whose sum over the ranks depends on the order of the additions.
template <class T>
T contribution(std::size_t r, std::size_t i) {
  const T big = r % 2 == 0 ? T(1e8) : T(-1e8);
  return big * T(1 + i % 3) + T(0.1) * T(r + 1) + T(i) * T(1e-3);
}

template <class T>
void expect_rank_order_sums(std::size_t n) {
  std::vector<T> values(n);
  for (std::size_t i = 0; i < n; ++i) values[i] = contribution<T>(world->rank(), i);
  world->all_reduce_sum(std::span<T>(values));
  for (std::size_t i = 0; i < n; ++i) {
    T expected = contribution<T>(0, i);
    for (std::size_t r = 1; r < world->size(); ++r) expected += contribution<T>(r, i);
    EXPECT_EQ(std::memcmp(&values[i], &expected, sizeof(T)), 0)
        << "element " << i << " of " << n << ": " << values[i] << " != " << expected;
  }
}

TEST(MpiCommunicator, DescribesItself) {
  EXPECT_GE(world->size(), 2u);
  EXPECT_LT(world->rank(), world->size());
  EXPECT_NE(world->description().find("MPI"), std::string::npos) << world->description();
  EXPECT_EQ(mpi_communicator().get(), world) << "one communicator a process";
}

TEST(MpiCommunicator, AllReduceAddsInRankOrder) {
  // Shorter than the rank count (chunks of no element), odd, and long.
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{100003}}) {
    expect_rank_order_sums<float>(n);
    expect_rank_order_sums<double>(n);
  }
}

TEST(MpiCommunicator, BroadcastCopiesTheRootsBytes) {
  for (std::size_t root = 0; root < world->size(); ++root) {
    std::vector<float> values(1000, static_cast<float>(world->rank()));
    world->broadcast(std::as_writable_bytes(std::span(values)), root);
    EXPECT_TRUE(std::all_of(values.begin(), values.end(), [&](float v) { return v == float(root); }));
  }
  world->barrier();
}

// 301 samples of 12 features in 3 classes: batches of 50 leave a last batch of 1 row, so one
// rank has nothing of it.
Dataset toy_data(std::uint64_t salt = 0) {
  Dataset d;
  const std::size_t n = 301, features = 12;
  d.features = Tensor(n, features);
  d.classes = 3;
  for (std::size_t i = 0; i < n; ++i) {
    double s = 0.0;
    for (std::size_t j = 0; j < features; ++j) {
      const double v = std::sin(0.37 * double(i * features + j + salt)) + 0.1 * double(j % 4);
      d.features.view()(i, j) = static_cast<float>(v);
      s += v * double(j % 3 == 0 ? 1 : -1);
    }
    d.labels.push_back(s > 0.4 ? 0u : s > -0.4 ? 1u : 2u);
  }
  one_hot(d);
  return d;
}

struct Trained {
  std::vector<float> parameters;
  std::vector<EpochReport> reports;
};

Trained train(Communicator* ranks, std::size_t threads, const Dataset& data, const Dataset* validation,
          std::uint64_t epochs = 4) {
  // Dropout on the first hidden layer: its masks must follow the rows of the whole batch.
  Network net(Architecture::parse("12-16:0.25-8-3", Activation::relu, Loss::softmax_cross_entropy),
              create_backend(default_backend_name()));
  net.set_threads(threads);
  net.initialize(7);
  OptimizerOptions o;
  o.learning_rate = 0.01f;
  auto adam = make_optimizer(OptimizerKind::adam, o);
  TrainerOptions t;
  t.epochs = epochs;
  t.batch_size = 50;
  t.seed = 3;
  t.label_smoothing = 0.1f;
  t.communicator = ranks;
  Trainer trainer(net, *adam, t);
  Trained run;
  run.reports = trainer.fit(data, validation);
  run.parameters.resize(net.parameter_count());
  net.copy_parameters_to(run.parameters);
  return run;
}

// What data-parallel training promises against one process: the same steps on the same batches,
// only each batch's gradient summed in another order (rank shares, then across ranks).
constexpr float kParameterTolerance = 1e-5f;  // absolute, on parameters of magnitude ~1
constexpr double kLossTolerance = 1e-6;

TEST(DataParallel, MatchesOneProcessWithinTolerance) {
  const Dataset data = toy_data(), validation = toy_data(1000);
  const Trained together = train(world, 1, data, &validation);
  const Trained alone = train(nullptr, 1, data, &validation);
  ASSERT_EQ(together.parameters.size(), alone.parameters.size());
  float worst = 0.0f;
  for (std::size_t i = 0; i < alone.parameters.size(); ++i)
    worst = std::max(worst, std::abs(together.parameters[i] - alone.parameters[i]));
  EXPECT_LE(worst, kParameterTolerance);
  char text[32];
  std::snprintf(text, sizeof text, "%.3g", static_cast<double>(worst));
  RecordProperty("max_parameter_difference", text);
  if (world->rank() == 0) std::printf("largest parameter difference from one process: %s\n", text);
  ASSERT_EQ(together.reports.size(), alone.reports.size());
  for (std::size_t e = 0; e < alone.reports.size(); ++e) {
    EXPECT_NEAR(together.reports[e].train_loss, alone.reports[e].train_loss, kLossTolerance);
    EXPECT_NEAR(together.reports[e].validation->loss, alone.reports[e].validation->loss, kLossTolerance);
    EXPECT_EQ(together.reports[e].validation->samples, validation.size());
  }
  // The parameters moved: a run that trained nothing would match trivially.
  const Trained untrained = train(nullptr, 1, data, nullptr, 0);
  float moved = 0.0f;
  for (std::size_t i = 0; i < alone.parameters.size(); ++i)
    moved = std::max(moved, std::abs(untrained.parameters[i] - alone.parameters[i]));
  EXPECT_GT(moved, 100 * kParameterTolerance);
}

TEST(DataParallel, BitIdenticalOnEveryRankForAnyThreadCountAndRun) {
  const Dataset data = toy_data();
  const Trained one_thread = train(world, 1, data, nullptr);
  const Trained two_threads = train(world, 2, data, nullptr);
  const Trained again = train(world, 2, data, nullptr);
  const std::size_t bytes = one_thread.parameters.size() * sizeof(float);
  EXPECT_EQ(std::memcmp(one_thread.parameters.data(), two_threads.parameters.data(), bytes), 0);
  EXPECT_EQ(std::memcmp(two_threads.parameters.data(), again.parameters.data(), bytes), 0);
  std::vector<float> rank0 = one_thread.parameters;
  world->broadcast(std::as_writable_bytes(std::span(rank0)), 0);
  EXPECT_EQ(std::memcmp(rank0.data(), one_thread.parameters.data(), bytes), 0)
      << "rank " << world->rank() << " holds other weights than rank 0";
}

TEST(DataParallel, RanksWithOtherDataFailTogether) {
  const Dataset data = toy_data(world->rank() == 1 ? 5 : 0);
  std::string message;
  try {
    train(world, 1, data, nullptr, 1);
  } catch (const Error& e) {
    message = e.what();
  }
  EXPECT_NE(message.find("rank 1's training data differs from rank 0's"), std::string::npos) << message;
}

}  // namespace
}  // namespace mlpk

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  std::shared_ptr<mlpk::Communicator> communicator = mlpk::mpi_communicator();
  mlpk::world = communicator.get();
  if (communicator->size() < 2) {
    std::fprintf(stderr, "run under mpirun with 2 or more ranks: mpirun -np 2 %s\n", argv[0]);
    return 1;
  }
  const int failed = RUN_ALL_TESTS();
  communicator->barrier();
  return failed;
}
