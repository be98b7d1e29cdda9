// Tests of the oneDNN backend against the reference backend, kernel by kernel, on awkward shapes
// (1, 3, 17, 129), strided views, every transpose, alpha/beta other than 1/0; and the checks only
// this backend needs: its options, and that a repeated call creates no oneDNN primitive.
//
// Not here: the generic conformance suite (tests/ on main), which runs over every backend.
#include "onednn_backend.hpp"

#include <mlpk/error.hpp>
#include <mlpk/registry.hpp>
#include <mlpk/tensor.hpp>

#include <gtest/gtest.h>
#include <oneapi/dnnl/dnnl.h>

#include <algorithm>
#include <cctype>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace mlpk {
namespace {

constexpr std::size_t kSizes[] = {1, 3, 17, 129};
// Elementwise kernels: allowed error in units of FLT_EPSILON relative to the reference value,
// plus a small absolute floor for values near zero (oneDNN's vectorized exp/tanh are accurate to a
// few ulp relative to their argument, not to a result that cancels to ~0).
constexpr float kUlps = 4.0f;  // worst seen on avx512_core: 1.9

// A rows x cols matrix inside a buffer with `pad` extra floats per row (a strided view when
// pad > 0), filled with uniform values in [-range, range].
struct Matrix {
  std::vector<float> storage;
  MatrixView view;
  Matrix(std::size_t rows, std::size_t cols, std::size_t pad, std::mt19937& rng, float range = 1.0f)
      : storage(rows * (cols + pad) + 1) {
    std::uniform_real_distribution<float> dist(-range, range);
    for (float& v : storage) v = dist(rng);
    view = MatrixView(storage.data(), rows, cols, cols + pad);
  }
  // A copy views its own storage.
  Matrix(const Matrix& other) : storage(other.storage), view(other.view) {
    view.data = storage.data();
  }
  Matrix& operator=(const Matrix&) = delete;
  void fill(float v) {
    for (float& x : storage) x = v;
  }
};

std::mt19937 make_rng(unsigned salt) { return std::mt19937(12345u + salt); }

class OnednnVsReference : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    backend = create_backend(GetParam());
    reference = create_backend("reference");
  }
  std::unique_ptr<Backend> backend;
  std::unique_ptr<Backend> reference;
};

INSTANTIATE_TEST_SUITE_P(Options, OnednnVsReference,
                         ::testing::Values("onednn", "onednn:threads=1", "onednn:threads=2",
                                           "onednn:gemm=matmul,dense=matmul",
                                           "onednn:gemm=inner_product",
                                           "onednn:threads=1,gemm=sgemm"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });

// got ~ want within `ulps` FLT_EPSILONs of |want| + scale(i, j): `scale` is the size of the terms
// that cancel in the result (e.g. |z| for GELU's z/2 (1 + tanh u) as tanh u -> -1), which bounds
// the rounding error of any float implementation, however exact its exp and tanh.
template <class Scale>
void expect_close_scaled(ConstMatrixView got, ConstMatrixView want, float ulps, Scale&& scale,
                         const std::string& what) {
  int failures = 0;
  double worst = 0;
  for (std::size_t i = 0; i < got.rows; ++i)
    for (std::size_t j = 0; j < got.cols; ++j) {
      const double g = got(i, j), w = want(i, j);
      const double unit = FLT_EPSILON * (std::fabs(w) + scale(i, j)) + FLT_MIN;
      worst = std::max(worst, std::fabs(g - w) / unit);
      if (!(std::fabs(g - w) <= ulps * unit) && failures++ < 5)
        ADD_FAILURE() << what << " at (" << i << "," << j << "): got " << g << " want " << w
                      << " diff " << std::fabs(g - w) << " = " << std::fabs(g - w) / unit
                      << " units, allowed " << ulps;
    }
  if (std::getenv("MLPK_TEST_VERBOSE"))
    std::printf("%-40s worst %.2f units\n", what.c_str(), worst);
}

void expect_close_elementwise(ConstMatrixView got, ConstMatrixView want, float ulps,
                              const std::string& what) {
  expect_close_scaled(
      got, want, ulps, [](std::size_t, std::size_t) { return 0.0; }, what);
}

// op(X)[i][k]
float at(ConstMatrixView x, Trans t, std::size_t i, std::size_t k) {
  return t == Trans::N ? x(i, k) : x(k, i);
}

