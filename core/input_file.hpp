// Opening the files a user names, for reading (internal to mlpk, not public API).
//
// One place says precisely why a path cannot be read: "no such file", "is a directory", "is not
// a regular file (a FIFO)" and so on, never "no such file" for something that exists. Only
// regular files are opened, and never in a way that blocks on a FIFO or disturbs a device. The
// line reader accepts every line ending in use: \n, \r\n and a lone \r.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace mlpk {

// "<what> <path>: <problem>", the shape of every file error (what: "CSV file", "model file").
std::string file_error_message(std::string_view what, const std::filesystem::path& path,
                               std::string_view problem);

// A file type as a noun phrase for messages: "a directory", "a FIFO", "a character device".
// `mode` is a struct stat st_mode.
std::string file_kind(unsigned mode);

// An open regular file; closes its descriptor on destruction.
class InputFile {
 public:
  // Opens `path` (following symbolic links). Throws mlpk::Error with file_error_message when it
  // does not exist, is not a regular file, or cannot be opened (the system's reason).
  InputFile(const std::filesystem::path& path, std::string_view what);
  ~InputFile();
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  int fd() const { return fd_; }
  // The size it had when opened.
  std::size_t size() const { return size_; }
  // Hands the descriptor over (e.g. to gzdopen, which closes it).
  int release();

 private:
  int fd_ = -1;
  std::size_t size_ = 0;
};

// The lines of an open file, each without its ending (\n, \r\n or a lone \r), read in blocks.
class LineReader {
 public:
  LineReader(const InputFile& file, const std::filesystem::path& path, std::string_view what);
  // Puts the next line into `line`; false at the end of the file. Throws on a read error.
  bool next(std::string& line);

 private:
  bool fill();

  int fd_;
  std::filesystem::path path_;
  std::string what_;
  std::vector<char> buffer_;
  std::size_t at_ = 0, end_ = 0;
  bool after_cr_ = false;  // the last line ended in \r: a \n right after it belongs to it
};

}  // namespace mlpk
