// Fuzzes read_idx and load_idx on plain and gzip-compressed files: each input is read as it is,
// then gzip-compressed, and both reads must agree (same data, or both refused).
#include "fuzz_support.hpp"

#include <mlpk/data.hpp>
#include <mlpk/error.hpp>

#include <optional>
#include <zlib.h>

namespace {

std::optional<mlpk::IdxArray> try_read(const std::filesystem::path& path) {
  try {
    mlpk::IdxArray a = mlpk::read_idx(path);
    std::uint64_t total = 1;
    for (const auto d : a.dims) total *= d;
    FUZZ_CHECK(!a.dims.empty() && a.dims.size() <= 4);
    FUZZ_CHECK(a.data.size() == total);
    return a;
  } catch (const mlpk::Error&) {
    return std::nullopt;
  }
}

std::filesystem::path write_gzip(const std::uint8_t* data, std::size_t size) {
  const auto path = mlpk_fuzz::scratch_path("input.idx.gz");
  gzFile f = gzopen(path.c_str(), "wb");
  FUZZ_CHECK(f != nullptr);
  FUZZ_CHECK(size == 0 || gzwrite(f, data, static_cast<unsigned>(size)) == static_cast<int>(size));
  FUZZ_CHECK(gzclose(f) == Z_OK);
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto plain = mlpk_fuzz::write_scratch("input.idx", data, size);
  const auto as_read = try_read(plain);
  // A gzip input is decompressed by read_idx itself; compressing it again only nests it.
  const bool is_gzip = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
  if (!is_gzip) {
    const auto compressed = try_read(write_gzip(data, size));
    FUZZ_CHECK(as_read.has_value() == compressed.has_value());
    if (as_read) FUZZ_CHECK(as_read->dims == compressed->dims && as_read->data == compressed->data);
  }
  // The same file as images and as labels: valid for neither unless the shapes allow it.
  try {
    const mlpk::Dataset d = mlpk::load_idx(plain, plain, 256);
    FUZZ_CHECK(d.labels.size() == d.size());
  } catch (const mlpk::Error&) {
  }
  return 0;
}