// Runs C = alpha op(A) op(B) + beta C on the backend and on the reference and adds a failure
// for each element (up to three) outside 2 k eps (|alpha| sum |a b| + |beta c|); true when none.
bool gemm_matches_reference(Backend& backend, Backend& reference, Trans ta, Trans tb, float alpha,
                            const Matrix& a, const Matrix& b, float beta, Matrix& c) {
  const std::size_t m = c.view.rows, n = c.view.cols, k = ta == Trans::N ? a.view.cols : a.view.rows;
  Matrix c_ref = c;
  const Matrix c_old = c;
  backend.gemm(ta, tb, alpha, a.view, b.view, beta, c.view);
  reference.gemm(ta, tb, alpha, a.view, b.view, beta, c_ref.view);
  int failures = 0;
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t j = 0; j < n; ++j) {
      double mag = 0.0;
      for (std::size_t p = 0; p < k; ++p)
        mag += std::fabs(at(a.view, ta, i, p)) * std::fabs(at(b.view, tb, p, j));
      const double old = beta == 0.0f ? 0.0 : std::fabs(beta * c_old.view(i, j));
      const double tol = 2.0 * k * FLT_EPSILON * (std::fabs(alpha) * mag + old) + FLT_MIN;
      const double diff = std::fabs(double(c.view(i, j)) - c_ref.view(i, j));
      if (!(diff <= tol) && failures++ < 3)
        ADD_FAILURE() << "gemm " << (ta == Trans::N ? 'n' : 't') << (tb == Trans::N ? 'n' : 't')
                      << " " << m << "x" << n << "x" << k << " (strides " << a.view.stride << ", "
                      << b.view.stride << ", " << c.view.stride << ") alpha " << alpha << " beta "
                      << beta << " at (" << i << "," << j << "): got " << c.view(i, j) << " want "
                      << c_ref.view(i, j) << " tol " << tol;
    }
  return failures == 0;
}

TEST_P(OnednnVsReference, GemmEveryShapeTransposeAlphaBeta) {
  struct AlphaBeta {
    float alpha, beta;
  };
  const AlphaBeta cases[] = {{1.0f, 0.0f}, {0.5f, 0.0f}, {1.0f, 1.0f}, {-1.5f, 0.25f}};
  auto rng = make_rng(1);
  std::size_t case_index = 0;
  for (Trans ta : {Trans::N, Trans::T})
    for (Trans tb : {Trans::N, Trans::T})
      for (std::size_t m : kSizes)
        for (std::size_t n : kSizes)
          for (std::size_t k : kSizes)
            for (const auto& [alpha, beta] : cases) {
              const std::size_t pad = case_index++ % 2 == 0 ? 0 : 5;  // half of them strided
              Matrix a(ta == Trans::N ? m : k, ta == Trans::N ? k : m, pad, rng);
              Matrix b(tb == Trans::N ? k : n, tb == Trans::N ? n : k, pad == 0 ? 0 : pad + 2, rng);
              Matrix c(m, n, pad, rng);
              if (beta == 0.0f) c.fill(std::numeric_limits<float>::quiet_NaN());
              if (!gemm_matches_reference(*backend, *reference, ta, tb, alpha, a, b, beta, c)) return;
            }
}

// B's rows a multiple of 2 KiB apart: below avx512_core the backend hands oneDNN a copy with
// longer rows (kernels.cpp); the products are the same, and the caller's B is left as it was.
TEST_P(OnednnVsReference, GemmWithBRowsAMultipleOf2KiBApart) {
  struct Shape {
    std::size_t m, n, k, b_stride;
  };
  const Shape shapes[] = {{40, 512, 33, 512}, {16, 500, 9, 512}, {24, 1024, 20, 1024}, {7, 30, 5, 1536}};
  auto rng = make_rng(2);
  for (Trans ta : {Trans::N, Trans::T})
    for (const auto& [m, n, k, b_stride] : shapes)
      for (const float beta : {0.0f, 1.0f}) {
        Matrix a(ta == Trans::N ? m : k, ta == Trans::N ? k : m, 0, rng);
        Matrix b(k, n, b_stride - n, rng), c(m, n, 0, rng);
        const std::vector<float> b_before = b.storage;
        EXPECT_TRUE(gemm_matches_reference(*backend, *reference, ta, Trans::N, beta == 0 ? 1.0f : -0.5f,
                                           a, b, beta, c));
        EXPECT_EQ(b.storage, b_before);
      }
}

// The size of the terms of dZ = dA * g'(Z) that cancel: |dA| (1 + z^2) (the 1 - t^2 and 1 + t of
// tanh, sigmoid and GELU near saturation, GELU's cubic), and for softmax A_j (|dA_j| + sum |dA A|).
auto backward_scale(Activation g, ConstMatrixView z, ConstMatrixView a, ConstMatrixView da) {
  std::vector<double> row_dot(z.rows, 0.0);
  for (std::size_t i = 0; i < z.rows; ++i)
    for (std::size_t j = 0; j < z.cols; ++j) row_dot[i] += std::fabs(da(i, j) * a(i, j));
  return [=](std::size_t i, std::size_t j) {
    if (g == Activation::softmax) return std::fabs(a(i, j)) * (std::fabs(da(i, j)) + row_dot[i]);
    return std::fabs(da(i, j)) * (1.0 + double(z(i, j)) * z(i, j));
  };
}

