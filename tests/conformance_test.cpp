// The conformance suite: every kernel of every backend (and every variant, e.g. SIMD target)
// against the reference backend, on awkward shapes, strided views, every transpose and
// alpha/beta combination. Written once, instantiated over every available backend.
#include "test_support.hpp"

#include <gmock/gmock.h>

#include <array>
#include <bit>
#include <memory>
#include <sstream>

namespace mlpk::test {
namespace {

constexpr std::size_t kSizes[] = {1, 3, 17, 129};
constexpr std::size_t kPads[] = {0, 5};  // packed and strided views

class Conformance : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    backend_ = create_backend(GetParam());
    reference_ = create_backend("reference");
  }

  // Compares `got` with `expected` element by element, with tolerance(i, j).
  template <class Tolerance>
  static void expect_near(const GuardedMatrix& got, const GuardedMatrix& expected, Tolerance tol) {
    ASSERT_TRUE(got.guards_intact()) << "the kernel wrote outside its output view";
    std::size_t failures = 0;
    for (std::size_t i = 0; i < got.rows(); ++i)
      for (std::size_t j = 0; j < got.cols(); ++j) {
        const double e = expected.at(i, j), g = got.at(i, j), t = tol(i, j);
        if (!(std::abs(g - e) <= t) && ++failures <= 5)
          ADD_FAILURE() << "at (" << i << "," << j << "): got " << g << ", reference " << e
                        << ", |diff| " << std::abs(g - e) << " > tolerance " << t;
      }
    EXPECT_EQ(failures, 0u) << "elements out of tolerance";
  }

  static void expect_elementwise(const GuardedMatrix& got, const GuardedMatrix& expected) {
    expect_near(got, expected, [&](std::size_t i, std::size_t j) {
      return elementwise_tolerance(expected.at(i, j));
    });
  }

  std::unique_ptr<Backend> backend_, reference_;
};

// --- GEMM --------------------------------------------------------------------------------------

struct GemmCase {
  Trans ta, tb;
  std::size_t m, n, k, pad;
  float alpha, beta;
};

std::string describe(const GemmCase& c) {
  std::ostringstream s;
  s << "gemm " << (c.ta == Trans::N ? 'n' : 't') << (c.tb == Trans::N ? 'n' : 't') << " M=" << c.m
    << " N=" << c.n << " K=" << c.k << " pad=" << c.pad << " alpha=" << c.alpha
    << " beta=" << c.beta;
  return s.str();
}

void run_gemm_case(Backend& backend, Backend& reference, const GemmCase& c) {
  SCOPED_TRACE(describe(c));
  const bool ta = c.ta == Trans::T, tb = c.tb == Trans::T;
  GuardedMatrix a(ta ? c.k : c.m, ta ? c.m : c.k, c.pad), b(tb ? c.n : c.k, tb ? c.k : c.n, c.pad);
  a.fill(c.m * 7 + c.k), b.fill(c.n * 13 + c.k + 1);
  GuardedMatrix got(c.m, c.n, c.pad), expected(c.m, c.n, c.pad);
  got.fill(99), expected.fill(99);
  const GuardedMatrix c0 = got;
  backend.gemm(c.ta, c.tb, c.alpha, a.view(), b.view(), c.beta, got.view());
  reference.gemm(c.ta, c.tb, c.alpha, a.view(), b.view(), c.beta, expected.view());
  // The bound needs sum_k |a_ik b_kj|: the reference computes it exactly on |A| and |B|.
  GuardedMatrix abs_a = a, abs_b = b, magnitude(c.m, c.n);
  for (std::size_t i = 0; i < a.rows(); ++i)
    for (std::size_t j = 0; j < a.cols(); ++j) abs_a.at(i, j) = std::abs(a.at(i, j));
  for (std::size_t i = 0; i < b.rows(); ++i)
    for (std::size_t j = 0; j < b.cols(); ++j) abs_b.at(i, j) = std::abs(b.at(i, j));
  reference.gemm(c.ta, c.tb, 1.0f, abs_a.view(), abs_b.view(), 0.0f, magnitude.view());
  const auto tolerance = [&](std::size_t i, std::size_t j) {
    return reduction_tolerance(
        c.k, std::abs(c.alpha) * magnitude.at(i, j) + std::abs(c.beta * c0.at(i, j)));
  };
  for (std::size_t i = 0; i < c.m; ++i)
    for (std::size_t j = 0; j < c.n; ++j)
      if (!(std::abs(got.at(i, j) - expected.at(i, j)) <= tolerance(i, j))) {
        ADD_FAILURE() << "at (" << i << "," << j << "): got " << got.at(i, j) << ", reference "
                      << expected.at(i, j) << ", tolerance " << tolerance(i, j);
        return;
      }
  EXPECT_TRUE(got.guards_intact()) << "gemm wrote outside C";
}

