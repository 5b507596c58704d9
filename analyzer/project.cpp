#include "analyzer/project.h"

#include <dirent.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <toml++/toml.h>

namespace gcheck {

// ---- filesystem helpers ------------------------------------------------------------------------

std::string parent_dir(const std::string& path) {
  auto p = path.find_last_of('/');
  if (p == std::string::npos) return ".";
  if (p == 0) return "/";
  return path.substr(0, p);
}

std::string join_path(const std::string& dir, const std::string& rel) {
  if (rel.empty()) return dir;
  if (rel.front() == '/' || dir.empty() || dir == ".") return rel;
  return dir.back() == '/' ? dir + rel : dir + "/" + rel;
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool is_dir(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string normalize_path(const std::string& p) {
  if (p.empty()) return p;
  bool abs = p.front() == '/';
  std::vector<std::string> parts;
  size_t i = 0;
  while (i <= p.size()) {
    size_t j = p.find('/', i);
    if (j == std::string::npos) j = p.size();
    std::string part = p.substr(i, j - i);
    if (part == "..") {
      if (!parts.empty() && parts.back() != "..") parts.pop_back();
      else if (!abs) parts.push_back("..");
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    i = j + 1;
  }
  std::string out = abs ? "/" : "";
  for (size_t k = 0; k < parts.size(); ++k) out += (k ? "/" : "") + parts[k];
  if (out.empty()) out = ".";
  return out;
}

namespace {
std::string absolute(const std::string& p) {
  if (!p.empty() && p.front() == '/') return p;
  char buf[4096];
  if (!::getcwd(buf, sizeof buf)) return p;
  std::string cwd(buf);
  if (p == ".") return cwd;
  std::string rel = p.rfind("./", 0) == 0 ? p.substr(2) : p;
  return cwd + "/" + rel;
}
}  // namespace

std::string absolute_path(const std::string& p) { return absolute(p); }

std::string relative_to_cwd(const std::string& p) {
  std::string a = normalize_path(absolute(p));
  std::string cwd = normalize_path(absolute("."));
  if (a == cwd) return ".";
  if (a.rfind(cwd + "/", 0) == 0) return a.substr(cwd.size() + 1);
  return p.empty() || p.front() == '/' ? a : normalize_path(p);
}

std::string repo_root(const std::string& dir) {
  std::string d = absolute(dir);
  for (int i = 0; i < 64; ++i) {
    struct stat st {};
    if (::stat((d + "/.git").c_str(), &st) == 0) return d;
    if (d == "/" || d.empty()) break;
    d = parent_dir(d);
  }
  return "";
}

bool glob_match(const std::string& pattern, const std::string& path) {
  std::string p = path.rfind("./", 0) == 0 ? path.substr(2) : path;
  std::string pat = pattern.rfind("./", 0) == 0 ? pattern.substr(2) : pattern;
  if (::fnmatch(pat.c_str(), p.c_str(), 0) == 0) return true;
  if (pat.find('/') == std::string::npos) {
    auto slash = p.find_last_of('/');
    std::string base = slash == std::string::npos ? p : p.substr(slash + 1);
    if (::fnmatch(pat.c_str(), base.c_str(), 0) == 0) return true;
    // A bare folder name matches every file below it.
    if (p == pat || p.rfind(pat + "/", 0) == 0 || p.find("/" + pat + "/") != std::string::npos)
      return true;
  } else if (p.rfind(pat + "/", 0) == 0) {
    return true;  // a folder path
  }
  return false;
}

// ---- project configuration ----------------------------------------------------------------------

namespace {

Location loc_of(const std::string& file, const toml::node& n) {
  const auto& src = n.source();
  return Location{file, {{static_cast<uint32_t>(src.begin.line), static_cast<uint32_t>(src.begin.column)}, {}}};
}

struct TomlReader {
  std::string file;
  std::optional<InputError> error;

  void fail(const toml::node& n, std::string msg) {
    if (!error) error = InputError{loc_of(file, n), std::move(msg)};
  }

  std::vector<std::string> strings(const toml::node& n, std::string_view key) {
    std::vector<std::string> out;
    if (auto s = n.value<std::string>()) {
      out.push_back(*s);
      return out;
    }
    const toml::array* a = n.as_array();
    if (!a) {
      fail(n, fmt::format("{} must be a list of strings", key));
      return out;
    }
    for (const auto& el : *a) {
      if (auto s = el.value<std::string>()) out.push_back(*s);
      else fail(el, fmt::format("{} must be a list of strings", key));
    }
    return out;
  }

  std::string string(const toml::node& n, std::string_view key) {
    if (auto s = n.value<std::string>()) return *s;
    fail(n, fmt::format("{} must be a string", key));
    return "";
  }
};

void read_table(const toml::table& t, ProjectConfig& pc, TomlReader& r) {
  for (const auto& [k, node] : t) {
    std::string key(k.str());
    if (key == "select") {
      pc.select = r.strings(node, key);
    } else if (key == "extend-select" || key == "extend_select") {
      pc.extend_select = r.strings(node, key);
    } else if (key == "ignore") {
      pc.ignore = r.strings(node, key);
    } else if (key == "severity-threshold" || key == "severity_threshold") {
      pc.severity_threshold = r.string(node, key);
    } else if (key == "exclude") {
      pc.exclude = r.strings(node, key);
    } else if (key == "extend-exclude" || key == "extend_exclude") {
      pc.extend_exclude = r.strings(node, key);
    } else if (key == "assume" || key == "versions") {
      const toml::table* a = node.as_table();
      if (!a) {
        r.fail(node, key + " must be a table of library = \"version\"");
        continue;
      }
      for (const auto& [lib, v] : *a) {
        std::string ver = r.string(v, std::string(lib.str()));
        std::string name = normalize_library(lib.str());
        if (!is_known_library(name)) {
          r.fail(v, fmt::format("unknown library '{}' (known: torch, transformers, peft, trl, "
                                "deepspeed, accelerate, axolotl, llamafactory, unsloth, "
                                "torchtune, bitsandbytes)",
                                lib.str()));
          continue;
        }
        if (!VersionRange::parse_spec(ver) && !Version::parse(ver)) {
          r.fail(v, fmt::format("'{}' is not a version or version range", ver));
          continue;
        }
        pc.assume[name] = ver;
        pc.assume_loc[name] = loc_of(r.file, v);
      }
    } else if (key == "launchers" || key == "format-of" || key == "format_of" || key == "pairs") {
      const toml::table* a = node.as_table();
      if (!a) {
        r.fail(node, key + " must be a table of \"glob\" = \"value\"");
        continue;
      }
      for (const auto& [glob, v] : *a) {
        std::string val = r.string(v, std::string(glob.str()));
        auto& dst = key == "launchers" ? pc.launchers : key == "pairs" ? pc.pairs : pc.format_of;
        dst.emplace_back(std::string(glob.str()), val);
      }
    } else if (key == "per-file-ignores" || key == "per_file_ignores") {
      const toml::table* a = node.as_table();
      if (!a) {
        r.fail(node, key + " must be a table of \"glob\" = [\"CODE\", ...]");
        continue;
      }
      for (const auto& [glob, v] : *a)
        pc.per_file_ignores.emplace_back(std::string(glob.str()), r.strings(v, std::string(glob.str())));
    } else if (key == "severity") {
      const toml::table* a = node.as_table();
      if (!a) {
        r.fail(node, "severity must be a table of CODE = \"error\"|\"warning\"|\"info\"");
        continue;
      }
      for (const auto& [code, v] : *a) pc.severity[std::string(code.str())] = r.string(v, std::string(code.str()));
    } else {
      r.fail(node, fmt::format("unknown setting '{}' (known: select, extend-select, ignore, "
                               "severity-threshold, exclude, extend-exclude, assume, launchers, "
                               "format-of, per-file-ignores, severity, pairs)",
                               key));
    }
  }
}

Result<ProjectConfig> load_file(const std::string& path, bool pyproject) {
  ProjectConfig pc;
  pc.path = path;
  pc.dir = parent_dir(path);
  toml::table tbl;
  try {
    tbl = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    Location l{path, {{static_cast<uint32_t>(e.source().begin.line),
                       static_cast<uint32_t>(e.source().begin.column)}, {}}};
    return InputError{l, fmt::format("invalid TOML: {}", e.description())};
  }
  const toml::table* t = &tbl;
  if (pyproject) {
    t = tbl["tool"]["gcheck"].as_table();
    if (!t) return pc;  // no [tool.gcheck]: not a gcheck config
  }
  pc.found = true;
  TomlReader r{path, {}};
  read_table(*t, pc, r);
  if (r.error) return *r.error;
  return pc;
}

}  // namespace

Result<ProjectConfig> load_project_config(const std::optional<std::string>& explicit_path,
                                          const std::string& start_dir) {
  if (explicit_path) {
    if (!file_exists(*explicit_path))
      return InputError{{*explicit_path, {{1, 1}, {}}}, "project configuration file not found"};
    bool py = explicit_path->size() >= 14 &&
              explicit_path->substr(explicit_path->size() - 14) == "pyproject.toml";
    auto r = load_file(*explicit_path, py);
    if (r && !r->found)
      return InputError{{*explicit_path, {{1, 1}, {}}}, "no [tool.gcheck] table in this file"};
    return r;
  }
  std::string d = absolute(start_dir);
  for (int i = 0; i < 64; ++i) {
    std::string g = join_path(d, ".gcheck.toml");
    if (file_exists(g)) return load_file(g, false);
    std::string py = join_path(d, "pyproject.toml");
    if (file_exists(py)) {
      auto r = load_file(py, true);
      if (!r || r->found) return r;
    }
    struct stat st {};
    if (::stat((d + "/.git").c_str(), &st) == 0 || d == "/") break;
    d = parent_dir(d);
  }
  return ProjectConfig{};
}

// ---- version pins -----------------------------------------------------------------------------------

std::optional<std::pair<std::string, VersionRange>> parse_requirement(std::string_view line) {
  auto hash = line.find('#');
  if (hash != std::string_view::npos) line = line.substr(0, hash);
  auto semi = line.find(';');
  if (semi != std::string_view::npos) line = line.substr(0, semi);
  while (!line.empty() && std::isspace(static_cast<unsigned char>(line.front()))) line.remove_prefix(1);
  while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.remove_suffix(1);
  if (line.empty() || line.front() == '-') return std::nullopt;
  size_t i = 0;
  while (i < line.size() && (std::isalnum(static_cast<unsigned char>(line[i])) || line[i] == '-' ||
                             line[i] == '_' || line[i] == '.'))
    ++i;
  std::string name = normalize_library(line.substr(0, i));
  if (!is_known_library(name)) return std::nullopt;
  std::string_view rest = line.substr(i);
  if (!rest.empty() && rest.front() == '[') {
    auto close = rest.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    rest = rest.substr(close + 1);
  }
  while (!rest.empty() && std::isspace(static_cast<unsigned char>(rest.front()))) rest.remove_prefix(1);
  if (rest.empty() || rest.front() == '@') return std::nullopt;  // unpinned, or a URL
  if (rest.front() == '(' && rest.back() == ')') rest = rest.substr(1, rest.size() - 2);
  auto r = VersionRange::parse_spec(rest);
  if (!r) return std::nullopt;
  return std::make_pair(name, *r);
}

namespace {

void add_pin(VersionMap& m, const std::string& lib, const VersionRange& r, Location loc,
             std::string source) {
  if (m.count(lib)) return;  // the first found in a folder wins (lock files are read first)
  m[lib] = VersionInfo{r, std::move(loc), std::move(source)};
}

void read_requirements(const std::string& path, const std::string& display, VersionMap& m) {
  std::ifstream in(path);
  std::string line;
  uint32_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (auto req = parse_requirement(line))
      add_pin(m, req->first, req->second, Location{display, {{n, 1}, {}}}, display);
  }
}

void read_lock(const std::string& path, const std::string& display, VersionMap& m) {
  // uv.lock and poetry.lock: [[package]] name = "...", version = "..."
  try {
    toml::table t = toml::parse_file(path);
    const toml::array* pk = t["package"].as_array();
    if (!pk) return;
    for (const auto& el : *pk) {
      const toml::table* p = el.as_table();
      if (!p) continue;
      auto name = (*p)["name"].value<std::string>();
      auto ver = (*p)["version"].value<std::string>();
      if (!name || !ver) continue;
      std::string lib = normalize_library(*name);
      if (!is_known_library(lib)) continue;
      auto v = Version::parse(*ver);
      if (!v) continue;
      VersionRange r;
      r.lo = Bound{*v, true};
      r.hi = Bound{*v, true};
      add_pin(m, lib, r, loc_of(display, el), display);
    }
  } catch (const toml::parse_error&) {
    // A broken lock file pins nothing; the config is still checked.
  }
}

void read_pyproject(const std::string& path, const std::string& display, VersionMap& m) {
  try {
    toml::table t = toml::parse_file(path);
    if (const toml::array* deps = t["project"]["dependencies"].as_array()) {
      for (const auto& el : *deps)
        if (auto s = el.value<std::string>())
          if (auto req = parse_requirement(*s)) add_pin(m, req->first, req->second, loc_of(display, el), display);
    }
    if (const toml::table* poetry = t["tool"]["poetry"]["dependencies"].as_table()) {
      for (const auto& [k, v] : *poetry) {
        std::string lib = normalize_library(k.str());
        if (!is_known_library(lib)) continue;
        std::optional<std::string> spec = v.value<std::string>();
        if (!spec)
          if (const toml::table* vt = v.as_table()) spec = (*vt)["version"].value<std::string>();
        if (!spec) continue;
        std::string s = *spec;
        if (!s.empty() && (s[0] == '^' || s[0] == '~')) {
          // poetry caret/tilde: treat as a lower bound (the upper is not a gate here)
          s = ">=" + s.substr(s[1] == '=' ? 2 : 1);
        } else if (!s.empty() && std::isdigit(static_cast<unsigned char>(s[0]))) {
          s = "==" + s;
        }
        if (auto r = VersionRange::parse_spec(s)) add_pin(m, lib, *r, loc_of(display, v), display);
      }
    }
  } catch (const toml::parse_error&) {
  }
}

}  // namespace

const VersionMap& PinFinder::pins_in_dir(const std::string& dir) {
  auto it = cache_.find(dir);
  if (it != cache_.end()) return it->second;
  VersionMap m;
  for (const char* lock : {"uv.lock", "poetry.lock"}) {
    std::string p = join_path(dir, lock);
    if (file_exists(p)) read_lock(p, relative_to_cwd(p), m);
  }
  // requirements*.txt, in name order
  std::vector<std::string> reqs;
  if (auto* d = ::opendir(dir.c_str())) {
    while (auto* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n.rfind("requirements", 0) == 0 && n.size() > 4 && n.substr(n.size() - 4) == ".txt")
        reqs.push_back(n);
    }
    ::closedir(d);
  }
  std::sort(reqs.begin(), reqs.end());
  for (const auto& r : reqs) read_requirements(join_path(dir, r), relative_to_cwd(join_path(dir, r)), m);
  std::string py = join_path(dir, "pyproject.toml");
  if (file_exists(py)) read_pyproject(py, relative_to_cwd(py), m);
  return cache_.emplace(dir, std::move(m)).first->second;
}

VersionMap PinFinder::pins_for(const std::string& config_path) {
  VersionMap out;
  std::string ad = absolute(parent_dir(config_path));
  std::string root = repo_root(ad);
  for (int i = 0; i < 64; ++i) {
    for (const auto& [lib, info] : pins_in_dir(ad))
      if (!out.count(lib)) out[lib] = info;
    if (root.empty() || ad == root || ad == "/") break;
    ad = parent_dir(ad);
  }
  return out;
}

}  // namespace gcheck
