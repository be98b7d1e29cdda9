// Model files: serialization of a Network and its training checkpoint, atomic writes, and
// strict loading (see model_file.hpp for the layout).
#include "atomic_file.hpp"

#include <mlpk/error.hpp>
#include <mlpk/model_file.hpp>

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <bit>
#include <cerrno>
#include <cstring>
#include <fstream>

namespace mlpk {
namespace {

constexpr char kMagic[8] = {'M', 'L', 'P', 'K', 'M', 'O', 'D', 'L'};
constexpr std::uint64_t kMaxFileBytes = std::uint64_t{1} << 34;

std::string with_path(const std::filesystem::path& path, const std::string& problem) {
  std::string m = "model file ";
  m += path.string();
  m += ": ";
  m += problem;
  return m;
}

// --- packing: the Network's padded flat layout <-> the file's unpadded one ------------------
// (start, length) of each W and b inside net.parameters(), in file order.
std::vector<std::pair<std::size_t, std::size_t>> blocks(const Network& net) {
  std::vector<std::pair<std::size_t, std::size_t>> out;
  const float* base = net.parameters().data();
  for (std::size_t l = 0; l < net.num_layers(); ++l) {
    const ConstMatrixView w = net.weights(l);
    out.emplace_back(static_cast<std::size_t>(w.data - base), w.size());
    const auto b = net.bias(l);
    out.emplace_back(static_cast<std::size_t>(b.data() - base), b.size());
  }
  return out;
}

std::vector<float> pack(const Network& net, std::span<const float> padded) {
  std::vector<float> out;
  for (const auto& [start, length] : blocks(net))
    out.insert(out.end(), padded.begin() + static_cast<long>(start),
               padded.begin() + static_cast<long>(start + length));
  return out;
}

void unpack(const Network& net, std::span<const float> packed, std::span<float> padded) {
  std::size_t at = 0;
  for (const auto& [start, length] : blocks(net)) {
    std::copy(packed.begin() + static_cast<long>(at), packed.begin() + static_cast<long>(at + length),
              padded.begin() + static_cast<long>(start));
    at += length;
  }
}

std::size_t packed_size(const Network& net) {
  std::size_t n = 0;
  for (const auto& b : blocks(net)) n += b.second;
  return n;
}

// --- little-endian encoding ------------------------------------------------------------------
class Writer {
 public:
  void bytes(const void* p, std::size_t n) {
    const auto* c = static_cast<const unsigned char*>(p);
    buffer_.insert(buffer_.end(), c, c + n);
  }
  template <typename T>
  void integer(T v) {
    for (std::size_t i = 0; i < sizeof(T); ++i) buffer_.push_back(static_cast<unsigned char>(v >> (8 * i)));
  }
  void u8(std::uint8_t v) { buffer_.push_back(v); }
  void u32(std::uint32_t v) { integer(v); }
  void u64(std::uint64_t v) { integer(v); }
  void f32(float v) { u32(std::bit_cast<std::uint32_t>(v)); }
  void floats(std::span<const float> v) {
    for (const float f : v) f32(f);
  }
  void string(std::string_view s) {
    u32(static_cast<std::uint32_t>(s.size()));
    bytes(s.data(), s.size());
  }
  std::vector<unsigned char>& buffer() { return buffer_; }

 private:
  std::vector<unsigned char> buffer_;
};

class Reader {
 public:
  Reader(const std::vector<unsigned char>& data, std::size_t end, const std::filesystem::path& path)
      : data_(data), end_(end), path_(path) {}
  void need(std::size_t n, const char* what) {
    if (end_ - at_ < n)
      throw Error(with_path(path_, std::string("truncated or corrupt: it ends while reading ") + what +
                                       " (at byte " + std::to_string(at_) + " of " +
                                       std::to_string(data_.size()) + ")"));
  }
  template <typename T>
  T integer(const char* what) {
    need(sizeof(T), what);
    T v = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i) v |= static_cast<T>(T{data_[at_ + i]} << (8 * i));
    at_ += sizeof(T);
    return v;
  }
  std::uint8_t u8(const char* what) { return integer<std::uint8_t>(what); }
  std::uint32_t u32(const char* what) { return integer<std::uint32_t>(what); }
  std::uint64_t u64(const char* what) { return integer<std::uint64_t>(what); }
  std::vector<float> floats(std::uint64_t count, const char* what) {
    if (count > (end_ - at_) / 4)  // checked before allocating: a corrupt count cannot cost memory
      throw Error(with_path(path_, std::string("truncated or corrupt: ") + std::to_string(count) + " floats of " +
                                       what + " do not fit in the " + std::to_string(end_ - at_) +
                                       " bytes left"));
    std::vector<float> v(count);
    for (auto& f : v) f = std::bit_cast<float>(u32(what));
    return v;
  }
  std::string string(const char* what) {
    const std::uint32_t n = u32(what);
    need(n, what);
    std::string s(reinterpret_cast<const char*>(data_.data() + at_), n);
    at_ += n;
    return s;
  }
  std::size_t position() const { return at_; }

