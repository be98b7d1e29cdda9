// Dropout: the Philox4x32-10 generator against its published answers, the statistics of the
// masks it draws (keep fraction, preserved mean, independence across elements, layers, steps and
// seeds), every backend's masks the same bits whatever the cut, and the Network's two modes.
#include "test_support.hpp"

#include <gmock/gmock.h>

#include <cstring>
#include <functional>

namespace mlpk::test {
namespace {

using Words = std::array<std::uint32_t, 4>;

// Random123's known-answer vectors (its tests/kat_vectors) for philox4x32 with 10 rounds.
TEST(Philox, KnownAnswers) {
  EXPECT_EQ(philox4x32_10({0, 0, 0, 0}, {0, 0}), (Words{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
  EXPECT_EQ(philox4x32_10({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff}),
            (Words{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}));
  EXPECT_EQ(philox4x32_10({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0}),
            (Words{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}));
}

// The layout of dropout.hpp, element by element: counter {16 T + q % 16, r, t_lo, t_hi * 4096 + l},
// word q / 16, dropped below floor(p 2^32).
TEST(DropoutMask, FollowsTheDocumentedLayout) {
  const DropoutMask mask{0x123456789abcdefULL, (std::uint64_t{5} << 32) + 77, 3, 0.25f};
  EXPECT_EQ(mask.threshold(), 0x40000000u);
  EXPECT_EQ(mask.scale(), 1.0f / 0.75f);
  EXPECT_EQ(mask.key(), (std::array<std::uint32_t, 2>{0x89abcdefu, 0x01234567u}));
  EXPECT_EQ(mask.step_and_layer(), (std::array<std::uint32_t, 2>{77u, 5u * 4096u + 3u}));
  std::uint32_t tile[64];
  for (std::uint64_t r : {0u, 1u, 1000u})
    for (std::uint64_t t : {0u, 2u}) {
      mask.tile_words(r, t, tile);
      for (std::uint64_t q = 0; q < 64; ++q) {
        const std::uint64_t c = 64 * t + q;
        const Words w = philox4x32_10({static_cast<std::uint32_t>(16 * t + q % 16), static_cast<std::uint32_t>(r),
                                       77u, 5u * 4096u + 3u}, mask.key());
        ASSERT_EQ(tile[q], w[q / 16]) << "row " << r << ", column " << c;
        ASSERT_EQ(mask.keeps(r, c), w[q / 16] >= mask.threshold()) << "row " << r << ", column " << c;
        ASSERT_EQ(mask.at(r, 0).keeps(0, c), mask.keeps(r, c));
      }
    }
  EXPECT_EQ((DropoutMask{1, 2, 3, 0.0f}).threshold(), 0u);  // rate 0 keeps everything
  EXPECT_EQ((DropoutMask{1, 2, 3, 0.5f}).threshold(), 0x80000000u);
}

// The keep/drop decisions of a rows x cols layer output.
std::vector<bool> kept(const DropoutMask& mask, std::size_t rows, std::size_t cols) {
  std::vector<bool> out(rows * cols);
  for (std::size_t i = 0; i < rows; ++i)
    for (std::size_t j = 0; j < cols; ++j) out[i * cols + j] = mask.keeps(i, j);
  return out;
}

// Over 10^6 elements a fair mask keeps 1 - p of them within a few standard deviations, and
// Y = X * keep / (1 - p) keeps the mean of X (here 1): within 5 sigma, a bound that a correct
// generator misses once in 3.5 million runs, and these draws are fixed.
TEST(DropoutStatistics, KeepFractionAndMeanOverAMillionElements) {
  constexpr std::size_t rows = 1000, cols = 1000;
  const double n = static_cast<double>(rows * cols);
  auto backend = create_backend(default_backend_name());
  Tensor ones(rows, cols), out(rows, cols);
  for (std::size_t i = 0; i < rows; ++i)
    for (std::size_t j = 0; j < cols; ++j) ones(i, j) = 1.0f;
  for (const float p : {0.1f, 0.5f, 0.9f}) {
    SCOPED_TRACE("rate " + std::to_string(p));
    const DropoutMask mask{7, 11, 2, p};
    backend->dropout_forward(mask, ones.view(), out.view());
    double kept_count = 0.0, sum = 0.0;
    for (std::size_t i = 0; i < rows; ++i)
      for (std::size_t j = 0; j < cols; ++j) {
        kept_count += out(i, j) != 0.0f;
        sum += out(i, j);
      }
    const double q = 1.0 - static_cast<double>(p);
    EXPECT_NEAR(kept_count / n, q, 5.0 * std::sqrt(q * (1.0 - q) / n));
    // Y is 0 or 1/q: its variance is (1 - q)/q.
    EXPECT_NEAR(sum / n, 1.0, 5.0 * std::sqrt((1.0 - q) / q / n));
  }
}

// Two independent masks of rate 1/2 agree on half the elements. Element pairs that could share
// state (neighbouring columns and rows, the four words of one Philox call) and masks of other
// layers, steps and seeds must look independent: agreement 1/2 within 5 sigma.
TEST(DropoutStatistics, MasksOfOtherElementsLayersStepsAndSeedsAreIndependent) {
  constexpr std::size_t rows = 500, cols = 1024;
  const DropoutMask base{42, 1000, 1, 0.5f};
  const std::vector<bool> mine = kept(base, rows, cols);
  const auto agreement = [&](const std::function<bool(std::size_t, std::size_t)>& other, std::size_t rows_used,
                             std::size_t cols_used) {
    double same = 0.0;
    for (std::size_t i = 0; i < rows_used; ++i)
      for (std::size_t j = 0; j < cols_used; ++j) same += mine[i * cols + j] == other(i, j);
    return same / static_cast<double>(rows_used * cols_used);
  };
  // Every comparison covers at least half the elements.
  const double sigma = 0.5 / std::sqrt(static_cast<double>(rows * cols) / 2);
  const auto expect_independent = [&](const char* what, double a) {
    EXPECT_NEAR(a, 0.5, 5.0 * sigma) << what;
  };
  expect_independent("the next column", agreement([&](std::size_t i, std::size_t j) { return mine[i * cols + j + 1]; }, rows, cols - 1));
  expect_independent("the next row", agreement([&](std::size_t i, std::size_t j) { return mine[(i + 1) * cols + j]; }, rows - 1, cols));
  expect_independent("the next word of one Philox call (16 columns on)",
                     agreement([&](std::size_t i, std::size_t j) { return mine[i * cols + j + 16]; }, rows, cols - 16));
  expect_independent("the next tile (64 columns on)",
                     agreement([&](std::size_t i, std::size_t j) { return mine[i * cols + j + 64]; }, rows, cols - 64));
  for (const auto& [what, other] : {std::pair{"another layer", DropoutMask{42, 1000, 2, 0.5f}},
                                    {"the next step", DropoutMask{42, 1001, 1, 0.5f}},
                                    {"a step 2^32 on", DropoutMask{42, 1000 + (std::uint64_t{1} << 32), 1, 0.5f}},
                                    {"another seed", DropoutMask{43, 1000, 1, 0.5f}},
                                    {"a seed 2^32 on", DropoutMask{42 + (std::uint64_t{1} << 32), 1000, 1, 0.5f}}}) {
    const std::vector<bool> theirs = kept(other, rows, cols);
    expect_independent(what, agreement([&](std::size_t i, std::size_t j) { return theirs[i * cols + j]; }, rows, cols));
  }
}

class DropoutKernel : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { backend_ = create_backend(GetParam()); }
  std::unique_ptr<Backend> backend_;
};

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// Every backend computes a block of the output to the bits of the whole, wherever the block
// starts (mid-vector, mid-tile, on a tile), and in place as out of place: a pure function of
// the element's position, as the Network's cut and the thread count need.
TEST_P(DropoutKernel, ABlockIsTheBitsOfTheWholeWhereverItStarts) {
  constexpr std::size_t rows = 37, cols = 300;
  GuardedMatrix x(rows, cols);
  x.fill(3);
  const DropoutMask mask{9, 123, 4, 0.4f};
  for (const bool backward : {false, true}) {
    GuardedMatrix whole(rows, cols);
    const auto run = [&](const DropoutMask& m, ConstMatrixView in, MatrixView out) {
      if (backward)
        backend_->dropout_backward(m, in, out);
      else
        backend_->dropout_forward(m, in, out);
    };
    run(mask, x.view(), whole.view());
    struct Block {
      std::size_t row, col, rows, cols;
    };
    for (const Block& b : {Block{0, 0, 1, 1}, {5, 13, 7, 5}, {1, 60, 3, 9}, {2, 63, 4, 130}, {0, 64, rows, 64},
                           {10, 100, 20, 199}, {36, 1, 1, 299}, {3, 17, 30, 16}}) {
      SCOPED_TRACE(std::string(backward ? "backward" : "forward") + " block at (" + std::to_string(b.row) + ", " +
                   std::to_string(b.col) + "), " + std::to_string(b.rows) + "x" + std::to_string(b.cols));
      GuardedMatrix part(b.rows, b.cols, 3);
      run(mask.at(b.row, b.col), x.view().block(b.row, b.col, b.rows, b.cols), part.view());
      ASSERT_TRUE(part.guards_intact());
      GuardedMatrix in_place(b.rows, b.cols, 2);
      for (std::size_t i = 0; i < b.rows; ++i)
        for (std::size_t j = 0; j < b.cols; ++j) in_place.at(i, j) = x.at(b.row + i, b.col + j);
      run(mask.at(b.row, b.col), in_place.view(), in_place.view());
      for (std::size_t i = 0; i < b.rows; ++i)
        for (std::size_t j = 0; j < b.cols; ++j) {
          ASSERT_TRUE(same_bits(part.at(i, j), whole.at(b.row + i, b.col + j))) << i << "," << j;
          ASSERT_TRUE(same_bits(in_place.at(i, j), whole.at(b.row + i, b.col + j))) << i << "," << j;
        }
    }
  }
}

// A dropped element is 0 whatever it held, NaN and infinity included; a kept one is X / (1 - p).
TEST_P(DropoutKernel, DroppedElementsAreZeroAndKeptOnesScaled) {
  const DropoutMask mask{1, 2, 0, 0.5f};
  constexpr std::size_t cols = 200;
  std::vector<float> x(cols), y(cols);
  for (std::size_t j = 0; j < cols; ++j)
    x[j] = j % 3 == 0 ? std::numeric_limits<float>::quiet_NaN() : j % 3 == 1 ? INFINITY : 3.0f;
  backend_->dropout_forward(mask, {x.data(), 1, cols}, {y.data(), 1, cols});
  std::size_t dropped = 0;
  for (std::size_t j = 0; j < cols; ++j) {
    if (!mask.keeps(0, j)) {
      ++dropped;
      EXPECT_TRUE(same_bits(y[j], 0.0f)) << j;
    } else if (j % 3 == 2) {
      EXPECT_EQ(y[j], 6.0f) << j;
    }
  }
  EXPECT_GT(dropped, 50u);
  EXPECT_LT(dropped, 150u);
}

INSTANTIATE_TEST_SUITE_P(EveryBackend, DropoutKernel, testing::ValuesIn(backend_specs()), spec_test_name);

// --- the Network's training and evaluation modes -------------------------------------------------

Architecture with_rates(const char* layers, Activation hidden = Activation::relu) {
  return Architecture::parse(layers, hidden, Loss::softmax_cross_entropy);
}

TEST(DropoutNetwork, EvaluationDropsNothingAndTrainingDropsByTheStepsMask) {
  std::shared_ptr<Backend> backend = create_backend(default_backend_name());
  Network plain(with_rates("20-64-48-5"), backend), dropping(with_rates("20-64:0.5-48:0.25-5"), backend);
  plain.initialize(3);
  dropping.set_parameters([&] {
    std::vector<float> p(plain.parameter_count());
    plain.copy_parameters_to(p);
    return p;
  }());
  GuardedMatrix x(30, 20);
  x.fill(8);
  const auto copy = [](ConstMatrixView v) {
    std::vector<float> out;
    for (std::size_t i = 0; i < v.rows; ++i) out.insert(out.end(), v.row(i), v.row(i) + v.cols);
    return out;
  };
  const std::vector<float> evaluated = copy(plain.forward(x.view()));
  EXPECT_EQ(copy(dropping.forward(x.view())), evaluated) << "evaluation mode must drop nothing";
  EXPECT_EQ(copy(plain.forward_training(x.view(), {5, 9})), evaluated) << "no rates: nothing to drop";

  const std::vector<float> step9 = copy(dropping.forward_training(x.view(), {5, 9}));
  EXPECT_NE(step9, evaluated);
  EXPECT_EQ(copy(dropping.forward_training(x.view(), {5, 9})), step9) << "a step's mask is fixed";
  EXPECT_NE(copy(dropping.forward_training(x.view(), {5, 10})), step9) << "the next step has its own mask";
  EXPECT_NE(copy(dropping.forward_training(x.view(), {6, 9})), step9) << "another seed has its own mask";
  // The hidden activation A is kept undropped; the next layer read D = mask * A / (1 - p).
  dropping.forward_training(x.view(), {5, 9});
  plain.forward(x.view());
  const ConstMatrixView a = dropping.activation(0), a_plain = plain.activation(0);
  for (std::size_t i = 0; i < a.rows; ++i)
    for (std::size_t j = 0; j < a.cols; ++j) ASSERT_EQ(a(i, j), a_plain(i, j));
}

TEST(DropoutNetwork, ToStringAndParseCarryTheRates) {
  const Architecture a = with_rates("784-512:0.2-256:0.125-10");
  EXPECT_FLOAT_EQ(a.layers[0].dropout, 0.2f);
  EXPECT_FLOAT_EQ(a.layers[1].dropout, 0.125f);
  EXPECT_EQ(a.layers[2].dropout, 0.0f);
  EXPECT_EQ(a.to_string(), "784-512(relu, dropout 0.2)-256(relu, dropout 0.125)-10(softmax) softmax-ce");
  EXPECT_EQ(with_rates("784-512:0-10").layers[0].dropout, 0.0f);
  EXPECT_FALSE(with_rates("784-512:0.2-10") == with_rates("784-512-10"));
}

}  // namespace
}  // namespace mlpk::test
