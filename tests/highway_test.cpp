// Tests of the highway backend against the reference backend, for every Highway target this CPU
// runs ("highway:<variant>"): GEMM on sizes just around every blocking edge (MR, NR, MC, KC, NC),
// every transpose, strided views, alpha/beta; and the fused dense kernels on awkward shapes.
// The broad kernel-by-kernel conformance suite lives in tests/ on main; this file targets the
// cases a blocked, packed GEMM gets wrong.
#include <mlpk/registry.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cfloat>
#include <cmath>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

using mlpk::Activation;
using mlpk::ConstMatrixView;
using mlpk::MatrixView;
using mlpk::Trans;

std::vector<std::string> highway_specs() {
  std::vector<std::string> specs;
  for (const std::string& v : mlpk::create_backend("highway")->variants())
    specs.push_back("highway:" + v);
  return specs;
}

// A rows x cols matrix inside a buffer with a larger row stride, filled with random values; the
// padding holds NaN so that any read or write outside the view shows up.
struct Strided {
  std::vector<float> storage;
  MatrixView view;
  Strided(std::size_t rows, std::size_t cols, std::size_t pad, std::mt19937& rng)
      : storage(rows * (cols + pad) + 1, std::numeric_limits<float>::quiet_NaN()) {
    view = MatrixView(storage.data(), rows, cols, cols + pad);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    for (std::size_t i = 0; i < rows; ++i)
      for (std::size_t j = 0; j < cols; ++j) view(i, j) = dist(rng);
  }
};

struct GemmCase {
  std::size_t m, n, k;
  Trans ta, tb;
  float alpha, beta;
  std::size_t pad;  // extra floats per row of every operand
};

std::string case_name(const GemmCase& c) {
  return std::to_string(c.m) + "x" + std::to_string(c.n) + "x" + std::to_string(c.k) + " " +
         (c.ta == Trans::N ? "n" : "t") + (c.tb == Trans::N ? "n" : "t") + " alpha " +
         std::to_string(c.alpha) + " beta " + std::to_string(c.beta) + " pad " + std::to_string(c.pad);
}

void check_gemm(const std::string& spec, const GemmCase& c) {
  auto hw = mlpk::create_backend(spec);
  auto ref = mlpk::create_backend("reference");
  std::mt19937 rng(static_cast<unsigned>(c.m * 131 + c.n * 17 + c.k));
  const std::size_t ar = c.ta == Trans::N ? c.m : c.k, ac = c.ta == Trans::N ? c.k : c.m;
  const std::size_t br = c.tb == Trans::N ? c.k : c.n, bc = c.tb == Trans::N ? c.n : c.k;
  Strided a(ar, ac, c.pad, rng), b(br, bc, c.pad, rng), c_hw(c.m, c.n, c.pad, rng);
  Strided c_ref = c_hw;
  c_ref.view.data = c_ref.storage.data();
  if (c.beta == 0.0f)  // beta == 0 must not read C: NaN in C must not propagate
    for (std::size_t i = 0; i < c.m; ++i) c_hw.view(i, 0) = c_ref.view(i, 0) = NAN;
  hw->gemm(c.ta, c.tb, c.alpha, a.view, b.view, c.beta, c_hw.view);
  ref->gemm(c.ta, c.tb, c.alpha, a.view, b.view, c.beta, c_ref.view);
  // Error bound of a K-term float dot product: 2 K eps (|alpha| sum |a||b| + |beta c|).
  const ConstMatrixView av = a.view, bv = b.view;
  std::size_t failures = 0;
  for (std::size_t i = 0; i < c.m; ++i)
    for (std::size_t j = 0; j < c.n; ++j) {
      double mag = 0.0;
      for (std::size_t k = 0; k < c.k; ++k) {
        const float x = c.ta == Trans::N ? av(i, k) : av(k, i);
        const float y = c.tb == Trans::N ? bv(k, j) : bv(j, k);
        mag += std::fabs(static_cast<double>(x) * y);
      }
      // |C| <= 1 before the call (uniform in [-1, 1]).
      const double bound =
          2.0 * c.k * FLT_EPSILON * (std::fabs(c.alpha) * mag + std::fabs(c.beta)) + 1e-30;
      const float got = c_hw.view(i, j), want = c_ref.view(i, j);
      if (!(std::fabs(static_cast<double>(got) - want) <= bound) && failures++ < 5)
        ADD_FAILURE() << spec << " " << case_name(c) << " at (" << i << "," << j << "): got " << got
                      << " want " << want << " bound " << bound;
    }
  // Padding untouched (still NaN) proves no write outside the view.
  for (std::size_t i = 0; i < c.m; ++i)
    for (std::size_t j = c.n; j < c.n + c.pad && i * (c.n + c.pad) + j < c_hw.storage.size(); ++j)
      if (!std::isnan(c_hw.storage[i * (c.n + c.pad) + j]) && failures++ < 5)
        ADD_FAILURE() << spec << " " << case_name(c) << " wrote padding at row " << i;
  EXPECT_EQ(failures, 0u) << spec << " " << case_name(c);
}

