// Model files (round trip and every rejection) and resuming: a run interrupted after some
// epochs and resumed from its checkpoint must end with bit-identical weights.
#include "train_test_util.hpp"

#include <mlpk/error.hpp>
#include <mlpk/model_file.hpp>
#include <mlpk/registry.hpp>
#include <mlpk/trainer.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <sys/stat.h>
#include <zlib.h>

namespace mlpk {
namespace {

using test::error_of;
using test::TempDir;
using ::testing::AllOf;
using ::testing::HasSubstr;

std::shared_ptr<Backend> backend() { return create_backend(default_backend_name()); }

Architecture small_architecture() {
  return Architecture::parse("4-8-3", Activation::relu, Loss::softmax_cross_entropy);
}

// Three Gaussian blobs in 4 dimensions: learnable, but not in one step.
Dataset blobs(std::size_t n, std::uint64_t seed) {
  Dataset d;
  d.features = Tensor(n, 4);
  d.labels.resize(n);
  d.classes = 3;
  std::uint64_t s = seed;
  auto next = [&s] {  // a tiny LCG: the test needs some numbers, not good ones
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<float>((s >> 40) & 0xffff) / 65536.0f - 0.5f;
  };
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = static_cast<std::uint32_t>(i % 3);
    d.labels[i] = c;
    for (std::size_t j = 0; j < 4; ++j) d.features(i, j) = next() + (j == c ? 1.5f : 0.0f);
  }
  one_hot(d);
  return d;
}

std::vector<unsigned char> read_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void write_bytes(const std::filesystem::path& p, const std::vector<unsigned char>& b) {
  std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(b.data()),
                                           static_cast<std::streamsize>(b.size()));
}


TEST(ModelFile, RoundTripKeepsArchitectureWeightsAndStandardizer) {
  TempDir dir;
  Network net(small_architecture(), backend());
  net.initialize(5);
  net.bias(1)[2] = 0.125f;
  Standardizer s;
  s.mean = {1, 2, 3, 4};
  s.stddev = {0.5f, 1, 1, 2};
  save_model(dir / "m.mlpk", net, &s);
  std::optional<Standardizer> loaded_s;
  Network loaded = load_model(dir / "m.mlpk", backend(), &loaded_s);
  EXPECT_EQ(loaded.architecture(), net.architecture());
  ASSERT_EQ(loaded.parameters().size(), net.parameters().size());
  EXPECT_EQ(std::memcmp(loaded.parameters().data(), net.parameters().data(),
                        net.parameters().size() * sizeof(float)), 0);
  ASSERT_TRUE(loaded_s.has_value());
  EXPECT_EQ(loaded_s->stddev, s.stddev);
  EXPECT_FALSE(read_model(dir / "m.mlpk").checkpoint.has_value());
  // No temporary file is left beside it.
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++files;
  EXPECT_EQ(files, 1u);
}

TEST(ModelFile, RoundTripKeepsDropoutRatesAndSeed) {
  TempDir dir;
  Network net(Architecture::parse("4-8:0.25-6:0.5-3", Activation::relu, Loss::softmax_cross_entropy), backend());
  Adam adam(OptimizerOptions{});
  Trainer trainer(net, adam, TrainerOptions{1, 10, 77});
  trainer.fit(blobs(30, 1));
  save_model(dir / "m.mlpk", net, nullptr, &adam, &trainer.state());
  const ModelFile file = read_model(dir / "m.mlpk");
  EXPECT_EQ(file.architecture, net.architecture());
  EXPECT_EQ(file.architecture.layers[1].dropout, 0.5f);
  ASSERT_TRUE(file.checkpoint.has_value());
  EXPECT_EQ(file.checkpoint->training.dropout_seed, 77u);
  EXPECT_EQ(load_model(dir / "m.mlpk", backend()).architecture(), net.architecture());
}