// Z in [-4, 4]: covers the saturating parts of sigmoid/tanh/GELU and both sides of the ReLU kink.
TEST_P(OnednnVsReference, ActivationForwardAndBackward) {
  auto rng = make_rng(2);
  const std::pair<std::size_t, std::size_t> shapes[] = {{1, 1}, {3, 17}, {17, 129}, {129, 3}};
  for (Activation g : kAllActivations)
    for (const auto& [rows, cols] : shapes)
      for (std::size_t pad : {0, 3}) {
        const std::string what = std::string(to_string(g)) + " " + std::to_string(rows) + "x" +
                                 std::to_string(cols) + " pad " + std::to_string(pad);
        Matrix z(rows, cols, pad, rng, 4.0f);
        z.view(0, 0) = 0.0f;  // the kink of ReLU: g'(0) = 0, leaky 0.01
        Matrix a(rows, cols, 0, rng), a_ref(rows, cols, pad + 1, rng);
        backend->activation_forward(g, z.view, a.view);  // strides of Z and A differ when pad
        reference->activation_forward(g, z.view, a_ref.view);
        const auto forward_scale = [&](std::size_t i, std::size_t j) {
          return std::fabs(z.view(i, j));
        };
        expect_close_scaled(a.view, a_ref.view, kUlps, forward_scale, "forward " + what);

        // In place.
        Matrix in_place = z;
        backend->activation_forward(g, in_place.view, in_place.view);
        expect_close_scaled(in_place.view, a_ref.view, kUlps, forward_scale,
                            "forward in place " + what);

        // Backward, with A the reference output so both backends see the same inputs.
        Matrix da(rows, cols, pad, rng), dz(rows, cols, 2, rng), dz_ref(rows, cols, 0, rng);
        backend->activation_backward(g, z.view, a_ref.view, da.view, dz.view);
        reference->activation_backward(g, z.view, a_ref.view, da.view, dz_ref.view);
        const auto scale = backward_scale(g, z.view, a_ref.view, da.view);
        expect_close_scaled(dz.view, dz_ref.view, kUlps, scale, "backward " + what);
        // In place: dZ is dA.
        Matrix da2 = da;
        backend->activation_backward(g, z.view, a_ref.view, da2.view, da2.view);
        expect_close_scaled(da2.view, dz_ref.view, kUlps, scale, "backward in place " + what);
      }
}

// Every combination of packed and strided Z, A, dA, dZ: oneDNN picks its implementation by layout
// (and one of them, softmax backward, got a mixed layout wrong), so try them all.
TEST_P(OnednnVsReference, ActivationEveryLayout) {
  auto rng = make_rng(10);
  for (Activation g : kAllActivations)
    for (int layout = 0; layout < 16; ++layout) {
      const std::size_t pz = layout & 1, pa = (layout >> 1) & 1, pda = (layout >> 2) & 1,
                        pdz = (layout >> 3) & 1;
      const std::string what = std::string(to_string(g)) + " layout " + std::to_string(layout);
      Matrix z(17, 33, pz * 3, rng, 4.0f), a(17, 33, pa * 5, rng), a_ref(17, 33, 0, rng);
      Matrix da(17, 33, pda * 2, rng), dz(17, 33, pdz * 7, rng), dz_ref(17, 33, 0, rng);
      backend->activation_forward(g, z.view, a.view);
      reference->activation_forward(g, z.view, a_ref.view);
      expect_close_scaled(
          a.view, a_ref.view, kUlps,
          [&](std::size_t i, std::size_t j) { return std::fabs(z.view(i, j)); }, "forward " + what);
      Matrix a_in(17, 33, pa * 5, rng);  // the reference's A, in A's layout
      for (std::size_t i = 0; i < 17; ++i)
        for (std::size_t j = 0; j < 33; ++j) a_in.view(i, j) = a_ref.view(i, j);
      backend->activation_backward(g, z.view, a_in.view, da.view, dz.view);
      reference->activation_backward(g, z.view, a_ref.view, da.view, dz_ref.view);
      expect_close_scaled(dz.view, dz_ref.view, kUlps,
                          backward_scale(g, z.view, a_ref.view, da.view), "backward " + what);
    }
}

TEST_P(OnednnVsReference, ColumnSums) {
  auto rng = make_rng(3);
  for (std::size_t rows : kSizes)
    for (std::size_t cols : kSizes)
      for (auto [alpha, beta] :
           {std::pair{1.0f, 0.0f}, {0.25f, 0.0f}, {1.0f, 1.0f}, {-2.0f, 0.5f}}) {
        Matrix x(rows, cols, cols % 2, rng);
        std::vector<float> sums(cols), sums_ref(cols);
        std::uniform_real_distribution<float> dist(-1, 1);
        for (std::size_t j = 0; j < cols; ++j) sums[j] = sums_ref[j] = dist(rng);
        if (beta == 0.0f) sums.assign(cols, std::numeric_limits<float>::quiet_NaN());
        const std::vector<float> old = sums_ref;
        backend->column_sums(x.view, alpha, beta, sums);
        reference->column_sums(x.view, alpha, beta, sums_ref);
        for (std::size_t j = 0; j < cols; ++j) {
          double mag = 0;
          for (std::size_t i = 0; i < rows; ++i) mag += std::fabs(x.view(i, j));
          const double tol =
              2.0 * rows * FLT_EPSILON *
                  (std::fabs(alpha) * mag + (beta == 0 ? 0 : std::fabs(beta * old[j]))) +
              FLT_MIN;
          EXPECT_LE(std::fabs(double(sums[j]) - sums_ref[j]), tol)
              << rows << "x" << cols << " alpha " << alpha << " beta " << beta << " col " << j;
        }
      }
}

