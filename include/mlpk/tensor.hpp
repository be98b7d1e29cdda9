// Matrix views and the owning Tensor: float32, row-major, rows x cols with a row stride.
//
// A view never owns memory; it is a pointer plus a shape, cheap to copy and pass by value.
// `stride` is the distance in floats between the starts of two consecutive rows
// (stride >= cols), so a view can describe a block of a larger matrix.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>

namespace mlpk {

struct ConstMatrixView;

// A mutable view of a rows x cols float matrix.
struct MatrixView {
  float* data = nullptr;
  std::size_t rows = 0;
  std::size_t cols = 0;
  std::size_t stride = 0;

  MatrixView() = default;
  MatrixView(float* data, std::size_t rows, std::size_t cols, std::size_t stride);
  MatrixView(float* data, std::size_t rows, std::size_t cols) : MatrixView(data, rows, cols, cols) {}

  float& operator()(std::size_t r, std::size_t c) const { return data[r * stride + c]; }
  float* row(std::size_t r) const { return data + r * stride; }
  std::size_t size() const { return rows * cols; }
  bool contiguous() const { return stride == cols || rows <= 1; }
  // The rows_ x cols_ block whose top-left element is (row0, col0); throws if it does not fit.
  MatrixView block(std::size_t row0, std::size_t col0, std::size_t rows_, std::size_t cols_) const;
  // The first `n` rows.
  MatrixView top_rows(std::size_t n) const { return block(0, 0, n, cols); }
};

// A read-only view of a rows x cols float matrix.
struct ConstMatrixView {
  const float* data = nullptr;
  std::size_t rows = 0;
  std::size_t cols = 0;
  std::size_t stride = 0;

  ConstMatrixView() = default;
  ConstMatrixView(const float* data, std::size_t rows, std::size_t cols, std::size_t stride);
  ConstMatrixView(const float* data, std::size_t rows, std::size_t cols)
      : ConstMatrixView(data, rows, cols, cols) {}
  ConstMatrixView(const MatrixView& v)  // NOLINT: a mutable view converts implicitly
      : data(v.data), rows(v.rows), cols(v.cols), stride(v.stride) {}

  const float& operator()(std::size_t r, std::size_t c) const { return data[r * stride + c]; }
  const float* row(std::size_t r) const { return data + r * stride; }
  std::size_t size() const { return rows * cols; }
  bool contiguous() const { return stride == cols || rows <= 1; }
  ConstMatrixView block(std::size_t row0, std::size_t col0, std::size_t rows_, std::size_t cols_) const;
  ConstMatrixView top_rows(std::size_t n) const { return block(0, 0, n, cols); }
};

// "3x4" (and "/stride 8" when the rows are not packed): for error messages.
std::string shape_string(const ConstMatrixView& v);

// Row i of `to` = row rows[i] of `from`, for every i (a shuffled batch's targets, say). Throws
// mlpk::Error when `to` is not rows.size() x from.cols or an index is not a row of `from`.
void gather_rows(ConstMatrixView from, std::span<const std::size_t> rows, MatrixView to);

// The largest Tensor: 64 GiB. Above the largest array valid input makes (the parameters of a
// kMaxParameters network, 16 GiB plus padding), and far below where rows * cols * 4 wraps: a
// size past it comes from a hostile or mistyped size, and is refused before allocating.
inline constexpr std::size_t kMaxTensorBytes = std::size_t{1} << 36;

// An owning rows x cols float matrix, zero-initialized, rows packed (stride == cols),
// the first element aligned to 64 bytes (one cache line, one AVX-512 vector).
class Tensor {
 public:
  Tensor() = default;
  // Throws mlpk::Error, naming the shape, when rows * cols floats exceed kMaxTensorBytes or the
  // memory cannot be had.
  Tensor(std::size_t rows, std::size_t cols);

  Tensor(const Tensor& other);
  Tensor& operator=(const Tensor& other);
  Tensor(Tensor&&) noexcept = default;
  Tensor& operator=(Tensor&&) noexcept = default;

  std::size_t rows() const { return rows_; }
  std::size_t cols() const { return cols_; }
  std::size_t size() const { return rows_ * cols_; }
  float* data() { return data_.get(); }
  const float* data() const { return data_.get(); }
  float& operator()(std::size_t r, std::size_t c) { return data_[r * cols_ + c]; }
  float operator()(std::size_t r, std::size_t c) const { return data_[r * cols_ + c]; }

  MatrixView view() { return {data(), rows_, cols_, cols_}; }
  ConstMatrixView view() const { return {data(), rows_, cols_, cols_}; }
  operator MatrixView() { return view(); }             // NOLINT: a tensor is usable as a view
  operator ConstMatrixView() const { return view(); }  // NOLINT
  std::span<float> flat() { return {data(), size()}; }
  std::span<const float> flat() const { return {data(), size()}; }

 private:
  struct Free {
    void operator()(float* p) const;
  };
  std::unique_ptr<float[], Free> data_;
  std::size_t rows_ = 0;
  std::size_t cols_ = 0;
};

// 64-byte aligned, zeroed storage for `count` floats; released with free_aligned_floats. Throws
// mlpk::Error past kMaxTensorBytes or when out of memory.
float* allocate_aligned_floats(std::size_t count);
void free_aligned_floats(float* p);

}  // namespace mlpk
