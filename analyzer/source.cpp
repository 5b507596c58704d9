#include "analyzer/source.h"

#include <sys/stat.h>
#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>

#include <fmt/format.h>

namespace gcheck {

SourceFile::SourceFile(std::string path, std::string display, std::string text)
    : path_(std::move(path)), display_(std::move(display)), text_(std::move(text)) {
  line_starts_.push_back(0);
  // Two cheap passes instead of one that tests every byte twice: high bits eight bytes at a
  // time, then newlines with memchr.
  const char* d = text_.data();
  const size_t n = text_.size();
  uint64_t high = 0;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, d + i, 8);
    high |= w;
  }
  for (; i < n; ++i) high |= static_cast<unsigned char>(d[i]);
  ascii_ = (high & 0x8080808080808080ull) == 0;
  for (const char* p = d; (p = static_cast<const char*>(std::memchr(p, '\n', n - (p - d)))); ++p)
    line_starts_.push_back(static_cast<size_t>(p - d) + 1);
}

std::string_view SourceFile::line(uint32_t n) const {
  if (n == 0 || n > line_starts_.size()) return {};
  size_t b = line_starts_[n - 1];
  size_t e = n < line_starts_.size() ? line_starts_[n] : text_.size();
  while (e > b && (text_[e - 1] == '\n' || text_[e - 1] == '\r')) --e;
  return std::string_view(text_).substr(b, e - b);
}

Pos SourceFile::pos_of(size_t offset) const {
  offset = std::min(offset, text_.size());
  auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
  size_t line = static_cast<size_t>(it - line_starts_.begin());  // 1-based
  return Pos{static_cast<uint32_t>(line),
             static_cast<uint32_t>(offset - line_starts_[line - 1] + 1)};
}

size_t SourceFile::offset_of(Pos p) const {
  if (p.line == 0) return 0;
  size_t line = std::min<size_t>(p.line, line_starts_.size());
  size_t off = line_starts_[line - 1] + (p.column ? p.column - 1 : 0);
  return std::min(off, text_.size());
}

Result<SourcePtr> read_source(const std::string& path, const std::string& display,
                              const InputLimits& limits) {
  Location at{display, {{1, 1}, {}}};
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    int err = errno;
    if (err == ELOOP) return InputError{at, "cannot read file: too many levels of symbolic links"};
    return InputError{at, fmt::format("cannot read file: {}", std::strerror(err))};
  }
  if (S_ISDIR(st.st_mode)) return InputError{at, "is a directory, not a file"};
  if (!S_ISREG(st.st_mode)) return InputError{at, "not a regular file"};
  if (static_cast<size_t>(st.st_size) > limits.max_file_bytes) {
    return InputError{at, fmt::format("file is {:.1f} MiB, over the {:.0f} MiB limit for a config "
                                      "file (raise it with --max-file-size); not checked",
                                      st.st_size / 1048576.0, limits.max_file_bytes / 1048576.0)};
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return InputError{at, fmt::format("cannot open file: {}", std::strerror(errno))};
  std::string text;
  text.resize(static_cast<size_t>(st.st_size));
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (in.bad()) return InputError{at, "read error"};
  // Binary: a NUL byte in the first 8 KiB (what git and grep use too).
  size_t probe = std::min<size_t>(text.size(), 8192);
  if (std::memchr(text.data(), '\0', probe) != nullptr) {
    auto off = static_cast<const char*>(std::memchr(text.data(), '\0', probe)) - text.data();
    SourceFile tmp(path, display, text.substr(0, static_cast<size_t>(off) + 1));
    return InputError{{display, {tmp.pos_of(static_cast<size_t>(off)), {}}},
                      "binary file (NUL byte); not a text config"};
  }
  return SourcePtr(std::make_shared<SourceFile>(path, display, std::move(text)));
}

}  // namespace gcheck