 private:
  const std::vector<unsigned char>& data_;
  std::size_t end_;
  const std::filesystem::path& path_;
  std::size_t at_ = 0;
};

}  // namespace

void save_model(const std::filesystem::path& path, const Network& net, const Standardizer* standardizer,
                const Optimizer* optimizer, const TrainingState* training) {
  const Architecture& a = net.architecture();
  Writer w;
  w.bytes(kMagic, sizeof kMagic);
  w.u32(kModelFileVersion);
  w.u32(static_cast<std::uint32_t>(a.inputs));
  w.u32(static_cast<std::uint32_t>(a.layers.size()));
  for (const auto& layer : a.layers) {
    w.u32(static_cast<std::uint32_t>(layer.units));
    w.string(to_string(layer.activation));
  }
  w.string(to_string(a.loss));
  w.u8(standardizer != nullptr);
  if (standardizer != nullptr) {
    w.u32(static_cast<std::uint32_t>(standardizer->mean.size()));
    w.floats(standardizer->mean);
    w.floats(standardizer->stddev);
  }
  const std::vector<float> params = pack(net, net.parameters());
  w.u64(params.size());
  w.floats(params);
  const bool checkpoint = optimizer != nullptr && training != nullptr;
  w.u8(checkpoint);
  if (checkpoint) {
    w.string(to_string(optimizer->kind()));
    w.u64(optimizer->steps());
    w.u32(static_cast<std::uint32_t>(optimizer->state().size()));
    for (const auto& s : optimizer->state()) {
      const std::vector<float> packed = pack(net, s);
      w.u64(packed.size());
      w.floats(packed);
    }
    w.u64(training->epoch);
    w.u64(training->rng_state);
  }
  auto& bytes = w.buffer();
  const auto crc = static_cast<std::uint32_t>(crc32(0L, bytes.data(), static_cast<uInt>(bytes.size())));
  w.u32(crc);
  write_file_atomically(path, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()),
                        "model file");
}

