#include "steps.hpp"

#include "memory_descs.hpp"

#include <mlpk/error.hpp>

#include <string>
#include <vector>

namespace mlpk::onednn {
namespace {

// The plan buffer that holds a packed copy of `role`.
Operand packed_copy_of(Operand role) {
  switch (role) {
    case Operand::z: return Operand::packed_z;
    case Operand::a: return Operand::packed_a;
    case Operand::dz: return Operand::packed_dz;
    default: break;
  }
  throw Error("onednn: internal error: no packed buffer for operand '" +
              std::string(operand_name(role)) + "'");
}

}  // namespace

dnnl::primitive_attr base_attr() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

dnnl::primitive_attr product_attr(bool scaled, float beta) {
  auto attr = base_attr();
  if (scaled) attr.set_output_scales(0, {DNNL_RUNTIME_F32_VAL});
  if (beta != 0.0f) {
    dnnl::post_ops ops;
    ops.append_sum(beta);
    attr.set_post_ops(ops);
  }
  return attr;
}

void append_product(Plan& p, const dnnl::primitive_desc_base& pd, Operand src, Operand weights,
                    Operand dst, bool scaled) {
  if (scaled)
    p.add_step(pd, {{DNNL_ARG_SRC, src},
                    {DNNL_ARG_WEIGHTS, weights},
                    {DNNL_ARG_DST, dst},
                    {DNNL_ARG_ATTR_OUTPUT_SCALES, Operand::alpha}});
  else
    p.add_step(pd, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_DST, dst}});
}

EltwiseAlg eltwise_alg(Activation g) {
  switch (g) {
    case Activation::sigmoid:
      return {dnnl::algorithm::eltwise_logistic_use_dst_for_bwd, 0.0f, true};
    case Activation::tanh: return {dnnl::algorithm::eltwise_tanh_use_dst_for_bwd, 0.0f, true};
    case Activation::relu: return {dnnl::algorithm::eltwise_relu, 0.0f, false};
    case Activation::leaky_relu: return {dnnl::algorithm::eltwise_relu, kLeakyReluSlope, false};
    case Activation::gelu: return {dnnl::algorithm::eltwise_gelu_tanh, 0.0f, false};
    case Activation::identity:
    case Activation::softmax: break;
  }
  throw Error("onednn: activation '" + std::string(to_string(g)) + "' is not an eltwise algorithm");
}

bool is_eltwise(Activation g) { return g != Activation::identity && g != Activation::softmax; }

Operand backward_reads(Activation g) {
  if (g == Activation::softmax) return Operand::a;
  if (g == Activation::identity) return Operand::z;
  return eltwise_alg(g).backward_uses_dst ? Operand::a : Operand::z;
}

void append_copy(Plan& p, Operand from, Operand to) {
  auto attr = base_attr();
  dnnl::reorder::primitive_desc pd(p.engine(), p.desc(from), p.engine(), p.desc(to), attr);
  p.add_step(pd, {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}});
}

void append_activation_forward(Plan& p, Activation g, Operand from, Operand to) {
  if (g == Activation::identity) return append_copy(p, from, to);
  const dnnl::memory::desc md = packed_like(p.desc(from));
  Operand in = from, out = to;
  if (!packed(p.desc(from))) {
    in = Operand::packed_z;
    p.add_buffer(in, md);
    append_copy(p, from, in);
  }
  if (!packed(p.desc(to))) {
    out = Operand::packed_a;
    p.add_buffer(out, md);
  }
  auto attr = base_attr();
  if (g == Activation::softmax) {
    dnnl::softmax_v2_forward::primitive_desc pd(
        dnnl::softmax_v2_forward::desc(dnnl::prop_kind::forward_inference,
                                       dnnl::algorithm::softmax_accurate, md, md, 1),
        attr, p.engine());
    p.add_step(pd, {{DNNL_ARG_SRC, in}, {DNNL_ARG_DST, out}});
  } else {
    const EltwiseAlg e = eltwise_alg(g);
    dnnl::eltwise_forward::primitive_desc pd(
        dnnl::eltwise_forward::desc(dnnl::prop_kind::forward_inference, e.alg, md, e.alpha), attr,
        p.engine());
    p.add_step(pd, {{DNNL_ARG_SRC, in}, {DNNL_ARG_DST, out}});
  }
  if (out != to) append_copy(p, out, to);
}