TEST_P(Conformance, GemmEveryTransposeOnAwkwardShapes) {
  for (Trans ta : {Trans::N, Trans::T})
    for (Trans tb : {Trans::N, Trans::T})
      for (std::size_t m : kSizes)
        for (std::size_t n : kSizes)
          for (std::size_t k : kSizes)
            run_gemm_case(*backend_, *reference_, {ta, tb, m, n, k, (m + n + k) % 2 ? 5u : 0u, 1.0f, 0.0f});
}

TEST_P(Conformance, GemmAlphaBetaAndStrides) {
  for (Trans ta : {Trans::N, Trans::T})
    for (Trans tb : {Trans::N, Trans::T})
      for (std::size_t pad : kPads)
        for (auto [alpha, beta] : {std::pair{0.5f, -1.5f}, {-2.0f, 1.0f}, {1.0f, 1.0f}, {0.0f, 0.25f}})
          for (std::array<std::size_t, 3> mnk : {std::array<std::size_t, 3>{17, 3, 129},
                                                 {129, 17, 3}, {3, 129, 17}, {1, 1, 1}})
            run_gemm_case(*backend_, *reference_, {ta, tb, mnk[0], mnk[1], mnk[2], pad, alpha, beta});
}

TEST_P(Conformance, GemmLargeReductionAndLongSides) {
  for (Trans ta : {Trans::N, Trans::T})
    for (Trans tb : {Trans::N, Trans::T})
      for (std::array<std::size_t, 3> mnk :
           {std::array<std::size_t, 3>{3, 17, 1000}, {1000, 17, 3}, {17, 1000, 3}, {129, 33, 1000},
            // wide enough that every Highway target packs A, deep enough for two K blocks
            {9, 449, 400}})
        run_gemm_case(*backend_, *reference_, {ta, tb, mnk[0], mnk[1], mnk[2], 3, 1.0f, 0.0f});
}

TEST_P(Conformance, GemmWithZeroBetaIgnoresNaNInC) {
  GuardedMatrix a(17, 9), b(9, 33), c(17, 33);
  a.fill(1), b.fill(2);
  for (std::size_t i = 0; i < c.rows(); ++i)
    for (std::size_t j = 0; j < c.cols(); ++j) c.at(i, j) = std::numeric_limits<float>::quiet_NaN();
  backend_->gemm(Trans::N, Trans::N, 1.0f, a.view(), b.view(), 0.0f, c.view());
  for (std::size_t i = 0; i < c.rows(); ++i)
    for (std::size_t j = 0; j < c.cols(); ++j) ASSERT_FALSE(std::isnan(c.at(i, j))) << i << "," << j;
}

TEST_P(Conformance, GemmKnownValues) {
  // [1 2; 3 4] * [5 6; 7 8] = [19 22; 43 50], and its transposes.
  const float a[] = {1, 2, 3, 4}, b[] = {5, 6, 7, 8};
  float c[4] = {1, 1, 1, 1};
  backend_->gemm(Trans::N, Trans::N, 1.0f, {a, 2, 2}, {b, 2, 2}, 0.0f, {c, 2, 2});
  EXPECT_THAT(c, testing::ElementsAre(19, 22, 43, 50));
  backend_->gemm(Trans::T, Trans::N, 1.0f, {a, 2, 2}, {b, 2, 2}, 0.0f, {c, 2, 2});
  EXPECT_THAT(c, testing::ElementsAre(26, 30, 38, 44));
  backend_->gemm(Trans::N, Trans::T, 2.0f, {a, 2, 2}, {b, 2, 2}, 1.0f, {c, 2, 2});
  EXPECT_THAT(c, testing::ElementsAre(26 + 34, 30 + 46, 38 + 78, 44 + 106));
}

// --- element-wise and reduction kernels ---------------------------------------------------------

TEST_P(Conformance, AddBias) {
  for (std::size_t rows : {1, 3, 17, 129})
    for (std::size_t cols : {1, 3, 17, 129, 1000})
      for (std::size_t pad : kPads) {
        SCOPED_TRACE(std::to_string(rows) + "x" + std::to_string(cols) + " pad " + std::to_string(pad));
        const auto bias = random_vector(cols, cols);
        GuardedMatrix got(rows, cols, pad), expected(rows, cols, pad);
        got.fill(rows), expected.fill(rows);
        backend_->add_bias(bias, got.view());
        reference_->add_bias(bias, expected.view());
        expect_elementwise(got, expected);
      }
}

