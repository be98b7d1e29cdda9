// mlpk._mlpk: the public C++ API (include/mlpk/) for Python, NumPy in and out.
//
// What it is: a thin layer that converts arguments, releases the GIL around every computation,
// and turns mlpk::Error into mlpk.Error (a ValueError). What it is not: a second implementation;
// the estimators (mlpk/_estimators.py) are written in Python on top of it.
//
// Threads: a Network (and an Optimizer) computes one call at a time: each holds a mutex, taken
// with the GIL released, so two Python threads sharing one Network take turns instead of racing,
// and threads on different Networks run at once.
#include "arrays.hpp"

#include <mlpk/mlpk.hpp>

#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <optional>
#include <utility>

namespace {

using namespace mlpk;
using namespace mlpk::python;
using namespace pybind11::literals;

// A Network as Python holds it.
struct PyNetwork {
  explicit PyNetwork(Network n) : net(std::move(n)) {}
  Network net;
  // The array of the last forward. Network::backward reads X again, so the array (possibly the
  // converted copy of what the caller passed) is kept alive here until the next forward. This
  // stays correct whether or not Network::forward copies X itself.
  py::object input;
  std::mutex mutex;
};

struct PyOptimizer {
  explicit PyOptimizer(std::unique_ptr<Optimizer> o) : optimizer(std::move(o)) {}
  std::unique_ptr<Optimizer> optimizer;
  std::mutex mutex;
};

// Locks `m` with the GIL released meanwhile: the thread holding `m` may be computing without the
// GIL and need it back before it unlocks.
std::unique_lock<std::mutex> lock_without_gil(std::mutex& m) {
  py::gil_scoped_release release;
  return std::unique_lock<std::mutex>(m);
}

std::shared_ptr<Backend> backend_from(const py::object& spec) {
  if (spec.is_none()) return create_backend(default_backend_name());
  if (py::isinstance<py::str>(spec)) return create_backend(spec.cast<std::string>());
  if (py::isinstance<Backend>(spec)) return spec.cast<std::shared_ptr<Backend>>();
  throw Error("backend must be None, a name such as \"highway\" or an mlpk.Backend, got " +
              py::repr(spec).cast<std::string>());
}

Network new_network(Architecture a, std::shared_ptr<Backend> backend, bool initialize) {
  if (!initialize) return Network::zeroed(std::move(a), std::move(backend));
  return Network(std::move(a), std::move(backend));
}

Init parse_init(std::string_view name) {
  static constexpr std::pair<std::string_view, Init> kInits[] = {
      {"automatic", Init::automatic},   {"xavier_uniform", Init::xavier_uniform},
      {"xavier_normal", Init::xavier_normal}, {"he_uniform", Init::he_uniform},
      {"he_normal", Init::he_normal}};
  std::string known;
  for (const auto& [n, init] : kInits) {
    if (n == name) return init;
    if (!known.empty()) known += ", ";
    known += n;
  }
  throw Error("unknown init '" + std::string(name) + "' (known: " + known + ")");
}

std::size_t layer_index(const Network& net, py::ssize_t l) {
  const auto layers = static_cast<py::ssize_t>(net.num_layers());
  if (l < -layers || l >= layers)
    throw py::index_error("layer " + std::to_string(l) + " out of range: the network has " +
                          std::to_string(layers) + " layers");
  return static_cast<std::size_t>(l < 0 ? l + layers : l);
}

py::list layers_of(const Architecture& a) {
  py::list layers;
  for (const LayerSpec& s : a.layers) layers.append(py::make_tuple(s.units, std::string(to_string(s.activation))));
  return layers;
}

// Copies a 2-D float array into a Dataset's features (what Standardizer works on).
Dataset dataset_of(const FloatArray& x, const char* what) {
  const ConstMatrixView v = as_matrix(x, what);
  Dataset d;
  d.features = Tensor(v.rows, v.cols);
  if (v.size() > 0) std::memcpy(d.features.data(), v.data, v.size() * sizeof(float));
  return d;
}

// A Tensor's memory as an ndarray without a copy: the array owns the moved Tensor.
py::array_t<float> adopt(Tensor t) {
  auto* owned = new Tensor(std::move(t));
  py::capsule owner(owned, [](void* p) { delete static_cast<Tensor*>(p); });
  constexpr auto f = static_cast<py::ssize_t>(sizeof(float));
  return py::array_t<float>({owned->rows(), owned->cols()},
                            {static_cast<py::ssize_t>(owned->cols()) * f, f}, owned->data(), owner);
}

std::vector<float> vector_of(const FloatArray& a, const char* what) {
  if (a.ndim() != 1) throw Error(std::string(what) + " must be a 1-D array, got shape " + shape_of(a));
  return std::vector<float>(a.data(), a.data() + a.size());
}

OptimizerOptions options_from(float learning_rate, float momentum, float beta1, float beta2,
                              float epsilon, float weight_decay, float clip_norm,
                              std::string_view schedule, std::uint64_t warmup_steps,
                              std::uint64_t step_size, float gamma, std::uint64_t total_steps,
                              float min_fraction) {
  OptimizerOptions o;
  o.learning_rate = learning_rate;
  o.momentum = momentum;
  o.beta1 = beta1;
  o.beta2 = beta2;
  o.epsilon = epsilon;
  o.weight_decay = weight_decay;
  o.clip_norm = clip_norm;
  o.schedule.kind = parse_schedule(schedule);
  o.schedule.warmup_steps = warmup_steps;
  o.schedule.step_size = step_size;
  o.schedule.gamma = gamma;
  o.schedule.total_steps = total_steps;
  o.schedule.min_fraction = min_fraction;
  return o;
}

// Trains one pass over the rows `order` of (x, y) (all rows in order when `order` is None), in
// mini-batches, with the GIL released throughout; returns the mean batch loss weighted by
// batch size. Throws mlpk::Error at the first batch whose loss is not finite.
double train_epoch(PyNetwork& self, PyOptimizer& opt, const FloatArray& x_in, const FloatArray& y_in,
                   std::size_t batch_size, const std::optional<py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>>& order) {
  const ConstMatrixView x = as_matrix(x_in, "train_epoch: X"), y = as_matrix(y_in, "train_epoch: Y");
  if (x.rows != y.rows)
    throw Error("train_epoch: X has " + std::to_string(x.rows) + " rows but Y has " + std::to_string(y.rows));
  if (batch_size == 0 || batch_size > kMaxBatchSize)
    throw Error("train_epoch: batch_size must be from 1 to " + std::to_string(kMaxBatchSize) +
                ", got " + std::to_string(batch_size));
  std::vector<std::size_t> rows;
  if (order) {
    if (order->ndim() != 1) throw Error("train_epoch: order must be a 1-D array of row indices, got shape " + shape_of(*order));
    const std::int64_t* o = order->data();
    rows.resize(static_cast<std::size_t>(order->size()));
    for (std::size_t i = 0; i < rows.size(); ++i) {
      if (o[i] < 0 || static_cast<std::size_t>(o[i]) >= x.rows)
        throw Error("train_epoch: order[" + std::to_string(i) + "] = " + std::to_string(o[i]) +
                    " is not a row of X (which has " + std::to_string(x.rows) + ")");
      rows[i] = static_cast<std::size_t>(o[i]);
    }
  }
  const std::size_t count = order ? rows.size() : x.rows;
  if (count == 0) throw Error("train_epoch: no rows to train on");
  auto net_lock = lock_without_gil(self.mutex);
  auto opt_lock = lock_without_gil(opt.mutex);
  self.input = x_in;
  py::gil_scoped_release release;
  const std::size_t steps = (count + batch_size - 1) / batch_size;
  // With an order, each batch's targets are gathered into this (the network gathers X's rows
  // itself, in parallel, as it copies them); without one, batches are views of X and Y.
  Tensor by;
  if (order) by = Tensor(std::min(batch_size, count), y.cols);
  double total = 0.0;
  for (std::size_t s = 0; s < steps; ++s) {
    const std::size_t first = s * batch_size, n = std::min(batch_size, count - first);
    double loss = 0.0;
    if (order) {
      const std::span<const std::size_t> batch_rows(rows.data() + first, n);
      const std::span<const std::size_t> next_rows(rows.data() + first + n, std::min(batch_size, count - first - n));
      gather_rows(y, batch_rows, by.view().top_rows(n));
      loss = train_batch(self.net, *opt.optimizer, x, batch_rows, by.view().top_rows(n), 0, next_rows);
    } else {
      loss = train_batch(self.net, *opt.optimizer, x.block(first, 0, n, x.cols), y.block(first, 0, n, y.cols));
    }
    if (!std::isfinite(loss))
      throw Error("training diverged in step " + std::to_string(s + 1) + " of " + std::to_string(steps) +
                  ": the batch loss is " + std::to_string(loss) + " (lower the learning rate, or clip the gradients)");
    total += loss * static_cast<double>(n);
  }
  return total / static_cast<double>(count);
}

constexpr const char* kInputRule =
    "Arrays are float32: a C-contiguous float32 array is used without a copy; anything else is "
    "converted once, as np.ascontiguousarray(a, dtype=np.float32) would.";

}  // namespace

