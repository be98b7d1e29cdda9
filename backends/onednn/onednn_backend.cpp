// The oneDNN backend: mlpk's kernels as oneDNN 2.6 primitives (matmul and inner product with
// fused bias and eltwise post-ops, eltwise and softmax forward/backward, binary, reorder), plus
// dnnl_sgemm for the products where it measured faster. README.md beside this file has the
// measurements behind each choice.
//
// Build once, execute many: every kernel call looks its configuration (kernel, shapes, strides,
// transposes, alpha/beta, activation, thread count) up in a cache of "plans". A plan holds the
// primitives and the memory descriptors; the first call creates it, every later call only binds
// the caller's pointers to memory objects (set_data_handle) and executes. Memory objects, a
// stream, the scratchpads and packed work buffers live in a "binding" that one call leases from
// its plan, so several threads may run the same plan at once (scratchpad_mode::user makes the
// primitives themselves safe to share, see the oneDNN scratchpad documentation).
//
// Threads: Debian's oneDNN runs on OpenMP, mlpk's Network on oneTBB. By default ("onednn") every
// call runs on one OpenMP thread, the calling one: the Network's TBB tasks are the parallelism,
// and the two pools never oversubscribe the cores. Measured with BM_TrainStep (784-512-256-10,
// batch 128, 2 cores, medians of 3): 1.48 ms per step this way with 2 TBB threads, against 1.64 ms
// for onednn:threads=2 under 1 TBB thread and 1.81 ms for both at 2 (and 6-19x slower steps while
// other processes loaded the cores, when OpenMP's spinning team waits). "onednn:threads=N" runs
// every call on N OpenMP threads (omp_set_num_threads on the calling thread for the duration of
// the call, then restored), for a caller that does not parallelize itself.
//
// Not here: kernels oneDNN has no primitive for that is worth calling (axpy, the loss gradient:
// plain loops measured faster, see bench/bench_onednn.cpp).
#include "onednn_backend.hpp"

#include <mlpk/error.hpp>
#include <mlpk/registry.hpp>