TEST_P(Conformance, ActivationForwardAndBackward) {
  for (Activation g : kAllActivations) {
    if (!backend_->supports(g)) continue;
    for (std::size_t rows : {1, 3, 17})
      for (std::size_t cols : {1, 3, 17, 129, 1000})
        for (std::size_t pad : kPads)
          for (bool in_place : {false, true}) {
            SCOPED_TRACE(std::string(to_string(g)) + " " + std::to_string(rows) + "x" +
                         std::to_string(cols) + " pad " + std::to_string(pad) +
                         (in_place ? " in place" : ""));
            GuardedMatrix z(rows, cols, pad);
            z.fill(rows * 31 + cols, -6.0f, 6.0f);  // reaches the saturated tails
            GuardedMatrix got = z, expected(rows, cols, pad);
            if (in_place)
              backend_->activation_forward(g, got.view(), got.view());
            else
              backend_->activation_forward(g, z.view(), got.view());
            reference_->activation_forward(g, z.view(), expected.view());
            expect_elementwise(got, expected);

            GuardedMatrix da(rows, cols, pad);
            da.fill(rows + cols * 3);
            GuardedMatrix dz_got = da, dz_expected(rows, cols, pad);
            if (in_place)
              backend_->activation_backward(g, z.view(), expected.view(), dz_got.view(), dz_got.view());
            else
              backend_->activation_backward(g, z.view(), expected.view(), da.view(), dz_got.view());
            reference_->activation_backward(g, z.view(), expected.view(), da.view(), dz_expected.view());
            // Softmax's backward is a dot product over the row: a reduction of `cols` terms.
            expect_near(dz_got, dz_expected, [&](std::size_t i, std::size_t j) {
              const double e = dz_expected.at(i, j);
              return g == Activation::softmax ? elementwise_tolerance(e) + reduction_tolerance(cols, 1.0)
                                              : elementwise_tolerance(e);
            });
          }
  }
}

TEST_P(Conformance, ActivationKnownValues) {
  struct Known {
    Activation g;
    float z, a, derivative;
  };
  const Known known[] = {
      {Activation::identity, -2.5f, -2.5f, 1.0f},     {Activation::sigmoid, 0.0f, 0.5f, 0.25f},
      {Activation::tanh, 0.0f, 0.0f, 1.0f},           {Activation::relu, -1.0f, 0.0f, 0.0f},
      {Activation::relu, 2.0f, 2.0f, 1.0f},           {Activation::leaky_relu, -2.0f, -0.02f, 0.01f},
      {Activation::gelu, 0.0f, 0.0f, 0.5f},           {Activation::gelu, 1.0f, 0.8411920f, 1.0829640f},
      {Activation::sigmoid, 2.0f, 0.8807971f, 0.1049936f},
  };
  for (const Known& k : known) {
    if (!backend_->supports(k.g)) continue;
    SCOPED_TRACE(std::string(to_string(k.g)) + " at " + std::to_string(k.z));
    float z = k.z, a = 0.0f, one = 1.0f, dz = 0.0f;
    backend_->activation_forward(k.g, {&z, 1, 1}, {&a, 1, 1});
    EXPECT_NEAR(a, k.a, 1e-6);
    backend_->activation_backward(k.g, {&z, 1, 1}, {&a, 1, 1}, {&one, 1, 1}, {&dz, 1, 1});
    EXPECT_NEAR(dz, k.derivative, 1e-6);
  }
  if (backend_->supports(Activation::softmax)) {  // softmax of [0, ln 3] is [1/4, 3/4]
    const float z[] = {0.0f, std::log(3.0f)};
    float a[2];
    backend_->activation_forward(Activation::softmax, {z, 1, 2}, {a, 1, 2});
    EXPECT_NEAR(a[0], 0.25f, 1e-6);
    EXPECT_NEAR(a[1], 0.75f, 1e-6);
  }
}

TEST_P(Conformance, SoftmaxIsStableForLargeLogits) {
  const float z[] = {1000.0f, 1000.0f, -1000.0f, 88.0f};
  float a[4];
  if (!backend_->supports(Activation::softmax)) {  // then asking for it is a clear error
    EXPECT_THAT([&] { backend_->activation_forward(Activation::softmax, {z, 1, 4}, {a, 1, 4}); },
                testing::ThrowsMessage<Error>(testing::HasSubstr("does not support activation 'softmax'")));
    return;
  }
  backend_->activation_forward(Activation::softmax, {z, 1, 4}, {a, 1, 4});
  EXPECT_NEAR(a[0], 0.5f, 1e-6);
  EXPECT_NEAR(a[1], 0.5f, 1e-6);
  EXPECT_EQ(a[2], 0.0f);
  EXPECT_NEAR(a[3], 0.0f, 1e-6);
}

