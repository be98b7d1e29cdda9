// Hostile sizes and values (issue 10): every size computed from user input is checked against a
// stated limit before anything is allocated, and training that diverges stops instead of saving
// NaN. Each test builds its hostile file at run time, a few bytes long (a sparse file for the
// "6 GB model"), and asserts the mlpk::Error that names the field.
#include "train_test_util.hpp"

#include <mlpk/error.hpp>
#include <mlpk/mlpk.hpp>
#include <mlpk/model_file.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

namespace mlpk {
namespace {

using test::error_of;
using test::TempDir;
using test::write_text;
using ::testing::AllOf;
using ::testing::HasSubstr;


std::shared_ptr<Backend> reference() { return create_backend("reference"); }

// --- architecture and tensors ------------------------------------------------------------------

TEST(HostileSizes, ArchitectureWhoseProductWrapsIsRefused) {
  // 2^40 x 2^24 = 2^64: the product wraps to zero in 64 bits.
  EXPECT_THAT(error_of([] { Architecture::parse("1099511627776-16777216-1", Activation::relu, Loss::mean_squared_error); }),
              AllOf(HasSubstr("layers '1099511627776-16777216-1'"), HasSubstr("4294967296 parameters")));
  EXPECT_THAT(error_of([] { Architecture::parse("4294967296-4294967296-2", Activation::relu, Loss::mean_squared_error); }),
              HasSubstr("parameters (the limit) by layer 1"));
  EXPECT_THAT(error_of([] { Architecture::parse("10-65536-65536-2", Activation::relu, Loss::mean_squared_error); }),
              HasSubstr("by layer 2"));
  // The largest that fits: checked, not allocated.
  Architecture a;
  a.inputs = 65535;
  a.layers = {{65535, Activation::relu}, {1, Activation::identity}};
  a.validate();
  EXPECT_EQ(a.parameter_count(), 65535ull * 65535 + 65535 + 65535 + 1);
  EXPECT_LE(a.parameter_count(), kMaxParameters);
  std::string deep = "1";
  for (std::size_t i = 0; i <= kMaxLayers; ++i) deep += "-1";
  EXPECT_THAT(error_of([&] { Architecture::parse(deep, Activation::relu, Loss::mean_squared_error); }),
              HasSubstr("4097 layers are more than the 4096"));
  // The Network constructor validates before it allocates: an Error, not std::bad_alloc.
  Architecture huge;
  huge.inputs = std::size_t{1} << 40;
  huge.layers = {{std::size_t{1} << 24, Activation::identity}};
  EXPECT_THAT(error_of([&] { Network(huge, reference()); }), HasSubstr("parameters"));
}

TEST(HostileSizes, TensorSizesAreCheckedBeforeAllocating) {
  EXPECT_THAT(error_of([] { Tensor(std::size_t{1} << 62, 784); }),
              HasSubstr("a 4611686018427387904 x 784 float matrix is larger than"));
  EXPECT_THAT(error_of([] { Tensor(SIZE_MAX, SIZE_MAX); }), HasSubstr("larger than"));
  EXPECT_THAT(error_of([] { Tensor(kMaxTensorBytes / sizeof(float) + 1, 1); }), HasSubstr("larger than"));
  EXPECT_THAT(error_of([] { allocate_aligned_floats(SIZE_MAX); }), HasSubstr("cannot allocate"));
  EXPECT_EQ(Tensor(0, SIZE_MAX).size(), 0u);  // empty is fine, whatever the other side
}

TEST(HostileSizes, TrainerRefusesAnAbsurdBatchSize) {
  Network net(Architecture::parse("2-2", Activation::relu, Loss::softmax_cross_entropy), reference());
  Sgd sgd(0.1f);
  EXPECT_THAT(error_of([&] { Trainer(net, sgd, TrainerOptions{1, kMaxBatchSize + 1, 1}); }),
              HasSubstr("batch size 1048577 is more than 1048576"));
}

// --- data files --------------------------------------------------------------------------------

std::string csv_with_last_row(const std::string& row) { return "a,b,label\n1,2,0\n3,4,1\n" + row + "\n"; }

TEST(HostileInput, CsvLabelBeyondTheClassLimitNamesLineAndColumn) {
  TempDir dir;
  write_text(dir / "big.csv", csv_with_last_row("5,6,1000000"));
  EXPECT_THAT(error_of([&] { load_csv(dir / "big.csv"); }),
              AllOf(HasSubstr("big.csv, line 4, column 3"), HasSubstr("'1000000' is too large a class label"),
                    HasSubstr("65536 classes")));
  write_text(dir / "edge.csv", csv_with_last_row("5,6,65536"));
  EXPECT_THAT(error_of([&] { load_csv(dir / "edge.csv"); }), HasSubstr("too large a class label"));
  write_text(dir / "max.csv", csv_with_last_row("5,6,65535"));
  EXPECT_EQ(load_csv(dir / "max.csv").classes, kMaxClasses);
}

TEST(HostileInput, CsvCellBeyondFloatRangeNamesLineAndColumn) {
  TempDir dir;
  for (const std::string cell : {"1e300", "3.5e38", "-3.5e38"}) {
    write_text(dir / "big.csv", csv_with_last_row(cell + ",6,1"));
    EXPECT_THAT(error_of([&] { load_csv(dir / "big.csv"); }),
                AllOf(HasSubstr("line 4, column 1"), HasSubstr("'" + cell + "' is beyond the range of a 32-bit float")));
  }
  write_text(dir / "ok.csv", csv_with_last_row("3.4e38,6,1"));
  EXPECT_FLOAT_EQ(load_csv(dir / "ok.csv").features(2, 0), 3.4e38f);
  // A regression target is a cell like any other.
  write_text(dir / "target.csv", csv_with_last_row("1,2,1e39"));
  CsvOptions regression;
  regression.classification = false;
  EXPECT_THAT(error_of([&] { load_csv(dir / "target.csv", regression); }), HasSubstr("line 4, column 3"));
}

// The header of an IDX file of rank 3, gzip-compressed: a few dozen bytes that announce `n` x
// `rows` x `cols` bytes.
void write_gz_idx_header(const std::filesystem::path& path, std::uint32_t n, std::uint32_t rows, std::uint32_t cols) {
  std::string s = {'\0', '\0', '\x08', '\x03'};
  for (const std::uint32_t d : {n, rows, cols})
    for (int shift = 24; shift >= 0; shift -= 8) s += static_cast<char>((d >> shift) & 0xff);
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  gzwrite(f, s.data(), static_cast<unsigned>(s.size()));
  gzclose(f);
}

TEST(HostileInput, IdxGzipBombIsRefusedFromItsHeader) {
  TempDir dir;
  // 65536 x 256 x 256 = 4 GiB of bytes, 16 GiB of float features: refused before reading a byte of
  // the body (the old limit was on bytes and let it through).
  write_gz_idx_header(dir / "bomb.gz", 65536, 256, 256);
  EXPECT_THAT(error_of([&] { read_idx(dir / "bomb.gz"); }),
              AllOf(HasSubstr("bomb.gz"), HasSubstr("absurd"), HasSubstr("4-byte float")));
  // Exactly at the limit is allowed by the header check; this file then lacks the body.
  write_gz_idx_header(dir / "limit.gz", 16384, 256, 256);
  EXPECT_THAT(error_of([&] { read_idx(dir / "limit.gz"); }), HasSubstr("truncated"));
}

// --- confusion matrix --------------------------------------------------------------------------

TEST(HostileSizes, ConfusionMatrixOfManyClassesCostsNoSquare) {
  ConfusionMatrix m(1000001);  // a dense matrix would be 8 TB
  m.add(1000000, 1000000);
  m.add(1000000, 3);
  m.add(5, 5);
  EXPECT_EQ(m.total(), 3u);
  EXPECT_EQ(m.count(1000000, 3), 1u);
  EXPECT_EQ(m.count(3, 1000000), 0u);
  EXPECT_DOUBLE_EQ(m.accuracy(), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(m.class_accuracy(1000000), 0.5);
  EXPECT_EQ(m.to_string(), "confusion matrix of 1000001 classes not printed (more than 32)\n");
  ConfusionMatrix small(ConfusionMatrix::kPrintedClasses);
  EXPECT_NE(small.to_string().find("recall"), std::string::npos);
}

// --- model files -------------------------------------------------------------------------------

std::vector<unsigned char> read_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void write_bytes(const std::filesystem::path& p, std::vector<unsigned char> b, bool fix_crc = true) {
  if (fix_crc) {
    const auto crc = static_cast<std::uint32_t>(crc32(0L, b.data(), static_cast<uInt>(b.size() - 4)));
    for (int i = 0; i < 4; ++i) b[b.size() - 4 + static_cast<std::size_t>(i)] = static_cast<unsigned char>(crc >> (8 * i));
  }
  std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

void put_u32(std::vector<unsigned char>& b, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + static_cast<std::size_t>(i)] = static_cast<unsigned char>(v >> (8 * i));
}
void put_u64(std::vector<unsigned char>& b, std::size_t at, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) b[at + static_cast<std::size_t>(i)] = static_cast<unsigned char>(v >> (8 * i));
}

// The file of a 3-4-2 network: "MLPKMODL", version, inputs @12, layers @16, units @20, then names.
// Where an Adam checkpoint's step count starts: after the optimizer name "adam" (a u32 length 4,
// then the letters). 0 when there is none.
std::size_t adam_steps_offset(const std::vector<unsigned char>& b) {
  for (std::size_t at = 0; at + 8 < b.size(); ++at)
    if (std::memcmp(b.data() + at, "\x04\0\0\0adam", 8) == 0) return at + 8;
  return 0;
}

class HostileModelFile : public ::testing::Test {
 protected:
  void SetUp() override {
    Network net(Architecture::parse("3-4-2", Activation::relu, Loss::softmax_cross_entropy), reference());
    net.initialize(1);
    save_model(dir_ / "good.mlpk", net);
    bytes_ = read_bytes(dir_ / "good.mlpk");
    // After the architecture and the standardizer flag (0) comes the u64 parameter count: 26.
    const std::uint64_t count = 3 * 4 + 4 + 4 * 2 + 2;
    for (std::size_t at = 20; at + 8 <= bytes_.size(); ++at) {
      std::uint64_t v = 0;
      std::memcpy(&v, bytes_.data() + at, 8);
      if (v == count) {
        count_at_ = at;
        break;
      }
    }
    ASSERT_GT(count_at_, 0u);
  }
  std::string load(const std::vector<unsigned char>& b, bool fix_crc = true) {
    write_bytes(dir_ / "bad.mlpk", b, fix_crc);
    return error_of([&] { read_model(dir_ / "bad.mlpk"); });
  }
  TempDir dir_;
  std::vector<unsigned char> bytes_;
  std::size_t count_at_ = 0;
};

TEST_F(HostileModelFile, AnnouncedSizesAreCheckedBeforeReadingThem) {
  auto b = bytes_;
  put_u32(b, 16, 100000);  // layers
  EXPECT_THAT(load(b), AllOf(HasSubstr("bad.mlpk"), HasSubstr("corrupt: 100000 layers")));
  b = bytes_;
  put_u32(b, 12, 0xffffffffu);  // inputs: 2^32 - 1 x 4 weights
  EXPECT_THAT(load(b), AllOf(HasSubstr("invalid architecture"), HasSubstr("parameters")));
  b = bytes_;
  put_u64(b, count_at_, std::uint64_t{1} << 40);
  EXPECT_THAT(load(b), HasSubstr("holds 1099511627776 parameters but its architecture"));
  b = bytes_;
  put_u32(b, 24, 0x7fffffffu);  // the first activation name's length
  EXPECT_THAT(load(b), HasSubstr("corrupt: an activation of 2147483647 bytes"));
}

TEST_F(HostileModelFile, HugeFilesAreRejectedFromTheirFirstBytes) {
  // Sparse: 6 GB long, a few kilobytes on disk. Reading it all took 51 s and 6.3 GB.
  constexpr std::uintmax_t kSixGigabytes = std::uintmax_t{6} << 30;
  write_text(dir_ / "zeros.mlpk", "");
  std::filesystem::resize_file(dir_ / "zeros.mlpk", kSixGigabytes);
  EXPECT_THAT(error_of([&] { read_model(dir_ / "zeros.mlpk"); }), HasSubstr("wrong magic"));
  // A valid model followed by gigabytes: found out at the end of what the header announces.
  write_bytes(dir_ / "long.mlpk", bytes_, false);
  std::filesystem::resize_file(dir_ / "long.mlpk", kSixGigabytes);
  EXPECT_THAT(error_of([&] { read_model(dir_ / "long.mlpk"); }),
              HasSubstr(std::to_string(kSixGigabytes - bytes_.size()) + " unexpected bytes"));
}

TEST_F(HostileModelFile, NonFiniteParametersAreNeitherReadNorSaved) {
  auto b = bytes_;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::memcpy(b.data() + count_at_ + 8 + 4 * 5, &nan, 4);  // parameter 5
  EXPECT_THAT(load(b), HasSubstr("parameter 5 is nan, not a finite number"));

  Network net(Architecture::parse("3-4-2", Activation::relu, Loss::softmax_cross_entropy), reference());
  net.bias(1)[1] = std::numeric_limits<float>::infinity();
  EXPECT_THAT(error_of([&] { save_model(dir_ / "nan.mlpk", net); }), HasSubstr("not saved: parameter"));
  EXPECT_FALSE(std::filesystem::exists(dir_ / "nan.mlpk"));
}

TEST_F(HostileModelFile, AbsurdCheckpointStepCountIsRejected) {
  Network net(Architecture::parse("3-4-2", Activation::relu, Loss::softmax_cross_entropy), reference());
  Adam adam(OptimizerOptions{});
  Tensor x(2, 3), y(2, 2);
  y(0, 0) = y(1, 1) = 1.0f;
  train_batch(net, adam, x, y);
  TrainingState state{1, 7};
  save_model(dir_ / "ckpt.mlpk", net, nullptr, &adam, &state);
  auto b = read_bytes(dir_ / "ckpt.mlpk");
  const std::size_t steps_at = adam_steps_offset(b);
  ASSERT_GT(steps_at, 0u);
  put_u64(b, steps_at, UINT64_MAX);
  write_bytes(dir_ / "absurd.mlpk", b);
  EXPECT_THAT(error_of([&] { read_model(dir_ / "absurd.mlpk"); }),
              HasSubstr("optimizer step count 18446744073709551615 is absurd"));
  EXPECT_THAT(error_of([&] { resume_from(dir_ / "absurd.mlpk", net, adam, state); }), HasSubstr("absurd"));
  put_u64(b, steps_at, 0);  // one epoch done in no steps
  write_bytes(dir_ / "none.mlpk", b);
  EXPECT_THAT(error_of([&] { read_model(dir_ / "none.mlpk"); }), HasSubstr("1 epochs done in 0 optimizer steps"));
  // The library call itself refuses it too.
  EXPECT_THAT(error_of([&] { adam.restore(UINT64_MAX, adam.state()); }), HasSubstr("step count"));
}

// Found by fuzz_model_file: an Adam checkpoint of 3 steps without Adam's two moment arrays was
// read, and only resume_from refused it. Both refuse it now; none before the first step is fine.
TEST_F(HostileModelFile, CheckpointStateArraysMustBeTheOptimizers) {
  Network net(Architecture::parse("3-4-2", Activation::relu, Loss::softmax_cross_entropy), reference());
  Adam adam(OptimizerOptions{});
  TrainingState state{0, 7};
  save_model(dir_ / "fresh.mlpk", net, nullptr, &adam, &state);  // no step yet: no state arrays
  EXPECT_EQ(read_model(dir_ / "fresh.mlpk").checkpoint->optimizer_state.size(), 0u);
  resume_from(dir_ / "fresh.mlpk", net, adam, state);
  EXPECT_EQ(adam.steps(), 0u);

  auto b = read_bytes(dir_ / "fresh.mlpk");
  const std::size_t steps_at = adam_steps_offset(b);
  ASSERT_GT(steps_at, 0u);
  put_u64(b, steps_at, 3);
  write_bytes(dir_ / "stateless.mlpk", b);
  EXPECT_THAT(error_of([&] { read_model(dir_ / "stateless.mlpk"); }),
              HasSubstr("checkpoint of optimizer 'adam' holds 0 state arrays after 3 steps (it keeps 2)"));
  EXPECT_THAT(error_of([&] { resume_from(dir_ / "stateless.mlpk", net, adam, state); }),
              HasSubstr("0 state arrays after 3 steps"));
  EXPECT_THAT(error_of([&] { adam.restore(3, {}); }), HasSubstr("0 state arrays after 3 steps, expected 2"));
}

// --- divergence --------------------------------------------------------------------------------

// Two separable blobs in 2 features, one-hot.
Dataset blobs(std::size_t n) {
  Dataset d;
  d.features = Tensor(n, 2);
  d.labels.resize(n);
  d.classes = 2;
  for (std::size_t i = 0; i < n; ++i) {
    d.labels[i] = static_cast<std::uint32_t>(i % 2);
    d.features(i, 0) = (i % 2 ? 1.0f : -1.0f) + 0.01f * static_cast<float>(i % 7);
    d.features(i, 1) = 0.1f * static_cast<float>(i % 5);
  }
  one_hot(d);
  return d;
}

TEST(Divergence, NonFiniteLossStopsTrainingNamingEpochAndStep) {
  Network net(Architecture::parse("2-16-2", Activation::relu, Loss::softmax_cross_entropy), reference());
  net.initialize(1);
  Sgd sgd(1e30f);
  Trainer trainer(net, sgd, TrainerOptions{5, 4, 1});
  int epochs_reported = 0;
  trainer.on_epoch = [&](const EpochReport&) { ++epochs_reported; };
  EXPECT_THAT(error_of([&] { trainer.fit(blobs(40)); }),
              AllOf(HasSubstr("training diverged in epoch 1, step "), HasSubstr("of 10: the batch loss is")));
  EXPECT_EQ(epochs_reported, 0);  // on_epoch, which saves, never saw the diverged weights
}

TEST(Divergence, OverflowingValidationStopsTraining) {
  // One step an epoch: the huge but finite weights overflow on the validation set.
  Network net(Architecture::parse("2-16-2", Activation::relu, Loss::softmax_cross_entropy), reference());
  net.initialize(1);
  Sgd sgd(1e30f);
  Trainer trainer(net, sgd, TrainerOptions{5, 64, 1});
  const Dataset validation = blobs(10);
  EXPECT_THAT(error_of([&] { trainer.fit(blobs(40), &validation); }),
              HasSubstr("diverged in epoch 1, step 1 of 1: the validation loss is"));
}

TEST(Divergence, NonFiniteParameterAtTheEndOfAnEpochStopsTraining) {
  Network net(Architecture::parse("2-4-2", Activation::relu, Loss::softmax_cross_entropy), reference());
  net.initialize(1);
  Sgd sgd(0.01f);
  Trainer trainer(net, sgd, TrainerOptions{3, 8, 1});
  // A NaN appearing in the last step of epoch 2 (where no loss has seen it yet).
  trainer.on_batch = [&](const BatchProgress& p) {
    if (p.epoch == 2 && p.batch == p.batches) net.parameters()[0] = std::numeric_limits<float>::quiet_NaN();
  };
  int epochs_reported = 0;
  trainer.on_epoch = [&](const EpochReport&) { ++epochs_reported; };
  EXPECT_THAT(error_of([&] { trainer.fit(blobs(40)); }),
              HasSubstr("diverged in epoch 2, step 5 of 5: parameter 0 is nan"));
  EXPECT_EQ(epochs_reported, 1);
}

}  // namespace
}  // namespace mlpk
