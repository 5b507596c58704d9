#include "analyzer/cxx/include_scan.h"

#include <sys/stat.h>

#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "analyzer/project.h"

namespace gcheck::cxx {

bool is_libtorch_header_name(std::string_view name) {
  for (std::string_view p : {"torch/", "ATen/", "c10/", "caffe2/"}) {
    if (name.substr(0, p.size()) == p) return true;
  }
  return false;
}

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\f' || c == '\v' || c == '\r';
}
bool is_ident(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// Removes comments and line continuations, keeping newlines (so line numbers hold) and
// string/character literals (so a "/*" inside a string does not open a comment).
std::string strip_comments(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    char c = s[i];
    if (c == '\\' && i + 1 < n && s[i + 1] == '\n') {  // continuation: join, keep the newline count
      i += 2;
      out.push_back(' ');
      continue;
    }
    if (c == '/' && i + 1 < n && s[i + 1] == '/') {
      while (i < n && s[i] != '\n') {
        if (s[i] == '\\' && i + 1 < n && s[i + 1] == '\n') ++i;  // a continued // comment
        ++i;
      }
      continue;
    }
    if (c == '/' && i + 1 < n && s[i + 1] == '*') {
      i += 2;
      out.push_back(' ');
      while (i < n && !(s[i] == '*' && i + 1 < n && s[i + 1] == '/')) {
        if (s[i] == '\n') out.push_back('\n');
        ++i;
      }
      i = i < n ? i + 2 : n;
      continue;
    }
    if (c == 'R' && i + 1 < n && s[i + 1] == '"' &&
        (i == 0 || !is_ident(s[i - 1]) || s[i - 1] == 'u' || s[i - 1] == 'U' || s[i - 1] == 'L' ||
         s[i - 1] == '8')) {
      // Raw string R"delim( ... )delim": copy as is (only newlines matter).
      size_t open = s.find('(', i + 2);
      if (open != std::string_view::npos && open - (i + 2) <= 16) {
        std::string close = ")" + std::string(s.substr(i + 2, open - (i + 2))) + "\"";
        size_t end = s.find(close, open + 1);
        end = end == std::string_view::npos ? n : end + close.size();
        for (size_t k = i; k < end; ++k) out.push_back(s[k] == '\n' ? '\n' : 'x');
        i = end;
        continue;
      }
    }
    if (c == '"' || c == '\'') {
      // A literal, unless this is the delimiter of an #include "..." (handled the same way:
      // copied through).
      out.push_back(c);
      ++i;
      while (i < n && s[i] != c && s[i] != '\n') {
        if (s[i] == '\\' && i + 1 < n) {
          out.push_back(s[i]);
          ++i;
        }
        out.push_back(s[i]);
        ++i;
      }
      if (i < n && s[i] == c) {
        out.push_back(c);
        ++i;
      }
      continue;
    }
    out.push_back(c);
    ++i;
  }
  return out;
}

}  // namespace

std::vector<IncludeDirective> find_includes(std::string_view text) {
  std::string clean = strip_comments(text);
  std::vector<IncludeDirective> out;
  size_t i = 0;
  unsigned line = 1;
  const size_t n = clean.size();
  while (i < n) {
    size_t eol = clean.find('\n', i);
    if (eol == std::string::npos) eol = n;
    size_t k = i;
    while (k < eol && is_space(clean[k])) ++k;
    if (k < eol && clean[k] == '#') {
      ++k;
      while (k < eol && is_space(clean[k])) ++k;
      size_t w = k;
      while (k < eol && is_ident(clean[k])) ++k;
      std::string_view word(clean.data() + w, k - w);
      if (word == "include" || word == "include_next" || word == "import") {
        while (k < eol && is_space(clean[k])) ++k;
        IncludeDirective d;
        d.line = line;
        if (k < eol && (clean[k] == '<' || clean[k] == '"')) {
          char close = clean[k] == '<' ? '>' : '"';
          d.angled = clean[k] == '<';
          size_t e = clean.find(close, k + 1);
          if (e != std::string::npos && e < eol) {
            d.name = clean.substr(k + 1, e - k - 1);
            out.push_back(std::move(d));
          }
        } else if (k < eol) {
          size_t e = eol;
          while (e > k && is_space(clean[e - 1])) --e;
          d.name = clean.substr(k, e - k);
          d.computed = true;
          out.push_back(std::move(d));
        }
      }
    }
    i = eol + 1;
    ++line;
  }
  return out;
}

