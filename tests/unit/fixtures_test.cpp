// The annotated fixture runner. Every file under tests/fixtures is linted on its own, the way a
// user lints it, and its findings are compared with its expectations:
//
//   # gcheck-args: --assume deepspeed=0.18.0 --launcher zero3.yaml
//   # gcheck-expect: GC302                 a GC302 finding on the next line that is not
//                                          blank or another annotation
//   # gcheck-expect: GC302 warning if deepspeed < 0.19.3   ... with this severity and condition
//   # gcheck-expect: GC105 warning always    ... with this severity and no condition
//   # gcheck-ok: GC302                     no GC302 finding on that line
//
// JSON cannot hold comments: `file.json.expect` beside it holds the same lines without the
// `# gcheck-` prefix, plus `expect CODE LINE` / `ok CODE LINE`. A sidecar may name findings in
// other files: `expect GC305 ds.json:4`. Only the codes a fixture's folder names (or its
// expectations name) are checked, and every such finding must be expected.
#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include <doctest/doctest.h>

#include "analyzer/project.h"
#include "cli/engine.h"

namespace {

using namespace gcheck;

struct Expectation {
  bool ok = false;  // gcheck-ok
  std::string code;
  std::string file;
  uint32_t line = 0;
  std::string severity;   // optional
  std::string condition;  // optional
  bool unconditional = false;  // "always": holds on every version path
  std::string where;      // for messages
};

void list_files(const std::string& dir, std::vector<std::string>& out) {
  DIR* d = opendir(dir.c_str());
  if (!d) return;
  std::vector<std::string> names;
  while (auto* e = readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  for (const auto& n : names) {
    std::string p = dir + "/" + n;
    if (is_dir(p)) list_files(p, out);
    else out.push_back(p);
  }
}

std::vector<std::string> split_ws(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  std::string w;
  while (in >> w) out.push_back(w);
  return out;
}

// Parses "CODE [severity] [if condition...]".
Expectation parse_expect(const std::string& body, bool ok) {
  Expectation e;
  e.ok = ok;
  auto words = split_ws(body);
  if (words.empty()) return e;
  e.code = words[0];
  size_t i = 1;
  if (i < words.size() && (words[i] == "error" || words[i] == "warning" || words[i] == "info"))
    e.severity = words[i++];
  if (i < words.size() && words[i] == "always") {
    e.unconditional = true;
    ++i;
  }
  if (i < words.size() && words[i] == "if") {
    std::string c;
    for (++i; i < words.size(); ++i) c += (c.empty() ? "" : " ") + words[i];
    e.condition = c;
  }
  return e;
}

struct Fixture {
  std::string path;
  std::vector<std::string> args;
  std::vector<Expectation> expects;
  bool annotated = false;
};

Fixture read_fixture(const std::string& path) {
  Fixture fx;
  fx.path = path;
  std::ifstream in(path);
  std::vector<std::string> lines;
  std::string l;
  while (std::getline(in, l)) lines.push_back(l);
  bool json = path.size() > 5 && path.substr(path.size() - 5) == ".json";
  bool cpp = path.size() > 4 && path.substr(path.size() - 4) == ".cpp";
  const std::string marker = cpp ? "// gcheck-" : "# gcheck-";
  if (!json) {
    for (size_t i = 0; i < lines.size(); ++i) {
      std::string s = lines[i];
      auto h = s.find(marker);
      if (h == std::string::npos) continue;
      std::string rest = s.substr(h + marker.size());
      bool is_args = rest.rfind("args:", 0) == 0;
      bool is_expect = rest.rfind("expect:", 0) == 0;
      bool is_ok = rest.rfind("ok:", 0) == 0;
      if (is_args) {
        auto a = split_ws(rest.substr(5));
        fx.args.insert(fx.args.end(), a.begin(), a.end());
        fx.annotated = true;
        continue;
      }
      if (!is_expect && !is_ok) continue;
      fx.annotated = true;
      Expectation e = parse_expect(rest.substr(is_ok ? 3 : 7), is_ok);
      // the next line that is neither blank nor another gcheck- annotation
      size_t j = i + 1;
      while (j < lines.size()) {
        const std::string& t = lines[j];
        auto first = t.find_first_not_of(" \t");
        if (first != std::string::npos && t.compare(first, marker.size(), marker) != 0) break;
        ++j;
      }
      e.file = path;
      e.line = static_cast<uint32_t>(j + 1);
      e.where = path + ":" + std::to_string(i + 1);
      fx.expects.push_back(e);
    }
  }
  std::ifstream side(path + ".expect");
  if (side) {
    fx.annotated = true;
    std::string s;
    int n = 0;
    while (std::getline(side, s)) {
      ++n;
      auto w = split_ws(s);
      if (w.empty() || w[0][0] == '#') continue;
      if (w[0] == "args:") {
        fx.args.insert(fx.args.end(), w.begin() + 1, w.end());
        continue;
      }
      if ((w[0] == "expect" || w[0] == "ok") && w.size() >= 3) {
        std::string body = w[1];
        for (size_t k = 3; k < w.size(); ++k) body += " " + w[k];
        Expectation e = parse_expect(body, w[0] == "ok");
        std::string loc = w[2];
        auto colon = loc.rfind(':');
        if (colon == std::string::npos) {
          e.file = path;
          e.line = static_cast<uint32_t>(std::stoul(loc));
        } else {
          e.file = parent_dir(path) + "/" + loc.substr(0, colon);
          e.line = static_cast<uint32_t>(std::stoul(loc.substr(colon + 1)));
        }
        e.where = path + ".expect:" + std::to_string(n);
        fx.expects.push_back(e);
      }
    }
  }
  return fx;
}

std::string folder_code(const std::string& path) {
  // tests/fixtures/GC101/... -> GC101
  auto p = path.find("/GC");
  if (p == std::string::npos) return "";
  return path.substr(p + 1, 5);
}

LintOptions options_for(const Fixture& fx, std::set<std::string>& codes) {
  LintOptions o;
  o.paths = {fx.path};
  std::string dir = parent_dir(fx.path);
#ifdef GCHECK_LIBTORCH_API_INCLUDE
  if (fx.path.size() > 4 && fx.path.substr(fx.path.size() - 4) == ".cpp")
    o.cxx_args = std::vector<std::string>{"-std=c++17", "-I" GCHECK_LIBTORCH_API_INCLUDE};
#endif
  for (size_t i = 0; i < fx.args.size(); ++i) {
    const std::string& a = fx.args[i];
    auto next = [&]() { return i + 1 < fx.args.size() ? fx.args[++i] : std::string(); };
    if (a == "--assume") {
      std::string v = next();
      auto eq = v.find('=');
      o.assume.emplace_back(v.substr(0, eq), v.substr(eq + 1));
    } else if (a == "--launcher") {
      o.launcher = dir + "/" + next();
    } else if (a == "--project-config") {
      o.project_config = dir + "/" + next();
    } else if (a == "--select") {
      std::stringstream ss(next());
      std::string c;
      while (std::getline(ss, c, ',')) codes.insert(c);
    } else if (a == "--pair") {
      std::string v = next();
      auto eq = v.find('=');
      o.pairs.emplace_back(dir + "/" + v.substr(0, eq), dir + "/" + v.substr(eq + 1));
    } else if (a == "--format-of") {
      std::string v = next();
      auto eq = v.rfind('=');
      o.format_of.emplace_back(dir + "/" + v.substr(0, eq), v.substr(eq + 1));
    } else {
      FAIL_CHECK(fx.path << ": unknown gcheck-args option " << a);
    }
  }
  return o;
}

}  // namespace

TEST_CASE("annotated fixtures") {
  REQUIRE(chdir(GCHECK_SOURCE_DIR) == 0);
  std::vector<std::string> files;
  list_files("tests/fixtures", files);
  int checked = 0;
  [[maybe_unused]] int skipped_py = 0, skipped_cpp = 0;
  for (const auto& path : files) {
    auto ends = [&](std::string_view suf) {
      return path.size() >= suf.size() && path.compare(path.size() - suf.size(), suf.size(), suf) == 0;
    };
    bool cfg = ends(".yaml") || ends(".yml") || ends(".json");
#if GCHECK_HAVE_PYTHON
    cfg |= ends(".py");
#else
    if (ends(".py")) ++skipped_py;
#endif
#if defined(GCHECK_CXX_BIN) && defined(GCHECK_LIBTORCH_API_INCLUDE)
    cfg |= ends(".cpp");
#else
    if (ends(".cpp")) ++skipped_cpp;
#endif
    if (!cfg) continue;
    Fixture fx = read_fixture(path);
    if (!fx.annotated) continue;  // a helper file another fixture links to
    std::set<std::string> codes;
    if (!folder_code(path).empty()) codes.insert(folder_code(path));
    for (const auto& e : fx.expects) codes.insert(e.code);
    LintOptions o = options_for(fx, codes);
    LintResult r = run_lint(o);
    CAPTURE(path);
    for (const auto& err : r.errors) FAIL_CHECK(path << ": lint error " << err.loc.file << ":" << err.loc.span.begin.line << " " << err.message);
    std::vector<bool> used(r.findings.size(), false);
    for (const auto& e : fx.expects) {
      bool found = false;
      for (size_t i = 0; i < r.findings.size(); ++i) {
        const Finding& f = r.findings[i];
        if (f.rule->code != e.code || f.loc.file != e.file || f.loc.span.begin.line != e.line) continue;
        found = true;
        used[i] = true;
        if (!e.ok) {
          if (!e.severity.empty())
            CHECK_MESSAGE(severity_name(f.severity) == e.severity,
                          e.where << ": expected severity " << e.severity << ", got " << severity_name(f.severity) << ": " << f.message);
          if (e.unconditional)
            CHECK_MESSAGE(f.condition.empty(),
                          e.where << ": expected no condition, got '" << f.condition << "'");
          if (!e.condition.empty())
            CHECK_MESSAGE(f.condition == e.condition,
                          e.where << ": expected condition '" << e.condition << "', got '" << f.condition << "'");
        }
      }
      if (e.ok) CHECK_MESSAGE(!found, e.where << ": " << e.code << " fired on line " << e.line << " but should not");
      else CHECK_MESSAGE(found, e.where << ": expected " << e.code << " at " << e.file << ":" << e.line);
    }
    for (size_t i = 0; i < r.findings.size(); ++i) {
      const Finding& f = r.findings[i];
      if (used[i] || !codes.count(std::string(f.rule->code))) continue;
      FAIL_CHECK(path << ": unexpected " << f.rule->code << " at " << f.loc.file << ":"
                      << f.loc.span.begin.line << ": " << f.message);
    }
    ++checked;
  }
  CHECK(checked > 40);
  MESSAGE("fixtures checked: " << checked);
  if (skipped_py) MESSAGE("skipped " << skipped_py << " Python fixtures: built without the Python front end");
  if (skipped_cpp) MESSAGE("skipped " << skipped_cpp << " C++ fixtures: built without gcheck-cxx or LibTorch headers");
}
