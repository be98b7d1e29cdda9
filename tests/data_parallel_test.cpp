// Data-parallel training without MPI: shares of a batch, the single-process communicator,
// Network::backward_share, and Trainer::fit over ranks that are threads of this process (a
// communicator of the test's own, adding in rank order as the MPI one does), on every backend.
// The same run under mpirun is tests/mpi_data_parallel_test.cpp.
#include "test_support.hpp"

#include <mlpk/communicator.hpp>
#include <mlpk/trainer.hpp>

#include <barrier>
#include <cmath>
#include <cstring>
#include <thread>

namespace mlpk::test {
namespace {

TEST(Share, CutsABatchInRankOrderIntoNearlyEqualShares) {
  for (std::size_t rows : {0u, 1u, 5u, 64u, 1003u})
    for (std::size_t ranks : {1u, 2u, 3u, 7u}) {
      std::size_t next = 0;
      for (std::size_t r = 0; r < ranks; ++r) {
        const Share s = share_of(rows, r, ranks);
        EXPECT_EQ(s.first, next) << rows << " rows, rank " << r << " of " << ranks;
        EXPECT_TRUE(s.count == rows / ranks || s.count == rows / ranks + 1);
        EXPECT_GE(s.count, share_of(rows, ranks - 1, ranks).count);  // the first ones larger
        next += s.count;
      }
      EXPECT_EQ(next, rows);
    }
  EXPECT_THROW(share_of(10, 2, 2), Error);
  EXPECT_THROW(share_of(10, 0, 0), Error);
}

TEST(SingleProcessCommunicator, IsOneRankThatChangesNothing) {
  const auto c = single_process_communicator();
  EXPECT_EQ(c->rank(), 0u);
  EXPECT_EQ(c->size(), 1u);
  std::vector<float> f{1.5f, -2.0f};
  std::vector<double> d{3.25};
  c->all_reduce_sum(std::span<float>(f));
  c->start_all_reduce_sum(std::span<float>(f));
  c->wait();
  c->all_reduce_sum(std::span<double>(d));
  EXPECT_EQ(f, (std::vector<float>{1.5f, -2.0f}));
  EXPECT_EQ(d, (std::vector<double>{3.25}));
  EXPECT_THROW(c->broadcast(std::as_writable_bytes(std::span(f)), 1), Error);
}

// Ranks as threads: every collective meets at a barrier, and the sums add in rank order.
class ThreadRanks {
 public:
  explicit ThreadRanks(std::size_t ranks) : sync_(static_cast<std::ptrdiff_t>(ranks)), parts_(ranks) {}

  class Rank final : public Communicator {
   public:
    Rank(ThreadRanks& group, std::size_t rank) : group_(group), rank_(rank) {}
    std::size_t rank() const override { return rank_; }
    std::size_t size() const override { return group_.parts_.size(); }
    std::string description() const override { return "thread rank"; }
    void all_reduce_sum(std::span<float> v) override { group_.sum(rank_, v.data(), v.size(), true); }
    void all_reduce_sum(std::span<double> v) override { group_.sum(rank_, v.data(), v.size(), false); }
    void broadcast(std::span<std::byte> bytes, std::size_t root) override {
      group_.parts_[rank_] = bytes.data();
      group_.sync_.arrive_and_wait();
      if (rank_ != root) std::memcpy(bytes.data(), group_.parts_[root], bytes.size());
      group_.sync_.arrive_and_wait();
    }
    void barrier() override { group_.sync_.arrive_and_wait(); }
    [[noreturn]] void abort(int code, std::string_view) override { std::_Exit(code); }

   private:
    ThreadRanks& group_;
    std::size_t rank_;
  };

 private:
  void sum(std::size_t rank, void* values, std::size_t n, bool single) {
    parts_[rank] = values;
    sync_.arrive_and_wait();
    if (rank == 0) {  // rank 0 adds everyone's in rank order into the shared result
      result_.assign(n, 0.0);
      for (std::size_t i = 0; i < n; ++i) {
        if (single) {
          float s = static_cast<float*>(parts_[0])[i];
          for (std::size_t r = 1; r < parts_.size(); ++r) s += static_cast<float*>(parts_[r])[i];
          result_[i] = s;
        } else {
          double s = static_cast<double*>(parts_[0])[i];
          for (std::size_t r = 1; r < parts_.size(); ++r) s += static_cast<double*>(parts_[r])[i];
          result_[i] = s;
        }
      }
    }
    sync_.arrive_and_wait();
    for (std::size_t i = 0; i < n; ++i) {
      if (single) static_cast<float*>(values)[i] = static_cast<float>(result_[i]);
      else static_cast<double*>(values)[i] = result_[i];
    }
    sync_.arrive_and_wait();
  }