// A version 2 file rewritten as version 1 wrote it: no dropout rate after each activation name,
// no dropout seed at the end of the checkpoint.
std::vector<unsigned char> as_version_1(std::vector<unsigned char> b, std::uint32_t layers, bool checkpoint) {
  const auto u32_at = [&](std::size_t at) {
    std::uint32_t v;
    std::memcpy(&v, b.data() + at, 4);
    return v;
  };
  b[8] = 1;
  std::size_t at = 20;  // after magic, version, inputs, layer count
  for (std::uint32_t l = 0; l < layers; ++l) {
    at += 4;                  // units
    at += 4 + u32_at(at);     // the activation name
    b.erase(b.begin() + static_cast<long>(at), b.begin() + static_cast<long>(at + 4));  // the rate
  }
  b.resize(b.size() - 4);  // the checksum
  if (checkpoint) b.resize(b.size() - 8);  // the dropout seed
  const auto crc = static_cast<std::uint32_t>(crc32(0L, b.data(), static_cast<uInt>(b.size())));
  for (int i = 0; i < 4; ++i) b.push_back(static_cast<unsigned char>(crc >> (8 * i)));
  return b;
}

TEST(ModelFile, VersionOneFilesStillLoadAndResume) {
  TempDir dir;
  Network net(small_architecture(), backend());
  Adam adam(OptimizerOptions{});
  Trainer trainer(net, adam, TrainerOptions{2, 10, 5});
  trainer.fit(blobs(30, 1));
  save_model(dir / "v2.mlpk", net, nullptr, &adam, &trainer.state());
  write_bytes(dir / "v1.mlpk", as_version_1(read_bytes(dir / "v2.mlpk"), 2, true));
  const ModelFile v1 = read_model(dir / "v1.mlpk"), v2 = read_model(dir / "v2.mlpk");
  EXPECT_EQ(v1.architecture, net.architecture());
  EXPECT_EQ(v1.parameters, v2.parameters);
  ASSERT_TRUE(v1.checkpoint.has_value());
  EXPECT_EQ(v1.checkpoint->optimizer_steps, v2.checkpoint->optimizer_steps);
  EXPECT_EQ(v1.checkpoint->optimizer_state, v2.checkpoint->optimizer_state);
  EXPECT_EQ(v1.checkpoint->training.epoch, 2u);
  EXPECT_EQ(v1.checkpoint->training.rng_state, v2.checkpoint->training.rng_state);
  EXPECT_EQ(v1.checkpoint->training.dropout_seed, 0u);
  Network resumed(small_architecture(), backend());
  Adam resumed_adam(OptimizerOptions{});
  TrainingState state;
  resume_from(dir / "v1.mlpk", resumed, resumed_adam, state);
  EXPECT_EQ(state.epoch, 2u);
  EXPECT_EQ(resumed_adam.steps(), adam.steps());
  // A file without a checkpoint, too.
  save_model(dir / "plain2.mlpk", net);
  write_bytes(dir / "plain1.mlpk", as_version_1(read_bytes(dir / "plain2.mlpk"), 2, false));
  EXPECT_EQ(load_model(dir / "plain1.mlpk", backend()).architecture(), net.architecture());
}

class ModelFileRejects : public ::testing::Test {
 protected:
  void SetUp() override {
    Network net(small_architecture(), backend());
    net.initialize(1);
    save_model(dir_ / "good.mlpk", net);
    bytes_ = read_bytes(dir_ / "good.mlpk");
  }
  std::string load_modified(const std::vector<unsigned char>& bytes) {
    write_bytes(dir_ / "bad.mlpk", bytes);
    return error_of([&] { read_model(dir_ / "bad.mlpk"); });
  }
  TempDir dir_;
  std::vector<unsigned char> bytes_;
};

