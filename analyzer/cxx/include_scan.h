// Does a C++ translation unit include a LibTorch header? A cheap scan of #include directives,
// run by gcheck-cxx before it parses anything: a unit that includes no LibTorch header is
// skipped without starting Clang's front end.
//
// The scan reads the main file, the -include files of its compile command, and the project
// headers they include (found relative to the includer, then in the -iquote, -I, -isystem and
// -idirafter folders the command names); headers found only in the compiler's own folders
// (the C++ standard library, /usr/include) are not read. Conditional compilation is ignored,
// so the scan can only over-approximate: an #include inside `#if 0` still counts, and a
// computed include (`#include MACRO`) or an unreadable header counts as "may include", so the
// unit is parsed. It never skips a unit that includes LibTorch through a project header.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace gcheck::cxx {

// A header name that belongs to LibTorch: torch/..., ATen/..., c10/..., caffe2/...
bool is_libtorch_header_name(std::string_view name);

struct IncludeScan {
  bool may_include_libtorch = false;
  std::string reason;  // "includes <torch/torch.h> (train.cpp:3)", "no LibTorch header in 4 files"
  size_t files_read = 0;
};

struct IncludeScanOptions {
  size_t max_files = 4000;  // past this, the scan gives up and says "may include"
};

// `args` is the compile command (argv, compiler first or not) and `directory` the folder it
// runs in (relative paths in `args` and `main_file` are resolved against it).
// `display` names the main file in the reason (default: as given).
IncludeScan scan_includes(const std::string& main_file, const std::vector<std::string>& args,
                          const std::string& directory, const IncludeScanOptions& opts = {},
                          const std::string& display = "");

// The include directives of one source text, in order (exposed for tests).
struct IncludeDirective {
  std::string name;  // between the delimiters; for a computed include, the macro text
  bool angled = false;
  bool computed = false;  // #include MACRO
  unsigned line = 0;
};
std::vector<IncludeDirective> find_includes(std::string_view text);

}  // namespace gcheck::cxx
