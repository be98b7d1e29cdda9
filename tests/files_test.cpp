// Tests of how mlpk reads and writes the files a user names: AtomicFile (what it refuses, what it
// replaces, what it leaves behind, stale temporary files), InputFile's messages for things that
// are not regular files, and the line endings and byte-order marks the CSV loader accepts.
#include "atomic_file.hpp"
#include "input_file.hpp"
#include "train_test_util.hpp"

#include <mlpk/data.hpp>
#include <mlpk/error.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <sstream>

namespace mlpk {
namespace {

using test::error_of;
using test::TempDir;
using test::write_text;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::StartsWith;


std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::set<std::string> names_in(const std::filesystem::path& dir) {
  std::set<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) names.insert(entry.path().filename().string());
  return names;
}

unsigned mode_of(const std::filesystem::path& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st.st_mode;
}

// --- writing ---------------------------------------------------------------------------------

TEST(AtomicFile, WritesANewFileThenReplacesItLeavingNothingElse) {
  TempDir dir;
  write_file_atomically(dir / "out.txt", "first\n", "--output");
  EXPECT_EQ(read_text(dir / "out.txt"), "first\n");
  write_file_atomically(dir / "out.txt", "second, longer\n", "--output");
  EXPECT_EQ(read_text(dir / "out.txt"), "second, longer\n");
  EXPECT_EQ(names_in(dir.path()), std::set<std::string>{"out.txt"});
}

TEST(AtomicFile, NewFileFollowsTheUmaskAndAReplacedOneKeepsItsPermissions) {
  TempDir dir;
  const mode_t umask_now = ::umask(022);
  write_file_atomically(dir / "new", "x", "model file");
  EXPECT_EQ(mode_of(dir / "new") & 0777, 0644u);
  ::chmod((dir / "new").c_str(), 0600);
  write_file_atomically(dir / "new", "y", "model file");
  EXPECT_EQ(mode_of(dir / "new") & 0777, 0600u);
  ::umask(umask_now);
}

TEST(AtomicFile, TheTemporaryFileIsBesideTheTargetUnderARecognisableName) {
  TempDir dir;
  AtomicFile file(dir / "m.mlpk", "model file");
  file.write("partial");
  const auto names = names_in(dir.path());
  ASSERT_EQ(names.size(), 1u);
  EXPECT_THAT(*names.begin(), StartsWith(".m.mlpk.mlpk-tmp-"));
  EXPECT_EQ(names.begin()->size(), std::string(".m.mlpk.mlpk-tmp-").size() + 12);
  file.commit();
  EXPECT_EQ(names_in(dir.path()), std::set<std::string>{"m.mlpk"});
  EXPECT_EQ(read_text(dir / "m.mlpk"), "partial");
}

TEST(AtomicFile, WithoutCommitTheTargetIsUntouchedAndTheTemporaryFileRemoved) {
  TempDir dir;
  write_text(dir / "m.mlpk", "old");
  {
    AtomicFile file(dir / "m.mlpk", "model file");
    file.write("new but abandoned");
  }
  EXPECT_EQ(read_text(dir / "m.mlpk"), "old");
  EXPECT_EQ(names_in(dir.path()), std::set<std::string>{"m.mlpk"});
}

TEST(AtomicFile, RefusesEverythingButARegularFile) {
  TempDir dir;
  std::filesystem::create_directory(dir / "sub");
  ASSERT_EQ(::mkfifo((dir / "fifo").c_str(), 0644), 0);
  std::filesystem::create_symlink("/dev/null", dir / "to_null");
  std::filesystem::create_symlink("sub", dir / "to_dir");
  std::filesystem::create_symlink("missing", dir / "dangling");
  const auto refused = [&](const std::filesystem::path& p) {
    return error_of([&] { write_file_atomically(p, "data", "--save"); });
  };
  EXPECT_EQ(refused("/dev/null"), "--save /dev/null: is a character device; only a regular file is replaced");
  EXPECT_TRUE(S_ISCHR(mode_of("/dev/null")));
  EXPECT_EQ(refused(dir / "sub"), "--save " + (dir / "sub").string() + ": is a directory");
  EXPECT_THAT(refused(dir / "fifo"), HasSubstr("fifo: is a FIFO; only a regular file is replaced"));
  EXPECT_THAT(refused(dir / "to_null"), HasSubstr("to_null: is a symbolic link to a character device"));
  EXPECT_THAT(refused(dir / "to_dir"), HasSubstr("to_dir: is a symbolic link to a directory"));
  EXPECT_THAT(refused(dir / "dangling"), HasSubstr("dangling: is a symbolic link to a missing file"));
  EXPECT_THAT(refused(dir / "no" / "such" / "dir" / "m"),
              AllOf(HasSubstr("cannot be written: no new file can be created in directory"),
                    HasSubstr("No such file or directory")));
  // Nothing was created or changed by any of the refusals.
  EXPECT_TRUE(S_ISFIFO(mode_of(dir / "fifo")));
  EXPECT_EQ(names_in(dir.path()), (std::set<std::string>{"sub", "fifo", "to_null", "to_dir", "dangling"}));
  EXPECT_TRUE(std::filesystem::is_empty(dir / "sub"));
}

TEST(AtomicFile, FollowsALinkToARegularFileAndKeepsTheLink) {
  TempDir dir;
  std::filesystem::create_directory(dir / "real");
  write_text(dir / "real" / "m.mlpk", "old");
  std::filesystem::create_symlink("real/m.mlpk", dir / "link.mlpk");
  write_file_atomically(dir / "link.mlpk", "new", "model file");
  EXPECT_TRUE(std::filesystem::is_symlink(dir / "link.mlpk"));
  EXPECT_EQ(read_text(dir / "real" / "m.mlpk"), "new");
  EXPECT_EQ(names_in(dir / "real"), std::set<std::string>{"m.mlpk"});  // the temp was beside the target
}

TEST(AtomicFile, RemovesStaleTemporaryFilesOfItsTargetOnly) {
  TempDir dir;
  write_text(dir / "victim", "precious");
  write_text(dir / ".m.mlpk.mlpk-tmp-killedrun01", "half a model");     // no lock held: stale
  write_text(dir / ".m.mlpk.mlpk-tmp-liverun0001", "being written");    // locked below: live
  write_text(dir / ".other.mlpk-tmp-killedrun01", "another target's");  // not this target's
  std::filesystem::create_symlink("victim", dir / ".m.mlpk.mlpk-tmp-planted0001");  // not ours
  const int live = ::open((dir / ".m.mlpk.mlpk-tmp-liverun0001").c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(live, 0);
  ASSERT_EQ(::flock(live, LOCK_EX), 0);

  write_file_atomically(dir / "m.mlpk", "model", "model file");
  EXPECT_EQ(names_in(dir.path()),
            (std::set<std::string>{"victim", "m.mlpk", ".m.mlpk.mlpk-tmp-liverun0001", ".other.mlpk-tmp-killedrun01",
                                   ".m.mlpk.mlpk-tmp-planted0001"}));
  EXPECT_EQ(read_text(dir / "victim"), "precious");

  ::close(live);  // the "run" ends without cleaning up: now its file is stale too
  check_writable(dir / "m.mlpk", "--save");
  EXPECT_FALSE(std::filesystem::exists(dir / ".m.mlpk.mlpk-tmp-liverun0001"));
  EXPECT_EQ(read_text(dir / "m.mlpk"), "model");
}

TEST(AtomicFile, CheckWritableCreatesNothing) {
  TempDir dir;
  check_writable(dir / "later.mlpk", "--save");
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
  EXPECT_THAT(error_of([&] { check_writable("/dev/null", "--save"); }),
              HasSubstr("--save /dev/null: is a character device"));
}

// --- reading ---------------------------------------------------------------------------------

TEST(InputFile, SaysWhatAPathIsWhenItIsNotARegularFile) {
  TempDir dir;
  std::filesystem::create_directory(dir / "sub");
  ASSERT_EQ(::mkfifo((dir / "fifo").c_str(), 0644), 0);  // opening it for reading would block
  const auto csv = [&](const std::filesystem::path& p) { return error_of([&] { load_csv(p); }); };
  EXPECT_EQ(csv(dir / "sub"), "CSV file " + (dir / "sub").string() + ": is a directory");
  EXPECT_EQ(csv(dir / "fifo"), "CSV file " + (dir / "fifo").string() + ": is not a regular file (a FIFO)");
  EXPECT_EQ(csv("/dev/zero"), "CSV file /dev/zero: is not a regular file (a character device)");
  EXPECT_EQ(csv(dir / "missing.csv"), "CSV file " + (dir / "missing.csv").string() + ": no such file");
  const auto idx = [&](const std::filesystem::path& p) { return error_of([&] { read_idx(p); }); };
  EXPECT_EQ(idx(dir / "sub"), "IDX file " + (dir / "sub").string() + ": is a directory");
  EXPECT_EQ(idx(dir / "fifo"), "IDX file " + (dir / "fifo").string() + ": is not a regular file (a FIFO)");
  EXPECT_EQ(idx("/dev/zero"), "IDX file /dev/zero: is not a regular file (a character device)");
}

TEST(LineReader, EveryLineEndingAndOneStraddlingTheBlockBoundary) {
  TempDir dir;
  const std::string long_line(65535, 'a');  // its \r is the last byte of the first 64 KiB block
  write_text(dir / "t", long_line + "\r\nunix\nmac\rdos\r\n\r\nlast");
  const InputFile file(dir / "t", "text file");
  LineReader reader(file, dir / "t", "text file");
  std::vector<std::string> lines;
  for (std::string line; reader.next(line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_TRUE(lines[0] == long_line) << "the long line has " << lines[0].size() << " bytes";
  EXPECT_EQ(std::vector<std::string>(lines.begin() + 1, lines.end()),
            (std::vector<std::string>{"unix", "mac", "dos", "", "last"}));
}

// 60 rows of two classes: x, -x, label.
std::string sixty_rows(const char* ending) {
  std::string s;
  for (int i = 0; i < 60; ++i) s += std::to_string(i) + "," + std::to_string(-i) + "," + std::to_string(i % 2) + ending;
  return s;
}

TEST(Csv, AUtf8ByteOrderMarkIsNotTakenForAHeader) {
  TempDir dir;
  write_text(dir / "bom.csv", "\xEF\xBB\xBF" + sixty_rows("\r\n"));
  const Dataset d = load_csv(dir / "bom.csv");
  ASSERT_EQ(d.size(), 60u);
  EXPECT_FLOAT_EQ(d.features(0, 0), 0.0f);
  EXPECT_FLOAT_EQ(d.features(59, 1), -59.0f);
  EXPECT_EQ(d.labels[1], 1u);
  // With a real header after the mark, the header is still found.
  write_text(dir / "bom_header.csv", "\xEF\xBB\xBF" "a,b,label\n" + sixty_rows("\n"));
  EXPECT_EQ(load_csv(dir / "bom_header.csv").size(), 60u);
  const char utf16[] = "\xFF\xFE" "1\0,\0" "0\0";  // "1,0" in UTF-16LE
  write_text(dir / "utf16.csv", std::string(utf16, sizeof utf16 - 1));
  EXPECT_THAT(error_of([&] { load_csv(dir / "utf16.csv"); }),
              AllOf(HasSubstr("utf16.csv, line 1"), HasSubstr("is UTF-16 text")));
}

TEST(Csv, CarriageReturnOnlyAndMixedLineEndings) {
  TempDir dir;
  for (const char* ending : {"\n", "\r\n", "\r"}) {
    write_text(dir / "rows.csv", sixty_rows(ending));
    const Dataset d = load_csv(dir / "rows.csv");
    ASSERT_EQ(d.size(), 60u) << "ending " << static_cast<int>(ending[0]);
    EXPECT_FLOAT_EQ(d.features(59, 0), 59.0f);
    EXPECT_EQ(d.labels[59], 1u);
  }
  write_text(dir / "mixed.csv", "x,y,label\r1,2,0\r\n3,4,1\n5,6,0");  // no ending on the last row
  const Dataset d = load_csv(dir / "mixed.csv");
  ASSERT_EQ(d.size(), 3u);
  EXPECT_FLOAT_EQ(d.features(2, 1), 6.0f);
  write_text(dir / "ragged.csv", "1,2,0\r3,4\r");
  EXPECT_THAT(error_of([&] { load_csv(dir / "ragged.csv"); }), AllOf(HasSubstr("line 2"), HasSubstr("ragged")));
}

}  // namespace
}  // namespace mlpk