TEST_P(Conformance, ColumnSums) {
  for (std::size_t rows : {1, 3, 17, 129, 1000})
    for (std::size_t cols : {1, 3, 17, 129})
      for (std::size_t pad : kPads)
        for (auto [alpha, beta] : {std::pair{1.0f, 0.0f}, {0.5f, -1.0f}}) {
          SCOPED_TRACE(std::to_string(rows) + "x" + std::to_string(cols) + " pad " +
                       std::to_string(pad) + " alpha " + std::to_string(alpha));
          GuardedMatrix x(rows, cols, pad);
          x.fill(rows + cols);
          GuardedMatrix got(1, cols), expected(1, cols);
          got.fill(5), expected.fill(5);
          const GuardedMatrix before = got;
          backend_->column_sums(x.view(), alpha, beta, {&got.at(0, 0), cols});
          reference_->column_sums(x.view(), alpha, beta, {&expected.at(0, 0), cols});
          // Structured bindings are captured by init-capture here and below: clang 14 (the
          // sanitizer builds) cannot capture them implicitly.
          expect_near(got, expected, [&, alpha = alpha, beta = beta](std::size_t, std::size_t j) {
            double magnitude = std::abs(beta * before.at(0, j));
            for (std::size_t i = 0; i < rows; ++i) magnitude += std::abs(alpha * x.at(i, j));
            return reduction_tolerance(rows, magnitude);
          });
        }
}

TEST_P(Conformance, LossGradient) {
  for (std::size_t rows : {1, 3, 17, 129})
    for (std::size_t cols : {1, 3, 10, 17, 129})
      for (std::size_t pad : kPads) {
        GuardedMatrix a(rows, cols, pad), y(rows, cols, pad), got(rows, cols, pad), expected(rows, cols, pad);
        a.fill(rows * cols, 0.0f, 1.0f), y.fill(rows + cols, 0.0f, 1.0f);
        backend_->loss_gradient(a.view(), y.view(), 1.0f / static_cast<float>(rows), got.view());
        reference_->loss_gradient(a.view(), y.view(), 1.0f / static_cast<float>(rows), expected.view());
        expect_elementwise(got, expected);
        GuardedMatrix in_place = a;
        backend_->loss_gradient(in_place.view(), y.view(), 0.5f, in_place.view());
        reference_->loss_gradient(a.view(), y.view(), 0.5f, expected.view());
        expect_elementwise(in_place, expected);
      }
}

TEST_P(Conformance, Axpy) {
  for (std::size_t n : {1, 3, 17, 129, 1000, 4099}) {
    SCOPED_TRACE(n);
    const auto x = random_vector(n, n);
    auto got = random_vector(n, n + 1), expected = got;
    backend_->axpy(-0.75f, x, got);
    reference_->axpy(-0.75f, x, expected);
    for (std::size_t i = 0; i < n; ++i) ASSERT_NEAR(got[i], expected[i], elementwise_tolerance(expected[i]));
  }
}

TEST_P(Conformance, AdamUpdate) {
  // Step 1 and a later step of Adam (L2 weight decay) and AdamW (decoupled), lr 1e-2.
  const AdamStep steps[] = {{0.9f, 0.999f, 1e-8f, 0.1f, 31.62f, 1.0f, 0.01f},
                            {0.9f, 0.999f, 1e-8f, 0.0153f, 1.58f, 0.9999f, 0.0f}};
  for (const AdamStep& step : steps)
    for (std::size_t n : {1, 3, 17, 129, 1000, 4099}) {
      SCOPED_TRACE(n);
      const auto g = random_vector(n, n);
      auto w = random_vector(n, n + 1), m = random_vector(n, n + 2), s = random_vector(n, n + 3);
      for (float& v : s) v = std::abs(v);  // a second moment
      auto w_ref = w, m_ref = m, s_ref = s;
      backend_->adam_update(step, g, w, m, s);
      reference_->adam_update(step, g, w_ref, m_ref, s_ref);
      for (std::size_t i = 0; i < n; ++i) {
        ASSERT_NEAR(m[i], m_ref[i], elementwise_tolerance(m_ref[i]));
        ASSERT_NEAR(s[i], s_ref[i], elementwise_tolerance(s_ref[i]));
        ASSERT_NEAR(w[i], w_ref[i], elementwise_tolerance(w_ref[i]));
      }
    }
}

