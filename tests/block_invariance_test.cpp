// Block invariance: a backend that says block_invariant() computes every output element to the
// same bits whether a kernel is called on the whole output or on any block of it. The Network
// relies on that to cut a product into as many tasks as there are threads (see
// core/work_split.hpp); a backend that does not say it gets a cut that never depends on the
// thread count.
//
// Each kernel the Network cuts (the forward product with its fused bias and activation, the
// weight-gradient and input-gradient products, the fused activation gradient with the bias
// gradient) runs whole and then in blocks of several shapes, on shapes that cross the sizes where
// backends switch code paths (one vector, 32 columns, long reductions), compared bit for bit.
#include "test_support.hpp"

#include <gmock/gmock.h>

#include <cstring>
#include <functional>
#include <sstream>

namespace mlpk::test {
namespace {

struct Shape {
  std::size_t m, n, k;  // output m x n, reduction k
};

// Widths around one vector (8, 16 floats), the onednn backend's 32-column switch, and the main
// job's layers; batches of 1 row to several row blocks; reductions short and long.
// (The reference backend's double loops make large shapes slow: these take it ~2 s.)
constexpr Shape kShapes[] = {{96, 10, 256}, {96, 16, 300}, {96, 31, 64},  {96, 32, 64},
                             {96, 33, 129}, {1, 100, 784}, {17, 64, 3},   {130, 256, 96},
                             {40, 520, 784}, {64, 200, 33}, {80, 10, 1024}, {40, 784, 96}};

// Row or column block sizes; 0 means whole. Starts land on multiples of 16 (as the Network's
// blocks do) and off them.
struct Cut {
  std::size_t rows, cols;
};
constexpr Cut kCuts[] = {{16, 0}, {48, 0}, {7, 0}, {0, 16}, {0, 32}, {0, 48}, {0, 5}, {32, 16}};

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// Counts the elements of `block` (at row r0, column c0 of `whole`) whose bits differ.
std::size_t differing(const GuardedMatrix& whole, const GuardedMatrix& block, std::size_t r0,
                      std::size_t c0) {
  std::size_t count = 0;
  for (std::size_t i = 0; i < block.rows(); ++i)
    for (std::size_t j = 0; j < block.cols(); ++j)
      count += !same_bits(whole.at(r0 + i, c0 + j), block.at(i, j));
  return count;
}

// Runs `kernel(r0, rows, c0, cols, out)` on the whole m x n output and on every block of `cut`,
// and reports each block whose bits differ from the whole.
void expect_block_invariant(
    const std::string& what, std::size_t m, std::size_t n, Cut cut,
    const std::function<void(std::size_t, std::size_t, std::size_t, std::size_t, MatrixView)>&
        kernel) {
  GuardedMatrix whole(m, n);
  kernel(0, m, 0, n, whole.view());
  const std::size_t rb = cut.rows ? cut.rows : m, cb = cut.cols ? cut.cols : n;
  std::size_t blocks = 0, wrong = 0;
  for (std::size_t r0 = 0; r0 < m; r0 += rb)
    for (std::size_t c0 = 0; c0 < n; c0 += cb) {
      GuardedMatrix block(std::min(rb, m - r0), std::min(cb, n - c0), 3);
      kernel(r0, block.rows(), c0, block.cols(), block.view());
      ASSERT_TRUE(block.guards_intact()) << what << ": wrote outside the block";
      const std::size_t d = differing(whole, block, r0, c0);
      wrong += d;
      blocks += d != 0;
    }
  EXPECT_EQ(wrong, 0u) << what << " in blocks of " << cut.rows << " rows x " << cut.cols
                       << " columns (0: whole): " << wrong << " of " << m * n
                       << " elements differ from the whole, in " << blocks << " blocks";
}

std::string name_of(const char* kernel, const Shape& s) {
  std::ostringstream o;
  o << kernel << " " << s.m << "x" << s.n << " over " << s.k;
  return o.str();
}

class BlockInvariance : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { backend_ = create_backend(GetParam()); }
  std::unique_ptr<Backend> backend_;
};

// Z = X W + b, A = g(Z): the forward pass's blocks.
TEST_P(BlockInvariance, DenseForward) {
  for (const Shape& s : kShapes)
    // The element-wise part has no neighbours; what a block could change is the product and
    // the epilogue fused with it: one plain, one with a vector math function, and softmax,
    // whose blocks must hold whole rows.
    for (Activation g : {Activation::identity, Activation::gelu, Activation::softmax}) {
      if (!backend_->supports(g)) continue;
      GuardedMatrix x(s.m, s.k), w(s.k, s.n);
      x.fill(s.m + s.k), w.fill(s.n * 3 + 1);
      const std::vector<float> b = random_vector(s.n, s.k);
      for (const Cut& cut : kCuts) {
        if (g == Activation::softmax && cut.cols) continue;  // a row's columns are coupled
        expect_block_invariant(
            name_of("dense_forward", s) + " " + std::string(to_string(g)), s.m, s.n, cut,
            [&](std::size_t r0, std::size_t rows, std::size_t c0, std::size_t cols, MatrixView a) {
              GuardedMatrix z(rows, cols);
              backend_->dense_forward(x.view().block(r0, 0, rows, s.k),
                                      w.view().block(0, c0, s.k, cols),
                                      std::span<const float>(b).subspan(c0, cols), g, z.view(), a);
            });
      }
    }
}

// dW = A^T dZ (reduction over the batch) and dA = dZ W^T (reduction over the layer's outputs):
// the backward pass's products, cut as the Network cuts them.
TEST_P(BlockInvariance, GradientProducts) {
  for (const Shape& s : kShapes) {
    GuardedMatrix prev(s.k, s.m), dz(s.k, s.n);  // dW: m x n over a batch of k
    prev.fill(s.m + 7), dz.fill(s.n + 11);
    GuardedMatrix dz2(s.m, s.k), w(s.n, s.k);    // dA: m x n over k outputs
    dz2.fill(s.k + 5), w.fill(s.n * 5 + 2);
    for (const Cut& cut : kCuts) {
      expect_block_invariant(name_of("gemm tn", s), s.m, s.n, cut,
                             [&](std::size_t r0, std::size_t rows, std::size_t c0, std::size_t cols,
                                 MatrixView c) {
                               backend_->gemm(Trans::T, Trans::N, 1.0f,
                                              prev.view().block(0, r0, s.k, rows),
                                              dz.view().block(0, c0, s.k, cols), 0.0f, c);
                             });
      expect_block_invariant(name_of("gemm nt", s), s.m, s.n, cut,
                             [&](std::size_t r0, std::size_t rows, std::size_t c0, std::size_t cols,
                                 MatrixView c) {
                               backend_->gemm(Trans::N, Trans::T, 1.0f,
                                              dz2.view().block(r0, 0, rows, s.k),
                                              w.view().block(c0, 0, cols, s.k), 0.0f, c);
                             });
    }
  }
}

// dZ = dA g'(Z) with the bias gradient summed over all rows of a block of columns. The bias
// gradient is checked through a one-row output holding it.
TEST_P(BlockInvariance, ActivationGradientWithBiasGradient) {
  for (const Shape& s : kShapes)
    for (Activation g : {Activation::relu, Activation::sigmoid, Activation::tanh, Activation::gelu}) {
      if (!backend_->supports(g)) continue;
      GuardedMatrix z(s.m, s.n), a(s.m, s.n), da(s.m, s.n);
      z.fill(s.m + s.n), da.fill(s.k + 3);
      backend_->activation_forward(g, z.view(), a.view());
      for (std::size_t cols : {16, 32, 5}) {
        const Cut cut{0, cols};
        const std::string what = name_of("dense_backward_activation", s) + " " +
                                 std::string(to_string(g));
        expect_block_invariant(what, s.m, s.n, cut,
                               [&](std::size_t, std::size_t, std::size_t c0, std::size_t width,
                                   MatrixView dz) {
                                 std::vector<float> db(width);
                                 backend_->dense_backward_activation(
                                     g, z.view().block(0, c0, s.m, width),
                                     a.view().block(0, c0, s.m, width),
                                     da.view().block(0, c0, s.m, width), dz, db);
                               });
        expect_block_invariant(what + " (bias gradient)", 1, s.n, cut,
                               [&](std::size_t, std::size_t, std::size_t c0, std::size_t width,
                                   MatrixView sums) {
                                 GuardedMatrix dz(s.m, width);
                                 std::vector<float> db(width);
                                 backend_->dense_backward_activation(
                                     g, z.view().block(0, c0, s.m, width),
                                     a.view().block(0, c0, s.m, width),
                                     da.view().block(0, c0, s.m, width), dz.view(), db);
                                 for (std::size_t j = 0; j < width; ++j) sums(0, j) = db[j];
                               });
      }
    }
}

// Only backends that claim it are held to it; the claim itself is pinned for the ones that
// must keep it (the oracle, and the default backend whose speed on many cores depends on it).
std::vector<std::string> block_invariant_specs() {
  std::vector<std::string> specs;
  for (const auto& spec : backend_specs())
    if (create_backend(spec)->block_invariant()) specs.push_back(spec);
  return specs;
}

TEST(BlockInvarianceClaims, TheReferenceAndHighwayClaimIt) {
  EXPECT_TRUE(create_backend("reference")->block_invariant());
  for (const auto& name : available_backends())
    if (name == "highway") {
      EXPECT_TRUE(create_backend(name)->block_invariant());
    }
}

INSTANTIATE_TEST_SUITE_P(EveryBlockInvariantBackend, BlockInvariance,
                         testing::ValuesIn(block_invariant_specs()), spec_test_name);

}  // namespace
}  // namespace mlpk::test
