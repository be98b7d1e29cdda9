// Tests of data loading and preparation: IDX (plain and gzip), CSV, every malformed input the
// loaders must reject with a clear message, standardization, splits, shuffles, one-hot targets.
#include "train_test_util.hpp"

#include <mlpk/data.hpp>
#include <mlpk/error.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <set>

namespace mlpk {
namespace {

using test::TempDir;
using test::write_text;
using ::testing::AllOf;
using ::testing::HasSubstr;

// An IDX file: magic 00 00 08 rank, big-endian dims, then `body` (which may lie about its size).
std::string idx_bytes(const std::vector<std::uint32_t>& dims, const std::vector<std::uint8_t>& body,
                      std::uint8_t type = 0x08) {
  std::string s;
  s += '\0';
  s += '\0';
  s += static_cast<char>(type);
  s += static_cast<char>(dims.size());
  for (const auto d : dims)
    for (int shift = 24; shift >= 0; shift -= 8) s += static_cast<char>((d >> shift) & 0xff);
  s.append(body.begin(), body.end());
  return s;
}

void write_gz(const std::filesystem::path& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
  gzclose(f);
}

// Runs `f`, expecting an mlpk::Error whose message matches `matcher`.
template <typename F, typename M>
void expect_error(F f, M matcher) {
  try {
    f();
    ADD_FAILURE() << "no mlpk::Error thrown";
  } catch (const Error& e) {
    EXPECT_THAT(std::string(e.what()), matcher);
  }
}

// Two 2x3 images with labels 7 and 1.
const std::vector<std::uint8_t> kPixels = {0, 255, 51, 102, 153, 204, 10, 20, 30, 40, 50, 60};

TEST(Idx, LoadsPlainAndGzipScaledToUnitRange) {
  TempDir dir;
  write_text(dir / "img", idx_bytes({2, 2, 3}, kPixels));
  write_text(dir / "lab", idx_bytes({2}, {7, 1}));
  write_gz(dir / "img.gz", idx_bytes({2, 2, 3}, kPixels));
  write_gz(dir / "lab.gz", idx_bytes({2}, {7, 1}));
  for (const auto& [img, lab] : {std::pair{"img", "lab"}, std::pair{"img.gz", "lab.gz"}}) {
    const Dataset d = load_idx(dir / img, dir / lab);
    ASSERT_EQ(d.size(), 2u);
    ASSERT_EQ(d.dimensions(), 6u);
    EXPECT_FLOAT_EQ(d.features(0, 0), 0.0f);
    EXPECT_FLOAT_EQ(d.features(0, 1), 1.0f);
    EXPECT_FLOAT_EQ(d.features(0, 2), 0.2f);
    EXPECT_FLOAT_EQ(d.features(1, 5), 60.0f / 255.0f);
    EXPECT_EQ(d.labels, (std::vector<std::uint32_t>{7, 1}));
    EXPECT_EQ(d.classes, 10u);
  }
}

TEST(Idx, RejectsTruncatedBody) {
  TempDir dir;
  auto bytes = idx_bytes({2, 2, 3}, kPixels);
  bytes.resize(bytes.size() - 5);
  write_text(dir / "img", bytes);
  write_gz(dir / "img.gz", bytes);
  expect_error([&] { read_idx(dir / "img"); }, AllOf(HasSubstr("truncated"), HasSubstr("img")));
  expect_error([&] { read_idx(dir / "img.gz"); }, HasSubstr("truncated"));
}

TEST(Idx, RejectsTruncatedHeader) {
  TempDir dir;
  write_text(dir / "img", idx_bytes({2, 2, 3}, {}).substr(0, 9));
  expect_error([&] { read_idx(dir / "img"); }, HasSubstr("truncated inside the header"));
  write_text(dir / "tiny", "\0\0");
  expect_error([&] { read_idx(dir / "tiny"); }, HasSubstr("truncated"));
}

TEST(Idx, RejectsWrongMagicAndType) {
  TempDir dir;
  write_text(dir / "png", "\x89PNG\r\n\x1a\n0000");
  expect_error([&] { read_idx(dir / "png"); }, AllOf(HasSubstr("wrong magic"), HasSubstr("png")));
  write_text(dir / "float", idx_bytes({1}, {0, 0, 0, 0}, 0x0D));
  expect_error([&] { read_idx(dir / "float"); }, HasSubstr("not supported"));
}

TEST(Idx, RejectsAbsurdDimensionsBeforeAllocating) {
  TempDir dir;
  write_text(dir / "huge", idx_bytes({0xffffffffu, 0xffffffffu, 0xffffffffu}, {1, 2, 3}));
  expect_error([&] { read_idx(dir / "huge"); }, HasSubstr("absurd"));
  // Within the limit but far larger than the file: a truncation, found without a 1 GB allocation.
  write_text(dir / "lying", idx_bytes({60000, 128, 128}, {1, 2, 3}));
  expect_error([&] { read_idx(dir / "lying"); }, HasSubstr("truncated"));
}

TEST(Idx, RejectsTrailingData) {
  TempDir dir;
  write_text(dir / "lab", idx_bytes({2}, {1, 2, 3}));
  expect_error([&] { read_idx(dir / "lab"); }, HasSubstr("data after"));
}

TEST(Idx, RejectsLabelCountDifferentFromImageCount) {
  TempDir dir;
  write_text(dir / "img", idx_bytes({2, 2, 3}, kPixels));
  write_text(dir / "lab", idx_bytes({3}, {1, 2, 3}));
  expect_error([&] { load_idx(dir / "img", dir / "lab"); },
               AllOf(HasSubstr("3 labels"), HasSubstr("2 images")));
}

TEST(Idx, RejectsOutOfRangeLabelAndMissingFile) {
  TempDir dir;
  write_text(dir / "img", idx_bytes({2, 2, 3}, kPixels));
  write_text(dir / "lab", idx_bytes({2}, {1, 12}));
  expect_error([&] { load_idx(dir / "img", dir / "lab"); }, HasSubstr("out of range"));
  expect_error([&] { read_idx(dir / "nothing"); }, AllOf(HasSubstr("no such file"), HasSubstr("nothing")));
}

TEST(Csv, LoadsWithDetectedHeaderAndLabelColumn) {
  TempDir dir;
  write_text(dir / "a.csv", "x1,label,x2\n1.5,2,-3\n 4 ,0,5e-1\r\n\n");
  CsvOptions o;
  o.label_column = 1;
  const Dataset d = load_csv(dir / "a.csv", o);
  ASSERT_EQ(d.size(), 2u);
  ASSERT_EQ(d.dimensions(), 2u);
  EXPECT_FLOAT_EQ(d.features(0, 0), 1.5f);
  EXPECT_FLOAT_EQ(d.features(0, 1), -3.0f);
  EXPECT_FLOAT_EQ(d.features(1, 1), 0.5f);
  EXPECT_EQ(d.labels, (std::vector<std::uint32_t>{2, 0}));
  EXPECT_EQ(d.classes, 3u);
}

TEST(Csv, NoHeaderDetectedAndLastColumnDefault) {
  TempDir dir;
  write_text(dir / "a.csv", "1,2,1\n3,4,0\n");
  const Dataset d = load_csv(dir / "a.csv");
  EXPECT_EQ(d.size(), 2u);
  EXPECT_EQ(d.labels, (std::vector<std::uint32_t>{1, 0}));
  CsvOptions o;
  o.header = true;  // forced: the first line is skipped
  EXPECT_EQ(load_csv(dir / "a.csv", o).size(), 1u);
}

TEST(Csv, NonNumericCellNamesLineAndColumn) {
  TempDir dir;
  write_text(dir / "bad.csv", "1,2,0\n3,abc,1\n");
  expect_error([&] { load_csv(dir / "bad.csv"); },
               AllOf(HasSubstr("bad.csv"), HasSubstr("line 2"), HasSubstr("column 2"), HasSubstr("'abc'")));
}

TEST(Csv, RaggedRowNamesLine) {
  TempDir dir;
  write_text(dir / "ragged.csv", "a,b,label\n1,2,0\n3,4,5,1\n");
  expect_error([&] { load_csv(dir / "ragged.csv"); },
               AllOf(HasSubstr("ragged"), HasSubstr("line 3"), HasSubstr("4 cells")));
}

TEST(Csv, RejectsNanInfinityAndEmptyCells) {
  TempDir dir;
  write_text(dir / "nan.csv", "1,2,0\nnan,4,1\n");
  expect_error([&] { load_csv(dir / "nan.csv"); },
               AllOf(HasSubstr("line 2"), HasSubstr("column 1"), HasSubstr("not a finite number")));
  write_text(dir / "inf.csv", "1,-inf,0\n");
  expect_error([&] { load_csv(dir / "inf.csv"); }, HasSubstr("not a finite number"));
  write_text(dir / "empty.csv", "1,,0\n");
  expect_error([&] { load_csv(dir / "empty.csv"); }, HasSubstr("empty cell"));
}

// A finite double beyond the float range became an infinite feature (fuzz_csv checks for it).
TEST(Csv, RejectsNumbersBeyondTheFloatRange) {
  TempDir dir;
  write_text(dir / "big.csv", "1,2,0\n3,-1e39,1\n");
  expect_error([&] { load_csv(dir / "big.csv"); },
               AllOf(HasSubstr("line 2"), HasSubstr("column 2"), HasSubstr("is beyond the range of a 32-bit float")));
  CsvOptions regression;
  regression.classification = false;
  write_text(dir / "big_target.csv", "1,2,3.5e38\n");
  expect_error([&] { load_csv(dir / "big_target.csv", regression); }, HasSubstr("column 3"));
}

TEST(Csv, RejectsBadLabelsMissingFileAndNoRows) {
  TempDir dir;
  write_text(dir / "frac.csv", "1,2,0.5\n");
  expect_error([&] { load_csv(dir / "frac.csv"); }, HasSubstr("not a class label"));
  write_text(dir / "neg.csv", "1,2,-1\n");
  expect_error([&] { load_csv(dir / "neg.csv"); }, HasSubstr("not a class label"));
  CsvOptions o;
  o.label_column = 7;
  expect_error([&] { load_csv(dir / "neg.csv", o); }, HasSubstr("label column 7 does not exist"));
  expect_error([&] { load_csv(dir / "missing.csv"); }, AllOf(HasSubstr("missing.csv"), HasSubstr("no such file")));
  write_text(dir / "header_only.csv", "a,b,c\n");
  expect_error([&] { load_csv(dir / "header_only.csv"); }, HasSubstr("no data rows"));
}

TEST(Csv, RegressionTargetsAndUnlabelledFeatures) {
  TempDir dir;
  write_text(dir / "r.csv", "1,2,0.25\n3,4,-7\n");
  CsvOptions o;
  o.classification = false;
  const Dataset d = load_csv(dir / "r.csv", o);
  EXPECT_TRUE(d.labels.empty());
  EXPECT_FLOAT_EQ(d.targets(1, 0), -7.0f);
  o.has_label = false;
  EXPECT_EQ(load_csv(dir / "r.csv", o).dimensions(), 3u);
}

Dataset small_set() {
  Dataset d;
  d.features = Tensor(4, 2);
  const float x[] = {1, 10, 2, 10, 3, 10, 4, 10};
  std::copy(std::begin(x), std::end(x), d.features.data());
  d.labels = {0, 1, 2, 1};
  d.classes = 3;
  return d;
}

TEST(Prepare, StandardizerUsesTrainingStatisticsOnly) {
  Dataset train = small_set();
  const Standardizer s = Standardizer::fit(train);
  EXPECT_FLOAT_EQ(s.mean[0], 2.5f);
  EXPECT_FLOAT_EQ(s.stddev[0], std::sqrt(1.25f));
  EXPECT_FLOAT_EQ(s.stddev[1], 1.0f);  // constant feature: left at scale 1
  s.apply(train);
  double sum = 0, sum2 = 0;
  for (std::size_t i = 0; i < 4; ++i) sum += train.features(i, 0), sum2 += train.features(i, 0) * train.features(i, 0);
  EXPECT_NEAR(sum / 4, 0.0, 1e-6);
  EXPECT_NEAR(sum2 / 4, 1.0, 1e-6);
  Dataset test;
  test.features = Tensor(1, 2);
  test.features(0, 0) = 5.0f;
  test.features(0, 1) = 10.0f;
  s.apply(test);  // the training mean and deviation, not the test set's own
  EXPECT_FLOAT_EQ(test.features(0, 0), 2.5f / std::sqrt(1.25f));
  EXPECT_FLOAT_EQ(test.features(0, 1), 0.0f);
  Dataset wrong;
  wrong.features = Tensor(1, 3);
  EXPECT_THROW(s.apply(wrong), Error);
}

TEST(Prepare, OneHot) {
  Dataset d = small_set();
  one_hot(d);
  ASSERT_EQ(d.targets.rows(), 4u);
  ASSERT_EQ(d.targets.cols(), 3u);
  EXPECT_EQ(d.targets(2, 2), 1.0f);
  EXPECT_EQ(d.targets(2, 0), 0.0f);
  d.labels[0] = 3;
  EXPECT_THROW(one_hot(d), Error);
}

TEST(Prepare, ValidationSplitIsDisjointAndSeeded) {
  Dataset d;
  d.features = Tensor(100, 1);
  for (std::size_t i = 0; i < 100; ++i) d.features(i, 0) = static_cast<float>(i);
  d.labels.assign(100, 0);
  d.classes = 1;
  Dataset copy = d;
  const Dataset v = split_validation(d, 0.2, 7);
  const Dataset v2 = split_validation(copy, 0.2, 7);
  ASSERT_EQ(v.size(), 20u);
  ASSERT_EQ(d.size(), 80u);
  std::set<float> seen;
  for (std::size_t i = 0; i < 80; ++i) seen.insert(d.features(i, 0));
  for (std::size_t i = 0; i < 20; ++i) {
    EXPECT_EQ(seen.count(v.features(i, 0)), 0u);
    seen.insert(v.features(i, 0));
    EXPECT_EQ(v.features(i, 0), v2.features(i, 0));  // same seed, same split
  }
  EXPECT_EQ(seen.size(), 100u);
  EXPECT_THROW(split_validation(d, 1.0, 1), Error);
  EXPECT_EQ(split_validation(d, 0.0, 1).size(), 0u);
}

TEST(Prepare, ShuffleIsAPermutationAndResumable) {
  std::uint64_t state = 42;
  const auto a = shuffled_indices(50, state);
  const std::uint64_t after_first = state;
  const auto b = shuffled_indices(50, state);
  EXPECT_NE(a, b);  // a new order each epoch
  std::uint64_t replay = after_first;
  EXPECT_EQ(shuffled_indices(50, replay), b);  // the saved state replays the next epoch
  EXPECT_EQ(std::set<std::size_t>(a.begin(), a.end()).size(), 50u);
  std::uint64_t again = 42;
  EXPECT_EQ(shuffled_indices(50, again), a);
}

TEST(FashionMnist, MissingDirectoryIsAClearError) {
  expect_error([] { load_fashion_mnist("/nonexistent/dir", true); }, HasSubstr("/nonexistent/dir"));
}

}  // namespace
}  // namespace mlpk