TEST_P(Conformance, SgdUpdate) {
  // SGD with weight decay: SgdStep::update's operations, the reference's bits exactly.
  for (const SgdStep step : {SgdStep{0.01f, 1e-4f}, SgdStep{0.3f, 0.05f}})
    for (std::size_t n : {1, 3, 17, 129, 1000, 4099}) {
      SCOPED_TRACE(testing::Message() << "n " << n << ", lr " << step.learning_rate);
      const auto g = random_vector(n, n);
      auto w = random_vector(n, n + 1);
      auto w_ref = w;
      backend_->sgd_update(step, g, w);
      reference_->sgd_update(step, g, w_ref);
      for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(w[i], w_ref[i]) << "at " << i;
    }
}

TEST_P(Conformance, MomentumUpdate) {
  // Momentum and Nesterov, with and without weight decay: MomentumStep::update's operations, so
  // the reference's bits exactly, at every vector width and in the tails.
  const MomentumStep steps[] = {{0.01f, 0.9f, 0.0f, false},
                                {0.05f, 0.9f, 1e-4f, true},
                                {0.1f, 0.5f, 0.01f, false},
                                {0.2f, 0.99f, 0.003f, true}};
  for (const MomentumStep& step : steps)
    for (std::size_t n : {1, 3, 17, 129, 1000, 4099}) {
      SCOPED_TRACE(testing::Message() << "n " << n << ", nesterov " << step.nesterov);
      const auto g = random_vector(n, n);
      auto w = random_vector(n, n + 1), v = random_vector(n, n + 2);
      auto w_ref = w, v_ref = v;
      backend_->momentum_update(step, g, w, v);
      reference_->momentum_update(step, g, w_ref, v_ref);
      for (std::size_t i = 0; i < n; ++i) {
        ASSERT_EQ(v[i], v_ref[i]) << "at " << i;
        ASSERT_EQ(w[i], w_ref[i]) << "at " << i;
      }
    }
}

// Forward and backward with a fixed mask, at positions in the layer that start mid-vector and
// mid-tile and far out: the same elements dropped as the reference (exactly 0), the others
// within one rounding of X / (1 - p) computed in double.
TEST_P(Conformance, DropoutForwardAndBackward) {
  for (const float rate : {0.0f, 0.25f, 0.9f})
    for (std::size_t rows : {1, 3, 17})
      for (std::size_t cols : {1, 3, 17, 129, 1000})
        for (auto [row, col] : {std::pair<std::uint64_t, std::uint64_t>{0, 0}, {5, 13}, {1000, 64},
                                {(std::uint64_t{1} << 32) - 17, 77}})
          for (bool backward : {false, true})
            for (bool in_place : {false, true}) {
              const std::size_t pad = (rows + cols) % 2 ? 5 : 0;
              SCOPED_TRACE(std::string(backward ? "backward" : "forward") + " rate " + std::to_string(rate) +
                           " " + std::to_string(rows) + "x" + std::to_string(cols) + " at (" +
                           std::to_string(row) + ", " + std::to_string(col) + ")" + (in_place ? " in place" : ""));
              const DropoutMask mask{0xfeedbeefcafeULL, 12345, 7, rate, row, col};
              GuardedMatrix x(rows, cols, pad), got(rows, cols, pad), expected(rows, cols, pad);
              x.fill(rows * cols + col, -3.0f, 3.0f);
              if (in_place) got = x;
              const auto run = [&](Backend& b, ConstMatrixView in, MatrixView out) {
                if (backward)
                  b.dropout_backward(mask, in, out);
                else
                  b.dropout_forward(mask, in, out);
              };
              run(*backend_, in_place ? got.view() : x.view(), got.view());
              run(*reference_, x.view(), expected.view());
              expect_near(got, expected, [&](std::size_t i, std::size_t j) {
                return mask.keeps(i, j) ? elementwise_tolerance(expected.at(i, j)) : 0.0;
              });
              if (rate == 0.0f) {  // nothing dropped, and X / 1 is X
                for (std::size_t i = 0; i < rows; ++i)
                  for (std::size_t j = 0; j < cols; ++j) ASSERT_EQ(got.at(i, j), x.at(i, j));
              }
            }
}

// --- fused kernels -----------------------------------------------------------------------------