TEST_F(ModelFileRejects, Truncation) {
  for (const std::size_t keep : {std::size_t{20}, bytes_.size() / 2, bytes_.size() - 1}) {
    auto b = bytes_;
    b.resize(keep);
    const std::string e = load_modified(b);
    EXPECT_THAT(e, HasSubstr("bad.mlpk")) << keep;
    EXPECT_TRUE(e.find("truncated") != std::string::npos || e.find("checksum") != std::string::npos) << e;
  }
  auto b = bytes_;
  b.resize(bytes_.size() / 2);
  EXPECT_THAT(load_modified(b), HasSubstr("truncated"));
}

TEST_F(ModelFileRejects, CorruptionByChecksum) {
  auto b = bytes_;
  b[b.size() - 40] ^= 0x10;  // one bit of one parameter
  EXPECT_THAT(load_modified(b), HasSubstr("checksum"));
}

TEST_F(ModelFileRejects, WrongMagic) {
  auto b = bytes_;
  b[0] = 'X';
  EXPECT_THAT(load_modified(b), HasSubstr("wrong magic"));
  EXPECT_THAT(load_modified({'h', 'i'}), HasSubstr("wrong magic"));
}

TEST_F(ModelFileRejects, WrongVersion) {
  auto b = bytes_;
  b[8] = 99;  // the version follows the 8-byte magic
  EXPECT_THAT(load_modified(b), HasSubstr("version 99 is not supported (this mlpk reads versions 1 to 2)"));
  b[8] = 0;
  EXPECT_THAT(load_modified(b), HasSubstr("version 0 is not supported"));
}

TEST_F(ModelFileRejects, DropoutRatesOutsideZeroToOne) {
  // The first layer's rate follows its units (@20) and activation name "relu" (@24: length 4).
  for (const float bad : {std::numeric_limits<float>::quiet_NaN(), 1.0f, -0.1f}) {
    auto b = bytes_;
    std::memcpy(b.data() + 32, &bad, 4);
    const auto crc = static_cast<std::uint32_t>(crc32(0L, b.data(), static_cast<uInt>(b.size() - 4)));
    std::memcpy(b.data() + b.size() - 4, &crc, 4);  // little-endian, as the file
    EXPECT_THAT(load_modified(b), AllOf(HasSubstr("invalid architecture"), HasSubstr("layer 1's dropout rate")));
  }
}

TEST_F(ModelFileRejects, MissingFileAndUnwritablePath) {
  EXPECT_THAT(error_of([&] { read_model(dir_ / "none.mlpk"); }), HasSubstr("no such file"));
  Network net(small_architecture(), backend());
  EXPECT_THAT(error_of([&] { save_model(dir_ / "no/such/dir/m.mlpk", net); }), HasSubstr("cannot be written"));
  if (::geteuid() != 0) {  // root writes anywhere
    std::filesystem::create_directory(dir_ / "ro");
    ::chmod((dir_ / "ro").c_str(), 0555);
    EXPECT_THAT(error_of([&] { save_model(dir_ / "ro" / "m.mlpk", net); }), HasSubstr("cannot be written"));
  }
}

TEST_F(ModelFileRejects, DirectoriesFifosAndDevicesByName) {
  std::filesystem::create_directory(dir_ / "a-directory");
  EXPECT_THAT(error_of([&] { read_model(dir_ / "a-directory"); }), HasSubstr("is a directory"));
  ASSERT_EQ(::mkfifo((dir_ / "fifo").c_str(), 0600), 0);
  // Opening a FIFO for reading would block until a writer comes: the test hangs if it does.
  EXPECT_THAT(error_of([&] { read_model(dir_ / "fifo"); }), HasSubstr("is not a regular file (a FIFO)"));
  EXPECT_THAT(error_of([&] { read_model("/dev/zero"); }), HasSubstr("a character device"));
}