TEST_P(OnednnVsReference, AddBiasLossGradientAxpy) {
  auto rng = make_rng(4);
  for (std::size_t rows : kSizes)
    for (std::size_t cols : kSizes) {
      Matrix z(rows, cols, 1, rng), z_ref(rows, cols, 0, rng);
      for (std::size_t i = 0; i < rows; ++i)
        for (std::size_t j = 0; j < cols; ++j) z_ref.view(i, j) = z.view(i, j);
      std::vector<float> bias(cols);
      std::uniform_real_distribution<float> dist(-1, 1);
      for (float& b : bias) b = dist(rng);
      backend->add_bias(bias, z.view);
      reference->add_bias(bias, z_ref.view);
      expect_close_elementwise(z.view, z_ref.view, 0.0f, "add_bias");  // one rounding: exact

      Matrix a(rows, cols, 2, rng), y(rows, cols, 0, rng), g(rows, cols, 1, rng),
          g_ref(rows, cols, 0, rng);
      backend->loss_gradient(a.view, y.view, 1.0f / 7.0f, g.view);
      reference->loss_gradient(a.view, y.view, 1.0f / 7.0f, g_ref.view);
      expect_close_elementwise(g.view, g_ref.view, 2.0f, "loss_gradient");
      reference->loss_gradient(a.view, y.view, 0.5f, g_ref.view);
      backend->loss_gradient(a.view, y.view, 0.5f, a.view);  // G is A
      expect_close_elementwise(a.view, g_ref.view, 2.0f, "loss_gradient in place");

      std::vector<float> x(rows * cols + 1), v(rows * cols + 1), v_ref;
      for (float& e : x) e = dist(rng);
      for (float& e : v) e = dist(rng);
      v_ref = v;
      backend->axpy(-0.3f, x, v);
      reference->axpy(-0.3f, x, v_ref);
      for (std::size_t i = 0; i < v.size(); ++i)
        EXPECT_NEAR(v[i], v_ref[i],
                    2 * FLT_EPSILON * (std::fabs(v_ref[i]) + 0.3f * std::fabs(x[i])))
            << "axpy " << i;
    }
}

// dense_forward fuses bias (and, in place, the activation) into the matmul: compare with the
// reference's composition. Z gets the GEMM bound (bias counted in the magnitude); A = g(Z) is
// checked against the reference activation of our own Z, or, in place, against the reference A
// with the GEMM bound carried through g (|g'| <= 1.13, softmax's row coupling <= 2).
TEST_P(OnednnVsReference, DenseForward) {
  auto rng = make_rng(5);
  for (Activation g : kAllActivations)
    for (std::size_t n : {1, 17, 129})
      for (std::size_t in : {3, 129})
        for (std::size_t out : {1, 10, 17, 33, 129}) {  // >= 32 outputs: the inner product
          const std::string what = std::string(to_string(g)) + " " + std::to_string(n) + "x" +
                                   std::to_string(in) + "->" + std::to_string(out);
          // X, Z, A packed or strided by turns; W packed for the wide layers half of the time.
          const std::size_t w_pad = (n + out) % 2;
          Matrix x(n, in, n % 2, rng), w(in, out, w_pad, rng), z(n, out, 0, rng);
          Matrix a(n, out, out % 3 == 0 ? 2 : 0, rng);
          Matrix z_ref(n, out, 0, rng), a_ref(n, out, 0, rng), a_of_z(n, out, 0, rng);
          std::vector<float> bias(out);
          std::uniform_real_distribution<float> dist(-1, 1);
          for (float& b : bias) b = dist(rng);
          backend->dense_forward(x.view, w.view, bias, g, z.view, a.view);
          reference->dense_forward(x.view, w.view, bias, g, z_ref.view, a_ref.view);
          double max_tol = 0;
          for (std::size_t i = 0; i < n; ++i)
            for (std::size_t j = 0; j < out; ++j) {
              double mag = std::fabs(bias[j]);
              for (std::size_t p = 0; p < in; ++p) mag += std::fabs(x.view(i, p) * w.view(p, j));
              const double tol = 2.0 * (in + 1) * FLT_EPSILON * mag + FLT_MIN;
              max_tol = std::max(max_tol, tol);
              EXPECT_LE(std::fabs(double(z.view(i, j)) - z_ref.view(i, j)), tol)
                  << "Z of " << what << " at (" << i << "," << j << ")";
            }
          reference->activation_forward(g, z.view, a_of_z.view);
          expect_close_scaled(
              a.view, a_of_z.view, kUlps,
              [&](std::size_t i, std::size_t j) { return std::fabs(z.view(i, j)); },
              "A of " + what);

          Matrix za(n, out, w_pad, rng);  // Z and A the same view: only A is kept
          backend->dense_forward(x.view, w.view, bias, g, za.view, za.view);
          const double carry = g == Activation::softmax ? 2.0 : 1.13;
          int failures = 0;
          for (std::size_t i = 0; i < n; ++i)
            for (std::size_t j = 0; j < out; ++j) {
              const double want = a_ref.view(i, j);
              const double tol =
                  kUlps * FLT_EPSILON * (std::fabs(want) + std::fabs(z_ref.view(i, j))) +
                  carry * max_tol;
              if (!(std::fabs(za.view(i, j) - want) <= tol) && failures++ < 3)
                ADD_FAILURE() << "in-place A of " << what << " at (" << i << "," << j << "): got "
                              << za.view(i, j) << " want " << want << " tol " << tol;
            }
        }
}