TEST_P(Conformance, DenseForwardMatchesComposedKernels) {
  // The inputs depend on the shape alone: the reference's products (its naive double loops, the
  // suite's slowest part under the sanitizers) are computed once per shape, not per activation.
  for (std::array<std::size_t, 3> shape : {std::array<std::size_t, 3>{1, 3, 1}, {17, 129, 3},
                                           {129, 17, 10}, {3, 1000, 17}, {64, 784, 129},
                                           {9, 400, 449}}) {  // packed A over two K blocks
    const auto [n, in, out] = shape;
    GuardedMatrix x(n, in, 3), w(in, out);
    x.fill(n + in), w.fill(in + out);
    const auto bias = random_vector(out, out);
    GuardedMatrix z_ref(n, out), magnitude(n, out);
    reference_->gemm(Trans::N, Trans::N, 1.0f, x.view(), w.view(), 0.0f, z_ref.view());
    reference_->add_bias(bias, z_ref.view());
    GuardedMatrix abs_x = x, abs_w = w;
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < in; ++j) abs_x.at(i, j) = std::abs(x.at(i, j));
    for (std::size_t i = 0; i < in; ++i)
      for (std::size_t j = 0; j < out; ++j) abs_w.at(i, j) = std::abs(w.at(i, j));
    reference_->gemm(Trans::N, Trans::N, 1.0f, abs_x.view(), abs_w.view(), 0.0f, magnitude.view());
    const auto z_tolerance = [&, in = in](std::size_t i, std::size_t j) {
      return reduction_tolerance(in, magnitude.at(i, j) + std::abs(bias[j]));
    };
    // Z's rounding error propagates through g, whose slope is at most ~1.13 (GELU); softmax
    // couples a row, so its error is bounded by the row's largest.
    std::vector<double> row_max(n, 0.0);
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < out; ++j) row_max[i] = std::max(row_max[i], z_tolerance(i, j));
    for (Activation g : kAllActivations) {
      if (!backend_->supports(g)) continue;
      GuardedMatrix a_ref(n, out);
      reference_->activation_forward(g, z_ref.view(), a_ref.view());
      for (bool alias : {false, true}) {
        SCOPED_TRACE(std::string(to_string(g)) + " " + std::to_string(n) + "x" + std::to_string(in) +
                     " -> " + std::to_string(out) + (alias ? " Z aliases A" : ""));
        GuardedMatrix z(n, out, 1), a(n, out, 1);
        if (alias)
          backend_->dense_forward(x.view(), w.view(), bias, g, a.view(), a.view());
        else
          backend_->dense_forward(x.view(), w.view(), bias, g, z.view(), a.view());
        if (!alias) expect_near(z, z_ref, z_tolerance);
        expect_near(a, a_ref, [&](std::size_t i, std::size_t j) {
          const double propagated = g == Activation::softmax ? 2.0 * row_max[i] : 1.2 * z_tolerance(i, j);
          return elementwise_tolerance(a_ref.at(i, j)) + propagated;
        });
      }
    }
  }
}

TEST_P(Conformance, SumBiasActivationIsTheComposedKernelsBitForBit) {
  // The epilogue of a product summed from partials over blocks of its depth: the same sums in the
  // same order as axpy, add_bias and activation_forward of this backend (which the tests above
  // hold to the reference), so a Network gets the same bits whichever it calls.
  for (Activation g : kAllActivations) {
    if (!backend_->supports(g)) continue;
    for (std::array<std::size_t, 2> shape : {std::array<std::size_t, 2>{1, 1}, {17, 3}, {129, 17}, {64, 256}})
      for (std::size_t count : {0, 1, 2})
        for (std::size_t pad : kPads)
          for (bool in_place : {false, true}) {
            const auto [rows, cols] = shape;
            SCOPED_TRACE(std::string(to_string(g)) + " " + std::to_string(rows) + "x" + std::to_string(cols) +
                         " partials " + std::to_string(count) + " pad " + std::to_string(pad) +
                         (in_place ? " in place" : ""));
            std::vector<GuardedMatrix> partials;
            std::vector<ConstMatrixView> views;
            for (std::size_t k = 0; k < count; ++k) partials.emplace_back(rows, cols, pad).fill(rows + cols + k, -3.0f, 3.0f);
            for (const GuardedMatrix& p : partials) views.push_back(p.view());
            const auto bias = random_vector(cols, rows * cols);
            GuardedMatrix z(rows, cols, pad), a(rows, cols, pad);
            z.fill(rows * cols + 7, -3.0f, 3.0f);
            GuardedMatrix z_composed = z, a_composed = a;
            backend_->sum_bias_activation(views, bias, g, z.view(), in_place ? z.view() : a.view());
            for (const ConstMatrixView& p : views)
              for (std::size_t i = 0; i < rows; ++i)
                backend_->axpy(1.0f, {p.row(i), cols}, {z_composed.view().row(i), cols});
            backend_->add_bias(bias, z_composed.view());
            GuardedMatrix& a_expected = in_place ? z_composed : a_composed;
            if (!(in_place && g == Activation::identity))
              backend_->activation_forward(g, z_composed.view(), a_expected.view());
            const GuardedMatrix& a_got = in_place ? z : a;
            ASSERT_TRUE(z.guards_intact() && a.guards_intact()) << "wrote outside its output views";
            std::size_t differ = 0;
            for (std::size_t i = 0; i < rows; ++i)
              for (std::size_t j = 0; j < cols; ++j) {
                const bool a_same = std::bit_cast<std::uint32_t>(a_got.at(i, j)) ==
                                    std::bit_cast<std::uint32_t>(a_expected.at(i, j));
                const bool z_same = in_place || std::bit_cast<std::uint32_t>(z.at(i, j)) ==
                                                    std::bit_cast<std::uint32_t>(z_composed.at(i, j));
                if ((!a_same || !z_same) && ++differ <= 3)
                  ADD_FAILURE() << "at (" << i << "," << j << "): Z " << z.at(i, j) << " against "
                                << z_composed.at(i, j) << ", A " << a_got.at(i, j) << " against "
                                << a_expected.at(i, j);
              }
            EXPECT_EQ(differ, 0u);
          }
  }
}