#include <omp.h>
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <charconv>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace mlpk {
namespace {

using dnnl::memory;
using Dims = memory::dims;

// --- small helpers --------------------------------------------------------------------------

// The rows x cols operand op(X) of a matrix X stored with `stride` floats per row. Not
// transposed: element (i, k) at i * stride + k. Transposed, op(X)(i, k) = X(k, i) at
// i + k * stride: the same memory with swapped strides, so a transposed operand costs nothing.
memory::desc matrix_desc(std::size_t rows, std::size_t cols, std::size_t stride, bool transposed) {
  const auto r = static_cast<memory::dim>(rows), c = static_cast<memory::dim>(cols);
  const auto s = static_cast<memory::dim>(stride);
  return memory::desc({r, c}, memory::data_type::f32, transposed ? Dims{1, s} : Dims{s, 1});
}
memory::desc matrix_desc(ConstMatrixView v) { return matrix_desc(v.rows, v.cols, v.stride, false); }
memory::desc row_desc(std::size_t n) {  // a 1 x n packed row: a bias, a sums vector
  const auto d = static_cast<memory::dim>(n);
  return memory::desc({1, d}, memory::data_type::f32, Dims{d, 1});
}

std::int64_t float_bits(float f) { return std::bit_cast<std::uint32_t>(f); }

std::string dims_string(ConstMatrixView v) { return shape_string(v); }
std::string trans_string(Trans t) { return t == Trans::N ? "N" : "T"; }

// Sets the calling thread's OpenMP thread count for one kernel call (when the backend was given
// one) and restores it afterwards, so the caller's own OpenMP setting survives.
class ThreadScope {
 public:
  explicit ThreadScope(int threads) : previous_(threads > 0 ? omp_get_max_threads() : 0) {
    if (threads > 0 && threads != previous_)
      omp_set_num_threads(threads);
    else
      previous_ = 0;
  }
  ~ThreadScope() {
    if (previous_ > 0) omp_set_num_threads(previous_);
  }
  ThreadScope(const ThreadScope&) = delete;
  ThreadScope& operator=(const ThreadScope&) = delete;

 private:
  int previous_;
};

// --- the plan cache -------------------------------------------------------------------------

// One primitive of a plan and where its arguments come from.
struct Step {
  dnnl::primitive primitive;
  std::vector<std::pair<int, int>> args;  // (DNNL_ARG_*, slot index)
  memory::desc scratchpad;                // zero-sized when the primitive needs none
};

// The memory objects of one execution of a plan: one per slot (bound to the caller's pointers
// before each execution), the scratchpads, a stream, and the argument maps that tie them together.
// The argument arrays are the C API's: the C++ execute() converts its map to such an array on
// every call, one heap allocation we can spare (oneDNN still allocates its own argument map inside
// each execution: ~N+2 small allocations for N arguments, measured with a counting operator new).
struct Binding {
  dnnl::stream stream;
  std::vector<memory> slots;
  std::vector<memory> scratchpads;  // each owns its buffer
  std::vector<std::vector<dnnl_exec_arg_t>> step_args;
};

// Everything one kernel configuration needs, built on its first call.
struct Plan {
  std::vector<memory::desc> slots;  // the operands, in the order the kernel passes pointers
  std::vector<memory::desc> temps;  // buffers each binding owns; steps name temp i as slot -1 - i
  std::vector<Step> steps;          // executed in order
  std::vector<float> constant;      // data a plan owns (the ones vector of column sums)
  std::vector<std::unique_ptr<Binding>> idle;  // bindings not in use; guarded by PlanCache::mutex_
};

// A kernel configuration: the kernel's id and its parameters, unused words zero. A fixed array,
// so that looking a plan up allocates nothing.
using Key = std::array<std::int64_t, 12>;
struct KeyHash {
  std::size_t operator()(const Key& key) const noexcept {
    std::uint64_t h = 1469598103934665603ull;  // FNV-1a over the 64-bit words
    for (std::int64_t v : key) {
      h ^= static_cast<std::uint64_t>(v);
      h *= 1099511628211ull;
    }
    return static_cast<std::size_t>(h);
  }
};

enum KernelId : std::int64_t {
  kGemm = 1,
  kDense,
  kBias,
  kActivationForward,
  kActivationBackward,
  kColumnSums,
  kDenseBackward
};

// At most kMaxPlans plans; a new one evicts the least recently used. The keys hold the batch
// size, so a caller that varies it (an evaluation's last partial batch, a server's requests)
// would otherwise grow the cache without end. Training with a full and a last partial batch
// used 20 plans (784-512-256-10) and 23 (784-1024-1024-1024-10), measured on 2 cores; the
// Network's blocks of a product come in a few shapes, so more threads add a few dozen at most.
// 256 keeps every steady-state step's plans; a plan is a few primitives and its bindings.
constexpr std::size_t kMaxPlans = 256;

class PlanCache {
 public:
  explicit PlanCache(const dnnl::engine& engine) : engine_(engine) {}

  // The plan for `key`, built by `build` (under the lock: a first call may wait for another
  // thread's build of the same plan rather than build it twice). Shared: a plan evicted while
  // another thread executes it lives until that thread lets go of it.
  template <class Build>
  std::shared_ptr<Plan> get(const Key& key, Build&& build) {
    std::lock_guard lock(mutex_);
    auto it = plans_.find(key);
    if (it == plans_.end()) {
      auto plan = std::make_shared<Plan>(build());
      primitives_created_ += plan->steps.size();
      if (plans_.size() >= kMaxPlans) evict_least_recently_used();
      it = plans_.emplace(key, Entry{std::move(plan), 0}).first;
    }
    it->second.last_used = ++clock_;
    return it->second.plan;
  }

  // Runs `plan` on the caller's pointers, one per slot.
  void execute(Plan& plan, std::initializer_list<const float*> pointers) {
    std::unique_ptr<Binding> binding;
    {
      std::lock_guard lock(mutex_);
      if (!plan.idle.empty()) {
        binding = std::move(plan.idle.back());
        plan.idle.pop_back();
      }
    }
    if (!binding) binding = bind(plan);
    std::size_t slot = 0;
    for (const float* p : pointers) binding->slots[slot++].set_data_handle(const_cast<float*>(p));
    for (std::size_t s = 0; s < plan.steps.size(); ++s) {
      const auto& args = binding->step_args[s];
      const dnnl_status_t status =
          dnnl_primitive_execute(plan.steps[s].primitive.get(), binding->stream.get(),
                                 static_cast<int>(args.size()), args.data());
      if (status != dnnl_success) throw dnnl::error(status, "could not execute a primitive");
    }
    binding->stream.wait();
    std::lock_guard lock(mutex_);
    plan.idle.push_back(std::move(binding));
  }

  const dnnl::engine& engine() const { return engine_; }
  std::size_t primitives_created() const { return primitives_created_.load(); }
  std::size_t plans() const {
    std::lock_guard lock(mutex_);
    return plans_.size();
  }

 private:
  std::unique_ptr<Binding> bind(const Plan& plan) {
    auto b = std::make_unique<Binding>();
    b->stream = dnnl::stream(engine_);
    for (const auto& md : plan.slots)
      b->slots.emplace_back(md, engine_, static_cast<void*>(nullptr));     // bound per call
    for (const auto& md : plan.temps) b->slots.emplace_back(md, engine_);  // allocates
    const auto resolve = [&](int slot) {  // temps follow the caller's slots
      return slot >= 0 ? static_cast<std::size_t>(slot) : plan.slots.size() + (-1 - slot);
    };
    b->scratchpads.reserve(plan.steps.size());  // stable: the arrays below point into it
    for (const auto& step : plan.steps) {
      auto& args = b->step_args.emplace_back();
      for (const auto& [arg, slot] : step.args)
        args.push_back({arg, b->slots[resolve(slot)].get()});
      if (step.scratchpad.get_size() > 0) {
        b->scratchpads.emplace_back(step.scratchpad, engine_);
        args.push_back({DNNL_ARG_SCRATCHPAD, b->scratchpads.back().get()});
      }
    }
    return b;
  }

  // A linear scan: it runs only before a build, which costs far more (primitive creation).
  void evict_least_recently_used() {
    auto oldest = plans_.begin();
    for (auto it = plans_.begin(); it != plans_.end(); ++it)
      if (it->second.last_used < oldest->second.last_used) oldest = it;
    plans_.erase(oldest);
  }

  struct Entry {
    std::shared_ptr<Plan> plan;
    std::uint64_t last_used;  // clock_ at the last get
  };

  dnnl::engine engine_;
  mutable std::mutex mutex_;
  std::unordered_map<Key, Entry, KeyHash> plans_;  // guarded by mutex_
  std::uint64_t clock_ = 0;                        // guarded by mutex_
  std::atomic<std::size_t> primitives_created_{0};
};

// Attributes every primitive of this backend uses: scratchpad provided per execution (thread
// safety), plus whatever the kernel adds.
dnnl::primitive_attr base_attr() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

template <class PrimitiveDesc>
Step make_step(const PrimitiveDesc& pd, std::vector<std::pair<int, int>> args) {
  return Step{dnnl::primitive(pd.get()), std::move(args), pd.scratchpad_desc()};
}

// A copy (reorder) between two float matrices of the same shape and any strides.
Step copy_step(const dnnl::engine& engine, const memory::desc& from, int from_slot,
               const memory::desc& to, int to_slot) {
  auto attr = base_attr();
  dnnl::reorder::primitive_desc pd(engine, from, engine, to, attr);
  return make_step(pd, {{DNNL_ARG_FROM, from_slot}, {DNNL_ARG_TO, to_slot}});
}

// A new buffer of the plan's bindings; returns its slot reference (negative: see Plan::temps).
int add_temp(Plan& p, const memory::desc& md) {
  p.temps.push_back(md);
  return -static_cast<int>(p.temps.size());
}
const memory::desc& slot_desc(const Plan& p, int slot) {
  return slot >= 0 ? p.slots[static_cast<std::size_t>(slot)] : p.temps[-1 - slot];
}

// Whether a 2-D descriptor has packed rows. oneDNN 2.6's eltwise and softmax have vectorized
// code only for packed data; on a strided view they run their reference loops (ref:any), 38x
// (GELU) to 480x (ReLU) slower on a 256x128 block of a 256x512 matrix. mlpk's Network cuts
// products into column blocks, which are such views.
bool packed(const memory::desc& md) {
  const auto& d = md.data;
  return d.format_kind == dnnl_blocked && d.format_desc.blocking.strides[1] == 1 &&
         d.format_desc.blocking.strides[0] == d.dims[1];
}
memory::desc packed_like(const memory::desc& md) {
  const auto& d = md.data;
  return memory::desc({d.dims[0], d.dims[1]}, memory::data_type::f32, Dims{d.dims[1], 1});
}

// The eltwise algorithm and alpha that compute activation g, and whether its backward reads the
// output A (use_dst_for_bwd: sigmoid and tanh, as the reference does) instead of Z.
struct EltwiseAlg {
  dnnl::algorithm alg;
  float alpha;
  bool backward_uses_dst;
};
EltwiseAlg eltwise_alg(Activation g) {
  switch (g) {
    case Activation::sigmoid:
      return {dnnl::algorithm::eltwise_logistic_use_dst_for_bwd, 0.0f, true};
    case Activation::tanh:
      return {dnnl::algorithm::eltwise_tanh_use_dst_for_bwd, 0.0f, true};
    case Activation::relu:
      return {dnnl::algorithm::eltwise_relu, 0.0f, false};
    case Activation::leaky_relu:
      return {dnnl::algorithm::eltwise_relu, kLeakyReluSlope, false};
    case Activation::gelu:
      return {dnnl::algorithm::eltwise_gelu_tanh, 0.0f, false};
    case Activation::identity:
    case Activation::softmax:
      break;
  }
  throw Error("onednn: activation '" + std::string(to_string(g)) + "' is not an eltwise algorithm");
}

bool is_eltwise(Activation g) { return g != Activation::identity && g != Activation::softmax; }

// --- the backend ----------------------------------------------------------------------------

// How gemm runs: the matmul primitive, dnnl_sgemm, an inner product, or (auto) whichever measured
// fastest for the kind of product, on one avx512_core thread (bench_onednn BM_Gemm, 5 repetitions,
// medians of CPU time):
//   A transposed, N < 32:  dnnl_sgemm; the matmul's brgemm spends more time transposing A than
//                          multiplying (256x10x256 tn: sgemm 19-20 us, matmul 26-30 us).
//   A, B as stored, N >= 32: inner product (gemm:jit), like dense_forward (256x512x784 nn: 1.31
//                          ms vs matmul 1.39-1.42 ms in four runs; 256x256x512 nn: a tie).
//   everything else:       matmul (256x10x256 nn: matmul 14-15 us, sgemm and inner product
//                          18-20 us; the large tn/nt/tt products tie within noise).
// The inner product runs only where oneDNN has a real implementation for the layout (otherwise
// the plan falls back to matmul): strided or transposed-A operands get its reference code.
enum class GemmMode { automatic, matmul, sgemm, inner_product };

// The product primitive of dense_forward (see do_dense_forward).
enum class DenseMode { inner_product, matmul };

struct Options {
  int threads = 1;  // OpenMP threads per call
  GemmMode gemm = GemmMode::automatic;
  DenseMode dense = DenseMode::inner_product;
};

Options parse_options(std::string_view text) {
  Options o;
  while (!text.empty()) {
    const auto comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    if (item.starts_with("threads=")) {
      const auto value = item.substr(8);
      int n = 0;
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec != std::errc{} || end != value.data() + value.size() || n < 1)
        throw Error("backend 'onednn': threads must be a positive integer, got '" +
                    std::string(value) + "'");
      o.threads = n;
    } else if (item == "gemm=sgemm") {
      o.gemm = GemmMode::sgemm;
    } else if (item == "gemm=matmul") {
      o.gemm = GemmMode::matmul;
    } else if (item == "gemm=inner_product") {
      o.gemm = GemmMode::inner_product;
    } else if (item == "gemm=auto") {
      o.gemm = GemmMode::automatic;
    } else if (item == "dense=inner_product") {
      o.dense = DenseMode::inner_product;
    } else if (item == "dense=matmul") {
      o.dense = DenseMode::matmul;
    } else {
      throw Error("backend 'onednn': unknown option '" + std::string(item) +
                  "'; known: threads=N, gemm=auto|matmul|sgemm|inner_product, "
                  "dense=inner_product|matmul "
                  "(comma-separated)");
    }
  }
  return o;
}

class OnednnBackend final : public Backend {
 public:
  explicit OnednnBackend(Options options)
      : options_(options), cache_(dnnl::engine(dnnl::engine::kind::cpu, 0)) {}

  std::string name() const override { return "onednn"; }
  std::string description() const override {
    const auto* v = dnnl::version();
    std::string text = "onednn (oneDNN " + std::to_string(v->major) + "." +
                       std::to_string(v->minor) + "." + std::to_string(v->patch) + ", ISA " +
                       isa_name() + ", OpenMP threads ";
    text += std::to_string(options_.threads);
    if (options_.gemm == GemmMode::sgemm) text += ", gemm via dnnl_sgemm";
    if (options_.gemm == GemmMode::matmul) text += ", gemm via matmul only";
    if (options_.gemm == GemmMode::inner_product) text += ", gemm via inner product";
    if (options_.dense == DenseMode::matmul) text += ", dense_forward via matmul";
    return text + ")";
  }
  // oneDNN may split a reduction (GEMM's K) over threads; with one thread nothing is split.
  bool deterministic() const override { return options_.threads == 1; }
  // Not block-invariant (the default): oneDNN chooses matmul, inner-product and sgemm kernels by
  // the shape of the block, so a block's elements differ in their last bits from the whole's.
  // dnnl_primitive_execute copies its arguments into a hash map: ~6 allocations per call.
  bool allocation_free() const override { return false; }
  bool supports(Activation) const override { return true; }
  std::vector<std::string> variants() const override {
    return {"threads=2", "gemm=matmul", "gemm=sgemm", "gemm=inner_product", "dense=matmul"};
  }

  std::size_t primitives_created() const { return cache_.primitives_created(); }
  std::size_t plans() const { return cache_.plans(); }

 protected:
  void do_gemm(Trans ta, Trans tb, float alpha, ConstMatrixView a, ConstMatrixView b, float beta,
               MatrixView c) override {
    guarded(
        "gemm",
        [&] {
          return "op(A) " + trans_string(ta) + " " + dims_string(a) + ", op(B) " +
                 trans_string(tb) + " " + dims_string(b) + ", C " + dims_string(c);
        },
        [&] {
          if (options_.gemm == GemmMode::sgemm ||
              (options_.gemm == GemmMode::automatic && ta == Trans::T && c.cols < 32))
            return sgemm(ta, tb, alpha, a, b, beta, c);
          const std::size_t k = ta == Trans::N ? a.cols : a.rows;
          const bool scaled = alpha != 1.0f;
          auto plan = cache_.get(
              key({kGemm, ta == Trans::T, tb == Trans::T, sz(c.rows), sz(c.cols), sz(k),
                   sz(a.stride), sz(b.stride), sz(c.stride), scaled, float_bits(beta)}),
              [&] {
                Plan p;
                p.slots = {matrix_desc(c.rows, k, a.stride, ta == Trans::T),
                           matrix_desc(k, c.cols, b.stride, tb == Trans::T), matrix_desc(c),
                           memory::desc({1}, memory::data_type::f32, Dims{1})};
                auto attr = base_attr();
                // alpha: a run-time output scale, so one primitive serves every alpha != 1.
                if (scaled) attr.set_output_scales(0, {DNNL_RUNTIME_F32_VAL});
                // beta: a sum post-op; without one, C is written and never read.
                if (beta != 0.0f) {
                  dnnl::post_ops ops;
                  ops.append_sum(beta);
                  attr.set_post_ops(ops);
                }
                std::vector<std::pair<int, int>> args = {
                    {DNNL_ARG_SRC, 0}, {DNNL_ARG_WEIGHTS, 1}, {DNNL_ARG_DST, 2}};
                if (scaled) args.push_back({DNNL_ARG_ATTR_OUTPUT_SCALES, 3});
                if (gemm_by_inner_product(ta, tb, c.cols)) {
                  // op(B) read as the inner product's {N, K} weights: its transpose, so the
                  // strides swap once more.
                  const memory::desc weights = matrix_desc(c.cols, k, b.stride, tb == Trans::N);
                  dnnl::inner_product_forward::primitive_desc ip(
                      dnnl::inner_product_forward::desc(dnnl::prop_kind::forward_inference,
                                                        p.slots[0], weights, p.slots[2]),
                      attr, cache_.engine(), /*allow_empty=*/true);
                  if (ip && !std::string_view(ip.impl_info_str()).starts_with("ref")) {
                    p.slots[1] = weights;
                    p.steps.push_back(make_step(ip, std::move(args)));
                    return p;
                  }
                }
                dnnl::matmul::primitive_desc pd(
                    dnnl::matmul::desc(p.slots[0], p.slots[1], p.slots[2]), attr, cache_.engine());
                p.steps.push_back(make_step(pd, std::move(args)));
                return p;
              });
          cache_.execute(*plan, {a.data, b.data, c.data, &alpha});
        });
  }

  // A binary add primitive on packed Z; a plain loop on strided Z, where oneDNN 2.6's binary runs
  // its reference code (ref:any) and one pass of our own beats copying into a packed buffer and
  // back.
  void do_add_bias(std::span<const float> bias, MatrixView z) override {
    if (!z.contiguous()) {
      for (std::size_t i = 0; i < z.rows; ++i) {
        float* row = z.row(i);
        for (std::size_t j = 0; j < z.cols; ++j) row[j] += bias[j];
      }
      return;
    }
    guarded(
        "add_bias", [&] { return "Z " + dims_string(z); },
        [&] {
          auto plan = cache_.get(key({kBias, sz(z.rows), sz(z.cols), sz(z.stride)}), [&] {
            Plan p;
            p.slots = {matrix_desc(z), row_desc(z.cols)};
            auto attr = base_attr();
            dnnl::binary::primitive_desc pd(
                dnnl::binary::desc(dnnl::algorithm::binary_add, p.slots[0], p.slots[1], p.slots[0]),
                attr, cache_.engine());
            p.steps.push_back(
                make_step(pd, {{DNNL_ARG_SRC_0, 0}, {DNNL_ARG_SRC_1, 1}, {DNNL_ARG_DST, 0}}));
            return p;
          });
          cache_.execute(*plan, {z.data, bias.data()});
        });
  }

  void do_activation_forward(Activation g, ConstMatrixView z, MatrixView a) override {
    guarded(
        "activation_forward",
        [&] {
          return std::string(to_string(g)) + ", Z " + dims_string(z) + ", A " + dims_string(a);
        },
        [&] { activation_forward(g, z, a); });
  }

  void do_activation_backward(Activation g, ConstMatrixView z, ConstMatrixView a,
                              ConstMatrixView da, MatrixView dz) override {
    guarded(
        "activation_backward",
        [&] {
          return std::string(to_string(g)) + ", Z " + dims_string(z) + ", A " + dims_string(a) +
                 ", dA " + dims_string(da) + ", dZ " + dims_string(dz);
        },
        [&] {
          const ConstMatrixView data = backward_input(g, z, a);
          const bool aliased = da.data == dz.data && da.stride == dz.stride;
          if (g == Activation::identity && aliased) return;
          auto plan =
              cache_.get(key({kActivationBackward, static_cast<std::int64_t>(g), sz(z.rows),
                              sz(z.cols), sz(data.stride), sz(da.stride), sz(dz.stride)}),
                         [&] {
                           Plan p;
                           p.slots = {matrix_desc(data), matrix_desc(da), matrix_desc(dz)};
                           append_activation_backward(p, g, aliased);
                           return p;
                         });
          cache_.execute(*plan, {data.data, da.data, dz.data});
        });
  }

  void do_column_sums(ConstMatrixView x, float alpha, float beta, std::span<float> sums) override {
    guarded(
        "column_sums", [&] { return "X " + dims_string(x); },
        [&] {
          const bool scaled = alpha != 1.0f;
          auto plan = cache_.get(
              key({kColumnSums, sz(x.rows), sz(x.cols), sz(x.stride), scaled, float_bits(beta)}),
              [&] {
                Plan p;
                p.slots = {matrix_desc(x)};
                append_column_sums(p, x.rows, x.cols, 0, scaled, beta);
                return p;
              });
          cache_.execute(*plan, {x.data, plan->constant.data(), sums.data(), &alpha});
        });
  }

  // dZ = dA * g'(.) then bias_grad = column sums of dZ: one plan, one lookup, two primitives.
  void do_dense_backward_activation(Activation g, ConstMatrixView z, ConstMatrixView a,
                                    ConstMatrixView da, MatrixView dz,
                                    std::span<float> bias_grad) override {
    guarded(
        "dense_backward_activation",
        [&] {
          return std::string(to_string(g)) + ", Z " + dims_string(z) + ", A " + dims_string(a) +
                 ", dA " + dims_string(da) + ", dZ " + dims_string(dz);
        },
        [&] {
          const ConstMatrixView data = backward_input(g, z, a);
          const bool aliased = da.data == dz.data && da.stride == dz.stride;
          auto plan = cache_.get(key({kDenseBackward, static_cast<std::int64_t>(g), sz(z.rows),
                                      sz(z.cols), sz(data.stride), sz(da.stride), sz(dz.stride),
                                      sz(g == Activation::identity && aliased)}),
                                 [&] {
                                   Plan p;
                                   p.slots = {matrix_desc(data), matrix_desc(da), matrix_desc(dz)};
                                   append_activation_backward(p, g, aliased);
                                   append_column_sums(p, dz.rows, dz.cols, 2, false, 0.0f);
                                   return p;
                                 });
          const float one = 1.0f;
          cache_.execute(
              *plan, {data.data, da.data, dz.data, plan->constant.data(), bias_grad.data(), &one});
        });
  }

  // A plain loop: with the cached-call overhead counted it beats the binary primitive
  // (bench_onednn: BM_LossGradient vs BM_CallOverhead). Packed operands run as one flat loop, so
  // a 10-column output still fills whole vectors.
  void do_loss_gradient(ConstMatrixView a, ConstMatrixView y, float scale, MatrixView g) override {
    const bool flat = a.contiguous() && y.contiguous() && g.contiguous();
    const std::size_t rows = flat ? 1 : a.rows, cols = flat ? a.rows * a.cols : a.cols;
    for (std::size_t i = 0; i < rows; ++i) {
      const float* ar = a.row(i);
      const float* yr = y.row(i);
      float* gr = g.row(i);
      for (std::size_t j = 0; j < cols; ++j) gr[j] = scale * (ar[j] - yr[j]);
    }
  }

  // A plain loop the compiler vectorizes; oneDNN has no axpy primitive worth a call.
  void do_axpy(float alpha, std::span<const float> x, std::span<float> y) override {
    const float* xp = x.data();
    float* yp = y.data();
    const std::size_t n = x.size();
    for (std::size_t i = 0; i < n; ++i) yp[i] += alpha * xp[i];
  }

  // One plan, one lookup: Z = X W + bias in one product primitive (bias fused), then A = g(Z).
  //   A is Z, g element-wise:  the activation is the product's eltwise post-op: one primitive.
  //   A is Z, softmax:         the product writes a buffer of the plan's binding, softmax reads it
  //                            into A (oneDNN's softmax in place measured ~2.7x slower on 256x10).
  //   Z and A both kept:       the product writes Z, then an eltwise/softmax/copy primitive Z -> A
  //                            (writing both from one primitive is not possible: one dst).
  // The product is an inner product (W read as its {out, in} weights with swapped strides) for
  // layers of 32 outputs or more, the same choice as gemm=auto: its gemm:jit beat matmul's
  // brgemm on the bare 256x512x784 product in five runs by 5-8%, though in dense_forward the
  // difference stays within this shared machine's noise (bench_onednn BM_DenseForward ip_* vs
  // matmul_*). A matmul for narrower layers (256x256->10 in one run: matmul 20 us, inner product
  // 27 us), with dense=matmul, and where the inner product would be its reference code (strided
  // operands).
  void do_dense_forward(ConstMatrixView x, ConstMatrixView w, std::span<const float> bias,
                        Activation g, MatrixView z, MatrixView a) override {
    guarded(
        "dense_forward",
        [&] {
          return std::string(to_string(g)) + ", X " + dims_string(x) + ", W " + dims_string(w) +
                 ", Z " + dims_string(z) + ", A " + dims_string(a);
        },
        [&] {
          const bool in_place = z.data == a.data;
          auto plan = cache_.get(
              key({kDense, sz(x.rows), sz(w.cols), sz(x.cols), sz(x.stride), sz(w.stride),
                   sz(z.stride), sz(a.stride), static_cast<std::int64_t>(g), sz(in_place)}),
              [&] {
                Plan p;
                p.slots = {matrix_desc(x), matrix_desc(w), row_desc(w.cols), matrix_desc(z),
                           matrix_desc(a)};
                int product_dst = 3;  // Z
                auto attr = base_attr();
                if (in_place && is_eltwise(g)) {
                  const EltwiseAlg e = eltwise_alg(g);
                  dnnl::post_ops ops;
                  ops.append_eltwise(1.0f, e.alg, e.alpha, 0.0f);
                  attr.set_post_ops(ops);
                } else if (in_place && g == Activation::softmax) {
                  product_dst = add_temp(p, matrix_desc(z.rows, z.cols, z.cols, false));
                }
                const memory::desc dst = slot_desc(p, product_dst);
                const std::vector<std::pair<int, int>> args = {{DNNL_ARG_SRC, 0},
                                                               {DNNL_ARG_WEIGHTS, 1},
                                                               {DNNL_ARG_BIAS, 2},
                                                               {DNNL_ARG_DST, product_dst}};
                dnnl::inner_product_forward::primitive_desc ip;
                if (options_.dense == DenseMode::inner_product && w.cols >= 32) {
                  const auto out = static_cast<memory::dim>(w.cols);
                  const memory::desc weights({out, static_cast<memory::dim>(w.rows)},
                                             memory::data_type::f32,
                                             Dims{1, static_cast<memory::dim>(w.stride)});
                  const memory::desc bias_1d({out}, memory::data_type::f32, Dims{1});
                  ip = dnnl::inner_product_forward::primitive_desc(
                      dnnl::inner_product_forward::desc(dnnl::prop_kind::forward_inference,
                                                        p.slots[0], weights, bias_1d, dst),
                      attr, cache_.engine(), /*allow_empty=*/true);
                  if (ip && std::string_view(ip.impl_info_str()).starts_with("ref"))
                    ip = {};  // the naive loops: slower than any matmul
                  if (ip) {
                    p.slots[1] = weights;
                    p.slots[2] = bias_1d;
                    p.steps.push_back(make_step(ip, args));
                  }
                }
                if (!ip) {
                  dnnl::matmul::primitive_desc pd(
                      dnnl::matmul::desc(p.slots[0], p.slots[1], p.slots[2], dst), attr,
                      cache_.engine());
                  p.steps.push_back(make_step(pd, args));
                }
                if (!in_place || g == Activation::softmax)
                  append_activation_forward(p, g, product_dst, 4);
                return p;
              });
          cache_.execute(*plan, {x.data, w.data, bias.data(), z.data, a.data});
        });
  }

 private:
  // Whether gemm runs as an inner product (a function of the options and the key's shape, so the
  // cache key need not say it).
  bool gemm_by_inner_product(Trans ta, Trans tb, std::size_t n) const {
    if (options_.gemm == GemmMode::inner_product) return true;
    return options_.gemm == GemmMode::automatic && ta == Trans::N && tb == Trans::N && n >= 32;
  }

  static std::int64_t sz(std::size_t v) { return static_cast<std::int64_t>(v); }
  static std::int64_t sz(bool v) { return v ? 1 : 0; }

  // The cache key: the kernel's configuration plus the thread count the primitive is made for
  // (oneDNN sizes its work split and scratchpad at creation from omp_get_max_threads()).
  static Key key(std::initializer_list<std::int64_t> parts) {
    Key k{};
    if (parts.size() >= k.size()) throw Error("onednn: internal error: cache key too long");
    std::copy(parts.begin(), parts.end(), k.begin());
    k.back() = omp_get_max_threads();
    return k;
  }

  // Runs `body` on this backend's thread count; a oneDNN error becomes mlpk::Error naming the
  // kernel and its shapes.
  template <class Shapes, class Body>
  void guarded(const char* kernel, Shapes&& shapes, Body&& body) {
    ThreadScope threads(options_.threads);
    try {
      body();
    } catch (const dnnl::error& e) {
      throw Error(std::string("onednn: ") + kernel + " (" + shapes() + ") failed: " + e.what() +
                  " (dnnl status " + std::to_string(static_cast<int>(e.status)) + ")");
    }
  }

  // What the backward of g reads: A for softmax and the use_dst_for_bwd algorithms (sigmoid,
  // tanh: as the reference, from the output), Z otherwise.
  static ConstMatrixView backward_input(Activation g, ConstMatrixView z, ConstMatrixView a) {
    if (g == Activation::softmax) return a;
    if (g == Activation::identity) return z;
    return eltwise_alg(g).backward_uses_dst ? a : z;
  }

  // Appends dZ (slot 2) = dA (slot 1) * g'(.) with slot 0 backward_input(g). `aliased`: dA and
  // dZ are the same memory and layout. As forward, the primitives see packed rows only (strided
  // operands go through packed buffers of the binding), and one layout for dA and dZ: eltwise
  // backward takes one descriptor for both, and oneDNN 2.6.3's softmax backward, given two,
  // writes dZ with dA's row stride (found by onednn_test DenseBackwardActivation, confirmed on
  // the bare primitive).
  void append_activation_backward(Plan& p, Activation g, bool aliased) {
    const dnnl::engine& engine = cache_.engine();
    const memory::desc data_md = p.slots[0], da_md = p.slots[1], dz_md = p.slots[2];
    if (g == Activation::identity) {
      if (!aliased) p.steps.push_back(copy_step(engine, da_md, 1, dz_md, 2));
      return;
    }
    const memory::desc md = packed_like(dz_md);
    int data = 0;
    if (!packed(data_md)) {
      data = add_temp(p, md);
      p.steps.push_back(copy_step(engine, data_md, 0, md, data));
    }
    // diff_src: dZ itself when packed, else a buffer copied out at the end. diff_dst: dA when
    // packed and not the same memory as a buffer we write, else dA copied into diff_src first.
    const int diff_src = packed(dz_md) ? 2 : add_temp(p, md);
    int diff_dst = 1;
    if (!packed(da_md) || (diff_src == 2 && !(aliased || da_md == dz_md))) {
      p.steps.push_back(copy_step(engine, da_md, 1, md, diff_src));
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
      p.steps.push_back(make_step(
          pd,
          {{DNNL_ARG_DST, data}, {DNNL_ARG_DIFF_DST, diff_dst}, {DNNL_ARG_DIFF_SRC, diff_src}}));
    } else {
      const EltwiseAlg e = eltwise_alg(g);
      dnnl::eltwise_forward::primitive_desc hint(
          dnnl::eltwise_forward::desc(dnnl::prop_kind::forward_training, e.alg, md, e.alpha), attr,
          engine);
      dnnl::eltwise_backward::primitive_desc pd(
          dnnl::eltwise_backward::desc(e.alg, md, md, e.alpha), attr, engine, hint);
      p.steps.push_back(make_step(pd, {{e.backward_uses_dst ? DNNL_ARG_DST : DNNL_ARG_SRC, data},
                                       {DNNL_ARG_DIFF_DST, diff_dst},
                                       {DNNL_ARG_DIFF_SRC, diff_src}}));
    }
    if (diff_src != 2) p.steps.push_back(copy_step(engine, md, diff_src, dz_md, 2));
  }

  // Appends sums (1 x n) = alpha * ones (1 x m) * X (m x n) + beta * sums, X in slot x_slot; adds
  // three slots after the existing ones: the ones vector (the plan's constant), the sums, alpha.
  // A matmul with a ones vector: the reduction primitive of oneDNN 2.6 has no vectorized
  // implementation for this case and measured ~100x slower (bench_onednn: BM_ColumnSums).
  void append_column_sums(Plan& p, std::size_t m, std::size_t n, int x_slot, bool scaled,
                          float beta) {
    p.constant.assign(m, 1.0f);
    const int ones = static_cast<int>(p.slots.size());
    p.slots.push_back(row_desc(m));
    p.slots.push_back(row_desc(n));
    p.slots.push_back(memory::desc({1}, memory::data_type::f32, Dims{1}));
    auto attr = base_attr();
    if (scaled) attr.set_output_scales(0, {DNNL_RUNTIME_F32_VAL});
    if (beta != 0.0f) {
      dnnl::post_ops ops;
      ops.append_sum(beta);
      attr.set_post_ops(ops);
    }
    dnnl::matmul::primitive_desc pd(
        dnnl::matmul::desc(p.slots[ones], p.slots[x_slot], p.slots[ones + 1]), attr,
        cache_.engine());
    std::vector<std::pair<int, int>> args = {
        {DNNL_ARG_SRC, ones}, {DNNL_ARG_WEIGHTS, x_slot}, {DNNL_ARG_DST, ones + 1}};
    if (scaled) args.push_back({DNNL_ARG_ATTR_OUTPUT_SCALES, ones + 2});
    p.steps.push_back(make_step(pd, std::move(args)));
  }

  // Appends the steps that compute A (slot a_slot) = g(Z) (slot z_slot) to a plan. eltwise and
  // softmax run on packed rows: a strided Z is copied into a packed buffer first, a strided A is
  // written through one (reorders cost ~3.6 us per 256x128 block, the strided eltwise ~1.4 ms).
  // eltwise takes one descriptor for its source and destination, which packed buffers of one
  // shape share.
  void append_activation_forward(Plan& p, Activation g, int z_slot, int a_slot) {
    const dnnl::engine& engine = cache_.engine();
    const memory::desc z_md = slot_desc(p, z_slot), a_md = slot_desc(p, a_slot);
    if (g == Activation::identity) {
      p.steps.push_back(copy_step(engine, z_md, z_slot, a_md, a_slot));
      return;
    }
    int in = z_slot, out = a_slot;
    if (!packed(z_md)) {
      in = add_temp(p, packed_like(z_md));
      p.steps.push_back(copy_step(engine, z_md, z_slot, slot_desc(p, in), in));
    }
    if (!packed(a_md)) out = add_temp(p, packed_like(a_md));
    const memory::desc md = packed_like(z_md);
    auto attr = base_attr();
    if (g == Activation::softmax) {
      dnnl::softmax_v2_forward::primitive_desc pd(
          dnnl::softmax_v2_forward::desc(dnnl::prop_kind::forward_inference,
                                         dnnl::algorithm::softmax_accurate, md, md, 1),
          attr, engine);
      p.steps.push_back(make_step(pd, {{DNNL_ARG_SRC, in}, {DNNL_ARG_DST, out}}));
    } else {
      const EltwiseAlg e = eltwise_alg(g);
      dnnl::eltwise_forward::primitive_desc pd(
          dnnl::eltwise_forward::desc(dnnl::prop_kind::forward_inference, e.alg, md, e.alpha), attr,
          engine);
      p.steps.push_back(make_step(pd, {{DNNL_ARG_SRC, in}, {DNNL_ARG_DST, out}}));
    }
    if (out != a_slot) p.steps.push_back(copy_step(engine, slot_desc(p, out), out, a_md, a_slot));
  }

  // A = g(Z). Softmax in place goes through a buffer of the binding (Z copied there first):
  // oneDNN's in-place softmax measured ~3x slower than out of place on 256x10 (bench:
  // BM_ActivationForward).
  void activation_forward(Activation g, ConstMatrixView z, MatrixView a) {
    const bool in_place = z.data == a.data;
    if (g == Activation::identity && in_place) return;
    auto plan = cache_.get(
        key({kActivationForward, static_cast<std::int64_t>(g), sz(z.rows), sz(z.cols), sz(z.stride),
             sz(a.stride), sz(in_place)}),
        [&] {
          Plan p;
          p.slots = {matrix_desc(z), matrix_desc(a)};
          if (in_place && g == Activation::softmax) {
            const int copy = add_temp(p, matrix_desc(z.rows, z.cols, z.cols, false));
            p.steps.push_back(copy_step(cache_.engine(), p.slots[0], 0, slot_desc(p, copy), copy));
            append_activation_forward(p, g, copy, 1);
          } else {
            append_activation_forward(p, g, 0, 1);
          }
          return p;
        });
    cache_.execute(*plan, {z.data, a.data});
  }

  // dnnl_sgemm (row-major since oneDNN 1.0, see dnnl.h): one call, no primitive to cache; it
  // re-decides its blocking on every call, which is what the benchmark weighs against matmul.
  void sgemm(Trans ta, Trans tb, float alpha, ConstMatrixView a, ConstMatrixView b, float beta,
             MatrixView c) {
    const auto k = static_cast<dnnl_dim_t>(ta == Trans::N ? a.cols : a.rows);
    const dnnl::status status = dnnl::sgemm(
        ta == Trans::N ? 'N' : 'T', tb == Trans::N ? 'N' : 'T', static_cast<dnnl_dim_t>(c.rows),
        static_cast<dnnl_dim_t>(c.cols), k, alpha, a.data, static_cast<dnnl_dim_t>(a.stride),
        b.data, static_cast<dnnl_dim_t>(b.stride), beta, c.data, static_cast<dnnl_dim_t>(c.stride));
    if (status != dnnl::status::success)
      throw dnnl::error(static_cast<dnnl_status_t>(status), "dnnl_sgemm failed");
  }

  static std::string isa_name() {
    switch (dnnl::get_effective_cpu_isa()) {
      case dnnl::cpu_isa::sse41:
        return "sse41";
      case dnnl::cpu_isa::avx:
        return "avx";
      case dnnl::cpu_isa::avx2:
        return "avx2";
      case dnnl::cpu_isa::avx2_vnni:
        return "avx2_vnni";
      case dnnl::cpu_isa::avx512_mic:
        return "avx512_mic";
      case dnnl::cpu_isa::avx512_mic_4ops:
        return "avx512_mic_4ops";
      case dnnl::cpu_isa::avx512_core:
        return "avx512_core";
      case dnnl::cpu_isa::avx512_core_vnni:
        return "avx512_core_vnni";
      case dnnl::cpu_isa::avx512_core_bf16:
        return "avx512_core_bf16";
      case dnnl::cpu_isa::avx512_core_amx:
        return "avx512_core_amx";
      default:
        return "all (no ISA limit)";
    }
  }

  Options options_;
  PlanCache cache_;
};

const OnednnBackend& as_onednn(const Backend& backend) {
  if (backend.name() != "onednn")
    throw Error("onednn test hook: backend '" + backend.name() + "' is not onednn");
  return static_cast<const OnednnBackend&>(backend);
}

std::unique_ptr<Backend> make_onednn(std::string_view options) {
  return std::make_unique<OnednnBackend>(parse_options(options));
}

}  // namespace

std::size_t onednn_test::primitives_created(const Backend& backend) {
  return as_onednn(backend).primitives_created();
}

std::size_t onednn_test::cached_plans(const Backend& backend) { return as_onednn(backend).plans(); }

std::size_t onednn_test::max_cached_plans() { return kMaxPlans; }

}  // namespace mlpk

// Between the reference (0) and highway (100): oneDNN is fast, but highway is the default.
MLPK_REGISTER_BACKEND("onednn", 50, mlpk::make_onednn)
