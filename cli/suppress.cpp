#include "cli/suppress.h"

#include <cctype>

namespace gcheck {
namespace {

std::vector<std::string> parse_codes(std::string_view s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      cur.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
    } else if (!cur.empty()) {
      out.push_back(cur);
      cur.clear();
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

// A comment marker at `pos`: '#' preceded by nothing or whitespace (YAML, Python), or '//'.
bool comment_start(std::string_view line, size_t pos) {
  if (line[pos] == '#') return pos == 0 || std::isspace(static_cast<unsigned char>(line[pos - 1]));
  return line.substr(pos, 2) == "//";
}

void scan_line(std::string_view line, uint32_t n, std::vector<Suppression>& out) {
  for (size_t i = 0; i < line.size(); ++i) {
    if (!(line[i] == '#' || line[i] == '/') || !comment_start(line, i)) continue;
    std::string_view c = line.substr(i + (line[i] == '#' ? 1 : 2));
    size_t k = 0;
    while (k < c.size() && c[k] == ' ') ++k;
    c = c.substr(k);
    Suppression s;
    s.line = n;
    s.column = static_cast<uint32_t>(i + 1);
    s.text = std::string(line.substr(i));
    if (c.rfind("gcheck:", 0) == 0) {
      std::string_view rest = c.substr(7);
      while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
      bool file = rest.rfind("ignore-file", 0) == 0;
      if (!file && rest.rfind("ignore", 0) != 0) continue;
      rest.remove_prefix(file ? 11 : 6);
      s.file_wide = file;
      if (!rest.empty() && rest.front() == '[') {
        auto close = rest.find(']');
        s.codes = parse_codes(rest.substr(1, close == std::string_view::npos ? rest.size() - 1 : close - 1));
      }
      out.push_back(std::move(s));
      return;
    }
    if (c.rfind("noqa", 0) == 0) {
      std::string_view rest = c.substr(4);
      if (!rest.empty() && rest.front() == ':') {
        for (auto& code : parse_codes(rest.substr(1)))
          if (code.rfind("GC", 0) == 0) s.codes.push_back(code);
        if (s.codes.empty()) continue;  // another tool's codes
      } else {
        continue;  // a blanket noqa belongs to other linters
      }
      out.push_back(std::move(s));
      return;
    }
    if (c.rfind("NOLINT", 0) == 0 && line[i] == '/') {
      std::string_view rest = c.substr(6);
      bool next = rest.rfind("NEXTLINE", 0) == 0;
      if (next) rest.remove_prefix(8);
      if (rest.empty() || rest.front() != '(') continue;
      auto close = rest.find(')');
      std::string_view inner = rest.substr(1, close == std::string_view::npos ? rest.size() - 1 : close - 1);
      while (!inner.empty()) {
        auto comma = inner.find(',');
        std::string_view item = inner.substr(0, comma);
        while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
        if (item.rfind("gcheck-", 0) == 0) {
          auto codes = parse_codes(item.substr(7));
          s.codes.insert(s.codes.end(), codes.begin(), codes.end());
        }
        inner = comma == std::string_view::npos ? std::string_view{} : inner.substr(comma + 1);
      }
      if (s.codes.empty()) continue;
      if (next) s.line = n;  // covers n+1 through the line-before rule
      out.push_back(std::move(s));
      return;
    }
  }
}

}  // namespace

std::vector<Suppression> find_suppressions(const SourceFile& src) {
  std::vector<Suppression> out;
  const std::string& t = src.text();
  if (t.find("gcheck") == std::string::npos && t.find("noqa") == std::string::npos) return out;
  for (uint32_t n = 1; n <= src.line_count(); ++n) {
    std::string_view line = src.line(n);
    if (line.find("gcheck") == std::string_view::npos && line.find("noqa") == std::string_view::npos)
      continue;
    scan_line(line, n, out);
  }
  return out;
}

bool suppressed(std::vector<Suppression>& sups, std::string_view code, uint32_t line) {
  for (auto& s : sups) {
    bool at = s.file_wide || s.line == line || s.line + 1 == line;
    if (!at) continue;
    bool match = s.codes.empty();
    for (const auto& c : s.codes) match |= (c == code);
    if (match) {
      s.used = true;
      return true;
    }
  }
  return false;
}

}  // namespace gcheck