class HighwayGemm : public ::testing::TestWithParam<std::string> {};

// Sizes straddling the tile and block edges of every target: MR is 6, 8, 12 or 16 (narrow
// outputs), NR 4, 8, 16 or 48, MC 144 or 192, KC 256 or 384, NC 2048; B is packed above 128 rows.
TEST_P(HighwayGemm, SizesAroundEveryBlockingEdge) {
  const std::size_t ms[] = {1, 5, 6, 7, 8, 9, 12, 13, 16, 17, 128, 129, 143, 145, 191, 193, 385};
  const std::size_t ns[] = {1, 4, 5, 8, 9, 15, 16, 17, 33, 47, 48, 49, 97};
  const std::size_t ks[] = {1, 3, 255, 257, 383, 385, 769};
  for (std::size_t m : ms)
    for (std::size_t n : ns)
      for (std::size_t k : ks) {
        if (m * n * k > 3'000'000) continue;
        check_gemm(GetParam(), {m, n, k, Trans::N, Trans::N, 1.0f, 0.0f, 0});
      }
}

TEST_P(HighwayGemm, EveryTransposeWithStridesAndAlphaBeta) {
  const GemmCase shapes[] = {{17, 33, 9, Trans::N, Trans::N, 1, 0, 0},
                             {129, 65, 300, Trans::N, Trans::N, 1, 0, 0},
                             {3, 257, 31, Trans::N, Trans::N, 1, 0, 0},
                             {64, 48, 64, Trans::N, Trans::N, 1, 0, 0},
                             // A packed on every target (N over 8 tiles), in whole 6- and 8-row
                             // panels, a ragged one, and K with a tail past blocks of 8
                             {13, 449, 203, Trans::N, Trans::N, 1, 0, 0}};
  for (GemmCase s : shapes)
    for (Trans ta : {Trans::N, Trans::T})
      for (Trans tb : {Trans::N, Trans::T})
        for (auto [alpha, beta] : {std::pair{1.0f, 0.0f}, {-0.5f, 1.0f}, {2.0f, -0.75f}, {0.0f, 0.5f}})
          for (std::size_t pad : {0u, 3u}) {
            s.ta = ta, s.tb = tb, s.alpha = alpha, s.beta = beta, s.pad = pad;
            check_gemm(GetParam(), s);
          }
}

TEST_P(HighwayGemm, WideNAcrossTheNcBlock) {
  check_gemm(GetParam(), {5, 2049, 7, Trans::N, Trans::N, 1.0f, 0.0f, 0});
  check_gemm(GetParam(), {3, 4099, 5, Trans::N, Trans::T, 1.0f, 1.0f, 1});
}

