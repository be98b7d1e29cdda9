// Matrix views and the aligned owning Tensor.
#include <mlpk/error.hpp>
#include <mlpk/tensor.hpp>

#include <cstdlib>
#include <cstring>

namespace mlpk {
namespace {

constexpr std::size_t kAlignment = 64;

void check_view(const void* data, std::size_t rows, std::size_t cols, std::size_t stride) {
  if (stride < cols && rows > 1)
    throw Error("matrix view: row stride " + std::to_string(stride) + " is less than its " +
                std::to_string(cols) + " columns");
  if (data == nullptr && rows * cols != 0)
    throw Error("matrix view: null data for a " + std::to_string(rows) + "x" +
                std::to_string(cols) + " matrix");
}

void check_block(std::size_t rows, std::size_t cols, std::size_t row0, std::size_t col0,
                 std::size_t r, std::size_t c) {
  if (row0 + r > rows || col0 + c > cols)
    throw Error("matrix view: block of " + std::to_string(r) + "x" + std::to_string(c) + " at (" +
                std::to_string(row0) + "," + std::to_string(col0) + ") does not fit in " +
                std::to_string(rows) + "x" + std::to_string(cols));
}

}  // namespace

MatrixView::MatrixView(float* d, std::size_t r, std::size_t c, std::size_t s)
    : data(d), rows(r), cols(c), stride(s) {
  check_view(d, r, c, s);
}

ConstMatrixView::ConstMatrixView(const float* d, std::size_t r, std::size_t c, std::size_t s)
    : data(d), rows(r), cols(c), stride(s) {
  check_view(d, r, c, s);
}

MatrixView MatrixView::block(std::size_t row0, std::size_t col0, std::size_t r,
                             std::size_t c) const {
  check_block(rows, cols, row0, col0, r, c);
  return {data + row0 * stride + col0, r, c, stride};
}

ConstMatrixView ConstMatrixView::block(std::size_t row0, std::size_t col0, std::size_t r,
                                       std::size_t c) const {
  check_block(rows, cols, row0, col0, r, c);
  return {data + row0 * stride + col0, r, c, stride};
}

std::string shape_string(const ConstMatrixView& v) {
  std::string s = std::to_string(v.rows) + "x" + std::to_string(v.cols);
  if (!v.contiguous()) s += "/stride " + std::to_string(v.stride);
  return s;
}

void gather_rows(ConstMatrixView from, std::span<const std::size_t> rows, MatrixView to) {
  if (to.rows != rows.size() || to.cols != from.cols)
    throw Error("gather_rows: " + std::to_string(rows.size()) + " rows of a " + shape_string(from) +
                " matrix do not fit a " + shape_string(to) + " one");
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (rows[i] >= from.rows)
      throw Error("gather_rows: index " + std::to_string(i) + " is row " + std::to_string(rows[i]) +
                  " of a matrix of " + std::to_string(from.rows) + " rows");
    if (from.cols > 0) std::memcpy(to.row(i), from.row(rows[i]), from.cols * sizeof(float));
  }
}

float* allocate_aligned_floats(std::size_t count) {
  // Compared by division first: count * sizeof(float) itself may wrap.
  if (count > kMaxTensorBytes / sizeof(float))
    throw Error("cannot allocate " + std::to_string(count) + " floats: more than the " +
                std::to_string(kMaxTensorBytes) + " bytes a tensor may have");
  const std::size_t bytes = ((count * sizeof(float) + kAlignment - 1) / kAlignment) * kAlignment;
  if (bytes == 0) return nullptr;
  void* p = std::aligned_alloc(kAlignment, bytes);
  if (p == nullptr)
    throw Error("cannot allocate " + std::to_string(count) + " floats (" + std::to_string(bytes) +
                " bytes): out of memory");
  std::memset(p, 0, bytes);
  return static_cast<float*>(p);
}

void free_aligned_floats(float* p) { std::free(p); }

void Tensor::Free::operator()(float* p) const { free_aligned_floats(p); }

namespace {

// rows * cols, or an error naming the shape when it wraps or passes kMaxTensorBytes.
std::size_t checked_count(std::size_t rows, std::size_t cols) {
  if (cols != 0 && rows > kMaxTensorBytes / sizeof(float) / cols)
    throw Error("a " + std::to_string(rows) + " x " + std::to_string(cols) +
                " float matrix is larger than the " + std::to_string(kMaxTensorBytes) +
                " bytes a tensor may have");
  return rows * cols;
}

}  // namespace

Tensor::Tensor(std::size_t rows, std::size_t cols)
    : data_(allocate_aligned_floats(checked_count(rows, cols))), rows_(rows), cols_(cols) {}

Tensor::Tensor(const Tensor& other) : Tensor(other.rows_, other.cols_) {
  if (size() != 0) std::memcpy(data(), other.data(), size() * sizeof(float));
}

Tensor& Tensor::operator=(const Tensor& other) {
  if (this != &other) *this = Tensor(other);
  return *this;
}

}  // namespace mlpk