TEST(Resume, RejectsOtherArchitectureOptimizerAndMissingCheckpoint) {
  TempDir dir;
  Network net(small_architecture(), backend());
  Adam adam(OptimizerOptions{});
  TrainingState state;
  save_model(dir / "plain.mlpk", net);
  EXPECT_THAT(error_of([&] { resume_from(dir / "plain.mlpk", net, adam, state); }), HasSubstr("no training checkpoint"));
  const Dataset data = blobs(30, 1);
  Trainer trainer(net, adam, TrainerOptions{1, 10, 1});
  trainer.fit(data);
  save_model(dir / "ckpt.mlpk", net, nullptr, &adam, &trainer.state());
  Network other(Architecture::parse("4-16-3", Activation::relu, Loss::softmax_cross_entropy), backend());
  EXPECT_THAT(error_of([&] { resume_from(dir / "ckpt.mlpk", other, adam, state); }), HasSubstr("architecture"));
  Network tanh_net(Architecture::parse("4-8-3", Activation::tanh, Loss::softmax_cross_entropy), backend());
  EXPECT_THAT(error_of([&] { resume_from(dir / "ckpt.mlpk", tanh_net, adam, state); }), HasSubstr("differs"));
  Sgd sgd(0.1f);
  EXPECT_THAT(error_of([&] { resume_from(dir / "ckpt.mlpk", net, sgd, state); }), HasSubstr("optimizer 'adam'"));
}

// Trains `epochs` epochs in one go, or `split` epochs, a checkpoint, and the rest in a fresh
// process-like setup (new Network, Optimizer and Trainer, the latter seeded `resumed_seed`)
// resumed from it.
std::vector<float> train(const Dataset& data, const Dataset& validation, std::uint64_t epochs,
                         std::uint64_t split, const std::filesystem::path& checkpoint,
                         const Architecture& architecture = small_architecture(),
                         std::uint64_t resumed_seed = 99) {
  OptimizerOptions o;
  o.learning_rate = 0.01f;
  o.weight_decay = 0.01f;
  o.clip_norm = 5.0f;
  o.schedule.kind = ScheduleKind::cosine;
  o.schedule.warmup_steps = 3;
  o.schedule.total_steps = epochs * 7;
  TrainerOptions t{epochs, 16, 99};  // 100 samples: 6 full batches and one of 4
  {
    Network net(architecture, backend());
    net.initialize(3);
    auto opt = make_optimizer(OptimizerKind::adamw, o);
    Trainer trainer(net, *opt, t);
    if (split == 0) {
      trainer.fit(data, &validation);
      return {net.parameters().begin(), net.parameters().end()};
    }
    trainer.on_epoch = [&](const EpochReport&) {
      save_model(checkpoint, net, nullptr, opt.get(), &trainer.state());
      if (trainer.state().epoch == split) throw std::runtime_error("interrupted");
    };
    EXPECT_THROW(trainer.fit(data, &validation), std::runtime_error);
  }
  Network net(architecture, backend());
  net.initialize(12345);  // overwritten by the checkpoint
  auto opt = make_optimizer(OptimizerKind::adamw, o);
  t.seed = resumed_seed;  // the checkpoint's shuffle state and dropout seed replace it
  Trainer trainer(net, *opt, t);
  resume_from(checkpoint, net, *opt, trainer.state());
  EXPECT_EQ(trainer.state().epoch, split);
  const auto reports = trainer.fit(data, &validation);
  EXPECT_EQ(reports.size(), epochs - split);
  return {net.parameters().begin(), net.parameters().end()};
}

TEST(Resume, BitIdenticalToAnUninterruptedRun) {
  TempDir dir;
  const Dataset data = blobs(100, 7), validation = blobs(30, 8);
  const auto straight = train(data, validation, 5, 0, {});
  const auto resumed = train(data, validation, 5, 2, dir / "ckpt.mlpk");
  ASSERT_EQ(straight.size(), resumed.size());
  EXPECT_EQ(std::memcmp(straight.data(), resumed.data(), straight.size() * sizeof(float)), 0);
  // And training did move the weights (the comparison is not of two untouched networks).
  Network fresh(small_architecture(), backend());
  fresh.initialize(3);
  EXPECT_NE(std::memcmp(straight.data(), fresh.parameters().data(), straight.size() * sizeof(float)), 0);
}