// Every element of a product is one FMA chain over k in a fixed order, however the operands are
// stored or packed: C = A B^T (B^T packed by a transposing copy) equals A (B^T) with B^T
// materialized (read in place up to 128 rows, packed as is beyond), bit for bit.
TEST_P(HighwayGemm, NtProductIsTheNnProductOfTheTransposeBitForBit) {
  auto hw = mlpk::create_backend(GetParam());
  for (std::size_t m : {1, 7, 48, 129, 384, 385})
    for (std::size_t n : {17, 49, 300})
      for (std::size_t k : {m - (m > 1 ? 1 : 0), m + 1, std::size_t{769}}) {
        std::mt19937 rng(static_cast<unsigned>(m * 7 + n * 3 + k));
        Strided a(m, k, 1, rng), b(n, k, 2, rng), bt(k, n, 0, rng), c_nt(m, n, 0, rng), c_nn(m, n, 0, rng);
        for (std::size_t j = 0; j < n; ++j)
          for (std::size_t i = 0; i < k; ++i) bt.view(i, j) = b.view(j, i);
        hw->gemm(Trans::N, Trans::T, 1.0f, a.view, b.view, 0.0f, c_nt.view);
        hw->gemm(Trans::N, Trans::N, 1.0f, a.view, bt.view, 0.0f, c_nn.view);
        std::size_t differ = 0;
        for (std::size_t i = 0; i < m; ++i)
          for (std::size_t j = 0; j < n; ++j) differ += c_nt.view(i, j) != c_nn.view(i, j);
        EXPECT_EQ(differ, 0u) << GetParam() << " " << m << "x" << n << "x" << k;
      }
}

// Fused dense forward and backward against the reference's composed kernels.
TEST_P(HighwayGemm, FusedDenseForwardAndBackward) {
  auto hw = mlpk::create_backend(GetParam());
  auto ref = mlpk::create_backend("reference");
  std::mt19937 rng(7);
  for (auto [n, in, out] : {std::tuple{1, 3, 1}, {17, 129, 10}, {33, 300, 31}, {64, 600, 65}})
    for (Activation g : mlpk::kAllActivations)
      for (bool in_place : {false, true}) {
        const std::size_t N = n, I = in, O = out;
        Strided x(N, I, 1, rng), w(I, O, 2, rng), z1(N, O, 0, rng), a1(N, O, 0, rng);
        Strided z2 = z1, a2 = a1, bias(1, O, 0, rng), da(N, O, 0, rng);
        z2.view.data = z2.storage.data();
        a2.view.data = a2.storage.data();
        MatrixView a_hw = in_place ? z1.view : a1.view, a_ref = in_place ? z2.view : a2.view;
        std::span<const float> b(bias.view.data, O);
        hw->dense_forward(x.view, w.view, b, g, z1.view, a_hw);
        ref->dense_forward(x.view, w.view, b, g, z2.view, a_ref);
        for (std::size_t i = 0; i < N; ++i)
          for (std::size_t j = 0; j < O; ++j)
            ASSERT_NEAR(a_hw(i, j), a_ref(i, j), 2e-5 * I + 1e-5 * std::fabs(a_ref(i, j)))
                << GetParam() << " forward " << mlpk::to_string(g) << " " << N << "x" << O << " at " << i << "," << j;
        if (in_place) continue;
        std::vector<float> db_hw(O), db_ref(O);
        Strided dz1(N, O, 0, rng), dz2(N, O, 0, rng);
        hw->dense_backward_activation(g, z2.view, a2.view, da.view, dz1.view, db_hw);
        ref->dense_backward_activation(g, z2.view, a2.view, da.view, dz2.view, db_ref);
        for (std::size_t j = 0; j < O; ++j) {
          for (std::size_t i = 0; i < N; ++i)
            ASSERT_NEAR(dz1.view(i, j), dz2.view(i, j), 1e-5 + 1e-5 * std::fabs(dz2.view(i, j)))
                << GetParam() << " backward " << mlpk::to_string(g) << " at " << i << "," << j;
          ASSERT_NEAR(db_hw[j], db_ref[j], 1e-5 * N + 1e-5 * std::fabs(db_ref[j]))
              << GetParam() << " bias grad " << mlpk::to_string(g) << " col " << j;
        }
      }
}

