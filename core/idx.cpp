// The IDX loader (MNIST / Fashion-MNIST files), plain or gzip-compressed.
//
// zlib's gzread reads plain files transparently, so one code path serves both. The header is
// checked before any large allocation, and the body is read in chunks, so a header that lies
// about its size ends in a "truncated" error rather than a huge allocation.
#include "input_file.hpp"

#include <mlpk/data.hpp>
#include <mlpk/error.hpp>

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

namespace mlpk {
namespace {

struct GzCloser {
  void operator()(gzFile_s* f) const { gzclose(f); }
};
using GzFile = std::unique_ptr<gzFile_s, GzCloser>;

[[noreturn]] void fail(const std::filesystem::path& path, const std::string& problem) {
  std::string message = "IDX file ";
  message += path.string();
  message += ": ";
  message += problem;
  throw Error(message);
}

// Reads up to `size` bytes; returns how many were read, throws on a read error.
std::size_t read_some(gzFile file, const std::filesystem::path& path, void* out, std::size_t size) {
  std::size_t done = 0;
  while (done < size) {
    const unsigned chunk = static_cast<unsigned>(std::min<std::size_t>(size - done, 1u << 20));
    const int got = gzread(file, static_cast<char*>(out) + done, chunk);
    if (got < 0) {
      int code = 0;
      const char* why = gzerror(file, &code);
      fail(path, std::string("read error (") + (why ? why : "unknown") + ")");
    }
    if (got == 0) break;
    done += static_cast<std::size_t>(got);
  }
  return done;
}

std::uint32_t big_endian_u32(const unsigned char* b) {
  return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) |
         std::uint32_t{b[3]};
}

}  // namespace

IdxArray read_idx(const std::filesystem::path& path) {
  InputFile input(path, "IDX file");
  GzFile file(gzdopen(input.fd(), "rb"));
  if (!file) fail(path, std::string("cannot open (") + std::strerror(errno) + ")");
  input.release();  // gzclose closes it now

  unsigned char magic[4];
  if (read_some(file.get(), path, magic, 4) != 4) fail(path, "truncated: shorter than the 4-byte magic");
  if (magic[0] != 0 || magic[1] != 0)
    fail(path, "wrong magic number (not an IDX file: the first two bytes must be zero)");
  if (magic[2] != 0x08)
    fail(path, "data type code " + std::to_string(magic[2]) +
                   " is not supported (only unsigned bytes, 0x08)");
  const unsigned rank = magic[3];
  if (rank == 0 || rank > 4)
    fail(path, "has " + std::to_string(rank) + " dimensions (expected 1 to 4)");

  IdxArray array;
  std::uint64_t total = 1;
  for (unsigned i = 0; i < rank; ++i) {
    unsigned char b[4];
    if (read_some(file.get(), path, b, 4) != 4) fail(path, "truncated inside the header");
    const std::uint32_t d = big_endian_u32(b);
    array.dims.push_back(d);
    total *= d;  // each factor < 2^32 and total stays <= kIdxMaxElements below, so no overflow
    if (total > kIdxMaxElements)
      fail(path, "header dimensions are absurd (more than " + std::to_string(kIdxMaxElements) +
                     " bytes of data, which become 4-byte float features); the file is corrupt or "
                     "not an IDX file");
  }

  // Grow as data actually arrives: a lying header cannot make us allocate gigabytes.
  constexpr std::size_t kChunk = std::size_t{16} << 20;
  while (array.data.size() < total) {
    const std::size_t want = std::min<std::uint64_t>(kChunk, total - array.data.size());
    const std::size_t old = array.data.size();
    array.data.resize(old + want);
    const std::size_t got = read_some(file.get(), path, array.data.data() + old, want);
    if (got != want)
      fail(path, "truncated: the header promises " + std::to_string(total) +
                     " data bytes but the file holds " + std::to_string(old + got));
  }
  unsigned char extra;
  if (read_some(file.get(), path, &extra, 1) != 0)
    fail(path, "has data after the " + std::to_string(total) + " bytes its header announces");
  return array;
}

Dataset load_idx(const std::filesystem::path& images, const std::filesystem::path& labels,
                 std::size_t classes) {
  const IdxArray x = read_idx(images);
  const IdxArray y = read_idx(labels);
  if (x.dims.size() < 2)
    fail(images, "is not an image file (expected n x rows x cols, got " +
                     std::to_string(x.dims.size()) + " dimension(s))");
  if (y.dims.size() != 1)
    fail(labels, "is not a label file (expected 1 dimension, got " + std::to_string(y.dims.size()) + ")");
  if (x.dims[0] != y.dims[0])
    fail(labels, "has " + std::to_string(y.dims[0]) + " labels but " + images.string() + " has " +
                     std::to_string(x.dims[0]) + " images");
  const std::size_t n = x.dims[0];
  if (n == 0) fail(images, "holds no images");
  std::size_t d = 1;
  for (std::size_t i = 1; i < x.dims.size(); ++i) d *= x.dims[i];

  Dataset data;
  data.classes = classes;
  data.features = Tensor(n, d);
  float* out = data.features.data();
  for (std::size_t i = 0; i < n * d; ++i) out[i] = static_cast<float>(x.data[i]) / 255.0f;
  data.labels.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (y.data[i] >= classes)
      fail(labels, "label " + std::to_string(y.data[i]) + " of sample " + std::to_string(i) +
                       " is out of range (expected < " + std::to_string(classes) + ")");
    data.labels[i] = y.data[i];
  }
  return data;
}

Dataset load_fashion_mnist(const std::filesystem::path& directory, bool train) {
  const std::string prefix = train ? "train" : "t10k";
  // Prefer the uncompressed file when both exist: no decompression cost.
  auto pick = [&](const std::string& stem) {
    std::filesystem::path plain = directory / (prefix + stem);
    std::error_code ec;
    if (std::filesystem::exists(plain, ec)) return plain;
    std::filesystem::path gz = plain;
    gz += ".gz";
    if (std::filesystem::exists(gz, ec)) return gz;
    std::string message = "Fashion-MNIST: neither ";
    message += plain.string();
    message += " nor its .gz exists (install dataset-fashion-mnist or pass the directory)";
    throw Error(message);
  };
  return load_idx(pick("-images-idx3-ubyte"), pick("-labels-idx1-ubyte"), 10);
}

}  // namespace mlpk