ModelFile read_model(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw Error(with_path(path, "no such file"));
  const auto size = std::filesystem::file_size(path, ec);
  if (ec || size > kMaxFileBytes) throw Error(with_path(path, "cannot read its size, or it is too large"));
  std::vector<unsigned char> data(size);
  {
    std::ifstream in(path, std::ios::binary);
    if (!in.read(reinterpret_cast<char*>(data.data()), static_cast<std::streamsize>(size)))
      throw Error(with_path(path, "read error"));
  }
  if (size < sizeof kMagic || std::memcmp(data.data(), kMagic, sizeof kMagic) != 0)
    throw Error(with_path(path, "wrong magic (not an mlpk model file)"));
  if (size < sizeof kMagic + 4 + 4)
    throw Error(with_path(path, "truncated (" + std::to_string(size) + " bytes)"));
  Reader r(data, size - 4, path);  // the last 4 bytes are the checksum
  r.need(8, "the magic");
  r.integer<std::uint64_t>("the magic");
  const std::uint32_t version = r.u32("the version");
  if (version != kModelFileVersion)
    throw Error(with_path(path, "format version " + std::to_string(version) +
                                    " is not supported (this mlpk reads version " +
                                    std::to_string(kModelFileVersion) + ")"));
  ModelFile file;
  try {
    Architecture& a = file.architecture;
    a.inputs = r.u32("the input width");
    const std::uint32_t layers = r.u32("the layer count");
    if (layers > 4096) throw Error(with_path(path, "corrupt: " + std::to_string(layers) + " layers"));
    for (std::uint32_t l = 0; l < layers; ++l) {
      LayerSpec spec;
      spec.units = r.u32("a layer width");
      spec.activation = parse_activation(r.string("an activation"));
      a.layers.push_back(spec);
    }
    a.loss = parse_loss(r.string("the loss"));
    if (r.u8("the standardizer flag") != 0) {
      const std::uint32_t d = r.u32("the standardizer width");
      Standardizer s;
      s.mean = r.floats(d, "the standardizer means");
      s.stddev = r.floats(d, "the standardizer deviations");
      file.standardizer = std::move(s);
    }
    file.parameters = r.floats(r.u64("the parameter count"), "the parameters");
    if (r.u8("the checkpoint flag") != 0) {
      Checkpoint c;
      c.optimizer = parse_optimizer(r.string("the optimizer name"));
      c.optimizer_steps = r.u64("the optimizer step count");
      const std::uint32_t arrays = r.u32("the optimizer state count");
      if (arrays > 16) throw Error(with_path(path, "corrupt: " + std::to_string(arrays) + " state arrays"));
      for (std::uint32_t i = 0; i < arrays; ++i)
        c.optimizer_state.push_back(r.floats(r.u64("an optimizer state size"), "the optimizer state"));
      c.training.epoch = r.u64("the epoch");
      c.training.rng_state = r.u64("the RNG state");
      file.checkpoint = std::move(c);
    }
  } catch (const Error& e) {
    // A bad name is either corruption or a truncated string; say which file it was.
    const std::string what = e.what();
    if (what.rfind("model file ", 0) == 0) throw;
    throw Error(with_path(path, "corrupt header (" + what + ")"));
  }
  if (r.position() != size - 4)
    throw Error(with_path(path, "corrupt: " + std::to_string(size - 4 - r.position()) +
                                    " unexpected bytes before the checksum"));
  std::uint32_t stored = 0;
  for (int i = 0; i < 4; ++i) stored |= std::uint32_t{data[size - 4 + static_cast<std::size_t>(i)]} << (8 * i);
  const auto actual = static_cast<std::uint32_t>(crc32(0L, data.data(), static_cast<uInt>(size - 4)));
  if (stored != actual) throw Error(with_path(path, "checksum mismatch: the file is corrupted"));
  try {
    file.architecture.validate();
  } catch (const Error& e) {
    throw Error(with_path(path, std::string("invalid architecture (") + e.what() + ")"));
  }
  // The parameter count must be the architecture's, checked here so that no Network is ever
  // allocated for dimensions the file's data does not back.
  std::uint64_t expected = 0;
  std::uint64_t in = file.architecture.inputs;
  for (const auto& layer : file.architecture.layers) {
    expected += in * layer.units + layer.units;  // each < 2^32 * 2^32: a u64 holds a product
    in = layer.units;
    if (expected > file.parameters.size()) break;
  }
  if (expected != file.parameters.size())
    throw Error(with_path(path, "holds " + std::to_string(file.parameters.size()) +
                                    " parameters but its architecture " + file.architecture.to_string() +
                                    " needs " + std::to_string(expected)));
  return file;
}

Network load_model(const std::filesystem::path& path, std::shared_ptr<Backend> backend,
                   std::optional<Standardizer>* standardizer) {
  ModelFile file = read_model(path);
  Network net(file.architecture, std::move(backend));
  if (file.parameters.size() != packed_size(net))
    throw Error(with_path(path, "holds " + std::to_string(file.parameters.size()) +
                                    " parameters but its architecture needs " +
                                    std::to_string(packed_size(net))));
  unpack(net, file.parameters, net.parameters());
  if (standardizer != nullptr) *standardizer = file.standardizer;
  return net;
}

void resume_from(const std::filesystem::path& path, Network& net, Optimizer& optimizer,
                 TrainingState& training) {
  ModelFile file = read_model(path);
  if (!(file.architecture == net.architecture()))
    throw Error(with_path(path, "architecture " + file.architecture.to_string() +
                                    " differs from the network's " + net.architecture().to_string()));
  if (!file.checkpoint) throw Error(with_path(path, "holds no training checkpoint (saved without optimizer state)"));
  const Checkpoint& c = *file.checkpoint;
  if (c.optimizer != optimizer.kind())
    throw Error(with_path(path, "was trained with optimizer '" + std::string(to_string(c.optimizer)) +
                                    "', not '" + std::string(to_string(optimizer.kind())) + "'"));
  const std::size_t n = packed_size(net);
  if (file.parameters.size() != n) throw Error(with_path(path, "parameter count does not match"));
  std::vector<std::vector<float>> state;
  for (const auto& s : c.optimizer_state) {
    if (s.size() != n) throw Error(with_path(path, "optimizer state size does not match"));
    std::vector<float> padded(net.parameters().size(), 0.0f);
    unpack(net, s, padded);
    state.push_back(std::move(padded));
  }
  optimizer.restore(c.optimizer_steps, std::move(state));
  unpack(net, file.parameters, net.parameters());
  training = c.training;
}

}  // namespace mlpk