PYBIND11_MODULE(_mlpk, m) {
  m.doc() = "mlpk: multi-layer perceptrons on CPUs through plugin backends (the C++ API). "
            "Every mlpk failure raises mlpk.Error, a ValueError, with the C++ message.";
  m.attr("__version__") = MLPK_VERSION;
  py::register_exception<Error>(m, "Error", PyExc_ValueError);

  // --- backends ---------------------------------------------------------------------------
  py::class_<Backend, std::shared_ptr<Backend>>(m, "Backend", "A kernel implementation; see mlpk.create_backend.")
      .def_property_readonly("name", &Backend::name)
      .def_property_readonly("description", &Backend::description)
      .def_property_readonly("variants", &Backend::variants, "Options create_backend('name:option') accepts.")
      .def_property_readonly("deterministic", &Backend::deterministic)
      .def_property_readonly("block_invariant", &Backend::block_invariant)
      .def("supports", [](const Backend& b, std::string_view a) { return b.supports(parse_activation(a)); },
           "activation"_a)
      .def("__repr__", [](const Backend& b) { return "<mlpk.Backend " + b.description() + ">"; });
  m.def("available_backends", &available_backends, "Names of the usable backends, highest priority first.");
  m.def("default_backend_name", &default_backend_name, "MLPK_BACKEND if set, else the highest-priority backend.");
  m.def("create_backend", [](std::string_view spec) { return std::shared_ptr<Backend>(create_backend(spec)); },
        "spec"_a, "A backend by name, e.g. 'highway' or 'highway:AVX2'.");
  m.def("load_backend_module", &load_backend_module, "path"_a,
        "Opens a backend module (shared object); returns the names it registered.");
  m.def("default_thread_count", &default_thread_count);

  // --- architecture -----------------------------------------------------------------------
  py::class_<Architecture>(m, "Architecture", "Input width, layers (units, activation) and loss.")
      .def(py::init([](std::size_t inputs, const std::vector<std::pair<std::size_t, std::string>>& layers,
                       std::string_view loss) {
             Architecture a;
             a.inputs = inputs;
             for (const auto& [units, activation] : layers) a.layers.push_back({units, parse_activation(activation)});
             a.loss = parse_loss(loss);
             a.validate();
             return a;
           }),
           "inputs"_a, "layers"_a, "loss"_a)
      .def_static("parse", [](std::string_view layers, std::string_view hidden, std::string_view loss) {
                    return Architecture::parse(layers, parse_activation(hidden), parse_loss(loss));
                  },
                  "layers"_a, "hidden"_a = "relu", "loss"_a = "softmax-ce",
                  "'784-256-10': hidden layers use `hidden`, the output the activation of `loss`.")
      .def_property_readonly("inputs", [](const Architecture& a) { return a.inputs; })
      .def_property_readonly("outputs", &Architecture::outputs)
      .def_property_readonly("layers", &layers_of)
      .def_property_readonly("loss", [](const Architecture& a) { return std::string(to_string(a.loss)); })
      .def_property_readonly("parameter_count", [](const Architecture& a) { a.validate(); return a.parameter_count(); })
      .def("__eq__", [](const Architecture& a, const Architecture& b) { return a == b; })
      .def("__str__", &Architecture::to_string)
      .def("__repr__", [](const Architecture& a) { return "<mlpk.Architecture " + a.to_string() + ">"; });

  // --- network ----------------------------------------------------------------------------
  py::class_<PyNetwork>(m, "Network", (std::string(
      "A multi-layer perceptron on one backend: Network(architecture, backend=None) or "
      "Network('784-256-10', backend=None, hidden='relu', loss='softmax-ce'). backend: None (the "
      "default backend), a name, or an mlpk.Backend. weights/bias/parameters are writable NumPy "
      "views of the network's memory, gradients read-only views (the flat `gradients` is writable, "
      "as in C++); each view keeps the Network alive. initialize=False leaves every parameter 0, "
      "for parameters set next, without drawing the default ones (C++ Network::zeroed). ") +
      kInputRule).c_str())
      .def(py::init([](const Architecture& a, const py::object& backend, bool initialize) {
             return new PyNetwork(new_network(a, backend_from(backend), initialize));
           }),
           "architecture"_a, "backend"_a = py::none(), "initialize"_a = true)
      .def(py::init([](std::string_view layers, const py::object& backend, std::string_view hidden,
                       std::string_view loss, bool initialize) {
             return new PyNetwork(new_network(Architecture::parse(layers, parse_activation(hidden), parse_loss(loss)),
                                              backend_from(backend), initialize));
           }),
           "layers"_a, "backend"_a = py::none(), "hidden"_a = "relu", "loss"_a = "softmax-ce",
           "initialize"_a = true)
      .def_property_readonly("architecture", [](const PyNetwork& s) { return s.net.architecture(); })
      .def_property_readonly("backend", [](const PyNetwork& s) {
        // The Network holds the backend by shared_ptr; Python gets an alias that keeps it alive.
        return std::shared_ptr<Backend>(std::shared_ptr<Backend>{}, &s.net.backend());
      }, py::keep_alive<0, 1>())
      .def_property_readonly("num_layers", [](const PyNetwork& s) { return s.net.num_layers(); })
      .def_property_readonly("threads", [](const PyNetwork& s) { return s.net.threads(); })
      .def("set_threads", [](PyNetwork& s, std::size_t threads) {
             auto lock = lock_without_gil(s.mutex);
             py::gil_scoped_release release;
             s.net.set_threads(threads);
           }, "threads"_a, "0: MLPK_NUM_THREADS if set, else every core. Results do not depend on it.")
      .def("initialize", [](PyNetwork& s, std::uint64_t seed, std::string_view init) {
             const Init kind = parse_init(init);
             auto lock = lock_without_gil(s.mutex);
             py::gil_scoped_release release;
             s.net.initialize(seed, kind);
           }, "seed"_a = 0, "init"_a = "automatic",
           "Weights from mlpk's portable generator; biases zero. init: automatic, xavier_uniform, "
           "xavier_normal, he_uniform, he_normal.")
      .def("forward", [](PyNetwork& s, const FloatArray& x) {
             const ConstMatrixView xv = as_matrix(x, "forward: X");
             auto lock = lock_without_gil(s.mutex);
             s.input = x;
             ConstMatrixView out;
             {
               py::gil_scoped_release release;
               out = s.net.forward(xv);
             }
             return matrix_copy(out);
           }, "x"_a,
           (std::string("Runs X (n x inputs); returns a new n x outputs array. X is kept until the "
                        "next forward, for backward. ") + kInputRule).c_str())
      .def("predict", [](PyNetwork& s, const FloatArray& x, std::size_t batch_size) {
             const ConstMatrixView xv = as_matrix(x, "predict: X");
             if (batch_size == 0 || batch_size > kMaxBatchSize)
               throw Error("predict: batch_size must be from 1 to " + std::to_string(kMaxBatchSize));
             auto lock = lock_without_gil(s.mutex);
             s.input = x;
             py::array_t<float> out({xv.rows, s.net.architecture().outputs()});
             float* dst = out.mutable_data();
             py::gil_scoped_release release;
             if (xv.rows == 0) s.net.forward(xv);  // the Network's own error for an empty batch
             for (std::size_t first = 0; first < xv.rows; first += batch_size) {
               const ConstMatrixView o = s.net.forward(xv.block(first, 0, std::min(batch_size, xv.rows - first), xv.cols));
               for (std::size_t r = 0; r < o.rows; ++r)
                 std::memcpy(dst + (first + r) * o.cols, o.row(r), o.cols * sizeof(float));
             }
             return out;
           }, "x"_a, "batch_size"_a = 4096,
           "forward in batches of batch_size rows (bounded memory); returns n x outputs.")
      .def("loss", [](PyNetwork& s, const FloatArray& y) {
             const ConstMatrixView yv = as_matrix(y, "loss: Y");
             auto lock = lock_without_gil(s.mutex);
             py::gil_scoped_release release;
             return s.net.loss(yv);
           }, "y"_a, "The loss of the last forward's output against targets Y (n x outputs).")
      .def("backward", [](PyNetwork& s, const FloatArray& y) {
             const ConstMatrixView yv = as_matrix(y, "backward: Y");
             auto lock = lock_without_gil(s.mutex);
             py::gil_scoped_release release;
             s.net.backward(yv);
           }, "y"_a, "Gradients of that loss for every parameter (overwrites the gradients).")
      .def("weights", [](py::object self, py::ssize_t l) {
             PyNetwork& s = self.cast<PyNetwork&>();
             return matrix_view(s.net.weights(layer_index(s.net, l)), self, true);
           }, "layer"_a, "W of a layer (inputs x units): a writable view, strided when its rows are padded (512, 1024, ... units get a cache line of zeros after each row).")
      .def("bias", [](py::object self, py::ssize_t l) {
             PyNetwork& s = self.cast<PyNetwork&>();
             return vector_view(s.net.bias(layer_index(s.net, l)), self, true);
           }, "layer"_a, "b of a layer (units): a writable view.")
      .def("weight_gradient", [](py::object self, py::ssize_t l) {
             PyNetwork& s = self.cast<PyNetwork&>();
             return matrix_view(s.net.weight_gradient(layer_index(s.net, l)), self, false);
           }, "layer"_a, "dW of a layer from the last backward: a read-only view.")
      .def("bias_gradient", [](py::object self, py::ssize_t l) {
             PyNetwork& s = self.cast<PyNetwork&>();
             return vector_view(s.net.bias_gradient(layer_index(s.net, l)), self, false);
           }, "layer"_a, "db of a layer from the last backward: a read-only view.")
      .def_property_readonly("parameters", [](py::object self) {
             return vector_view(self.cast<PyNetwork&>().net.parameters(), self, true);
           }, "Every parameter in one flat array (with zero padding between blocks and after the rows of a W whose rows are padded; see weights): a writable view.")
      .def_property_readonly("gradients", [](py::object self) {
             return vector_view(self.cast<PyNetwork&>().net.gradients(), self, true);
           }, "Every gradient, at its parameter's index: a writable view.")
      .def("pre_activation", [](PyNetwork& s, py::ssize_t l) {
             return matrix_copy(s.net.pre_activation(layer_index(s.net, l)));
           }, "layer"_a, "Z of a layer from the last forward (a copy: the buffer is reused).")
      .def("activation", [](PyNetwork& s, py::ssize_t l) {
             return matrix_copy(s.net.activation(layer_index(s.net, l)));
           }, "layer"_a, "A of a layer from the last forward (a copy: the buffer is reused).")
      .def("__repr__", [](const PyNetwork& s) {
        return "<mlpk.Network " + s.net.architecture().to_string() + " on " + s.net.backend().description() + ">";
      });

  // --- optimizers -------------------------------------------------------------------------
  py::class_<PyOptimizer>(m, "Optimizer",
      "Optimizer(kind, learning_rate=1e-3, ...): kind is sgd, momentum, nesterov, adam or adamw; "
      "schedule constant, step or cosine (see include/mlpk/optimizer.hpp for the formulas).")
      .def(py::init([](std::string_view kind, float learning_rate, float momentum, float beta1, float beta2,
                       float epsilon, float weight_decay, float clip_norm, std::string_view schedule,
                       std::uint64_t warmup_steps, std::uint64_t step_size, float gamma,
                       std::uint64_t total_steps, float min_fraction) {
             return new PyOptimizer(make_optimizer(
                 parse_optimizer(kind),
                 options_from(learning_rate, momentum, beta1, beta2, epsilon, weight_decay, clip_norm,
                              schedule, warmup_steps, step_size, gamma, total_steps, min_fraction)));
           }),
           "kind"_a = "adam", "learning_rate"_a = 1e-3f, "momentum"_a = 0.9f, "beta1"_a = 0.9f,
           "beta2"_a = 0.999f, "epsilon"_a = 1e-8f, "weight_decay"_a = 0.0f, "clip_norm"_a = 0.0f,
           "schedule"_a = "constant", "warmup_steps"_a = 0, "step_size"_a = 1, "gamma"_a = 0.1f,
           "total_steps"_a = 0, "min_fraction"_a = 0.0f)
      .def_property_readonly("kind", [](const PyOptimizer& o) { return std::string(to_string(o.optimizer->kind())); })
      .def_property_readonly("steps", [](const PyOptimizer& o) { return o.optimizer->steps(); })
      .def_property_readonly("learning_rate", [](const PyOptimizer& o) { return o.optimizer->options().learning_rate; })
      .def_property_readonly("current_learning_rate", [](const PyOptimizer& o) { return o.optimizer->current_learning_rate(); })
      .def_property_readonly("last_gradient_norm", [](const PyOptimizer& o) { return o.optimizer->last_gradient_norm(); })
      .def_property_readonly("state", [](const PyOptimizer& o) {
             py::list arrays;
             for (const auto& s : o.optimizer->state()) arrays.append(vector_copy(s));
             return arrays;
           }, "Copies of the state arrays (velocity; Adam's two moments), empty before the first step.")
      .def("restore", [](PyOptimizer& o, std::uint64_t steps, const std::vector<FloatArray>& state) {
             std::vector<std::vector<float>> arrays;
             for (const auto& a : state) arrays.push_back(vector_of(a, "restore: a state array"));
             auto lock = lock_without_gil(o.mutex);
             o.optimizer->restore(steps, std::move(arrays));
           }, "steps"_a, "state"_a)
      .def("step", [](PyOptimizer& o, PyNetwork& net) {
             auto net_lock = lock_without_gil(net.mutex);
             auto lock = lock_without_gil(o.mutex);
             py::gil_scoped_release release;
             o.optimizer->step(net.net);
           }, "network"_a, "One update of the network's parameters from its gradients.")
      .def("__repr__", [](const PyOptimizer& o) {
        return "<mlpk.Optimizer " + std::string(to_string(o.optimizer->kind())) + ", " +
               std::to_string(o.optimizer->steps()) + " steps>";
      });

  m.def("train_batch", [](PyNetwork& net, PyOptimizer& opt, const FloatArray& x, const FloatArray& y) {
          const ConstMatrixView xv = as_matrix(x, "train_batch: X"), yv = as_matrix(y, "train_batch: Y");
          auto net_lock = lock_without_gil(net.mutex);
          auto opt_lock = lock_without_gil(opt.mutex);
          net.input = x;
          py::gil_scoped_release release;
          return train_batch(net.net, *opt.optimizer, xv, yv);
        }, "network"_a, "optimizer"_a, "x"_a, "y"_a,
        (std::string("forward + loss + backward + optimizer step on one batch; returns the batch loss. Plain "
                    "SGD (no weight decay, no clipping) folds its step into the backward, W - lr dW written "
                    "straight into W, so the weights' gradients are then not written (backward() gives "
                    "them). ") + kInputRule).c_str());
  m.def("train_epoch", &train_epoch, "network"_a, "optimizer"_a, "x"_a, "y"_a, "batch_size"_a,
        "order"_a = py::none(),
        (std::string("train_batch over mini-batches of the rows `order` of (X, Y) (every row in order "
                     "when None), the GIL released throughout; returns the mean loss. Raises mlpk.Error "
                     "naming the step when a batch loss is not finite. ") + kInputRule).c_str());

  // --- data -------------------------------------------------------------------------------
  py::class_<Standardizer>(m, "Standardizer", "Per-feature (x - mean) / stddev.")
      .def(py::init([](const FloatArray& mean, const FloatArray& stddev) {
             Standardizer s{vector_of(mean, "Standardizer: mean"), vector_of(stddev, "Standardizer: stddev")};
             if (s.mean.size() != s.stddev.size())
               throw Error("Standardizer: mean has " + std::to_string(s.mean.size()) + " entries but stddev " +
                           std::to_string(s.stddev.size()));
             return s;
           }), "mean"_a, "stddev"_a)
      .def_static("fit", [](const FloatArray& x) { return Standardizer::fit(dataset_of(x, "Standardizer.fit: X")); }, "x"_a)
      .def("apply", [](const Standardizer& s, const FloatArray& x) {
             Dataset d = dataset_of(x, "Standardizer.apply: X");
             s.apply(d);
             return adopt(std::move(d.features));
           }, "x"_a, "A new array: (x - mean) / stddev.")
      .def_property_readonly("mean", [](const Standardizer& s) { return vector_copy(s.mean); })
      .def_property_readonly("stddev", [](const Standardizer& s) { return vector_copy(s.stddev); });

  m.def("load_fashion_mnist", [](const std::filesystem::path& directory, bool train) {
          Dataset d;
          {
            py::gil_scoped_release release;
            d = load_fashion_mnist(directory, train);
          }
          py::array_t<std::int64_t> labels(static_cast<py::ssize_t>(d.labels.size()));
          std::copy(d.labels.begin(), d.labels.end(), labels.mutable_data());
          return py::make_tuple(adopt(std::move(d.features)), labels);
        }, "directory"_a = std::filesystem::path(kFashionMnistDirectory), "train"_a = true,
        "(X, labels): X float32 n x 784 with pixels in [0, 1], labels int64 in [0, 10).");

  // --- model files ------------------------------------------------------------------------
  py::class_<TrainingState>(m, "TrainingState")
      .def(py::init([](std::uint64_t epoch, std::uint64_t rng_state) { return TrainingState{epoch, rng_state}; }),
           "epoch"_a = 0, "rng_state"_a = 0)
      .def_readwrite("epoch", &TrainingState::epoch)
      .def_readwrite("rng_state", &TrainingState::rng_state);
  py::class_<Checkpoint>(m, "Checkpoint")
      .def_property_readonly("optimizer", [](const Checkpoint& c) { return std::string(to_string(c.optimizer)); })
      .def_readonly("optimizer_steps", &Checkpoint::optimizer_steps)
      .def_property_readonly("optimizer_state", [](const Checkpoint& c) {
        py::list arrays;
        for (const auto& s : c.optimizer_state) arrays.append(vector_copy(s));
        return arrays;
      })
      .def_readonly("training", &Checkpoint::training);
  py::class_<ModelFile>(m, "ModelFile", "What a model file holds (mlpk.read_model).")
      .def_readonly("architecture", &ModelFile::architecture)
      .def_readonly("standardizer", &ModelFile::standardizer)
      .def_property_readonly("parameters", [](const ModelFile& f) { return vector_copy(f.parameters); },
                             "W[0], b[0], W[1], b[1], ... unpadded.")
      .def_readonly("checkpoint", &ModelFile::checkpoint);
  m.def("save_model", [](const std::filesystem::path& path, PyNetwork& net, const Standardizer* standardizer,
                         PyOptimizer* optimizer, const TrainingState* training) {
          if ((optimizer == nullptr) != (training == nullptr))
            throw Error("save_model: a checkpoint needs both optimizer and training (or neither)");
          auto net_lock = lock_without_gil(net.mutex);
          std::unique_lock<std::mutex> opt_lock;
          if (optimizer) opt_lock = lock_without_gil(optimizer->mutex);
          py::gil_scoped_release release;
          save_model(path, net.net, standardizer, optimizer ? optimizer->optimizer.get() : nullptr, training);
        }, "path"_a, "network"_a, "standardizer"_a = py::none(), "optimizer"_a = py::none(), "training"_a = py::none(),
        "Writes the model file `mlpk eval` reads (atomically); with optimizer and training, a checkpoint.");
  m.def("read_model", [](const std::filesystem::path& path) {
          py::gil_scoped_release release;
          return read_model(path);
        }, "path"_a);
  m.def("load_model", [](const std::filesystem::path& path, const py::object& backend) {
          std::shared_ptr<Backend> b = backend_from(backend);
          py::gil_scoped_release release;
          return new PyNetwork(load_model(path, std::move(b)));
        }, "path"_a, "backend"_a = py::none(), py::return_value_policy::take_ownership,
        "A Network with the file's architecture and weights (the standardizer: read_model).");
  m.def("resume_from", [](const std::filesystem::path& path, PyNetwork& net, PyOptimizer& optimizer) {
          auto net_lock = lock_without_gil(net.mutex);
          auto opt_lock = lock_without_gil(optimizer.mutex);
          py::gil_scoped_release release;
          TrainingState training;
          resume_from(path, net.net, *optimizer.optimizer, training);
          return training;
        }, "path"_a, "network"_a, "optimizer"_a,
        "Restores weights and optimizer state from a checkpoint; returns its TrainingState.");
}
