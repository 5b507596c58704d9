// Inline suppressions: `# gcheck: ignore[GC101] reason` on the finding's line or the line
// before, `# gcheck: ignore-file[GC105]` anywhere in the file, `# noqa: GC101`, and in C++
// `// gcheck: ignore[GC101]` and `// NOLINT(gcheck-GC101)`. An empty code list suppresses
// every rule. Each suppression remembers whether it was used, so unused ones can be reported.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "analyzer/source.h"

namespace gcheck {

struct Suppression {
  uint32_t line = 0;          // where the comment is
  uint32_t column = 0;
  bool file_wide = false;
  std::vector<std::string> codes;  // empty = all
  bool used = false;
  std::string text;           // the comment as written
};

std::vector<Suppression> find_suppressions(const SourceFile& src);

// Marks and returns true when a suppression covers `code` at `line`.
bool suppressed(std::vector<Suppression>& sups, std::string_view code, uint32_t line);

}  // namespace gcheck