TEST_P(OnednnVsReference, DenseBackwardActivation) {
  auto rng = make_rng(6);
  for (Activation g : kAllActivations)
    for (std::size_t pad : {0, 3})
      for (bool in_place : {false, true}) {
        const std::string what = std::string("dense_backward_activation ") +
                                 std::string(to_string(g)) + " pad " + std::to_string(pad) +
                                 (in_place ? " in place" : "");
        Matrix z(17, 129, pad, rng, 3.0f), a(17, 129, 0, rng), da(17, 129, pad, rng);
        Matrix dz(17, 129, 1, rng), dz_ref(17, 129, 0, rng), da_copy = da;
        reference->activation_forward(g, z.view, a.view);
        std::vector<float> bg(129, std::numeric_limits<float>::quiet_NaN()), bg_ref(129);
        const MatrixView out = in_place ? da_copy.view : dz.view;
        backend->dense_backward_activation(g, z.view, a.view, da_copy.view, out, bg);
        reference->dense_backward_activation(g, z.view, a.view, da.view, dz_ref.view, bg_ref);
        const auto scale = backward_scale(g, z.view, a.view, da.view);
        expect_close_scaled(out, dz_ref.view, kUlps, scale, what);
        for (std::size_t j = 0; j < 129; ++j) {
          // The sum's own rounding plus the elementwise error of each dZ it adds up.
          double mag = 0;
          for (std::size_t i = 0; i < 17; ++i)
            mag += std::fabs(dz_ref.view(i, j)) + kUlps * scale(i, j);
          EXPECT_LE(std::fabs(bg[j] - bg_ref[j]), (2 * 17 + kUlps) * FLT_EPSILON * mag + FLT_MIN)
              << what << " col " << j;
        }
      }
}