// A W with 512 outputs has padded rows (Network::weights): weights and AdamW's moments go into the
// file row by row and come back into the padded layout.
TEST(Resume, PaddedRowsBitIdenticalToAnUninterruptedRun) {
  TempDir dir;
  const Dataset data = blobs(100, 7), validation = blobs(30, 8);
  const Architecture wide = Architecture::parse("4-512-3", Activation::relu, Loss::softmax_cross_entropy);
  ASSERT_GT(Network(wide, backend()).weights(0).stride, 512u);
  const auto straight = train(data, validation, 4, 0, {}, wide);
  const auto resumed = train(data, validation, 4, 2, dir / "ckpt.mlpk", wide);
  ASSERT_EQ(straight.size(), resumed.size());
  EXPECT_EQ(std::memcmp(straight.data(), resumed.data(), straight.size() * sizeof(float)), 0);
  const ModelFile file = read_model(dir / "ckpt.mlpk");
  EXPECT_EQ(file.parameters.size(), static_cast<std::size_t>(wide.parameter_count()));
}

// The masks of a resumed run are the uninterrupted run's: the dropout seed comes back from the
// checkpoint (whatever the resumed Trainer was seeded with) and the step from the optimizer's.
TEST(Resume, WithDropoutBitIdenticalToAnUninterruptedRun) {
  TempDir dir;
  const Dataset data = blobs(100, 7), validation = blobs(30, 8);
  const Architecture dropping = Architecture::parse("4-8:0.5-6:0.25-3", Activation::relu, Loss::softmax_cross_entropy);
  const auto straight = train(data, validation, 5, 0, {}, dropping);
  const auto resumed = train(data, validation, 5, 2, dir / "ckpt.mlpk", dropping, 31);
  ASSERT_EQ(straight.size(), resumed.size());
  EXPECT_EQ(std::memcmp(straight.data(), resumed.data(), straight.size() * sizeof(float)), 0);
  // Dropout did act: without it the same run ends elsewhere.
  Architecture plain = dropping;
  for (LayerSpec& layer : plain.layers) layer.dropout = 0.0f;
  const auto undropped = train(data, validation, 5, 0, {}, plain);
  EXPECT_NE(std::memcmp(straight.data(), undropped.data(), straight.size() * sizeof(float)), 0);
}

TEST(Trainer, LearnsBlobsAndReportsEveryEpoch) {
  Network net(small_architecture(), backend());
  net.initialize(1);
  Adam adam(0.02f);
  Trainer trainer(net, adam, TrainerOptions{15, 16, 1});
  std::size_t epochs = 0, batches = 0;
  trainer.on_epoch = [&](const EpochReport&) { ++epochs; };
  trainer.on_batch = [&](const BatchProgress&) { ++batches; };
  const Dataset data = blobs(300, 1), test = blobs(150, 2);
  const auto reports = trainer.fit(data, &test);
  EXPECT_EQ(epochs, 15u);
  EXPECT_EQ(batches, 15u * 19u);
  EXPECT_LT(reports.back().train_loss, reports.front().train_loss);
  const Evaluation e = evaluate(net, test);
  EXPECT_GT(e.accuracy, 0.9);
  EXPECT_EQ(e.confusion.total(), 150u);
  EXPECT_NEAR(e.accuracy, reports.back().validation->accuracy, 1e-12);
}

// --- early stopping ---------------------------------------------------------------------------

TrainerOptions early_stopping_options(std::uint64_t epochs, EarlyStoppingMonitor monitor,
                                      std::uint64_t patience, double min_delta) {
  TrainerOptions t{epochs, 16, 5};
  t.early_stopping = {monitor, patience, min_delta};
  return t;
}

std::vector<float> parameters_of(const Network& net) { return {net.parameters().begin(), net.parameters().end()}; }