// Kernels may run on several threads at once on disjoint outputs: pack buffers must not be shared.
TEST_P(HighwayGemm, ConcurrentCallsOnDisjointOutputsAgree) {
  auto hw = mlpk::create_backend(GetParam());
  std::mt19937 rng(11);
  const std::size_t m = 67, n = 131, k = 413;
  Strided a(m, k, 0, rng), b(k, n, 0, rng);
  std::vector<float> expected(m * n);
  hw->gemm(Trans::N, Trans::N, 1.0f, a.view, b.view, 0.0f, MatrixView(expected.data(), m, n));
  constexpr int kThreads = 4;
  std::vector<std::vector<float>> out(kThreads, std::vector<float>(m * n));
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int repeat = 0; repeat < 20; ++repeat)
        hw->gemm(Trans::N, Trans::N, 1.0f, a.view, b.view, 0.0f, MatrixView(out[t].data(), m, n));
    });
  for (std::thread& t : threads) t.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(out[t], expected) << GetParam() << " thread " << t;
}

// The Adam update repeats the default loop's operations in its order, without fused
// multiply-adds: training with Adam gives the same weights on highway as on the reference.
TEST_P(HighwayGemm, AdamUpdateIsTheDefaultLoopsBits) {
  auto hw = mlpk::create_backend(GetParam());
  auto ref = mlpk::create_backend("reference");
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (std::size_t n : {1, 15, 16, 17, 1000}) {
    std::vector<float> g(n), w(n), m(n), s(n);
    for (std::size_t i = 0; i < n; ++i)
      g[i] = dist(rng), w[i] = dist(rng), m[i] = dist(rng), s[i] = std::abs(dist(rng));
    auto w_ref = w, m_ref = m, s_ref = s;
    const mlpk::AdamStep step{0.9f, 0.999f, 1e-8f, 0.0153f, 1.58f, 0.9999f, 0.01f};
    hw->adam_update(step, g, w, m, s);
    ref->adam_update(step, g, w_ref, m_ref, s_ref);
    EXPECT_EQ(w, w_ref) << n;
    EXPECT_EQ(m, m_ref) << n;
    EXPECT_EQ(s, s_ref) << n;
  }
}

// The micro-kernels each target was built with, as its description names them: 8 x 3 vectors on
// the 32-register AVX-512 targets, 6 x 2 on the 16-register ones, 16 or 12 x 1 for outputs one
// vector wide (backends/highway/f32_gemm-inl.h). A tile changed without this list fails here.
std::string expected_kernels(const std::string& target) {
  std::string t = target;
  for (char& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (t.rfind("avx3", 0) == 0) return "(f32_gemm_8x48__" + t + ", f32_gemm_16x16__" + t + ")";
  if (t == "avx2") return "(f32_gemm_6x16__avx2, f32_gemm_12x8__avx2)";
  if (t == "sse4" || t == "ssse3" || t == "emu128") return "(f32_gemm_6x8__" + t + ", f32_gemm_12x4__" + t + ")";
  return "(f32_gemm_6x2__" + t + ", f32_gemm_12x1__" + t + ")";  // scalar: one lane
}

TEST(Highway, VariantsAndDescription) {
  auto best = mlpk::create_backend("highway");
  const auto variants = best->variants();
  ASSERT_FALSE(variants.empty());
  EXPECT_EQ(best->description(), "highway " + variants.front() + " " + expected_kernels(variants.front()));
  for (const std::string& v : variants)
    EXPECT_EQ(mlpk::create_backend("highway:" + v)->description(), "highway " + v + " " + expected_kernels(v));
  EXPECT_THROW(mlpk::create_backend("highway:NOPE"), std::exception);
}

INSTANTIATE_TEST_SUITE_P(AllTargets, HighwayGemm, ::testing::ValuesIn(highway_specs()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param.substr(info.param.find(':') + 1);
                         });

}  // namespace