// Every buffer reaches the argument of its role. All operands of a kernel are n x n with distinct
// contents, so a buffer bound to another role's argument would pass every descriptor check the
// plans make and still give another result, or overwrite an input. n = 33 takes gemm and
// dense_forward through the inner product (32 outputs or more) as well as matmul and sgemm. The
// tolerance, 1e-3, is ~4x the float rounding bound of a 33-term dot product of values in [-1, 1];
// a role mixed up is off by O(1).
TEST_P(OnednnVsReference, EveryBufferReachesItsRoleOnSquareShapes) {
  constexpr std::size_t n = 33;
  constexpr float kTolerance = 1e-3f;
  auto rng = make_rng(12);
  const auto expect_near = [&](ConstMatrixView got, ConstMatrixView want, const std::string& what) {
    int failures = 0;
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < n; ++j)
        if (!(std::fabs(got(i, j) - want(i, j)) <= kTolerance) && failures++ < 3)
          ADD_FAILURE() << what << " at (" << i << "," << j << "): got " << got(i, j) << " want "
                        << want(i, j);
  };
  for (Trans ta : {Trans::N, Trans::T})
    for (Trans tb : {Trans::N, Trans::T}) {
      const std::string what = std::string("gemm ") + (ta == Trans::N ? "n" : "t") +
                               (tb == Trans::N ? "n" : "t");
      const Matrix a(n, n, 0, rng), b(n, n, 0, rng);
      Matrix a_in = a, b_in = b, c(n, n, 0, rng), c_ref = c;
      backend->gemm(ta, tb, 0.5f, a_in.view, b_in.view, 0.25f, c.view);
      reference->gemm(ta, tb, 0.5f, a.view, b.view, 0.25f, c_ref.view);
      expect_near(c.view, c_ref.view, what + ": C");
      EXPECT_EQ(a_in.storage, a.storage) << what << " wrote A";
      EXPECT_EQ(b_in.storage, b.storage) << what << " wrote B";
    }
  std::uniform_real_distribution<float> dist(-1, 1);
  std::vector<float> bias(n);
  for (float& v : bias) v = dist(rng);
  const std::vector<float> bias_before = bias;
  for (Activation g : {Activation::tanh, Activation::gelu, Activation::softmax}) {
    const std::string what(to_string(g));
    const Matrix x(n, n, 0, rng), w(n, n, 0, rng);
    Matrix x_in = x, w_in = w, z(n, n, 0, rng), a(n, n, 0, rng), z_ref = z, a_ref = a;
    backend->dense_forward(x_in.view, w_in.view, bias, g, z.view, a.view);
    reference->dense_forward(x.view, w.view, bias, g, z_ref.view, a_ref.view);
    expect_near(z.view, z_ref.view, "dense_forward " + what + ": Z");
    expect_near(a.view, a_ref.view, "dense_forward " + what + ": A");
    EXPECT_EQ(x_in.storage, x.storage) << "dense_forward " << what << " wrote X";
    EXPECT_EQ(w_in.storage, w.storage) << "dense_forward " << what << " wrote W";
    EXPECT_EQ(bias, bias_before) << "dense_forward " << what << " wrote the bias";

    // Backward: A = g(Z) exactly as the reference computes it, so that reading Z or A (whichever
    // the backend's algorithm uses) is the same derivative; reading the other role's buffer, or
    // dZ's, is not.
    const Matrix da(n, n, 0, rng);
    Matrix da_in = da, dz(n, n, 0, rng), dz_ref = dz, dz_fused = dz;
    const Matrix z_in = z_ref, a_in = a_ref;
    backend->activation_backward(g, z_in.view, a_in.view, da_in.view, dz.view);
    reference->activation_backward(g, z_ref.view, a_ref.view, da.view, dz_ref.view);
    expect_near(dz.view, dz_ref.view, "activation_backward " + what + ": dZ");
    std::vector<float> bias_grad(n), bias_grad_ref(n);
    backend->dense_backward_activation(g, z_in.view, a_in.view, da_in.view, dz_fused.view,
                                       bias_grad);
    reference->column_sums(dz_ref.view, 1.0f, 0.0f, bias_grad_ref);
    expect_near(dz_fused.view, dz_ref.view, "dense_backward_activation " + what + ": dZ");
    for (std::size_t j = 0; j < n; ++j)
      EXPECT_NEAR(bias_grad[j], bias_grad_ref[j], kTolerance)
          << "dense_backward_activation " << what << ": bias gradient " << j;
    EXPECT_EQ(da_in.storage, da.storage) << what << " backward wrote dA";
    EXPECT_EQ(z_in.storage, z_ref.storage) << what << " backward wrote Z";
    EXPECT_EQ(a_in.storage, a_ref.storage) << what << " backward wrote A";
  }
}

// The steady state creates no primitive: every kernel called a second time, on other buffers of
// the same shapes, leaves the count of created primitives where it was.
// Every kernel once, on new buffers of the MLP's first-layer shapes.
void run_every_kernel(Backend& backend, std::mt19937& rng) {
  Matrix x(256, 784, 0, rng), w(784, 512, 0, rng), z(256, 512, 0, rng), a(256, 512, 0, rng);
  Matrix dz(256, 512, 0, rng), dw(784, 512, 0, rng), dx(256, 784, 0, rng);
  std::vector<float> bias(512), db(512);
  backend.dense_forward(x.view, w.view, bias, Activation::relu, z.view, a.view);
  backend.dense_forward(x.view, w.view, bias, Activation::gelu, a.view, a.view);
  backend.dense_forward(x.view, w.view, bias, Activation::softmax, z.view, a.view);
  backend.gemm(Trans::T, Trans::N, 1.0f, x.view, dz.view, 0.0f, dw.view);
  backend.gemm(Trans::N, Trans::T, 0.5f, dz.view, w.view, 1.0f, dx.view);
  backend.gemm(Trans::N, Trans::N, 1.0f, x.view, w.view, 0.0f, z.view);
  backend.add_bias(bias, z.view);
  for (Activation g : kAllActivations) {
    backend.activation_forward(g, z.view, a.view);
    backend.activation_forward(g, a.view, a.view);
    backend.activation_backward(g, z.view, a.view, dz.view, dz.view);
  }
  backend.column_sums(dz.view, 1.0f, 0.0f, db);
  backend.dense_backward_activation(Activation::tanh, z.view, a.view, dz.view, dz.view, db);
}

TEST(Onednn, RepeatedCallsCreateNoPrimitive) {
  auto backend = create_backend("onednn:threads=1");
  auto rng = make_rng(7);
  run_every_kernel(*backend, rng);
  const std::size_t created = onednn_test::primitives_created(*backend);
  const std::size_t plans = onednn_test::cached_plans(*backend);
  EXPECT_GT(created, 0u);
  for (int i = 0; i < 3; ++i) run_every_kernel(*backend, rng);
  EXPECT_EQ(onednn_test::primitives_created(*backend), created);
  EXPECT_EQ(onednn_test::cached_plans(*backend), plans);
  // A new shape is a new plan.
  Matrix x(7, 5, 0, rng), w(5, 3, 0, rng), c(7, 3, 0, rng);
  backend->gemm(Trans::N, Trans::N, 1.0f, x.view, w.view, 0.0f, c.view);
  EXPECT_EQ(onednn_test::primitives_created(*backend), created + 1);
}