// A min_delta that no accuracy can beat: epoch 1 is kept, patience 3 stops after epoch 4, and
// the network ends with exactly the weights of a plain one-epoch run.
TEST(EarlyStopping, StopsAfterPatienceAndRestoresTheBestEpochsWeights) {
  const Dataset data = blobs(100, 7), validation = blobs(30, 8);
  Network one(small_architecture(), backend());
  one.initialize(3);
  Sgd sgd_one(0.05f);
  Trainer(one, sgd_one, TrainerOptions{1, 16, 5}).fit(data, &validation);

  Network net(small_architecture(), backend());
  net.initialize(3);
  Sgd sgd(0.05f);
  Trainer trainer(net, sgd, early_stopping_options(20, EarlyStoppingMonitor::validation_accuracy, 3, 1.0));
  std::vector<std::uint64_t> best_epochs;
  trainer.on_epoch = [&](const EpochReport& r) { best_epochs.push_back(r.best_epoch); };
  const auto reports = trainer.fit(data, &validation);
  EXPECT_EQ(reports.size(), 4u);
  EXPECT_EQ(best_epochs, (std::vector<std::uint64_t>{1, 1, 1, 1}));
  EXPECT_EQ(trainer.best_epoch(), 1u);
  EXPECT_TRUE(trainer.stopped_early());
  EXPECT_EQ(trainer.state().epoch, 4u);
  EXPECT_EQ(parameters_of(net), parameters_of(one));
}

// On the validation loss: the kept epoch is the first minimum of the reported losses, the run
// stops `patience` epochs after it (or runs out of epochs), and the network evaluates to it.
TEST(EarlyStopping, KeepsTheEpochOfTheLowestValidationLoss) {
  const Dataset data = blobs(60, 7), validation = blobs(30, 8);
  Network net(small_architecture(), backend());
  net.initialize(3);
  Adam adam(0.3f);  // too high a rate: the validation loss jumps about
  Trainer trainer(net, adam, early_stopping_options(40, EarlyStoppingMonitor::validation_loss, 4, 0.0));
  const auto reports = trainer.fit(data, &validation);
  std::size_t best = 0;
  for (std::size_t i = 1; i < reports.size(); ++i)
    if (reports[i].validation->loss < reports[best].validation->loss) best = i;
  EXPECT_EQ(trainer.best_epoch(), best + 1);
  EXPECT_EQ(reports.back().best_epoch, best + 1);
  EXPECT_TRUE(trainer.stopped_early());
  EXPECT_EQ(reports.size(), best + 1 + 4);
  EXPECT_EQ(evaluate(net, validation).loss, reports[best].validation->loss);
}

// The min_delta margin: with the loss monitored, an improvement smaller than min_delta does not
// count, so the kept epoch is the first whose loss beats the previous best by more than it.
TEST(EarlyStopping, SmallImprovementsDoNotCountUnderMinDelta) {
  const Dataset data = blobs(100, 7), validation = blobs(30, 8);
  Network net(small_architecture(), backend());
  net.initialize(3);
  Sgd sgd(0.05f);
  const double min_delta = 0.05;
  Trainer trainer(net, sgd, early_stopping_options(30, EarlyStoppingMonitor::validation_loss, 2, min_delta));
  const auto reports = trainer.fit(data, &validation);
  double best = reports[0].validation->loss;
  std::uint64_t kept = 1, waited = 0;
  for (std::size_t i = 1; i < reports.size() && waited < 2; ++i) {
    if (reports[i].validation->loss < best - min_delta) {
      best = reports[i].validation->loss;
      kept = i + 1;
      waited = 0;
    } else {
      ++waited;
    }
    EXPECT_EQ(reports[i].best_epoch, kept);
  }
  EXPECT_EQ(trainer.best_epoch(), kept);
  EXPECT_EQ(evaluate(net, validation).loss, best);
}

