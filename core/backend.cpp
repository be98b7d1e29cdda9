// Backend: argument checks shared by every backend, and the composed defaults of fused kernels.
#include <mlpk/backend.hpp>
#include <mlpk/error.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>

namespace mlpk {
namespace {

std::string shape(ConstMatrixView v) { return shape_string(v); }

void require_same_shape(const char* kernel, const char* what, ConstMatrixView expected,
                        const char* other, ConstMatrixView v) {
  if (v.rows != expected.rows || v.cols != expected.cols)
    throw Error(std::string(kernel) + ": " + other + " is " + shape(v) + " but " + what + " is " +
                shape(expected) + "; they must have the same shape");
}

void require_length(const char* kernel, const char* what, std::size_t length, std::size_t cols,
                    const char* matrix) {
  if (length != cols)
    throw Error(std::string(kernel) + ": " + what + " has " + std::to_string(length) +
                " entries but " + matrix + " has " + std::to_string(cols) + " columns");
}

// The arrays of an optimizer's update, g first: each as long as g, and no two overlapping (element
// i of each is read before it is written, so an overlap would mix parameters with their state).
void require_update_arrays(const char* kernel,
                           std::initializer_list<std::pair<const char*, std::span<const float>>> arrays) {
  const std::span<const float> g = arrays.begin()->second;
  for (const auto& [what, array] : arrays)
    if (array.size() != g.size())
      throw Error(std::string(kernel) + ": g has " + std::to_string(g.size()) + " entries but " +
                  what + " has " + std::to_string(array.size()));
  const auto address = [](const float* p) { return reinterpret_cast<std::uintptr_t>(p); };
  const std::uintptr_t bytes = g.size() * sizeof(float);
  for (auto i = arrays.begin(); i != arrays.end(); ++i)
    for (auto j = i + 1; j != arrays.end(); ++j) {
      const std::uintptr_t a = address(i->second.data()), b = address(j->second.data());
      if (bytes > 0 && a < b + bytes && b < a + bytes)
        throw Error(std::string(kernel) + ": " + i->first + " and " + j->first + " overlap");
    }
}

}  // namespace

void Backend::require_supported(Activation g, const char* kernel) const {
  if (!supports(g))
    throw Error(std::string(kernel) + ": backend '" + name() + "' does not support activation '" +
                std::string(to_string(g)) + "'");
}

void Backend::gemm(Trans trans_a, Trans trans_b, float alpha, ConstMatrixView a, ConstMatrixView b,
                   float beta, MatrixView c) {
  const std::size_t m = trans_a == Trans::N ? a.rows : a.cols;
  const std::size_t k = trans_a == Trans::N ? a.cols : a.rows;
  const std::size_t kb = trans_b == Trans::N ? b.rows : b.cols;
  const std::size_t n = trans_b == Trans::N ? b.cols : b.rows;
  if (k != kb)
    throw Error("gemm: op(A) is " + std::to_string(m) + "x" + std::to_string(k) + " but op(B) is " +
                std::to_string(kb) + "x" + std::to_string(n) + ": inner dimensions " +
                std::to_string(k) + " and " + std::to_string(kb) + " differ");
  if (c.rows != m || c.cols != n)
    throw Error("gemm: C is " + shape(c) + " but op(A)*op(B) is " + std::to_string(m) + "x" +
                std::to_string(n));
  if (m == 0 || n == 0) return;
  if (k == 0) {  // the product is empty: C = beta * C
    for (std::size_t i = 0; i < m; ++i)
      for (std::size_t j = 0; j < n; ++j) c(i, j) = beta == 0.0f ? 0.0f : beta * c(i, j);
    return;
  }
  do_gemm(trans_a, trans_b, alpha, a, b, beta, c);
}

void Backend::add_bias(std::span<const float> bias, MatrixView z) {
  require_length("add_bias", "bias", bias.size(), z.cols, "Z");
  if (z.size() == 0) return;
  do_add_bias(bias, z);
}

void Backend::activation_forward(Activation g, ConstMatrixView z, MatrixView a) {
  require_supported(g, "activation_forward");
  require_same_shape("activation_forward", "Z", z, "A", a);
  if (z.size() == 0) return;
  do_activation_forward(g, z, a);
}

void Backend::activation_backward(Activation g, ConstMatrixView z, ConstMatrixView a,
                                  ConstMatrixView da, MatrixView dz) {
  require_supported(g, "activation_backward");
  require_same_shape("activation_backward", "Z", z, "A", a);
  require_same_shape("activation_backward", "Z", z, "dA", da);
  require_same_shape("activation_backward", "Z", z, "dZ", dz);
  if (z.size() == 0) return;
  do_activation_backward(g, z, a, da, dz);
}

void Backend::column_sums(ConstMatrixView x, float alpha, float beta, std::span<float> sums) {
  require_length("column_sums", "sums", sums.size(), x.cols, "X");
  if (x.cols == 0) return;
  if (x.rows == 0) {
    for (float& s : sums) s = beta == 0.0f ? 0.0f : beta * s;
    return;
  }
  do_column_sums(x, alpha, beta, sums);
}

void Backend::loss_gradient(ConstMatrixView a, ConstMatrixView y, float scale, MatrixView g) {
  require_same_shape("loss_gradient", "A", a, "Y", y);
  require_same_shape("loss_gradient", "A", a, "G", g);
  if (a.size() == 0) return;
  do_loss_gradient(a, y, scale, g);
}

void Backend::axpy(float alpha, std::span<const float> x, std::span<float> y) {
  if (x.size() != y.size())
    throw Error("axpy: x has " + std::to_string(x.size()) + " entries but y has " +
                std::to_string(y.size()));
  if (x.empty()) return;
  do_axpy(alpha, x, y);
}

void Backend::adam_update(const AdamStep& step, std::span<const float> g, std::span<float> w,
                          std::span<float> m, std::span<float> s) {
  require_update_arrays("adam_update", {{"g", g}, {"w", w}, {"m", m}, {"s", s}});
  if (g.empty()) return;
  do_adam_update(step, g, w, m, s);
}

void Backend::sgd_update(const SgdStep& step, std::span<const float> g, std::span<float> w) {
  require_update_arrays("sgd_update", {{"g", g}, {"w", w}});
  if (g.empty()) return;
  do_sgd_update(step, g, w);
}

void Backend::momentum_update(const MomentumStep& step, std::span<const float> g, std::span<float> w,
                              std::span<float> v) {
  require_update_arrays("momentum_update", {{"g", g}, {"w", w}, {"v", v}});
  if (g.empty()) return;
  do_momentum_update(step, g, w, v);
}

void Backend::require_valid(const DropoutMask& mask, ConstMatrixView x, ConstMatrixView y,
                            const char* kernel) {
  require_same_shape(kernel, "X", x, "Y", y);
  if (!(mask.rate >= 0.0f && mask.rate < 1.0f))
    throw Error(std::string(kernel) + ": the dropout rate must be in [0, 1), not " +
                std::to_string(mask.rate));
  if (mask.layer >= kDropoutLayers)
    throw Error(std::string(kernel) + ": layer " + std::to_string(mask.layer) +
                " is past the " + std::to_string(kDropoutLayers) + " layers a mask can name");
  // The counter holds the row in a word of its own: rows past 2^32 would repeat masks (and a
  // column as large is as far past any layer's width).
  constexpr std::uint64_t kPositions = std::uint64_t{1} << 32;
  if (x.rows > kPositions || mask.row > kPositions - x.rows || x.cols > kPositions ||
      mask.col > kPositions - x.cols)
    throw Error(std::string(kernel) + ": a view of " + shape(x) + " at row " +
                std::to_string(mask.row) + ", column " + std::to_string(mask.col) +
                " reaches past the 2^32 rows and columns a mask has");
}

void Backend::dropout_forward(const DropoutMask& mask, ConstMatrixView x, MatrixView y) {
  require_valid(mask, x, y, "dropout_forward");
  if (x.size() == 0) return;
  do_dropout_forward(mask, x, y);
}

void Backend::dropout_backward(const DropoutMask& mask, ConstMatrixView dy, MatrixView dx) {
  require_valid(mask, dy, dx, "dropout_backward");
  if (dy.size() == 0) return;
  do_dropout_backward(mask, dy, dx);
}

void Backend::dense_forward(ConstMatrixView x, ConstMatrixView w, std::span<const float> bias,
                            Activation g, MatrixView z, MatrixView a) {
  require_supported(g, "dense_forward");
  if (x.cols != w.rows)
    throw Error("dense_forward: X is " + shape(x) + " but W is " + shape(w) + ": X has " +
                std::to_string(x.cols) + " columns, W " + std::to_string(w.rows) + " rows");
  require_length("dense_forward", "bias", bias.size(), w.cols, "W");
  for (const auto& [what, v] : {std::pair<const char*, MatrixView>{"Z", z}, {"A", a}})
    if (v.rows != x.rows || v.cols != w.cols)
      throw Error(std::string("dense_forward: ") + what + " is " + shape(v) + " but X*W is " +
                  std::to_string(x.rows) + "x" + std::to_string(w.cols));
  if (z.size() == 0) return;
  if (x.cols == 0) {  // no inputs: Z = bias
    gemm(Trans::N, Trans::N, 1.0f, x, w, 0.0f, z);
    do_add_bias(bias, z);
    do_activation_forward(g, z, a);
    return;
  }
  do_dense_forward(x, w, bias, g, z, a);
}

void Backend::sum_bias_activation(std::span<const ConstMatrixView> partials,
                                  std::span<const float> bias, Activation g, MatrixView z,
                                  MatrixView a) {
  require_supported(g, "sum_bias_activation");
  for (const ConstMatrixView& p : partials)
    require_same_shape("sum_bias_activation", "Z", z, "P", p);
  require_same_shape("sum_bias_activation", "Z", z, "A", a);
  require_length("sum_bias_activation", "bias", bias.size(), z.cols, "Z");
  if (z.size() == 0) return;
  do_sum_bias_activation(partials, bias, g, z, a);
}

void Backend::do_sum_bias_activation(std::span<const ConstMatrixView> partials,
                                     std::span<const float> bias, Activation g, MatrixView z,
                                     MatrixView a) {
  for (const ConstMatrixView& p : partials) {
    if (p.contiguous() && z.contiguous())  // one span: narrow rows still fill whole vectors
      do_axpy(1.0f, {p.data, p.size()}, {z.data, z.size()});
    else
      for (std::size_t i = 0; i < z.rows; ++i)
        do_axpy(1.0f, {p.row(i), p.cols}, {z.row(i), z.cols});
  }
  do_add_bias(bias, z);
  if (g != Activation::identity || a.data != z.data) do_activation_forward(g, z, a);
}

void Backend::dense_backward_activation(Activation g, ConstMatrixView z, ConstMatrixView a,
                                        ConstMatrixView da, MatrixView dz,
                                        std::span<float> bias_grad) {
  require_supported(g, "dense_backward_activation");
  require_same_shape("dense_backward_activation", "Z", z, "A", a);
  require_same_shape("dense_backward_activation", "Z", z, "dA", da);
  require_same_shape("dense_backward_activation", "Z", z, "dZ", dz);
  require_length("dense_backward_activation", "bias gradient", bias_grad.size(), z.cols, "Z");
  if (z.cols == 0) return;
  if (z.rows == 0) {
    for (float& s : bias_grad) s = 0.0f;
    return;
  }
  do_dense_backward_activation(g, z, a, da, dz, bias_grad);
}

void Backend::do_dense_forward(ConstMatrixView x, ConstMatrixView w, std::span<const float> bias,
                               Activation g, MatrixView z, MatrixView a) {
  do_gemm(Trans::N, Trans::N, 1.0f, x, w, 0.0f, z);
  do_add_bias(bias, z);
  do_activation_forward(g, z, a);
}

void Backend::do_dense_backward_activation(Activation g, ConstMatrixView z, ConstMatrixView a,
                                           ConstMatrixView da, MatrixView dz,
                                           std::span<float> bias_grad) {
  do_activation_backward(g, z, a, da, dz);
  do_column_sums(dz, 1.0f, 0.0f, bias_grad);
}

void Backend::do_adam_update(const AdamStep& p, std::span<const float> g, std::span<float> w,
                             std::span<float> m, std::span<float> s) {
  for (std::size_t i = 0; i < g.size(); ++i) p.update(g[i], w[i], m[i], s[i]);
}

void Backend::do_sgd_update(const SgdStep& p, std::span<const float> g, std::span<float> w) {
  for (std::size_t i = 0; i < g.size(); ++i) p.update(g[i], w[i]);
}

void Backend::do_momentum_update(const MomentumStep& p, std::span<const float> g, std::span<float> w,
                                 std::span<float> v) {
  for (std::size_t i = 0; i < g.size(); ++i) p.update(g[i], w[i], v[i]);
}

void Backend::do_dropout_forward(const DropoutMask& mask, ConstMatrixView x, MatrixView y) {
  const std::uint32_t threshold = mask.threshold();
  const float scale = mask.scale();
  const std::uint64_t end = mask.col + x.cols;  // the view's columns in the layer: [col, end)
  std::uint32_t words[64];
  for (std::size_t i = 0; i < x.rows; ++i)
    for (std::uint64_t c = mask.col; c < end;) {  // one tile of 64 columns at a time
      mask.tile_words(mask.row + i, c / 64, words);
      for (const std::uint64_t tile_end = std::min(end, c / 64 * 64 + 64); c < tile_end; ++c) {
        const std::size_t j = c - mask.col;
        y(i, j) = words[c % 64] >= threshold ? x(i, j) * scale : 0.0f;
      }
    }
}

void Backend::do_dropout_backward(const DropoutMask& mask, ConstMatrixView dy, MatrixView dx) {
  do_dropout_forward(mask, dy, dx);
}

}  // namespace mlpk