// The same, as oneDNN itself reports it: with verbose level 2 it prints a "create:" line for every
// primitive it creates (cache hit or miss) and an "exec" line for every execution. After a
// warm-up pass, a second pass prints executions only.
TEST(Onednn, VerboseModeShowsNoCreationInTheSteadyState) {
  auto backend = create_backend("onednn:threads=1");
  auto rng = make_rng(11);
  run_every_kernel(*backend, rng);
  ASSERT_EQ(dnnl_set_verbose(2), dnnl_success);
  testing::internal::CaptureStdout();
  run_every_kernel(*backend, rng);
  const std::string log = testing::internal::GetCapturedStdout();
  dnnl_set_verbose(0);
  auto count = [&](const std::string& what) {
    std::size_t n = 0;
    for (auto at = log.find(what); at != std::string::npos; at = log.find(what, at + 1)) ++n;
    return n;
  };
  EXPECT_GT(count(",exec,"), 20u) << log.substr(0, 2000);
  EXPECT_EQ(count(",create:"), 0u) << log.substr(0, 2000);
}

// Several threads run the same cached plan at once (each leases its own memory objects and
// scratchpad): every result equals the one computed alone.
TEST(Onednn, ConcurrentCallsShareOnePlan) {
  auto backend = create_backend("onednn:threads=1");
  auto rng = make_rng(8);
  Matrix a(64, 129, 0, rng), b(129, 33, 0, rng), alone(64, 33, 0, rng);
  backend->gemm(Trans::N, Trans::N, 1.0f, a.view, b.view, 0.0f, alone.view);
  const std::size_t created = onednn_test::primitives_created(*backend);
  constexpr int kThreads = 4;
  std::vector<Matrix> outs;
  outs.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) outs.emplace_back(64, 33, 0, rng);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int rep = 0; rep < 50; ++rep)
        backend->gemm(Trans::N, Trans::N, 1.0f, a.view, b.view, 0.0f, outs[t].view);
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t)
    for (std::size_t i = 0; i < 64; ++i)
      for (std::size_t j = 0; j < 33; ++j)
        ASSERT_EQ(outs[t].view(i, j), alone.view(i, j))
            << "thread " << t << " at " << i << "," << j;
  EXPECT_EQ(onednn_test::primitives_created(*backend), created);
}

// C = A B for an n x 8 batch A, checked against a plain loop.
bool batch_product_is_right(Backend& backend, std::size_t n, const Matrix& w, std::mt19937& rng) {
  Matrix a(n, 8, 0, rng), c(n, 4, 0, rng);
  backend.gemm(Trans::N, Trans::N, 1.0f, a.view, w.view, 0.0f, c.view);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < 4; ++j) {
      double sum = 0;
      for (std::size_t k = 0; k < 8; ++k) sum += double(a.view(i, k)) * w.view(k, j);
      if (std::fabs(c.view(i, j) - sum) > 1e-5) return false;
    }
  return true;
}

// The cache keys hold the batch size: a caller that keeps changing it must not grow the cache
// without end. Past the bound the least recently used plan goes, the recent ones stay.
TEST(Onednn, PlanCacheStaysBoundedOverManyBatchSizes) {
  auto backend = create_backend("onednn:threads=1");
  auto rng = make_rng(21);
  const Matrix w(8, 4, 0, rng);
  const std::size_t bound = onednn_test::max_cached_plans();
  ASSERT_GE(bound, 64u) << "a training step on many threads needs a few dozen plans";
  for (std::size_t n = 1; n <= bound + 40; ++n) {
    ASSERT_TRUE(batch_product_is_right(*backend, n, w, rng)) << "batch " << n;
    ASSERT_EQ(onednn_test::cached_plans(*backend), std::min(n, bound)) << "batch " << n;
  }
  const std::size_t created = onednn_test::primitives_created(*backend);
  EXPECT_TRUE(batch_product_is_right(*backend, bound + 40, w, rng));  // recent: still cached
  EXPECT_EQ(onednn_test::primitives_created(*backend), created);
  EXPECT_TRUE(batch_product_is_right(*backend, 1, w, rng));  // the oldest: evicted, rebuilt
  EXPECT_EQ(onednn_test::primitives_created(*backend), created + 1);
  EXPECT_EQ(onednn_test::cached_plans(*backend), bound);
}

