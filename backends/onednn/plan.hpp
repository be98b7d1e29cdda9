// A plan: everything one kernel configuration runs, built on its first call and executed on every
// later one. It declares its operands by role (operands.hpp) with their memory descriptors, holds
// its primitives in order with the oneDNN argument each role goes to, and leases the memory
// objects, stream and scratchpads of one execution ("bindings") to the calls that run it.
//
// Checked where a mistake would otherwise bind the wrong buffer: a step is refused when it binds
// an argument twice, leaves out one its primitive has, names one the primitive does not have, or
// gives a role whose descriptor is not the one the primitive expects; a call is refused when it
// hands over a role twice, misses one, or names one the plan does not take from the caller.
// Every refusal is an mlpk::Error naming the role and the argument.
#pragma once

#include "operands.hpp"

#include <oneapi/dnnl/dnnl.hpp>

#include <array>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

namespace mlpk::onednn {

// One argument of a primitive: the oneDNN argument (DNNL_ARG_SRC, ...) and the role whose buffer
// it is.
struct Argument {
  int arg;
  Operand role;
};

// One of the caller's buffers for one call.
struct OperandData {
  Operand role;
  const float* data;
};

// The memory objects of one execution, by role (empty for a role the plan does not declare).
using OperandMemories = std::array<dnnl::memory, kOperandCount>;

// The argument map of one primitive, as oneDNN's examples build it (DNNL_ARG_* -> memory), from
// its arguments by role. mlpk::Error when an argument comes twice or its role has no memory.
std::unordered_map<int, dnnl::memory> argument_map(std::span<const Argument> arguments,
                                                   const OperandMemories& memories);

// DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, ... by name, for error messages.
std::string argument_name(int arg);

class Plan {
 public:
  explicit Plan(const dnnl::engine& engine);
  ~Plan();
  Plan(const Plan&) = delete;
  Plan& operator=(const Plan&) = delete;

  // --- building: each role is declared once, before a step uses it ---------------------------
  // A buffer of the caller's, bound to the pointer execute() gets for it on every call.
  void add_operand(Operand role, const dnnl::memory::desc& md);
  // A buffer every binding owns (allocated when the binding is made).
  void add_buffer(Operand role, const dnnl::memory::desc& md);
  // Read-only data of the plan (`values`, as many floats as `md` holds), shared by its bindings.
  void add_constant(Operand role, const dnnl::memory::desc& md, std::vector<float> values);

  bool has(Operand role) const;
  // The descriptor of a declared role (mlpk::Error for an undeclared one).
  const dnnl::memory::desc& desc(Operand role) const;
  const dnnl::engine& engine() const { return engine_; }

  // Appends the primitive of `pd`, run after the steps before it, with `arguments` (every
  // argument `pd` has but its scratchpad, which each binding provides). Checked: see above.
  void add_step(const dnnl::primitive_desc_base& pd, std::initializer_list<Argument> arguments);

  // How many primitives the plan runs.
  std::size_t steps() const { return steps_.size(); }

  // --- running --------------------------------------------------------------------------------
  // Runs the steps in order on the caller's buffers: exactly one for each role declared with
  // add_operand, in any order. Safe from several threads at once (each leases its own binding).
  void execute(std::initializer_list<OperandData> buffers);

 private:
  enum class Kind : std::uint8_t { undeclared, caller, buffer, constant };
  struct Step {
    dnnl::primitive primitive;
    std::vector<Argument> arguments;
    dnnl::memory::desc scratchpad;  // zero-sized when the primitive needs none
  };
  struct Binding;

  void declare(Operand role, Kind kind, const dnnl::memory::desc& md);
  std::unique_ptr<Binding> bind() const;

  dnnl::engine engine_;
  std::array<Kind, kOperandCount> kinds_{};
  std::array<dnnl::memory::desc, kOperandCount> descs_;
  std::array<std::vector<float>, kOperandCount> constants_;
  std::uint32_t caller_roles_ = 0;  // one bit per role declared with add_operand
  std::vector<Step> steps_;
  std::mutex idle_mutex_;
  std::vector<std::unique_ptr<Binding>> idle_;  // bindings not in use; guarded by idle_mutex_
};

}  // namespace mlpk::onednn
