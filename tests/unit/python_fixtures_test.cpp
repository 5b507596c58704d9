// The Python fixtures (tests/fixtures/python) carry inline expectations, `# gcheck-expect: CODE`
// on the line before the offending line, for the rules that arrive in phase 2 of issue 4. Until
// then this test checks that the front end extracts, on each expected line, the facts that rule
// reads, and (for GC105 and GC102) that no other line has them.
#include <dirent.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "tests/unit/python_test_util.h"

using namespace gcheck;

namespace {

const std::string kDir = std::string(GCHECK_SOURCE_DIR) + "/tests/fixtures/python";

std::vector<std::string> fixtures() {
  std::vector<std::string> out;
  DIR* d = ::opendir(kDir.c_str());
  REQUIRE(d != nullptr);
  while (auto* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n.size() > 3 && n.substr(n.size() - 3) == ".py") out.push_back(n);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

// line -> codes expected on it (the first line after the comment that is not blank or a comment).
std::map<uint32_t, std::set<std::string>> expectations(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  std::map<uint32_t, std::set<std::string>> out;
  for (size_t i = 0; i < lines.size(); ++i) {
    size_t at = lines[i].find("# gcheck-expect:");
    if (at == std::string::npos) continue;
    size_t j = i + 1;
    auto skip = [&](const std::string& l) {
      size_t b = l.find_first_not_of(" \t");
      return b == std::string::npos || l[b] == '#';
    };
    while (j < lines.size() && skip(lines[j])) ++j;
    REQUIRE(j < lines.size());
    std::istringstream codes(lines[i].substr(at + 16));
    for (std::string c; codes >> c;) {
      if (c.back() == ',') c.pop_back();
      out[static_cast<uint32_t>(j + 1)].insert(c);
    }
  }
  return out;
}

uint32_t line(const Location& l) {
  return l.span.begin.line;
}

// The lines where the facts a rule reads are present.
std::set<uint32_t> lines_with(const Facts& f, const std::string& code) {
  std::set<uint32_t> out;
  const CodeFacts& c = *f.code;
  if (code == "GC105") {
    for (const auto& k : c.checkpoint_calls)
      if (!k.use_reentrant_given) out.insert(line(k.call.loc));
    for (const auto& g : c.gc_enables)
      if (!g.has_kwargs || g.empty_kwargs) out.insert(line(g.call.loc));
    if (f.gc_kwargs && !f.gc_kwargs->value) out.insert(line(f.gc_kwargs->loc));
  } else if (code == "GC102") {
    for (const auto& k : c.checkpoint_calls)
      if (k.keyword_tensors && k.use_reentrant != false) out.insert(line(k.call.loc));
  } else if (code == "GC103") {
    bool reentrant = false;
    for (const auto& k : c.checkpoint_calls) reentrant |= k.use_reentrant != false;
    if (reentrant)
      for (const auto& a : c.autograd_grad) out.insert(line(a.loc));
  } else if (code == "GC204") {
    for (const auto& g : c.gc_enables)
      for (const auto& w : c.peft_wraps)
        if (w.scope == g.call.scope && w.order < g.call.order && g.use_reentrant != false)
          out.insert(line(g.call.loc));
  }
  return out;
}

}  // namespace

TEST_CASE("python fixtures: every expectation has its facts, and (GC102, GC105) only there") {
  auto files = fixtures();
  REQUIRE(files.size() >= 6);
  for (const auto& name : files) {
    CAPTURE(name);
    std::ifstream in(kDir + "/" + name);
    std::stringstream ss;
    ss << in.rdbuf();
    auto r = load_python(kDir + "/" + name, name, InputLimits{});
    REQUIRE(r.ok());
    const Facts& f = *r.value();
    REQUIRE(f.format == Format::Python);
    auto exp = expectations(ss.str());
    std::map<std::string, std::set<uint32_t>> expected;
    for (const auto& [l, codes] : exp)
      for (const auto& c : codes) expected[c].insert(l);
    for (const auto& [code, want] : expected) {
      CAPTURE(code);
      std::set<uint32_t> have = lines_with(f, code);
      for (uint32_t l : want) {
        CAPTURE(l);
        CHECK(have.count(l) == 1);
      }
    }
    for (const char* strict : {"GC105", "GC102"}) {
      CAPTURE(strict);
      for (uint32_t l : lines_with(f, strict)) {
        CAPTURE(l);
        CHECK(expected[strict].count(l) == 1);
      }
    }
  }
}

TEST_CASE("python fixtures: the TorchFix TOR003 cases") {
  auto r = load_python(kDir + "/tor003_checkpoint_use_reentrant.py", "tor003.py", InputLimits{});
  REQUIRE(r.ok());
  const auto& calls = r.value()->code->checkpoint_calls;
  REQUIRE(calls.size() == 10);
  size_t implicit = 0, sequential = 0;
  for (const auto& c : calls) {
    implicit += !c.use_reentrant_given;
    sequential += c.api == CheckpointCallFact::Api::CheckpointSequential;
  }
  CHECK(implicit == 6);
  CHECK(sequential == 2);
  auto n = load_python(kDir + "/tor003_not_torch.py", "n.py", InputLimits{});
  REQUIRE(n.ok());
  CHECK(n.value()->code->checkpoint_calls.empty());
}