namespace {

bool regular_file(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string resolve_dir(const std::string& dir, const std::string& base) {
  if (!dir.empty() && dir[0] == '/') return dir;
  return join_path(base, dir);
}

struct SearchPath {
  std::vector<std::string> quote;   // -iquote
  std::vector<std::string> angle;   // -I, -isystem, -idirafter (in that order of search)
  std::vector<std::string> forced;  // -include / --include
};

// Reads the search folders from a compile command. Unknown flags are ignored; flags with a
// separate value are the ones that matter here.
SearchPath search_path(const std::vector<std::string>& args, const std::string& dir) {
  SearchPath sp;
  std::vector<std::string> user, system, after;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](std::string_view flag, std::vector<std::string>& into) {
      if (a == flag) {
        if (i + 1 < args.size()) into.push_back(resolve_dir(args[++i], dir));
        return true;
      }
      if (a.size() > flag.size() && a.compare(0, flag.size(), flag) == 0) {
        std::string v = a.substr(flag.size());
        if (!v.empty() && v[0] == '=') v = v.substr(1);
        into.push_back(resolve_dir(v, dir));
        return true;
      }
      return false;
    };
    if (a == "-include" || a == "--include") {
      if (i + 1 < args.size()) sp.forced.push_back(args[++i]);
      continue;
    }
    if (a.rfind("--include=", 0) == 0) {
      sp.forced.push_back(a.substr(10));
      continue;
    }
    if (a.rfind("-include-pch", 0) == 0 || a.rfind("-include", 0) == 0) {
      // -include-pch FILE / -includeFILE: a precompiled header or a glued forced include.
      if (a == "-include-pch") {
        if (i + 1 < args.size()) sp.forced.push_back("<pch>" + args[++i]);
      } else if (a.size() > 8 && a.rfind("-include-pch", 0) != 0) {
        sp.forced.push_back(a.substr(8));
      }
      continue;
    }
    if (value("-iquote", sp.quote)) continue;
    if (value("-isystem", system)) continue;
    if (value("-idirafter", after)) continue;
    if (value("--include-directory", user)) continue;
    if (value("-I", user)) continue;
  }
  sp.angle = user;
  sp.angle.insert(sp.angle.end(), system.begin(), system.end());
  sp.angle.insert(sp.angle.end(), after.begin(), after.end());
  return sp;
}

struct Scanner {
  const SearchPath& sp;
  const IncludeScanOptions& opts;
  std::set<std::string> seen;
  size_t read = 0;
  std::string found;    // the reason, once something may include LibTorch

  // Returns true when the search can stop (something may include LibTorch).
  bool scan(const std::string& path, const std::string& display) {
    if (!seen.insert(path).second) return false;
    if (++read > opts.max_files) {
      found = fmt::format("gave up after {} files (may include LibTorch)", opts.max_files);
      return true;
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      found = fmt::format("cannot read {} (may include LibTorch)", display);
      return true;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();
    std::string here = parent_dir(path);
    for (const auto& d : find_includes(text)) {
      if (d.computed) {
        found = fmt::format("computed #include {} ({}:{}) may name a LibTorch header", d.name,
                            display, d.line);
        return true;
      }
      if (is_libtorch_header_name(d.name)) {
        found = fmt::format("includes {}{}{} ({}:{})", d.angled ? '<' : '"', d.name,
                            d.angled ? '>' : '"', display, d.line);
        return true;
      }
      if (std::string next = resolve(d, here); !next.empty()) {
        if (scan(next, relative_to_cwd(next))) return true;
      }
    }
    return false;
  }

  std::string resolve(const IncludeDirective& d, const std::string& here) const {
    if (!d.name.empty() && d.name[0] == '/') return regular_file(d.name) ? d.name : "";
    if (!d.angled) {
      std::string c = join_path(here, d.name);
      if (regular_file(c)) return c;
      for (const auto& q : sp.quote) {
        std::string c2 = join_path(q, d.name);
        if (regular_file(c2)) return c2;
      }
    }
    for (const auto& a : sp.angle) {
      std::string c = join_path(a, d.name);
      if (regular_file(c)) return c;
    }
    return "";  // the compiler's own folders: the standard library, /usr/include
  }
};

}  // namespace

IncludeScan scan_includes(const std::string& main_file, const std::vector<std::string>& args,
                          const std::string& directory, const IncludeScanOptions& opts,
                          const std::string& display) {
  IncludeScan r;
  SearchPath sp = search_path(args, directory);
  Scanner sc{sp, opts, {}, 0, {}};
  for (const auto& f : sp.forced) {
    if (f.rfind("<pch>", 0) == 0) {
      r.may_include_libtorch = true;
      r.reason =
          fmt::format("uses a precompiled header ({}) that may include LibTorch", f.substr(5));
      return r;
    }
    if (is_libtorch_header_name(f)) {
      r.may_include_libtorch = true;
      r.reason = fmt::format("-include {}", f);
      return r;
    }
    std::string p = resolve_dir(f, directory);
    if (!regular_file(p)) {
      for (const auto& a : sp.angle)
        if (regular_file(join_path(a, f))) p = join_path(a, f);
    }
    if (sc.scan(p, f)) {
      r.may_include_libtorch = true;
      r.reason = sc.found;
      r.files_read = sc.read;
      return r;
    }
  }
  std::string main_path = resolve_dir(main_file, directory);
  bool hit = sc.scan(main_path, display.empty() ? main_file : display);
  r.files_read = sc.read;
  r.may_include_libtorch = hit;
  r.reason = hit ? sc.found
                 : fmt::format("includes no LibTorch header ({} file{} scanned)", sc.read,
                               sc.read == 1 ? "" : "s");
  return r;
}

}  // namespace gcheck::cxx
