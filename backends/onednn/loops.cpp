#include "loops.hpp"

#include <oneapi/dnnl/dnnl.hpp>

#include <cmath>
#include <cstddef>

namespace mlpk::onednn {
namespace {

// The bodies, inlined into one function per vector width below.
#define MLPK_LOOP inline __attribute__((always_inline))

// Packed rows run as one flat loop, so that a 10-column block still fills whole vectors.
template <class Body>
MLPK_LOOP void for_rows(ConstMatrixView shape, bool packed, Body&& body) {
  if (packed) {
    body(std::size_t{0}, shape.rows * shape.cols);
    return;
  }
  for (std::size_t i = 0; i < shape.rows; ++i) body(i, shape.cols);
}

MLPK_LOOP void add_bias_body(std::span<const float> bias, MatrixView z) {
  const float* b = bias.data();
  for (std::size_t i = 0; i < z.rows; ++i) {
    float* row = z.row(i);
    for (std::size_t j = 0; j < z.cols; ++j) row[j] += b[j];
  }
}

MLPK_LOOP void activation_forward_body(Activation g, ConstMatrixView z, MatrixView a) {
  for_rows(z, z.contiguous() && a.contiguous(), [&](std::size_t i, std::size_t n) {
    const float* zr = z.row(i);
    float* ar = a.row(i);
    switch (g) {
      case Activation::relu:
        for (std::size_t j = 0; j < n; ++j) ar[j] = zr[j] > 0.0f ? zr[j] : 0.0f;
        break;
      case Activation::leaky_relu:
        for (std::size_t j = 0; j < n; ++j) ar[j] = zr[j] > 0.0f ? zr[j] : kLeakyReluSlope * zr[j];
        break;
      default:  // identity
        for (std::size_t j = 0; j < n; ++j) ar[j] = zr[j];
    }
  });
}

MLPK_LOOP void dense_backward_body(Activation g, ConstMatrixView z, ConstMatrixView da,
                                   MatrixView dz, std::span<float> bias_grad) {
  float* sums = bias_grad.data();
  for (std::size_t j = 0; j < da.cols; ++j) sums[j] = 0.0f;
  for (std::size_t i = 0; i < da.rows; ++i) {
    const float* zr = z.row(i);
    const float* dar = da.row(i);
    float* dzr = dz.row(i);
    switch (g) {
      case Activation::relu:
        for (std::size_t j = 0; j < da.cols; ++j) {
          const float d = zr[j] > 0.0f ? dar[j] : 0.0f;
          dzr[j] = d;
          sums[j] += d;
        }
        break;
      case Activation::leaky_relu:
        for (std::size_t j = 0; j < da.cols; ++j) {
          const float d = zr[j] > 0.0f ? dar[j] : kLeakyReluSlope * dar[j];
          dzr[j] = d;
          sums[j] += d;
        }
        break;
      default:  // identity
        for (std::size_t j = 0; j < da.cols; ++j) {
          const float d = dar[j];
          dzr[j] = d;
          sums[j] += d;
        }
    }
  }
}

MLPK_LOOP void loss_gradient_body(ConstMatrixView a, ConstMatrixView y, float scale, MatrixView g) {
  for_rows(a, a.contiguous() && y.contiguous() && g.contiguous(), [&](std::size_t i, std::size_t n) {
    const float* ar = a.row(i);
    const float* yr = y.row(i);
    float* gr = g.row(i);
    for (std::size_t j = 0; j < n; ++j) gr[j] = scale * (ar[j] - yr[j]);
  });
}

MLPK_LOOP void axpy_body(float alpha, std::span<const float> x, std::span<float> y) {
  const float* xp = x.data();
  float* yp = y.data();
  for (std::size_t i = 0; i < x.size(); ++i) yp[i] += alpha * xp[i];
}

MLPK_LOOP void adam_body(const AdamStep& p, std::span<const float> g, std::span<float> w,
                         std::span<float> m, std::span<float> s) {
  const float* gp = g.data();
  float* wp = w.data();
  float* mp = m.data();
  float* sp = s.data();
  for (std::size_t i = 0; i < g.size(); ++i) p.update(gp[i], wp[i], mp[i], sp[i]);
}

MLPK_LOOP void sgd_body(const SgdStep& p, std::span<const float> g, std::span<float> w) {
  const float* gp = g.data();
  float* wp = w.data();
  const SgdStep step = p;  // constants no store to w can change
  for (std::size_t i = 0; i < g.size(); ++i) step.update(gp[i], wp[i]);
}

MLPK_LOOP void momentum_body(const MomentumStep& p, std::span<const float> g, std::span<float> w,
                             std::span<float> v) {
  const float* gp = g.data();
  float* wp = w.data();
  float* vp = v.data();
  // A local copy, whose constants no store to w or v can change, and two loops, so that neither
  // tests nesterov per element.
  const MomentumStep step = p;
  if (step.nesterov)
    for (std::size_t i = 0; i < g.size(); ++i) step.update(gp[i], wp[i], vp[i]);
  else
    for (std::size_t i = 0; i < g.size(); ++i) step.update(gp[i], wp[i], vp[i]);
}

// One Loops of functions compiled with `attributes` (a target, or nothing for the baseline).
#define MLPK_DEFINE_LOOPS(name, attributes)                                                       \
  namespace name {                                                                              \
  attributes void add_bias(std::span<const float> b, MatrixView z) { add_bias_body(b, z); }     \
  attributes void activation_forward(Activation g, ConstMatrixView z, MatrixView a) {           \
    activation_forward_body(g, z, a);                                                           \
  }                                                                                             \
  attributes void dense_backward(Activation g, ConstMatrixView z, ConstMatrixView da,           \
                                 MatrixView dz, std::span<float> bias_grad) {                   \
    dense_backward_body(g, z, da, dz, bias_grad);                                               \
  }                                                                                             \
  attributes void loss_gradient(ConstMatrixView a, ConstMatrixView y, float scale, MatrixView g) { \
    loss_gradient_body(a, y, scale, g);                                                         \
  }                                                                                             \
  attributes void axpy(float alpha, std::span<const float> x, std::span<float> y) {             \
    axpy_body(alpha, x, y);                                                                     \
  }                                                                                             \
  attributes void adam(const AdamStep& p, std::span<const float> g, std::span<float> w,         \
                       std::span<float> m, std::span<float> s) {                                \
    adam_body(p, g, w, m, s);                                                                   \
  }                                                                                             \
  attributes void sgd(const SgdStep& p, std::span<const float> g, std::span<float> w) {         \
    sgd_body(p, g, w);                                                                          \
  }                                                                                             \
  attributes void momentum(const MomentumStep& p, std::span<const float> g, std::span<float> w, \
                           std::span<float> v) {                                                \
    momentum_body(p, g, w, v);                                                                  \
  }                                                                                             \
  constexpr Loops loops{#name, &add_bias, &activation_forward, &dense_backward, &loss_gradient,  \
                        &axpy, &adam, &sgd, &momentum};                                         \
  }

MLPK_DEFINE_LOOPS(baseline, )
#if defined(__x86_64__)
MLPK_DEFINE_LOOPS(avx2, __attribute__((target("avx2"))))
MLPK_DEFINE_LOOPS(avx512, __attribute__((target("avx512f"))))
#endif

const Loops& pick() {
#if defined(__x86_64__)
  // get_effective_cpu_isa is at most what the CPU has: these widths run wherever it names them.
  const dnnl::cpu_isa isa = dnnl::get_effective_cpu_isa();
  const auto has = [isa](dnnl::cpu_isa part) {
    return (static_cast<unsigned>(isa) & static_cast<unsigned>(part)) == static_cast<unsigned>(part);
  };
  if (has(dnnl::cpu_isa::avx512_core) && __builtin_cpu_supports("avx512f")) return avx512::loops;
  if (has(dnnl::cpu_isa::avx2) && __builtin_cpu_supports("avx2")) return avx2::loops;
#endif
  return baseline::loops;
}

}  // namespace

bool cheap_activation(Activation g) {
  return g == Activation::identity || g == Activation::relu || g == Activation::leaky_relu;
}

const Loops& loops_for_onednn_isa() {
  static const Loops& chosen = pick();
  return chosen;
}

}  // namespace mlpk::onednn