// A plan evicted while another thread executes it stays valid until that thread is done: one
// thread repeats one product while the others push new batch sizes through the cache.
TEST(Onednn, ConcurrentCallsWhileThePlanCacheEvicts) {
  auto backend = create_backend("onednn:threads=1");
  const std::size_t bound = onednn_test::max_cached_plans();
  constexpr int kThreads = 4;
  std::vector<int> wrong(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      auto rng = make_rng(30 + t);
      const Matrix w(8, 4, 0, rng);
      for (std::size_t i = 0; i < bound / 2; ++i) {
        const std::size_t n = t == 0 ? 5 : 1 + (t - 1) * bound / 2 + i;  // thread 0: one shape
        wrong[t] += !batch_product_is_right(*backend, n, w, rng);
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong, std::vector<int>(kThreads, 0));
  EXPECT_LE(onednn_test::cached_plans(*backend), bound);
}

TEST(Onednn, DescriptionNamesVersionAndIsa) {
  auto backend = create_backend("onednn");
  EXPECT_EQ(backend->name(), "onednn");
  const std::string d = backend->description();
  EXPECT_NE(d.find("oneDNN 2."), std::string::npos) << d;
  EXPECT_NE(d.find("ISA "), std::string::npos) << d;
  EXPECT_TRUE(backend->deterministic()) << "one OpenMP thread per call by default";
  EXPECT_FALSE(create_backend("onednn:threads=2")->deterministic());
  // oneDNN picks kernels by the shape of the block it is handed: the Network must not cut by threads.
  EXPECT_FALSE(backend->block_invariant());
  EXPECT_NE(create_backend("onednn:threads=3")->description().find("threads 3"), std::string::npos);
}

// The loops (axpy, Adam, ReLU-like activations, ...) run at the width oneDNN's kernels run at, so
// that ONEDNN_MAX_CPU_ISA=AVX2 (CI's AVX2 step) tests the AVX2 loops on an AVX-512 machine.
TEST(Onednn, LoopsFollowOnednnsIsa) {
  const std::string d = create_backend("onednn")->description();
  const std::string isa = d.substr(d.find("ISA ") + 4);
  const std::string loops = isa.rfind("avx512_core", 0) == 0 ? "loops avx512"
                            : isa.rfind("avx2", 0) == 0      ? "loops avx2"
                                                             : "loops baseline";
  EXPECT_NE(d.find(loops), std::string::npos) << d;
}

// Every variant the backend advertises (the benchmarks and conformance runs take them from
// variants()) is an option string it accepts, and one that changes what it does.
TEST(Onednn, EveryVariantIsAValidOptionString) {
  auto backend = create_backend("onednn");
  const std::string defaults = backend->description();
  const auto variants = backend->variants();
  ASSERT_FALSE(variants.empty());
  for (const std::string& variant : variants) {
    std::unique_ptr<Backend> b;
    ASSERT_NO_THROW(b = create_backend("onednn:" + variant)) << variant;
    EXPECT_NE(b->description(), defaults) << variant;
  }
}

TEST(Onednn, BadOptionsAreClearErrors) {
  EXPECT_THROW(create_backend("onednn:threads=0"), Error);
  EXPECT_THROW(create_backend("onednn:threads=x"), Error);
  EXPECT_THROW(create_backend("onednn:fast"), Error);
  try {
    create_backend("onednn:fast");
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("threads=N"), std::string::npos) << e.what();
  }
}

// A oneDNN failure becomes mlpk::Error naming the kernel and the shapes. Provoked with a row stride
// of 2^63 on a one-row view (valid to mlpk, never dereferenced): oneDNN's dimensions are signed
// 64-bit, so it refuses the layout.
TEST(Onednn, OnednnErrorsBecomeMlpkErrorsNamingKernelAndShapes) {
  auto backend = create_backend("onednn:threads=1");
  std::vector<float> x(1, 1.0f), y(1, 1.0f), c(1, 0.0f);
  const ConstMatrixView a(x.data(), 1, 1, std::size_t{1} << 63);
  try {
    backend->gemm(Trans::N, Trans::N, 1.0f, a, ConstMatrixView(y.data(), 1, 1), 0.0f,
                  MatrixView(c.data(), 1, 1));
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("onednn: gemm"), std::string::npos) << what;
    EXPECT_NE(what.find("C 1x1"), std::string::npos) << what;
  }
}

TEST(Onednn, ThreadsOptionRestoresCallersOpenMpSetting) {
  // The backend sets OpenMP's thread count only for the duration of a call.
  auto backend = create_backend("onednn:threads=1");
  auto rng = make_rng(9);
  Matrix a(8, 8, 0, rng), b(8, 8, 0, rng), c(8, 8, 0, rng);
  const std::string before = create_backend("onednn")->description();
  backend->gemm(Trans::N, Trans::N, 1.0f, a.view, b.view, 0.0f, c.view);
  EXPECT_EQ(create_backend("onednn")->description(), before);
}

TEST(Onednn, IsRegisteredBetweenReferenceAndHighway) {
  const auto names = available_backends();
  EXPECT_NE(std::find(names.begin(), names.end(), "onednn"), names.end());
}

}  // namespace
}  // namespace mlpk
