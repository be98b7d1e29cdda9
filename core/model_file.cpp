// Model files: serialization of a Network and its training checkpoint, atomic writes, and
// strict loading (see model_file.hpp for the layout).
#include "atomic_file.hpp"
#include "input_file.hpp"

#include <mlpk/error.hpp>
#include <mlpk/model_file.hpp>

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <optional>
#include <span>

namespace mlpk {
namespace {

constexpr char kMagic[8] = {'M', 'L', 'P', 'K', 'M', 'O', 'D', 'L'};
constexpr std::uint32_t kOldestModelFileVersion = 1;
constexpr std::uint32_t kFirstVersionWithDropout = 2;  // its rates and the checkpoint's seed

std::string with_path(const std::filesystem::path& path, const std::string& problem) {
  std::string m = "model file ";
  m += path.string();
  m += ": ";
  m += problem;
  return m;
}

// --- packing: the Network's padded flat layout <-> the file's unpadded one ------------------
// (start, length) of each row of W and of each b inside net.parameters(), in file order.
std::vector<std::pair<std::size_t, std::size_t>> blocks(const Network& net) {
  std::vector<std::pair<std::size_t, std::size_t>> out;
  const float* base = net.parameters().data();
  for (std::size_t l = 0; l < net.num_layers(); ++l) {
    const ConstMatrixView w = net.weights(l);
    for (std::size_t i = 0; i < w.rows; ++i)  // rows may be padded (Network::parameters)
      out.emplace_back(static_cast<std::size_t>(w.row(i) - base), w.cols);
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

// Names (activations, losses, optimizers) are a few letters; a longer one is corruption.
constexpr std::uint32_t kMaxNameBytes = 64;
// Optimizer state arrays: Adam keeps two.
constexpr std::uint32_t kMaxStateArrays = 16;

// Reads a model file front to back. Every size the file announces is checked against the bytes
// left before anything is allocated for it, so a corrupt or hostile header costs no memory and
// a huge file of garbage is rejected after its first bytes, not after reading all of it. The
// CRC-32 of what is read is computed on the way (crc32_z: 64-bit lengths).
class Reader {
 public:
  Reader(const std::filesystem::path& path, std::uint64_t size)
      : path_(path), in_(path, std::ios::binary), size_(size), left_(size - 4) {
    if (!in_) throw Error(with_path(path_, "cannot be opened"));
  }
  void read(void* out, std::uint64_t n, const char* what) {
    if (n > left_) throw Error(ends_while(what));
    if (!in_.read(static_cast<char*>(out), static_cast<std::streamsize>(n)))
      throw Error(with_path(path_, std::string("read error while reading ") + what));
    crc_ = crc32_z(crc_, static_cast<const Bytef*>(out), static_cast<z_size_t>(n));
    left_ -= n;
  }
  template <typename T>
  T integer(const char* what) {
    unsigned char b[sizeof(T)];
    read(b, sizeof b, what);
    T v = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i) v |= static_cast<T>(T{b[i]} << (8 * i));
    return v;
  }
  std::uint8_t u8(const char* what) { return integer<std::uint8_t>(what); }
  std::uint32_t u32(const char* what) { return integer<std::uint32_t>(what); }
  std::uint64_t u64(const char* what) { return integer<std::uint64_t>(what); }
  float f32(const char* what) { return std::bit_cast<float>(u32(what)); }
  std::vector<float> floats(std::uint64_t count, const char* what) {
    if (count > left_ / 4)  // checked before allocating: a corrupt count cannot cost memory
      throw Error(with_path(path_, std::string("truncated or corrupt: ") + std::to_string(count) + " floats of " +
                                       what + " do not fit in the " + std::to_string(left_) +
                                       " bytes left"));
    std::vector<float> v(count);
    read(v.data(), count * 4, what);
    if constexpr (std::endian::native == std::endian::big)
      for (float& f : v) {
        const auto u = std::bit_cast<std::uint32_t>(f);
        f = std::bit_cast<float>((u >> 24) | ((u >> 8) & 0xff00u) | ((u << 8) & 0xff0000u) | (u << 24));
      }
    return v;
  }
  std::string string(const char* what) {
    const std::uint32_t n = u32(what);
    if (n > kMaxNameBytes)
      throw Error(with_path(path_, "corrupt: " + std::string(what) + " of " + std::to_string(n) + " bytes"));
    std::string s(n, '\0');
    read(s.data(), n, what);
    return s;
  }
  std::uint64_t left() const { return left_; }
  std::uint32_t crc() const { return static_cast<std::uint32_t>(crc_); }
  // The 4 bytes after everything else: the stored checksum (not part of the CRC).
  std::uint32_t stored_crc() {
    unsigned char b[4];
    if (left_ != 0 || !in_.read(reinterpret_cast<char*>(b), 4)) throw Error(with_path(path_, "read error"));
    return std::uint32_t{b[0]} | std::uint32_t{b[1]} << 8 | std::uint32_t{b[2]} << 16 |
           std::uint32_t{b[3]} << 24;
  }

 private:
  std::string ends_while(const char* what) const {
    return with_path(path_, std::string("truncated or corrupt: it ends while reading ") + what +
                                " (at byte " + std::to_string(size_ - 4 - left_) + " of " +
                                std::to_string(size_) + ")");
  }
  const std::filesystem::path& path_;
  std::ifstream in_;
  std::uint64_t size_;
  std::uint64_t left_;  // bytes before the checksum not read yet
  uLong crc_ = crc32_z(0L, Z_NULL, 0);
};

// The index of the first NaN or infinity in `values`, if any.
std::optional<std::size_t> first_non_finite(std::span<const float> values) {
  for (std::size_t i = 0; i < values.size(); ++i)
    if (!std::isfinite(values[i])) return i;
  return std::nullopt;
}

// Refuses to write (or to accept from a file) a NaN or infinity in `values`.
void require_finite(const std::filesystem::path& path, std::span<const float> values, const char* what,
                    const char* verb) {
  if (const auto bad = first_non_finite(values))
    throw Error(with_path(path, std::string(verb) + what + " " + std::to_string(*bad) + " is " +
                                    std::to_string(values[*bad]) + ", not a finite number"));
}

}  // namespace

void save_model(const std::filesystem::path& path, const Network& net, const Standardizer* standardizer,
                const Optimizer* optimizer, const TrainingState* training) {
  // A diverged network is not saved: a file of NaN weights would predict class 0 for everything.
  require_finite(path, net.parameters(), "parameter", "not saved: ");
  if (standardizer != nullptr) {
    require_finite(path, standardizer->mean, "standardizer mean", "not saved: ");
    require_finite(path, standardizer->stddev, "standardizer deviation", "not saved: ");
  }
  if (optimizer != nullptr)
    for (const auto& s : optimizer->state()) require_finite(path, s, "optimizer state value", "not saved: ");
  const Architecture& a = net.architecture();
  Writer w;
  w.bytes(kMagic, sizeof kMagic);
  w.u32(kModelFileVersion);
  w.u32(static_cast<std::uint32_t>(a.inputs));
  w.u32(static_cast<std::uint32_t>(a.layers.size()));
  for (const auto& layer : a.layers) {
    w.u32(static_cast<std::uint32_t>(layer.units));
    w.string(to_string(layer.activation));
    w.f32(layer.dropout);
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
    w.u64(training->dropout_seed);
  }
  auto& bytes = w.buffer();
  const auto crc = static_cast<std::uint32_t>(crc32_z(0L, bytes.data(), static_cast<z_size_t>(bytes.size())));
  w.u32(crc);
  write_file_atomically(path, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()),
                        "model file");
}

ModelFile read_model(const std::filesystem::path& path) {
  // Says what the path is when it is not a regular file (a directory, a FIFO: never blocks).
  const std::uint64_t size = InputFile(path, "model file").size();
  constexpr std::uint64_t kSmallest = sizeof kMagic + 4 + 4;  // magic, version, checksum
  if (size < kSmallest) {
    char head[kSmallest] = {};
    std::ifstream(path, std::ios::binary).read(head, static_cast<std::streamsize>(size));
    if (size < sizeof kMagic || std::memcmp(head, kMagic, sizeof kMagic) != 0)
      throw Error(with_path(path, "wrong magic (not an mlpk model file)"));
    throw Error(with_path(path, "truncated (" + std::to_string(size) + " bytes)"));
  }
  Reader r(path, size);  // the last 4 bytes are the checksum
  char magic[sizeof kMagic];
  r.read(magic, sizeof magic, "the magic");
  if (std::memcmp(magic, kMagic, sizeof kMagic) != 0)
    throw Error(with_path(path, "wrong magic (not an mlpk model file)"));
  const std::uint32_t version = r.u32("the version");
  if (version < kOldestModelFileVersion || version > kModelFileVersion)
    throw Error(with_path(path, "format version " + std::to_string(version) +
                                    " is not supported (this mlpk reads versions " +
                                    std::to_string(kOldestModelFileVersion) + " to " +
                                    std::to_string(kModelFileVersion) + ")"));
  const bool has_dropout = version >= kFirstVersionWithDropout;
  ModelFile file;
  try {
    Architecture& a = file.architecture;
    a.inputs = r.u32("the input width");
    const std::uint32_t layers = r.u32("the layer count");
    if (layers > kMaxLayers) throw Error(with_path(path, "corrupt: " + std::to_string(layers) + " layers"));
    for (std::uint32_t l = 0; l < layers; ++l) {
      LayerSpec spec;
      spec.units = r.u32("a layer width");
      spec.activation = parse_activation(r.string("an activation"));
      if (has_dropout) spec.dropout = r.f32("a dropout rate");
      a.layers.push_back(spec);
    }
    a.loss = parse_loss(r.string("the loss"));
    try {
      a.validate();  // bounds the parameter count before anything is read for it
    } catch (const Error& e) {
      throw Error(with_path(path, std::string("invalid architecture (") + e.what() + ")"));
    }
    const std::uint64_t expected = a.parameter_count();
    if (r.u8("the standardizer flag") != 0) {
      const std::uint32_t d = r.u32("the standardizer width");
      if (d != a.inputs)
        throw Error(with_path(path, "corrupt: a standardizer of " + std::to_string(d) + " features for " +
                                        std::to_string(a.inputs) + " inputs"));
      Standardizer s;
      s.mean = r.floats(d, "the standardizer means");
      s.stddev = r.floats(d, "the standardizer deviations");
      file.standardizer = std::move(s);
    }
    const std::uint64_t count = r.u64("the parameter count");
    if (count != expected)
      throw Error(with_path(path, "holds " + std::to_string(count) + " parameters but its architecture " +
                                      a.to_string() + " needs " + std::to_string(expected)));
    file.parameters = r.floats(count, "the parameters");
    if (r.u8("the checkpoint flag") != 0) {
      Checkpoint c;
      c.optimizer = parse_optimizer(r.string("the optimizer name"));
      c.optimizer_steps = r.u64("the optimizer step count");
      const std::uint32_t arrays = r.u32("the optimizer state count");
      if (arrays > kMaxStateArrays)
        throw Error(with_path(path, "corrupt: " + std::to_string(arrays) + " state arrays"));
      for (std::uint32_t i = 0; i < arrays; ++i) {
        const std::uint64_t n = r.u64("an optimizer state size");
        if (n != expected)
          throw Error(with_path(path, "corrupt: an optimizer state of " + std::to_string(n) + " values for " +
                                          std::to_string(expected) + " parameters"));
        c.optimizer_state.push_back(r.floats(n, "the optimizer state"));
      }
      c.training.epoch = r.u64("the epoch");
      c.training.rng_state = r.u64("the RNG state");
      if (has_dropout) c.training.dropout_seed = r.u64("the dropout seed");
      file.checkpoint = std::move(c);
    }
  } catch (const Error& e) {
    // A bad name is either corruption or a truncated string; say which file it was.
    const std::string what = e.what();
    if (what.rfind("model file ", 0) == 0) throw;
    throw Error(with_path(path, "corrupt header (" + what + ")"));
  }
  if (r.left() != 0)
    throw Error(with_path(path, "corrupt: " + std::to_string(r.left()) +
                                    " unexpected bytes before the checksum"));
  if (r.stored_crc() != r.crc()) throw Error(with_path(path, "checksum mismatch: the file is corrupted"));
  // Intact, but is it sane? No NaN weight, and a checkpoint that could have been written.
  require_finite(path, file.parameters, "parameter", "");
  if (file.standardizer) {
    require_finite(path, file.standardizer->mean, "standardizer mean", "");
    require_finite(path, file.standardizer->stddev, "standardizer deviation", "");
    for (const float s : file.standardizer->stddev)
      if (!(s > 0.0f)) throw Error(with_path(path, "a standardizer deviation is " + std::to_string(s) + ", not positive"));
  }
  if (file.checkpoint) {
    const Checkpoint& c = *file.checkpoint;
    for (const auto& s : c.optimizer_state) require_finite(path, s, "optimizer state value", "");
    if (c.optimizer_steps > kMaxOptimizerSteps)
      throw Error(with_path(path, "checkpoint's optimizer step count " + std::to_string(c.optimizer_steps) +
                                      " is absurd (more than " + std::to_string(kMaxOptimizerSteps) +
                                      ", the most an optimizer takes)"));
    // The state an optimizer of that kind can have: resume_from would refuse anything else.
    const auto optimizer = make_optimizer(c.optimizer, {});
    if (!optimizer->holds_state_arrays(c.optimizer_steps, c.optimizer_state.size()))
      throw Error(with_path(path, "checkpoint of optimizer '" + std::string(to_string(c.optimizer)) +
                                      "' holds " + std::to_string(c.optimizer_state.size()) +
                                      " state arrays after " + std::to_string(c.optimizer_steps) +
                                      " steps (it keeps " + std::to_string(optimizer->state_count()) + ")"));
    // A checkpoint is written after an epoch, and every epoch takes at least one step.
    if (c.training.epoch > c.optimizer_steps)
      throw Error(with_path(path, "checkpoint claims " + std::to_string(c.training.epoch) +
                                      " epochs done in " + std::to_string(c.optimizer_steps) +
                                      " optimizer steps (each epoch takes at least one)"));
  }
  return file;
}

Network load_model(const std::filesystem::path& path, std::shared_ptr<Backend> backend,
                   std::optional<Standardizer>* standardizer) {
  ModelFile file = read_model(path);
  Network net = Network::zeroed(file.architecture, std::move(backend));
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
