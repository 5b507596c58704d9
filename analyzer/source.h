// Source files, positions and locations shared by every front end.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace gcheck {

// 1-based line and column; 0 means "unknown".
struct Pos {
  uint32_t line = 0;
  uint32_t column = 0;
  bool known() const { return line != 0; }
  friend bool operator==(const Pos&, const Pos&) = default;
};

struct Span {
  Pos begin;
  Pos end;  // exclusive end column on end.line; may be unknown
};

// A place a user can click: file plus span.
struct Location {
  std::string file;  // display path (relative to the working directory where possible)
  Span span;
  bool known() const { return !file.empty(); }
};

// A file read into memory, with a line index for positions and caret display.
class SourceFile {
 public:
  SourceFile(std::string path, std::string display, std::string text);

  const std::string& path() const { return path_; }        // as opened
  const std::string& display() const { return display_; }  // as reported
  const std::string& text() const { return text_; }

  size_t line_count() const { return line_starts_.size(); }
  bool ascii() const { return ascii_; }  // no byte >= 0x80: characters and bytes coincide
  // Text of a 1-based line without its newline; empty when out of range.
  std::string_view line(uint32_t n) const;
  // Position of a byte offset (column counts bytes, 1-based).
  Pos pos_of(size_t offset) const;
  // Byte offset of a position (clamped).
  size_t offset_of(Pos p) const;

 private:
  std::string path_;
  std::string display_;
  std::string text_;
  std::vector<size_t> line_starts_;
  bool ascii_ = true;
};

using SourcePtr = std::shared_ptr<const SourceFile>;

// An input problem: unreadable, unparseable or unsupported input. Errors are values at module
// borders; a front end returns one instead of throwing.
struct InputError {
  Location loc;
  std::string message;
  // The file is a template (a placeholder such as ${zero_stage} stands where a value must be):
  // reported as unresolved (GC502) rather than as broken input.
  bool placeholder = false;
};

template <class T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(InputError err) : v_(std::move(err)) {}  // NOLINT(google-explicit-constructor)
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  T* operator->() { return &value(); }
  const InputError& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, InputError> v_;
};

// Limits that keep hostile input bounded.
struct InputLimits {
  size_t max_file_bytes = 8u << 20;    // 8 MiB: far beyond any training config
  uint32_t max_depth = 256;            // nesting of mappings and sequences
  size_t max_nodes = 2'000'000;        // nodes after alias and merge-key expansion
};

// Reads a file with the limits above: missing, unreadable, directory, too large and binary
// files are InputErrors with a message a user can act on.
Result<SourcePtr> read_source(const std::string& path, const std::string& display,
                              const InputLimits& limits);

}  // namespace gcheck
