// The named roles of the buffers a kernel's plan works on. A plan declares each role it uses with
// its memory descriptor, each of its primitives binds oneDNN's arguments (DNNL_ARG_*) to roles,
// and a call hands its pointers over by role (see plan.hpp): no position in a list decides which
// buffer an argument gets, so a reordered list still binds every buffer where it belongs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace mlpk::onednn {

enum class Operand : std::uint8_t {
  // The caller's buffers, bound to its pointers on every call; named as the parameters of the
  // Backend kernels (include/mlpk/backend.hpp).
  gemm_a,  // gemm: A (op(A) is M x K)
  gemm_b,  // gemm: B (op(B) is K x N)
  gemm_c,  // gemm: C (M x N)
  alpha,   // gemm, column_sums: the scale alpha, one float (a run-time output scale)
  x,       // dense_forward: the input X; column_sums: the matrix X
  w,       // dense_forward: the weights W
  bias,    // add_bias, dense_forward: the bias row
  z,       // the pre-activation Z
  a,       // the activation A = g(Z)
  da,      // the gradient dA
  dz,      // the gradient dZ
  sums,    // column_sums: the sums; dense_backward_activation: the bias gradient
  // Buffers of the plan itself (see Plan::add_buffer, Plan::add_constant).
  ones,       // a constant row of ones: column sums computed as a product
  packed_z,   // Z in packed rows: a strided Z copied, or a product's output before its softmax
  packed_a,   // A in packed rows: written by the activation, then copied into a strided A
  packed_dz,  // dZ in packed rows: the activation backward's work buffer
};

inline constexpr std::size_t kOperandCount = static_cast<std::size_t>(Operand::packed_dz) + 1;

constexpr std::size_t index(Operand role) { return static_cast<std::size_t>(role); }

// The role's name in error messages.
constexpr std::string_view operand_name(Operand role) {
  switch (role) {
    case Operand::gemm_a: return "gemm_a";
    case Operand::gemm_b: return "gemm_b";
    case Operand::gemm_c: return "gemm_c";
    case Operand::alpha: return "alpha";
    case Operand::x: return "x";
    case Operand::w: return "w";
    case Operand::bias: return "bias";
    case Operand::z: return "z";
    case Operand::a: return "a";
    case Operand::da: return "da";
    case Operand::dz: return "dz";
    case Operand::sums: return "sums";
    case Operand::ones: return "ones";
    case Operand::packed_z: return "packed_z";
    case Operand::packed_a: return "packed_a";
    case Operand::packed_dz: return "packed_dz";
  }
  return "?";
}

}  // namespace mlpk::onednn