TEST(EarlyStopping, RejectsNoValidationSetZeroPatienceAndABadMinDelta) {
  const Dataset data = blobs(30, 1);
  Network net(small_architecture(), backend());
  Sgd sgd(0.1f);
  Trainer trainer(net, sgd, early_stopping_options(3, EarlyStoppingMonitor::validation_loss, 2, 0.0));
  EXPECT_THAT(error_of([&] { trainer.fit(data); }), HasSubstr("early stopping needs a non-empty validation set"));
  const Dataset empty;
  EXPECT_THAT(error_of([&] { trainer.fit(data, &empty); }), HasSubstr("validation set"));
  EXPECT_THAT(error_of([&] { Trainer(net, sgd, early_stopping_options(3, EarlyStoppingMonitor::validation_loss, 0, 0.0)); }),
              HasSubstr("patience of at least 1"));
  EXPECT_THAT(error_of([&] { Trainer(net, sgd, early_stopping_options(3, EarlyStoppingMonitor::validation_loss, 1, -0.1)); }),
              HasSubstr("min_delta"));
  EXPECT_THAT(error_of([&] { Trainer(net, sgd, early_stopping_options(3, EarlyStoppingMonitor::validation_loss, 1, std::nan(""))); }),
              HasSubstr("min_delta"));
}

// Weights resumed with a validation loss that is not finite cannot be the best so far: refused.
TEST(EarlyStopping, RefusesResumedWeightsWhoseValidationLossIsNotFinite) {
  Network net(Architecture::parse("1-2", Activation::identity, Loss::softmax_cross_entropy), backend());
  net.weights(0)(0, 0) = 1e10f;
  net.weights(0)(0, 1) = -1e10f;
  Dataset train, validation;
  train.features = Tensor(2, 1);
  train.labels = {0, 1};
  validation.features = Tensor(1, 1);
  validation.features(0, 0) = 1e30f;  // Z = (inf, -inf): the loss is not a number
  validation.labels = {0};
  for (Dataset* d : {&train, &validation}) {
    d->classes = 2;
    one_hot(*d);
  }
  Sgd sgd(0.1f);
  Trainer trainer(net, sgd, early_stopping_options(3, EarlyStoppingMonitor::validation_loss, 1, 0.0));
  trainer.state().epoch = 1;
  EXPECT_THAT(error_of([&] { trainer.fit(train, &validation); }),
              HasSubstr("the validation loss of the weights resumed after epoch 1 is "));
}

// Checkpoints written at each improvement (as `mlpk train --save` does) resume to the same end:
// the interrupted run is killed after its last improvement, the resumed one retraces the rest.
TEST(EarlyStopping, ResumedFromTheBestCheckpointEndsLikeAnUninterruptedRun) {
  TempDir dir;
  const Dataset data = blobs(60, 7), validation = blobs(30, 8);
  const auto options = early_stopping_options(40, EarlyStoppingMonitor::validation_loss, 4, 0.0);
  Network straight(small_architecture(), backend());
  straight.initialize(3);
  Adam adam(0.3f);
  Trainer whole(straight, adam, options);
  const auto reports = whole.fit(data, &validation);
  ASSERT_TRUE(whole.stopped_early());
  ASSERT_GT(whole.best_epoch(), 1u);

  const std::uint64_t interrupt = whole.best_epoch() + 2;  // two epochs past the best
  {
    Network net(small_architecture(), backend());
    net.initialize(3);
    Adam opt(0.3f);
    Trainer trainer(net, opt, options);
    trainer.on_epoch = [&](const EpochReport& r) {
      if (r.best_epoch == r.epoch) save_model(dir / "best.mlpk", net, nullptr, &opt, &trainer.state());
      if (r.epoch == interrupt) throw std::runtime_error("interrupted");
    };
    EXPECT_THROW(trainer.fit(data, &validation), std::runtime_error);
  }
  Network net(small_architecture(), backend());
  Adam opt(0.3f);
  Trainer trainer(net, opt, options);
  resume_from(dir / "best.mlpk", net, opt, trainer.state());
  EXPECT_EQ(trainer.state().epoch, whole.best_epoch());
  const auto resumed = trainer.fit(data, &validation);
  EXPECT_EQ(resumed.size(), 4u);  // the patience after the best, retraced
  EXPECT_EQ(trainer.best_epoch(), whole.best_epoch());
  EXPECT_TRUE(trainer.stopped_early());
  EXPECT_EQ(parameters_of(net), parameters_of(straight));
}