TEST_P(Conformance, DenseBackwardActivationMatchesComposedKernels) {
  for (Activation g : kAllActivations) {
    if (!backend_->supports(g)) continue;
    for (std::array<std::size_t, 2> shape : {std::array<std::size_t, 2>{1, 1}, {17, 3}, {129, 17}, {1000, 10}})
      for (bool in_place : {false, true}) {
        const auto [rows, cols] = shape;
        SCOPED_TRACE(std::string(to_string(g)) + " " + std::to_string(rows) + "x" + std::to_string(cols));
        GuardedMatrix z(rows, cols, 2), a(rows, cols, 2), da(rows, cols, 2);
        z.fill(rows + cols, -4.0f, 4.0f), da.fill(rows * cols);
        reference_->activation_forward(g, z.view(), a.view());
        GuardedMatrix dz = da, dz_ref(rows, cols, 2), db(1, cols), db_ref(1, cols);
        if (in_place)
          backend_->dense_backward_activation(g, z.view(), a.view(), dz.view(), dz.view(), {&db.at(0, 0), cols});
        else
          backend_->dense_backward_activation(g, z.view(), a.view(), da.view(), dz.view(), {&db.at(0, 0), cols});
        reference_->activation_backward(g, z.view(), a.view(), da.view(), dz_ref.view());
        reference_->column_sums(dz_ref.view(), 1.0f, 0.0f, {&db_ref.at(0, 0), cols});
        const auto dz_tolerance = [&, cols = cols](std::size_t i, std::size_t j) {
          const double e = dz_ref.at(i, j);
          return g == Activation::softmax ? elementwise_tolerance(e) + reduction_tolerance(cols, 1.0)
                                          : elementwise_tolerance(e);
        };
        expect_near(dz, dz_ref, dz_tolerance);
        expect_near(db, db_ref, [&, rows = rows](std::size_t, std::size_t j) {
          double magnitude = 0.0, propagated = 0.0;
          for (std::size_t i = 0; i < rows; ++i) {
            magnitude += std::abs(dz_ref.at(i, j));
            propagated += dz_tolerance(i, j);
          }
          return reduction_tolerance(rows, magnitude) + propagated;
        });
      }
  }
}

// --- the contract around the kernels -----------------------------------------------------------

TEST_P(Conformance, DescribesItself) {
  EXPECT_FALSE(backend_->name().empty());
  EXPECT_EQ(GetParam().substr(0, GetParam().find(':')), backend_->name());
  EXPECT_THAT(backend_->description(), testing::HasSubstr(backend_->name()));
}

