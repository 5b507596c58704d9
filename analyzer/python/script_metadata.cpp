#include "analyzer/python/script_metadata.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "analyzer/project.h"

namespace gcheck::py {

namespace {

constexpr std::string_view kOpen = "# /// script";
constexpr std::string_view kClose = "# ///";

std::string_view line_at(const SourceFile& src, uint32_t n) {
  std::string_view l = src.line(n);
  if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
  return l;
}

// `#` alone, or `# ` and content.
bool content_line(std::string_view l) {
  return l == "#" || (l.size() >= 2 && l[0] == '#' && l[1] == ' ');
}

struct Block {
  uint32_t open = 0;   // the `# /// script` line
  uint32_t close = 0;  // the closing `# ///` line
};

// The script blocks of the file, by the PEP's rules.
std::vector<Block> script_blocks(const SourceFile& src) {
  std::vector<Block> out;
  auto n = static_cast<uint32_t>(src.line_count());
  for (uint32_t i = 1; i <= n; ++i) {
    if (line_at(src, i) != kOpen) continue;
    uint32_t close = 0;
    uint32_t j = i + 1;
    for (; j <= n && content_line(line_at(src, j)); ++j)
      if (line_at(src, j) == kClose) close = j;
    if (close == 0) continue;  // never closed: not a block
    out.push_back({i, close});
    i = close;
  }
  return out;
}

}  // namespace

void read_script_metadata(const SourceFile& src, CodeFacts& code) {
  // A cheap test first: nearly every script has no header.
  if (src.text().find(kOpen) == std::string::npos) return;
  std::vector<Block> blocks = script_blocks(src);
  if (blocks.size() != 1) return;
  const Block& b = blocks.front();
  std::string toml_text;
  for (uint32_t i = b.open + 1; i < b.close; ++i) {
    std::string_view l = line_at(src, i);
    toml_text += l.size() > 2 ? l.substr(2) : std::string_view{};
    toml_text += '\n';
  }
  toml::table t;
  try {
    t = toml::parse(toml_text);
  } catch (const toml::parse_error&) {
    return;  // the runners refuse it too; nothing is declared
  }
  const toml::array* deps = t["dependencies"].as_array();
  if (!deps) return;
  for (const auto& el : *deps) {
    auto s = el.value<std::string>();
    if (!s) continue;
    auto req = parse_requirement(*s);
    if (!req) continue;
    const auto& where = el.source().begin;
    VersionDeclFact d;
    d.library = req->first;
    d.range = req->second;
    d.spec = *s;
    // Lines of the TOML text count from the line after the opening one; its columns from
    // after the `# ` prefix.
    d.loc = Location{src.display(), Span{Pos{b.open + static_cast<uint32_t>(where.line),
                                             static_cast<uint32_t>(where.column) + 2},
                                         {}}};
    d.via = "PEP 723 script metadata";
    code.version_decls.push_back(std::move(d));
  }
}

}  // namespace gcheck::py