// evaluate() and the Trainer report the mean loss whichever reduction the network uses.
TEST(LossReduction, EvaluateAndTrainerReportMeansUnderSum) {
  const Dataset data = blobs(50, 3);
  std::vector<double> train_losses, evaluated;
  for (LossReduction r : {LossReduction::mean, LossReduction::sum}) {
    Network net(small_architecture(), backend());
    net.initialize(2);
    net.set_loss_reduction(r);
    evaluated.push_back(evaluate(net, data, 16).loss);
    Sgd sgd(r == LossReduction::sum ? 0.01f / 16 : 0.01f);  // the same first step on batches of 16
    Trainer trainer(net, sgd, TrainerOptions{1, 16, 1});
    train_losses.push_back(trainer.fit(data)[0].train_loss);
  }
  EXPECT_NEAR(evaluated[1], evaluated[0], 1e-12);
  EXPECT_NEAR(train_losses[1], train_losses[0], 1e-3 * train_losses[0]);
}

// --- label smoothing --------------------------------------------------------------------------

// One sample x = 0 of class 0 through a 1-2 softmax layer with b = (ln 3, 0): A = (3/4, 1/4).
// Smoothing 0.2 over 2 classes trains on y' = (0.9, 0.1): the loss is -(0.9 ln 3/4 + 0.1 ln 1/4)
// and one SGD step of rate 1 moves b by -(A - y') = (+0.15, -0.15).
TEST(LabelSmoothing, TrainsOnSmoothedTargetsByHand) {
  Network net(Architecture::parse("1-2", Activation::identity, Loss::softmax_cross_entropy), backend());
  for (float& p : net.parameters()) p = 0.0f;
  net.bias(0)[0] = static_cast<float>(std::log(3.0));
  Dataset one;
  one.features = Tensor(1, 1);
  one.labels = {0};
  one.classes = 2;
  one_hot(one);
  Sgd sgd(1.0f);
  TrainerOptions t{1, 1, 1};
  t.label_smoothing = 0.2f;
  Trainer trainer(net, sgd, t);
  const auto reports = trainer.fit(one);
  EXPECT_NEAR(reports[0].train_loss, -(0.9 * std::log(0.75) + 0.1 * std::log(0.25)), 1e-6);  // 0.397543
  EXPECT_NEAR(net.bias(0)[0], std::log(3.0) + 0.15, 1e-6);
  EXPECT_NEAR(net.bias(0)[1], -0.15, 1e-6);
  EXPECT_EQ(net.weights(0)(0, 0), 0.0f);  // x = 0: no weight gradient
  // evaluate() uses the targets as they are: -ln A_0 of the updated network.
  const double a0 = 1.0 / (1.0 + std::exp(-(std::log(3.0) + 0.3)));
  EXPECT_NEAR(evaluate(net, one).loss, -std::log(a0), 1e-6);
}

TEST(LabelSmoothing, RejectsValuesOutsideZeroToOneAndOtherLosses) {
  Network net(small_architecture(), backend());
  Sgd sgd(0.1f);
  for (const float bad : {-0.1f, 1.0f, std::nanf("")}) {
    TrainerOptions t;
    t.label_smoothing = bad;
    EXPECT_THAT(error_of([&] { Trainer(net, sgd, t); }), HasSubstr("label smoothing must be in [0, 1)"));
  }
  Network mse(Architecture::parse("4-3", Activation::identity, Loss::mean_squared_error), backend());
  TrainerOptions t;
  t.label_smoothing = 0.1f;
  EXPECT_THAT(error_of([&] { Trainer(mse, sgd, t); }), HasSubstr("label smoothing needs the softmax-ce loss, not mse"));
}

}  // namespace
}  // namespace mlpk
