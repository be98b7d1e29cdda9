// The onednn backend's kernels that are not oneDNN primitives: where oneDNN 2.6 has no primitive
// for the operation (axpy, the optimizers' updates) or its primitive loses to one pass of our own on the Network's
// blocks (the loss gradient, bias, ReLU-like activations forward and backward). Plain loops the
// compiler vectorizes, compiled for AVX-512, AVX2 and the x86-64 baseline, without contraction
// into FMAs: every width gives the same bits.
#pragma once

#include <mlpk/activation.hpp>
#include <mlpk/backend.hpp>
#include <mlpk/tensor.hpp>

#include <span>

namespace mlpk::onednn {

// The loops of one vector width.
struct Loops {
  const char* isa;  // "avx512", "avx2", "baseline"
  // Z += bias, row by row.
  void (*add_bias)(std::span<const float> bias, MatrixView z);
  // A = g(Z) for a cheap g (cheap_activation).
  void (*activation_forward)(Activation g, ConstMatrixView z, MatrixView a);
  // dZ = dA * g'(Z) for a cheap g (dZ may be dA), and bias_grad = the column sums of dZ, in one
  // pass; each column summed in row order.
  void (*dense_backward)(Activation g, ConstMatrixView z, ConstMatrixView da, MatrixView dz,
                         std::span<float> bias_grad);
  // G = scale (A - Y).
  void (*loss_gradient)(ConstMatrixView a, ConstMatrixView y, float scale, MatrixView g);
  // y += alpha x.
  void (*axpy)(float alpha, std::span<const float> x, std::span<float> y);
  // One Adam step, element by element as AdamStep::update defines it.
  void (*adam)(const AdamStep& step, std::span<const float> g, std::span<float> w,
               std::span<float> m, std::span<float> s);
  // One step of SGD with weight decay, element by element as SgdStep::update defines it.
  void (*sgd)(const SgdStep& step, std::span<const float> g, std::span<float> w);
  // One step of SGD with momentum, element by element as MomentumStep::update defines it.
  void (*momentum)(const MomentumStep& step, std::span<const float> g, std::span<float> w,
                   std::span<float> v);
};

// The element-wise activations cheap enough for a loop: identity, ReLU, leaky ReLU.
bool cheap_activation(Activation g);

// The widest loops oneDNN's own kernels run at: ONEDNN_MAX_CPU_ISA=AVX2 caps both, so an AVX2
// run tests these AVX2 loops on an AVX-512 machine.
const Loops& loops_for_onednn_isa();

}  // namespace mlpk::onednn