void append_activation_backward(Plan& p, Activation g, bool aliased) {
  if (g == Activation::identity) {
    if (!aliased) append_copy(p, Operand::da, Operand::dz);
    return;
  }
  const dnnl::engine& engine = p.engine();
  const dnnl::memory::desc da_md = p.desc(Operand::da), dz_md = p.desc(Operand::dz);
  const dnnl::memory::desc md = packed_like(dz_md);
  Operand data = backward_reads(g);
  if (!packed(p.desc(data))) {
    const Operand copy = packed_copy_of(data);
    p.add_buffer(copy, md);
    append_copy(p, data, copy);
    data = copy;
  }
  // diff_src: dZ itself when packed, else a buffer copied out at the end. diff_dst: dA when
  // packed and not the same memory as a buffer we write, else dA copied into diff_src first.
  Operand diff_src = Operand::dz;
  if (!packed(dz_md)) {
    diff_src = packed_copy_of(Operand::dz);
    p.add_buffer(diff_src, md);
  }
  Operand diff_dst = Operand::da;
  if (!packed(da_md) || (diff_src == Operand::dz && !(aliased || da_md == dz_md))) {
    append_copy(p, Operand::da, diff_src);
    diff_dst = diff_src;
  }
  auto attr = base_attr();
  if (g == Activation::softmax) {
    dnnl::softmax_v2_forward::primitive_desc hint(
        dnnl::softmax_v2_forward::desc(dnnl::prop_kind::forward_training,
                                       dnnl::algorithm::softmax_accurate, md, md, 1),
        attr, engine);
    dnnl::softmax_v2_backward::primitive_desc pd(
        dnnl::softmax_v2_backward::desc(dnnl::algorithm::softmax_accurate, md, md, md, 1), attr,
        engine, hint);
    p.add_step(
        pd, {{DNNL_ARG_DST, data}, {DNNL_ARG_DIFF_DST, diff_dst}, {DNNL_ARG_DIFF_SRC, diff_src}});
  } else {
    const EltwiseAlg e = eltwise_alg(g);
    dnnl::eltwise_forward::primitive_desc hint(
        dnnl::eltwise_forward::desc(dnnl::prop_kind::forward_training, e.alg, md, e.alpha), attr,
        engine);
    dnnl::eltwise_backward::primitive_desc pd(dnnl::eltwise_backward::desc(e.alg, md, md, e.alpha),
                                              attr, engine, hint);
    p.add_step(pd, {{e.backward_uses_dst ? DNNL_ARG_DST : DNNL_ARG_SRC, data},
                    {DNNL_ARG_DIFF_DST, diff_dst},
                    {DNNL_ARG_DIFF_SRC, diff_src}});
  }
  if (diff_src != Operand::dz) append_copy(p, diff_src, Operand::dz);
}

void append_column_sums(Plan& p, Operand x, bool scaled, float beta) {
  const auto& dims = p.desc(x).data.dims;
  const auto m = static_cast<std::size_t>(dims[0]), n = static_cast<std::size_t>(dims[1]);
  p.add_constant(Operand::ones, row_desc(m), std::vector<float>(m, 1.0f));
  p.add_operand(Operand::sums, row_desc(n));
  const auto attr = product_attr(scaled, beta);
  dnnl::matmul::primitive_desc pd(
      dnnl::matmul::desc(p.desc(Operand::ones), p.desc(x), p.desc(Operand::sums)), attr,
      p.engine());
  append_product(p, pd, Operand::ones, x, Operand::sums, scaled);
}

}  // namespace mlpk::onednn
