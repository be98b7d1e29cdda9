#include "plan.hpp"

#include <mlpk/error.hpp>

#include <oneapi/dnnl/dnnl_debug.h>

#include <algorithm>
#include <bit>
#include <string>

namespace mlpk::onednn {
namespace {

static_assert(kOperandCount <= 32, "Plan keeps one bit per role in a 32-bit mask");

[[noreturn]] void fail(const std::string& what) { throw Error("onednn plan: " + what); }

std::string quoted(Operand role) {
  std::string text(1, '\'');
  text += operand_name(role);
  text += '\'';
  return text;
}

// The memory arguments a primitive of this backend may have; each one `pd` has must be bound
// (its scratchpad aside: each binding provides it).
constexpr int kMemoryArguments[] = {DNNL_ARG_SRC,       DNNL_ARG_SRC_1,    DNNL_ARG_SRC_2,
                                    DNNL_ARG_WEIGHTS,   DNNL_ARG_BIAS,     DNNL_ARG_DST,
                                    DNNL_ARG_DIFF_SRC,  DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_WEIGHTS,
                                    DNNL_ARG_DIFF_BIAS, DNNL_ARG_WORKSPACE};

// Whether `pd` takes its output scale at run time (DNNL_ARG_ATTR_OUTPUT_SCALES).
bool has_runtime_output_scale(const dnnl::primitive_desc_base& pd) {
  int mask = 0;
  std::vector<float> scales;
  pd.get_primitive_attr().get_output_scales(mask, scales);
  return scales.size() == 1 && std::bit_cast<std::uint32_t>(scales[0]) ==
                                   std::bit_cast<std::uint32_t>(DNNL_RUNTIME_F32_VAL);
}

std::string primitive_name(const dnnl::primitive_desc_base& pd) {
  return std::string(dnnl_prim_kind2str(dnnl::convert_to_c(pd.get_kind()))) + " (" +
         pd.impl_info_str() + ")";
}

std::string desc_string(const dnnl::memory::desc& md) {
  const auto& d = md.data;
  std::string text;
  for (int i = 0; i < d.ndims; ++i) {
    if (i > 0) text += 'x';
    text += std::to_string(d.dims[i]);
  }
  if (d.format_kind != dnnl_blocked) return text + " (not a plain layout)";
  text += " strides ";
  for (int i = 0; i < d.ndims; ++i) {
    if (i > 0) text += ',';
    text += std::to_string(d.format_desc.blocking.strides[i]);
  }
  return text;
}

}  // namespace

std::string argument_name(int arg) {
  switch (arg) {
    case DNNL_ARG_SRC: return "DNNL_ARG_SRC";  // also DNNL_ARG_SRC_0 and DNNL_ARG_FROM
    case DNNL_ARG_SRC_1: return "DNNL_ARG_SRC_1";
    case DNNL_ARG_SRC_2: return "DNNL_ARG_SRC_2";
    case DNNL_ARG_WEIGHTS: return "DNNL_ARG_WEIGHTS";
    case DNNL_ARG_BIAS: return "DNNL_ARG_BIAS";
    case DNNL_ARG_DST: return "DNNL_ARG_DST";  // also DNNL_ARG_TO
    case DNNL_ARG_DIFF_SRC: return "DNNL_ARG_DIFF_SRC";
    case DNNL_ARG_DIFF_DST: return "DNNL_ARG_DIFF_DST";
    case DNNL_ARG_DIFF_WEIGHTS: return "DNNL_ARG_DIFF_WEIGHTS";
    case DNNL_ARG_DIFF_BIAS: return "DNNL_ARG_DIFF_BIAS";
    case DNNL_ARG_WORKSPACE: return "DNNL_ARG_WORKSPACE";
    case DNNL_ARG_SCRATCHPAD: return "DNNL_ARG_SCRATCHPAD";
    case DNNL_ARG_ATTR_OUTPUT_SCALES: return "DNNL_ARG_ATTR_OUTPUT_SCALES";
    default: return "oneDNN argument " + std::to_string(arg);
  }
}

std::unordered_map<int, dnnl::memory> argument_map(std::span<const Argument> arguments,
                                                   const OperandMemories& memories) {
  std::unordered_map<int, dnnl::memory> map;
  for (const auto& [arg, role] : arguments) {
    const dnnl::memory& memory = memories[index(role)];
    if (!memory) fail(argument_name(arg) + ": operand " + quoted(role) + " has no memory");
    if (!map.emplace(arg, memory).second) fail(argument_name(arg) + " is bound twice");
  }
  return map;
}

// The memory objects of one execution: one per declared role (the caller's bound to its pointers
// before each execution), the scratchpads, a stream, and the argument arrays that tie them
// together. The arrays are the C API's: the C++ execute() converts its map to such an array on
// every call, one heap allocation we can spare (oneDNN still allocates its own argument map inside
// each execution: ~N+2 small allocations for N arguments, measured with a counting operator new).
struct Plan::Binding {
  dnnl::stream stream;
  OperandMemories memories;
  std::vector<dnnl::memory> scratchpads;  // each owns its buffer
  std::vector<std::vector<dnnl_exec_arg_t>> step_args;
};

Plan::Plan(const dnnl::engine& engine) : engine_(engine) {}
Plan::~Plan() = default;

void Plan::declare(Operand role, Kind kind, const dnnl::memory::desc& md) {
  if (kinds_[index(role)] != Kind::undeclared) fail("operand " + quoted(role) + " declared twice");
  kinds_[index(role)] = kind;
  descs_[index(role)] = md;
  if (kind == Kind::caller) caller_roles_ |= 1u << index(role);
}

void Plan::add_operand(Operand role, const dnnl::memory::desc& md) {
  declare(role, Kind::caller, md);
}

void Plan::add_buffer(Operand role, const dnnl::memory::desc& md) {
  declare(role, Kind::buffer, md);
}

void Plan::add_constant(Operand role, const dnnl::memory::desc& md, std::vector<float> values) {
  if (values.size() * sizeof(float) != md.get_size())
    fail("constant " + quoted(role) + " holds " + std::to_string(values.size()) +
         " floats for a descriptor of " + desc_string(md));
  declare(role, Kind::constant, md);
  constants_[index(role)] = std::move(values);
}

bool Plan::has(Operand role) const { return kinds_[index(role)] != Kind::undeclared; }

const dnnl::memory::desc& Plan::desc(Operand role) const {
  if (!has(role)) fail("operand " + quoted(role) + " is not declared");
  return descs_[index(role)];
}

void Plan::add_step(const dnnl::primitive_desc_base& pd,
                    std::initializer_list<Argument> arguments) {
  const auto step = [&] { return "a " + primitive_name(pd) + " step"; };
  std::vector<int> bound;
  for (const auto& [arg, role] : arguments) {
    const std::string what =
        step() + " binds " + argument_name(arg) + " to operand " + quoted(role);
    if (!has(role)) fail(what + ", which the plan does not declare");
    if (std::find(bound.begin(), bound.end(), arg) != bound.end())
      fail(step() + " binds " + argument_name(arg) + " twice");
    bound.push_back(arg);
    if (arg == DNNL_ARG_SCRATCHPAD) fail(what + ": each binding provides the scratchpad");
    if (arg == DNNL_ARG_ATTR_OUTPUT_SCALES) {
      if (!has_runtime_output_scale(pd)) fail(what + ", but it has no run-time output scale");
      continue;
    }
    const dnnl::memory::desc expected = pd.query_md(dnnl::query::exec_arg_md, arg);
    if (expected.is_zero()) fail(what + ", an argument the primitive does not have");
    if (expected != descs_[index(role)])
      fail(what + ", whose descriptor " + desc_string(descs_[index(role)]) +
           " is not the primitive's " + desc_string(expected));
  }
  const auto binds = [&](int arg) {
    return std::find(bound.begin(), bound.end(), arg) != bound.end();
  };
  for (int arg : kMemoryArguments)
    if (!binds(arg) && !pd.query_md(dnnl::query::exec_arg_md, arg).is_zero())
      fail(step() + " leaves " + argument_name(arg) + " unbound");
  if (has_runtime_output_scale(pd) && !binds(DNNL_ARG_ATTR_OUTPUT_SCALES))
    fail(step() + " leaves DNNL_ARG_ATTR_OUTPUT_SCALES (its run-time output scale) unbound");
  steps_.push_back(
      Step{dnnl::primitive(pd.get()), std::vector<Argument>(arguments), pd.scratchpad_desc()});
}

std::unique_ptr<Plan::Binding> Plan::bind() const {
  auto b = std::make_unique<Binding>();
  b->stream = dnnl::stream(engine_);
  for (std::size_t r = 0; r < kOperandCount; ++r) {
    switch (kinds_[r]) {
      case Kind::undeclared: break;
      case Kind::caller:  // bound per call
        b->memories[r] = dnnl::memory(descs_[r], engine_, static_cast<void*>(nullptr));
        break;
      case Kind::buffer:  // allocates
        b->memories[r] = dnnl::memory(descs_[r], engine_);
        break;
      case Kind::constant:  // read only: a source of the steps
        b->memories[r] = dnnl::memory(descs_[r], engine_, const_cast<float*>(constants_[r].data()));
        break;
    }
  }
  b->scratchpads.reserve(steps_.size());  // stable: the arrays below point into it
  for (const auto& step : steps_) {
    auto& args = b->step_args.emplace_back();
    for (const auto& [arg, memory] : argument_map(step.arguments, b->memories))
      args.push_back({arg, memory.get()});
    if (step.scratchpad.get_size() > 0) {
      b->scratchpads.emplace_back(step.scratchpad, engine_);
      args.push_back({DNNL_ARG_SCRATCHPAD, b->scratchpads.back().get()});
    }
  }
  return b;
}

void Plan::execute(std::initializer_list<OperandData> buffers) {
  std::uint32_t given = 0;
  for (const auto& [role, data] : buffers) {
    const std::uint32_t bit = 1u << index(role);
    if (!(caller_roles_ & bit))
      fail("a call hands over operand " + quoted(role) + ", which the plan does not take");
    if (given & bit) fail("a call hands over operand " + quoted(role) + " twice");
    given |= bit;
  }
  if (given != caller_roles_)
    fail("a call leaves operand " +
         quoted(static_cast<Operand>(std::countr_zero(caller_roles_ & ~given))) + " unbound");

  std::unique_ptr<Binding> binding;
  {
    std::lock_guard lock(idle_mutex_);
    if (!idle_.empty()) {
      binding = std::move(idle_.back());
      idle_.pop_back();
    }
  }
  if (!binding) binding = bind();
  for (const auto& [role, data] : buffers)
    binding->memories[index(role)].set_data_handle(const_cast<float*>(data));
  for (std::size_t s = 0; s < steps_.size(); ++s) {
    const auto& args = binding->step_args[s];
    const dnnl_status_t status =
        dnnl_primitive_execute(steps_[s].primitive.get(), binding->stream.get(),
                               static_cast<int>(args.size()), args.data());
    if (status != dnnl_success) throw dnnl::error(status, "could not execute a primitive");
  }
  binding->stream.wait();
  std::lock_guard lock(idle_mutex_);
  idle_.push_back(std::move(binding));
}

}  // namespace mlpk::onednn