TEST_P(Conformance, RejectsWrongShapesWithTheSameMessages) {
  float buffer[64] = {};
  const MatrixView m23{buffer, 2, 3}, m33{buffer, 3, 3}, m22{buffer, 2, 2};
  EXPECT_THAT([&] { backend_->gemm(Trans::N, Trans::N, 1, m23, m23, 0, m22); },
              testing::ThrowsMessage<Error>(testing::HasSubstr("inner dimensions 3 and 2 differ")));
  EXPECT_THAT([&] { backend_->gemm(Trans::N, Trans::N, 1, m23, m33, 0, m22); },
              testing::ThrowsMessage<Error>(testing::HasSubstr("C is 2x2 but op(A)*op(B) is 2x3")));
  EXPECT_THAT([&] { backend_->add_bias(std::span<const float>(buffer, 2), m23); },
              testing::ThrowsMessage<Error>(testing::HasSubstr("bias has 2 entries but Z has 3 columns")));
  EXPECT_THAT([&] { backend_->activation_forward(Activation::relu, m23, m33); },
              testing::ThrowsMessage<Error>(testing::HasSubstr("A is 3x3 but Z is 2x3")));
  const ConstMatrixView partials23[] = {m23}, partials33[] = {m33};
  EXPECT_THAT([&] { backend_->sum_bias_activation(partials33, std::span<const float>(buffer, 3), Activation::relu, m23, m23); },
              testing::ThrowsMessage<Error>(testing::HasSubstr("sum_bias_activation: P is 3x3 but Z is 2x3")));
  EXPECT_THAT([&] { backend_->sum_bias_activation(partials23, std::span<const float>(buffer, 2), Activation::relu, m23, m23); },
              testing::ThrowsMessage<Error>(testing::HasSubstr("bias has 2 entries but Z has 3 columns")));
  EXPECT_THAT([&] { backend_->column_sums(m23, 1, 0, std::span<float>(buffer, 2)); },
              testing::ThrowsMessage<Error>(testing::HasSubstr("sums has 2 entries but X has 3 columns")));
  EXPECT_THAT([&] { backend_->axpy(1, std::span<const float>(buffer, 2), std::span<float>(buffer, 3)); },
              testing::ThrowsMessage<Error>(testing::HasSubstr("x has 2 entries but y has 3")));
  EXPECT_THAT([&] {
    backend_->adam_update(AdamStep{}, std::span<const float>(buffer, 3), std::span<float>(buffer, 3),
                          std::span<float>(buffer, 2), std::span<float>(buffer, 3));
  }, testing::ThrowsMessage<Error>(testing::HasSubstr("g has 3 entries but m has 2")));
  EXPECT_THAT([&] {
    backend_->adam_update(AdamStep{}, std::span<const float>(buffer, 3), std::span<float>(buffer + 3, 3),
                          std::span<float>(buffer + 5, 3), std::span<float>(buffer + 9, 3));
  }, testing::ThrowsMessage<Error>(testing::HasSubstr("w and m overlap")));
  EXPECT_THAT([&] { backend_->sgd_update(SgdStep{}, std::span<const float>(buffer, 3), std::span<float>(buffer + 3, 4)); },
              testing::ThrowsMessage<Error>(testing::HasSubstr("sgd_update: g has 3 entries but w has 4")));
  EXPECT_THAT([&] { backend_->sgd_update(SgdStep{}, std::span<const float>(buffer, 3), std::span<float>(buffer + 2, 3)); },
              testing::ThrowsMessage<Error>(testing::HasSubstr("sgd_update: g and w overlap")));
  EXPECT_THAT([&] {
    backend_->momentum_update(MomentumStep{}, std::span<const float>(buffer, 3), std::span<float>(buffer + 3, 3),
                              std::span<float>(buffer + 6, 2));
  }, testing::ThrowsMessage<Error>(testing::HasSubstr("momentum_update: g has 3 entries but v has 2")));
  EXPECT_THAT([&] {
    backend_->momentum_update(MomentumStep{}, std::span<const float>(buffer, 3), std::span<float>(buffer + 3, 3),
                              std::span<float>(buffer + 4, 3));
  }, testing::ThrowsMessage<Error>(testing::HasSubstr("momentum_update: w and v overlap")));
  EXPECT_THAT([&] { backend_->dropout_forward(DropoutMask{1, 2, 3, 0.5f}, m23, m33); },
              testing::ThrowsMessage<Error>(testing::HasSubstr("dropout_forward: Y is 3x3 but X is 2x3")));
  EXPECT_THAT([&] { backend_->dropout_backward(DropoutMask{1, 2, 3, 0.5f}, m33, m23); },
              testing::ThrowsMessage<Error>(testing::HasSubstr("dropout_backward: Y is 2x3 but X is 3x3")));
}

INSTANTIATE_TEST_SUITE_P(EveryBackend, Conformance, testing::ValuesIn(backend_specs()), spec_test_name);

}  // namespace
}  // namespace mlpk::test
