#include "options.hpp"

#include <mlpk/error.hpp>

#include <charconv>
#include <system_error>

namespace mlpk::onednn {

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

std::vector<std::string> option_variants() {
  return {"threads=2", "gemm=matmul", "gemm=sgemm", "gemm=inner_product", "dense=matmul"};
}

std::string describe(const Options& options) {
  std::string text = "OpenMP threads " + std::to_string(options.threads);
  if (options.gemm == GemmMode::sgemm) text += ", gemm via dnnl_sgemm";
  if (options.gemm == GemmMode::matmul) text += ", gemm via matmul only";
  if (options.gemm == GemmMode::inner_product) text += ", gemm via inner product";
  if (options.dense == DenseMode::matmul) text += ", dense_forward via matmul";
  return text;
}

}  // namespace mlpk::onednn
