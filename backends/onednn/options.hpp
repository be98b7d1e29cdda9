// The options of the onednn backend ("onednn:threads=2,gemm=sgemm"): what they mean, how they are
// parsed, and how the backend's description names them. Not here: what the backend does with
// them (kernels.cpp, onednn_backend.cpp).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace mlpk::onednn {

// How gemm runs: the matmul primitive, dnnl_sgemm, an inner product, or (auto) whichever measured
// fastest for the kind of product, on one avx512_core thread (bench_onednn BM_Gemm, 5 repetitions,
// medians of CPU time):
//   A transposed, N < 32:  dnnl_sgemm; the matmul's brgemm spends more time transposing A than
//                          multiplying (256x10x256 tn: sgemm 19-20 us, matmul 26-30 us).
//   A transposed, C = alpha op(A) op(B) + beta C other than alpha 1, beta 0 (a folded SGD
//                          step, W - lr dW): dnnl_sgemm, whose alpha and beta are free, where the
//                          matmul's runtime output scale and sum post-op cost 2-9% (392x512x128
//                          tn: 245 us against 262); training steps 1.01-1.05x (in-process A/B).
//   A, B as stored, N >= 32: inner product (gemm:jit), like dense_forward (256x512x784 nn: 1.31
//                          ms vs matmul 1.39-1.42 ms in four runs; 256x256x512 nn: a tie).
//   everything else:       matmul (256x10x256 nn: matmul 14-15 us, sgemm and inner product
//                          18-20 us; the large tn/nt/tt products tie within noise).
// The inner product runs only where oneDNN has a real implementation for the layout (otherwise
// the plan falls back to matmul): strided or transposed-A operands get its reference code.
enum class GemmMode { automatic, matmul, sgemm, inner_product };

// The product primitive of dense_forward (see kernels.cpp).
enum class DenseMode { inner_product, matmul };

struct Options {
  int threads = 1;  // OpenMP threads per call
  GemmMode gemm = GemmMode::automatic;
  DenseMode dense = DenseMode::inner_product;
};

// Parses comma-separated options ("" gives the defaults); mlpk::Error names an unknown or bad
// one and lists the known ones.
Options parse_options(std::string_view text);

// The option strings worth testing and benchmarking besides the default (Backend::variants()).
std::vector<std::string> option_variants();

// What the description says about `options`, e.g. "OpenMP threads 2, gemm via dnnl_sgemm".
std::string describe(const Options& options);

}  // namespace mlpk::onednn
