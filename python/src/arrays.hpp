// NumPy arrays <-> mlpk matrix views, for the Python module.
//
// In: a float32 C-contiguous array is used as it is (no copy); anything else is converted once
// to a new float32 C-contiguous array by NumPy's own casting (what np.ascontiguousarray(x,
// dtype=np.float32) gives), by pybind11's array_t<float, c_style | forcecast>.
// Out: a view of mlpk's memory is an ndarray whose base is the Python object that owns that
// memory, so the array keeps its owner alive and never dangles.
#pragma once

#include <mlpk/error.hpp>
#include <mlpk/tensor.hpp>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstring>
#include <span>
#include <string>

namespace mlpk::python {

namespace py = pybind11;

using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;

// "(3, 4)": the shape as NumPy prints it, for error messages.
inline std::string shape_of(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) {
    if (i > 0) s += ", ";
    s += std::to_string(a.shape(i));
  }
  return s + (a.ndim() == 1 ? ",)" : ")");
}

// The 2-D array `a` as a view; throws mlpk::Error naming `what` and the shape otherwise.
inline ConstMatrixView as_matrix(const FloatArray& a, const char* what) {
  if (a.ndim() != 2)
    throw Error(std::string(what) + " must be a 2-D array (samples x columns), got shape " +
                shape_of(a));
  const auto rows = static_cast<std::size_t>(a.shape(0)), cols = static_cast<std::size_t>(a.shape(1));
  return ConstMatrixView(a.data(), rows, cols, cols);
}

// An ndarray over `v`'s memory, kept alive by `owner`; read-only unless `writable`.
inline py::array matrix_view(const ConstMatrixView& v, py::handle owner, bool writable) {
  constexpr auto f = static_cast<py::ssize_t>(sizeof(float));
  py::array a(py::dtype::of<float>(), {v.rows, v.cols},
              {static_cast<py::ssize_t>(v.stride) * f, f}, v.data, owner);
  if (!writable) a.attr("setflags")(py::arg("write") = false);
  return a;
}

inline py::array vector_view(std::span<const float> v, py::handle owner, bool writable) {
  py::array a(py::dtype::of<float>(), {v.size()}, {static_cast<py::ssize_t>(sizeof(float))},
              v.data(), owner);
  if (!writable) a.attr("setflags")(py::arg("write") = false);
  return a;
}

// A new array holding a copy of `v` (for memory that changes or moves after the call returns).
inline py::array_t<float> matrix_copy(const ConstMatrixView& v) {
  py::array_t<float> out({v.rows, v.cols});
  float* dst = out.mutable_data();
  for (std::size_t r = 0; r < v.rows; ++r) std::memcpy(dst + r * v.cols, v.row(r), v.cols * sizeof(float));
  return out;
}

inline py::array_t<float> vector_copy(std::span<const float> v) {
  py::array_t<float> out(v.size());
  if (!v.empty()) std::memcpy(out.mutable_data(), v.data(), v.size() * sizeof(float));
  return out;
}

}  // namespace mlpk::python
