#include "memory_descs.hpp"

namespace mlpk::onednn {

using dnnl::memory;
using Dims = memory::dims;

memory::desc matrix_desc(std::size_t rows, std::size_t cols, std::size_t stride, bool transposed) {
  const auto r = static_cast<memory::dim>(rows), c = static_cast<memory::dim>(cols);
  const auto s = static_cast<memory::dim>(stride);
  return memory::desc({r, c}, memory::data_type::f32, transposed ? Dims{1, s} : Dims{s, 1});
}

memory::desc matrix_desc(ConstMatrixView v) { return matrix_desc(v.rows, v.cols, v.stride, false); }

memory::desc row_desc(std::size_t n) {
  const auto d = static_cast<memory::dim>(n);
  return memory::desc({1, d}, memory::data_type::f32, Dims{d, 1});
}

memory::desc vector_desc(std::size_t n) {
  return memory::desc({static_cast<memory::dim>(n)}, memory::data_type::f32, Dims{1});
}

memory::desc scalar_desc() { return vector_desc(1); }

bool packed(const memory::desc& md) {
  const auto& d = md.data;
  return d.format_kind == dnnl_blocked && d.format_desc.blocking.strides[1] == 1 &&
         d.format_desc.blocking.strides[0] == d.dims[1];
}

memory::desc packed_like(const memory::desc& md) {
  const auto& d = md.data;
  return memory::desc({d.dims[0], d.dims[1]}, memory::data_type::f32, Dims{d.dims[1], 1});
}

}  // namespace mlpk::onednn
