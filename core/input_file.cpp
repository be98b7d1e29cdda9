// Opening user-named files for reading, and reading their lines (see input_file.hpp).
#include "input_file.hpp"

#include <mlpk/error.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace mlpk {

std::string file_error_message(std::string_view what, const std::filesystem::path& path,
                               std::string_view problem) {
  std::string m(what);
  m += " ";
  m += path.string();
  m += ": ";
  m += problem;
  return m;
}

std::string file_kind(unsigned mode) {
  switch (mode & S_IFMT) {
    case S_IFREG: return "a regular file";
    case S_IFDIR: return "a directory";
    case S_IFCHR: return "a character device";
    case S_IFBLK: return "a block device";
    case S_IFIFO: return "a FIFO";
    case S_IFSOCK: return "a socket";
    case S_IFLNK: return "a symbolic link";
    default: return "not a file";
  }
}

namespace {

[[noreturn]] void fail(std::string_view what, const std::filesystem::path& path, std::string_view problem) {
  throw Error(file_error_message(what, path, problem));
}

[[noreturn]] void fail_errno(std::string_view what, const std::filesystem::path& path, const char* action,
                             int error) {
  if (error == ENOENT) fail(what, path, "no such file");
  std::string problem = action;
  problem += " (";
  problem += std::strerror(error);
  problem += ")";
  fail(what, path, problem);
}

[[noreturn]] void fail_kind(std::string_view what, const std::filesystem::path& path, unsigned mode) {
  if (S_ISDIR(mode)) fail(what, path, "is a directory");
  fail(what, path, "is not a regular file (" + file_kind(mode) + ")");
}

}  // namespace

InputFile::InputFile(const std::filesystem::path& path, std::string_view what) {
  // stat first: a FIFO or a device is refused without being opened (opening one can block or
  // act on the device). The open is non-blocking too, and fstat checks what was opened, in case
  // the path changed in between.
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) fail_errno(what, path, "cannot be read", errno);
  if (!S_ISREG(st.st_mode)) fail_kind(what, path, st.st_mode);
  fd_ = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd_ < 0) fail_errno(what, path, "cannot be opened", errno);
  if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
    const unsigned mode = st.st_mode;
    ::close(fd_);
    fd_ = -1;
    fail_kind(what, path, mode);
  }
  ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) & ~O_NONBLOCK);
  size_ = static_cast<std::size_t>(st.st_size);
}

InputFile::~InputFile() {
  if (fd_ >= 0) ::close(fd_);
}

int InputFile::release() {
  const int fd = fd_;
  fd_ = -1;
  return fd;
}

LineReader::LineReader(const InputFile& file, const std::filesystem::path& path, std::string_view what)
    : fd_(file.fd()), path_(path), what_(what), buffer_(std::size_t{1} << 16) {}

bool LineReader::fill() {
  while (true) {
    const ssize_t n = ::read(fd_, buffer_.data(), buffer_.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail_errno(what_, path_, "read error", errno);
    at_ = 0;
    end_ = static_cast<std::size_t>(n);
    return n > 0;
  }
}

bool LineReader::next(std::string& line) {
  line.clear();
  bool started = false;  // a line has begun, even if it is still empty
  while (true) {
    if (at_ == end_ && !fill()) return started;
    if (after_cr_) {
      after_cr_ = false;
      if (buffer_[at_] == '\n') {
        ++at_;
        continue;
      }
    }
    const char* begin = buffer_.data() + at_;
    const char* end = buffer_.data() + end_;
    const char* stop = std::find_if(begin, end, [](char c) { return c == '\n' || c == '\r'; });
    line.append(begin, stop);
    started = true;
    if (stop == end) {
      at_ = end_;
      continue;
    }
    after_cr_ = *stop == '\r';
    at_ = static_cast<std::size_t>(stop - buffer_.data()) + 1;
    return true;
  }
}

}  // namespace mlpk
