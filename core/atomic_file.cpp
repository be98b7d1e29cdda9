// Atomic writes of user-named files (see atomic_file.hpp for what is guaranteed and why).
#include "atomic_file.hpp"

#include "input_file.hpp"

#include <mlpk/error.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

namespace mlpk {
namespace {

std::string temp_prefix(const std::filesystem::path& target) {
  std::string prefix = ".";
  prefix += target.filename().string();
  prefix += ".mlpk-tmp-";
  return prefix;
}

std::filesystem::path directory_of(const std::filesystem::path& target) {
  return target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
}

bool same_file(const struct stat& a, const struct stat& b) { return a.st_dev == b.st_dev && a.st_ino == b.st_ino; }

// Removes the temporary files of `target` that no live writer holds locked: a killed run's.
void remove_stale_temps(const std::filesystem::path& target) {
  const std::string prefix = temp_prefix(target);
  const std::filesystem::path dir = directory_of(target);
  DIR* listing = ::opendir(dir.c_str());
  if (listing == nullptr) return;  // creating the new temporary file will say why
  while (const dirent* entry = ::readdir(listing)) {
    if (std::strncmp(entry->d_name, prefix.c_str(), prefix.size()) != 0) continue;
    const std::filesystem::path temp = dir / entry->d_name;
    // O_NOFOLLOW: a link planted under such a name is not ours and is left alone.
    const int fd = ::open(temp.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) continue;
    struct stat opened {}, named {};
    if (::fstat(fd, &opened) == 0 && S_ISREG(opened.st_mode) && ::flock(fd, LOCK_EX | LOCK_NB) == 0 &&
        ::lstat(temp.c_str(), &named) == 0 && same_file(opened, named))
      ::unlink(temp.c_str());
    ::close(fd);
  }
  ::closedir(listing);
}

std::string random_suffix() {
  static constexpr char kChars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::random_device device;
  std::uniform_int_distribution<std::size_t> pick(0, sizeof kChars - 2);
  std::string s;
  for (int i = 0; i < 12; ++i) s += kChars[pick(device)];
  return s;
}

std::string with_reason(std::string_view problem, int error) {
  std::string m(problem);
  m += " (";
  m += std::strerror(error);
  m += ")";
  return m;
}

}  // namespace

AtomicFile::AtomicFile(const std::filesystem::path& path, std::string_view what)
    : path_(path), target_(path), what_(what) {
  // What is at the path decides what is replaced, if anything.
  bool replaces = false;
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (S_ISLNK(st.st_mode)) {
      if (::stat(path.c_str(), &st) != 0)
        throw Error(file_error_message(what_, path_, "is a symbolic link to a missing file; not written through"));
      if (!S_ISREG(st.st_mode))
        throw Error(file_error_message(what_, path_, "is a symbolic link to " + file_kind(st.st_mode) +
                                                        "; only a regular file is replaced"));
      std::error_code ec;
      target_ = std::filesystem::canonical(path, ec);
      if (ec) throw Error(file_error_message(what_, path_, with_reason("cannot be resolved", ec.value())));
    } else if (S_ISDIR(st.st_mode)) {
      throw Error(file_error_message(what_, path_, "is a directory"));
    } else if (!S_ISREG(st.st_mode)) {
      throw Error(file_error_message(what_, path_, "is " + file_kind(st.st_mode) +
                                                      "; only a regular file is replaced"));
    }
    replaces = true;
  } else if (errno != ENOENT) {
    throw Error(file_error_message(what_, path_, with_reason("cannot be written", errno)));
  }

  remove_stale_temps(target_);
  const std::filesystem::path dir = directory_of(target_);
  const std::string prefix = temp_prefix(target_);
  for (int attempt = 0; fd_ < 0; ++attempt) {
    temp_ = dir / (prefix + random_suffix());
    // O_EXCL | O_NOFOLLOW: a new file of ours, never something planted at that name.
    fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd_ < 0) {
      if (errno == EEXIST && attempt < 100) continue;
      std::string problem = "cannot be written: no new file can be created in directory ";
      problem += dir.string();
      throw Error(file_error_message(what_, path_, with_reason(problem, errno)));
    }
    // The lock marks the file as live. A cleaner may have locked and removed it between open
    // and flock: then its name no longer leads to it, and we start again with a new one.
    // Where locks are not supported, the file is simply never taken for stale.
    while (::flock(fd_, LOCK_EX) != 0 && errno == EINTR) {
    }
    struct stat opened {}, named {};
    if (::fstat(fd_, &opened) != 0 || ::lstat(temp_.c_str(), &named) != 0 || !same_file(opened, named)) {
      ::close(fd_);
      fd_ = -1;
      if (attempt < 100) continue;
      throw Error(file_error_message(what_, path_, "cannot create a temporary file beside it"));
    }
  }
  if (replaces) ::fchmod(fd_, st.st_mode & 07777);  // the replaced file's permissions
}

AtomicFile::~AtomicFile() {
  if (fd_ < 0) return;
  ::unlink(temp_.c_str());  // while still locked, so no cleaner races with it
  ::close(fd_);
}

void AtomicFile::fail(std::string_view problem, int error) {
  ::unlink(temp_.c_str());
  ::close(fd_);
  fd_ = -1;
  throw Error(file_error_message(what_, path_, with_reason(problem, error)));
}

void AtomicFile::write(std::string_view bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("write failed", n < 0 ? errno : EIO);
    done += static_cast<std::size_t>(n);
  }
}

void AtomicFile::commit() {
  if (::fsync(fd_) != 0) fail("could not be flushed to disk", errno);
  // Renamed while still locked, so no cleaner removes it first.
  if (::rename(temp_.c_str(), target_.c_str()) != 0) fail("could not be renamed into place", errno);
  ::close(fd_);
  fd_ = -1;
  // Flushing the directory makes the rename itself survive a crash.
  const int dir = ::open(directory_of(target_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

void write_file_atomically(const std::filesystem::path& path, std::string_view bytes, std::string_view what) {
  AtomicFile file(path, what);
  file.write(bytes);
  file.commit();
}

void check_writable(const std::filesystem::path& path, std::string_view what) {
  AtomicFile probe(path, what);  // its temporary file is removed again at once
}

}  // namespace mlpk