  std::barrier<> sync_;
  std::vector<void*> parts_;
  std::vector<double> result_;  // floats are exact in it
};

Dataset three_classes() {
  Dataset d;
  const std::size_t n = 203, features = 6;  // batches of 40 leave 3 rows: a share of 1
  d.features = Tensor(n, features);
  d.classes = 3;
  for (std::size_t i = 0; i < n; ++i) {
    double s = 0.0;
    for (std::size_t j = 0; j < features; ++j) {
      const double v = std::cos(0.71 * static_cast<double>(i * features + j));
      d.features(i, j) = static_cast<float>(v);
      s += j % 2 == 0 ? v : -v;
    }
    d.labels.push_back(s > 0.5 ? 0u : s > -0.5 ? 1u : 2u);
  }
  one_hot(d);
  return d;
}

std::vector<float> train(const std::string& backend, Communicator* ranks, const Dataset& data,
                         const Dataset& validation, double* validation_loss) {
  Network net(Architecture::parse("6-24:0.3-12-3", Activation::relu, Loss::softmax_cross_entropy),
              create_backend(backend));
  net.set_threads(1);
  net.initialize(11);
  OptimizerOptions o;
  o.learning_rate = 0.01f;
  auto adam = make_optimizer(OptimizerKind::adam, o);
  TrainerOptions t;
  t.epochs = 3;
  t.batch_size = 40;
  t.communicator = ranks;
  Trainer trainer(net, *adam, t);
  *validation_loss = trainer.fit(data, &validation).back().validation->loss;
  std::vector<float> p(net.parameter_count());
  net.copy_parameters_to(p);
  return p;
}

class DataParallel : public testing::TestWithParam<std::string> {};

// The tolerance the MPI test states: 1e-5 on parameters of magnitude ~1.
TEST_P(DataParallel, ThreeRanksTrainAsOneProcessWithinTolerance) {
  const Dataset data = three_classes(), validation = three_classes();
  double alone_loss = 0.0;
  const std::vector<float> alone = train(GetParam(), nullptr, data, validation, &alone_loss);
  constexpr std::size_t kRanks = 3;
  ThreadRanks group(kRanks);
  std::vector<std::vector<float>> got(kRanks);
  std::vector<double> losses(kRanks);
  std::vector<std::thread> threads;
  for (std::size_t r = 0; r < kRanks; ++r)
    threads.emplace_back([&, r] {
      ThreadRanks::Rank rank(group, r);
      got[r] = train(GetParam(), &rank, data, validation, &losses[r]);
    });
  for (auto& t : threads) t.join();
  for (std::size_t r = 0; r < kRanks; ++r) {
    ASSERT_EQ(got[r].size(), alone.size());
    EXPECT_EQ(std::memcmp(got[r].data(), got[0].data(), alone.size() * sizeof(float)), 0)
        << "rank " << r << " holds other weights than rank 0";
    EXPECT_EQ(losses[r], losses[0]);
    for (std::size_t i = 0; i < alone.size(); ++i) EXPECT_NEAR(got[r][i], alone[i], 1e-5f) << i;
  }
  EXPECT_NEAR(losses[0], alone_loss, 1e-6);
}

TEST_P(DataParallel, SharesOfABatchSumToItsGradient) {
  const Dataset data = three_classes();
  Network net(Architecture::parse("6-8-3", Activation::tanh, Loss::softmax_cross_entropy),
              create_backend(GetParam()));
  net.initialize(3);
  const std::size_t n = 30;
  net.forward(data.features.view().top_rows(n));
  net.backward(data.targets.view().top_rows(n));
  const std::vector<float> whole(net.gradients().begin(), net.gradients().end());
  std::vector<float> sum(whole.size(), 0.0f);
  for (const Share s : {share_of(n, 0, 2), share_of(n, 1, 2)}) {
    net.forward(data.features.view().block(s.first, 0, s.count, 6));
    std::vector<std::pair<float*, std::size_t>> parts;
    net.backward_share(data.targets.view().block(s.first, 0, s.count, 3), n,
                       [&](std::span<float> g) { parts.emplace_back(g.data(), g.size()); });
    // Last layer first, and together every gradient once.
    ASSERT_EQ(parts.size(), 2u);
    EXPECT_EQ(parts[1].first, net.gradients().data());
    EXPECT_EQ(parts[1].first + parts[1].second, parts[0].first);
    EXPECT_EQ(parts[0].first + parts[0].second, net.gradients().data() + net.gradients().size());
    for (std::size_t i = 0; i < sum.size(); ++i) sum[i] += net.gradients()[i];
  }
  for (std::size_t i = 0; i < sum.size(); ++i) EXPECT_NEAR(sum[i], whole[i], 1e-6f) << i;
  // A share that is the whole batch is backward() itself.
  net.forward(data.features.view().top_rows(n));
  net.backward_share(data.targets.view().top_rows(n), n);
  EXPECT_EQ(std::memcmp(net.gradients().data(), whole.data(), whole.size() * sizeof(float)), 0);
  EXPECT_THROW(net.backward_share(data.targets.view().top_rows(n), n - 1), Error);
}

INSTANTIATE_TEST_SUITE_P(EveryBackend, DataParallel, testing::ValuesIn(available_backends()),
                         spec_test_name);

}  // namespace
}  // namespace mlpk::test
