// Writing the files a user names, atomically (internal to mlpk, not public API).
//
// Every file mlpk writes for a user (model files and checkpoints, predictions, metrics, plots)
// goes through AtomicFile, so a reader, a crash or a SIGKILL at any moment sees the previous
// complete file or the new complete one, never a part of one:
//  - Only a regular file is replaced. A directory, a device (/dev/null), a FIFO or a socket at the
//    path is refused with a message naming it. A symbolic link to a regular file is followed,
//    as `cp` does: its target is replaced and the link stays; a dangling link is refused.
//  - The data goes to a new temporary file beside the target, ".<name>.mlpk-tmp-<random>",
//    created with O_CREAT | O_EXCL | O_NOFOLLOW (so nothing planted at that name is followed or
//    reused), then is flushed to disk, renamed over the target, and the directory is flushed.
//  - A replaced file keeps its permission bits; a new one gets 0666 less the umask.
//  - The writer holds an flock on its temporary file. Temporary files of the same target whose
//    lock is free belong to runs that died (the kernel drops a dead process's locks), and are
//    removed when the next AtomicFile for that target is created. On any error, and when an
//    AtomicFile is destroyed without commit(), its own temporary file is removed.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace mlpk {

class AtomicFile {
 public:
  // Checks the target, removes stale temporary files of it, and creates this one's. Throws
  // mlpk::Error "<what> <path>: <problem>" (what: "model file", "--output") when `path` is not a
  // regular file or its directory cannot take a new file.
  AtomicFile(const std::filesystem::path& path, std::string_view what);
  ~AtomicFile();  // without commit(): removes the temporary file, the target is untouched
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(std::string_view bytes);
  // Flushes, renames over the target, flushes the directory. Throws on failure (the target is
  // then untouched and the temporary file removed).
  void commit();

 private:
  [[noreturn]] void fail(std::string_view problem, int error);

  std::filesystem::path path_;  // as the user gave it, for messages
  std::filesystem::path target_;  // what is replaced: path_, or the regular file a link names
  std::filesystem::path temp_;
  std::string what_;
  int fd_ = -1;
};

// The whole of `bytes` into `path` through an AtomicFile.
void write_file_atomically(const std::filesystem::path& path, std::string_view bytes, std::string_view what);

// Throws as AtomicFile would if `path` cannot be written (no data is written and the target is
// untouched): lets a command check its output paths before hours of work.
void check_writable(const std::filesystem::path& path, std::string_view what);

}  // namespace mlpk
