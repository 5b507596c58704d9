// The C++ front end: the include scan, the gcheck-cxx report and its JSON form, and (when
// gcheck-cxx and Debian's LibTorch headers are built in) the facts gcheck-cxx extracts from the
// fixtures in tests/fixtures/cpp, with their locations.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "analyzer/cxx/client.h"
#include "analyzer/cxx/include_scan.h"
#include "analyzer/cxx/report.h"

using namespace gcheck;
using namespace gcheck::cxx;

namespace {

// A temporary folder, removed with its files.
struct TempDir {
  std::string path;
  std::vector<std::string> files;
  TempDir() {
    char tmpl[] = "/tmp/gcheck-cxx-test-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() {
    for (auto it = files.rbegin(); it != files.rend(); ++it) std::remove(it->c_str());
    ::rmdir(path.c_str());
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string write(const std::string& rel, const std::string& text) {
    std::string p = path + "/" + rel;
    auto slash = rel.rfind('/');
    if (slash != std::string::npos) {
      std::string dir = path + "/" + rel.substr(0, slash);
      if (::mkdir(dir.c_str(), 0700) == 0) files.push_back(dir);
    }
    std::ofstream(p, std::ios::binary) << text;
    files.push_back(p);
    return p;
  }
};

}  // namespace

// ---- include scan -----------------------------------------------------------------------------

TEST_CASE("cxx include scan: directives, comments, strings, computed includes") {
  auto d = find_includes(
      "#include <vector>\n"
      "  #  include \"model.h\" // trailing\n"
      "/* #include <torch/torch.h> */\n"
      "const char* s = \"/* not a comment\";\n"
      "#include <ATen/ATen.h>\n"
      "// #include <c10/core/Device.h>\n"
      "#define HDR <x.h>\n"
      "#include HDR\n"
      "#if 0\n#include_next <torch/extension.h>\n#endif\n"
      "auto r = R\"x(\n#include <torch/script.h>\n)x\";\n");
  REQUIRE(d.size() == 5);
  CHECK(d[0].name == "vector");
  CHECK(d[0].angled);
  CHECK(d[0].line == 1);
  CHECK(d[1].name == "model.h");
  CHECK_FALSE(d[1].angled);
  CHECK(d[1].line == 2);
  CHECK(d[2].name == "ATen/ATen.h");
  CHECK(d[2].line == 5);
  CHECK(d[3].computed);
  CHECK(d[3].name == "HDR");
  CHECK(d[3].line == 8);
  CHECK(d[4].name == "torch/extension.h");  // conditional compilation is ignored (safe side)
  CHECK(d[4].line == 10);
  CHECK(is_libtorch_header_name("torch/torch.h"));
  CHECK(is_libtorch_header_name("c10/core/Device.h"));
  CHECK_FALSE(is_libtorch_header_name("torchvision/vision.h"));
  CHECK_FALSE(is_libtorch_header_name("mytorch/x.h"));
}

TEST_CASE("cxx include scan: follows project headers, not the compiler's own") {
  TempDir t;
  t.write("inc/model.h", "#pragma once\n#include \"layers.h\"\n");
  t.write("inc/layers.h", "#pragma once\n#include <vector>\n#include <torch/nn.h>\n");
  t.write("inc/plain.h", "#pragma once\n#include <string>\n");
  std::string a = t.write("a.cpp", "#include <model.h>\nint main() {}\n");
  std::string b = t.write("b.cpp", "#include \"inc/plain.h\"\n#include <cstdio>\nint main() {}\n");
  std::string c = t.write("c.cpp", "#include <model.h>\nint main() {}\n");

  auto ra = scan_includes(a, {"clang++", "-Iinc", "-c", "a.cpp"}, t.path);
  CHECK(ra.may_include_libtorch);
  CHECK(ra.reason.find("<torch/nn.h>") != std::string::npos);
  CHECK(ra.reason.find("layers.h:3") != std::string::npos);

  auto rb = scan_includes(b, {"clang++", "-c", "b.cpp"}, t.path);
  CHECK_FALSE(rb.may_include_libtorch);
  CHECK(rb.files_read == 2);
  CHECK(rb.reason == "includes no LibTorch header (2 files scanned)");

  // Without -Iinc, <model.h> is not a project header: not read, the unit is skipped.
  auto rc = scan_includes(c, {"clang++", "-c", "c.cpp"}, t.path);
  CHECK_FALSE(rc.may_include_libtorch);
  // -isystem folders named on the command line are read too; -include counts.
  CHECK(scan_includes(c, {"clang++", "-isystem", t.path + "/inc", "c.cpp"}, t.path)
            .may_include_libtorch);
  CHECK(scan_includes(b, {"clang++", "-include", "torch/torch.h", "b.cpp"}, t.path)
            .may_include_libtorch);
  CHECK(scan_includes(b, {"clang++", "-include-pch", "all.pch", "b.cpp"}, t.path)
            .may_include_libtorch);
  // An unreadable main file may include anything.
  CHECK(scan_includes(t.path + "/missing.cpp", {"clang++"}, t.path).may_include_libtorch);
}

// ---- the report -------------------------------------------------------------------------------

TEST_CASE("cxx report: JSON round trip keeps every fact and location") {
  Report r;
  r.units.reserve(2);
  UnitReport& u = r.units.emplace_back();
  u.file = "/src/train.cpp";
  u.analyzed = true;
  u.reason = "includes <torch/torch.h> (train.cpp:1)";
  u.diagnostics.push_back({Location{"/src/train.cpp", {{3, 4}, {}}}, "bad \xff byte"});
  u.error_count = 2;
  u.parse_ms = 12.5;
  RecomputeFunctionFact f;
  f.loc = {"/src/ckpt.h", {{10, 8}, {10, 23}}};
  f.name = "Ckpt";
  f.forward_no_grad = f.backward_recomputes = f.dropout_inside = f.nested = true;
  f.dropout_loc = {"/src/block.h", {{5, 3}, {5, 9}}};
  f.nested_loc = {"/src/train.cpp", {{40, 5}, {40, 30}}};
  u.code.recompute_functions.push_back(f);
  RecomputeCallFact c;
  c.call = {{"/src/train.cpp", {{20, 9}, {20, 30}}}, "Ckpt::apply", 3, "", {}, "", ""};
  c.function = "Ckpt";
  c.inputs_frozen = true;
  c.frozen_source_loc = {"/src/train.cpp", {{15, 3}, {15, 20}}};
  u.code.recompute_calls.push_back(c);
  u.code.autograd_grad.push_back(
      {{"/src/train.cpp", {{30, 1}, {30, 5}}}, "torch::autograd::grad", 4, "", {}, "", ""});
  u.code.nonscalar_backward.push_back(
      {{"/src/train.cpp", {{31, 1}, {31, 5}}}, "at::Tensor::backward", 5, "", {}, "", ""});
  u.code.freezes.push_back(
      {{"/src/train.cpp", {{15, 3}, {15, 20}}}, "model->embed", true, false, 2, ""});
  r.units.push_back(
      {"/src/other.cpp", false, "includes no LibTorch header (1 file scanned)", {}, 0, 0, 0, {}});

  auto back = report_from_json(report_to_json(r));
  REQUIRE(back.ok());
  REQUIRE(back.value().units.size() == 2);
  const UnitReport& b = back.value().units[0];
  CHECK(b.file == u.file);
  CHECK(b.analyzed);
  CHECK(b.error_count == 2);
  CHECK(b.diagnostics[0].message == "bad \xef\xbf\xbd byte");  // invalid UTF-8 replaced, not thrown
  REQUIRE(b.code.recompute_functions.size() == 1);
  const auto& bf = b.code.recompute_functions[0];
  CHECK(bf.name == "Ckpt");
  CHECK(bf.loc.file == "/src/ckpt.h");
  CHECK(bf.loc.span.begin == Pos{10, 8});
  CHECK(bf.loc.span.end == Pos{10, 23});
  CHECK(bf.dropout_inside);
  CHECK_FALSE(bf.saves_rng);
  CHECK(bf.dropout_loc.span.begin == Pos{5, 3});
  CHECK_FALSE(bf.mutation_loc.known());
  CHECK(bf.nested_loc.span.begin == Pos{40, 5});
  REQUIRE(b.code.recompute_calls.size() == 1);
  CHECK(b.code.recompute_calls[0].call.order == 3);
  CHECK(b.code.recompute_calls[0].frozen_source_loc.span.begin == Pos{15, 3});
  CHECK(b.code.autograd_grad[0].callee == "torch::autograd::grad");
  CHECK(b.code.nonscalar_backward[0].order == 5);
  CHECK(b.code.freezes[0].target == "model->embed");
  CHECK(b.code.freezes[0].embeddings);
  CHECK_FALSE(back.value().units[1].analyzed);
}

TEST_CASE("cxx report: malformed output is an error, never a partial report") {
  CHECK_FALSE(report_from_json("").ok());
  CHECK_FALSE(report_from_json("not json").ok());
  CHECK_FALSE(report_from_json("{\"units\": []}").ok());
  auto wrong_version = report_from_json("{\"gcheck_cxx\": 99, \"units\": []}");
  REQUIRE_FALSE(wrong_version.ok());
  CHECK(wrong_version.error().message.find("version 99") != std::string::npos);
  auto missing = report_from_json(
      "{\"gcheck_cxx\": 1, \"units\": [{\"file\": \"a.cpp\", \"analyzed\": true}]}");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message.find("units[0]: missing 'reason'") != std::string::npos);
  CHECK(report_from_json("{\"gcheck_cxx\": 1, \"units\": []}").ok());
}

TEST_CASE("cxx client: a missing gcheck-cxx says how to get it") {
  CxxRequest req;
  req.files = {"a.cpp"};
  req.binary = "/nonexistent/gcheck-cxx";
  auto r = run_cxx_frontend(req);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("libclang-cpp14-dev") != std::string::npos);
}

#ifdef GCHECK_CXX_BIN

// ---- gcheck-cxx on the fixtures
// ------------------------------------------------------------------

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const std::string kFixtures = std::string(GCHECK_SOURCE_DIR) + "/tests/fixtures/cpp/";
const std::vector<std::string> kFixtureFiles = {"frozen_embedding_dropout.cpp",
                                                "saves_activations.cpp",
                                                "rng_restored_inputs_require_grad.cpp",
                                                "no_dropout.cpp",
                                                "grad_and_nested.cpp",
                                                "stateful_recompute.cpp",
                                                "no_libtorch.cpp"};

CxxRequest fixture_request(const std::vector<std::string>& files) {
  CxxRequest req;
  for (const auto& f : files) req.files.push_back(kFixtures + f);
  req.fixed_args = true;
  req.extra_args = {"-std=c++17", "-I" GCHECK_LIBTORCH_API_INCLUDE};
  req.binary = GCHECK_CXX_BIN;
  return req;
}

// Parsing LibTorch takes seconds per unit: one run of gcheck-cxx serves every test.
const Report& fixtures() {
  static const Report report = [] {
    auto r = run_cxx_frontend(fixture_request(kFixtureFiles));
    if (!r.ok()) FAIL("gcheck-cxx failed: " << r.error().message);
    return r.value();
  }();
  return report;
}

const UnitReport& unit(const std::string& name) {
  for (const auto& u : fixtures().units)
    if (u.file == kFixtures + name) return u;
  FAIL("no unit for " << name);
  static UnitReport none;
  return none;
}

// The position of the n-th occurrence of `needle` in a fixture.
Pos pos_of(const std::string& name, const std::string& needle, int nth = 0) {
  std::string text = read_text(kFixtures + name);
  size_t at = std::string::npos, from = 0;
  for (int i = 0; i <= nth; ++i) {
    at = text.find(needle, from);
    REQUIRE_MESSAGE(at != std::string::npos, "'" << needle << "' not in " << name);
    from = at + 1;
  }
  Pos p{1, 1};
  for (size_t i = 0; i < at; ++i) {
    if (text[i] == '\n') {
      ++p.line;
      p.column = 1;
    } else {
      ++p.column;
    }
  }
  return p;
}

void check_at(const Location& l, const std::string& name, const std::string& needle, int nth = 0) {
  CHECK_MESSAGE(l.file == kFixtures + name, l.file);
  CHECK_MESSAGE(
      l.span.begin == pos_of(name, needle, nth),
      "at " << l.span.begin.line << ":" << l.span.begin.column << ", expected '" << needle << "'");
}

const RecomputeFunctionFact& fn(const UnitReport& u, const std::string& name) {
  for (const auto& f : u.code.recompute_functions)
    if (f.name == name) return f;
  FAIL("no recompute function " << name);
  static RecomputeFunctionFact none;
  return none;
}

void compiled_cleanly(const UnitReport& u) {
  CHECK(u.analyzed);
  CHECK_MESSAGE(u.error_count == 0,
                (u.diagnostics.empty() ? std::string() : u.diagnostics[0].message));
}

}  // namespace

TEST_CASE("cxx fixture: hand-rolled reentrant checkpoint fed by a frozen embedding, with dropout") {
  const std::string f = "frozen_embedding_dropout.cpp";
  const UnitReport& u = unit(f);
  compiled_cleanly(u);
  CHECK(u.reason.find("includes <torch/torch.h>") != std::string::npos);
  REQUIRE(u.code.recompute_functions.size() == 1);
  const auto& ck = fn(u, "CheckpointBlock");
  check_at(ck.loc, f, "CheckpointBlock : public");
  CHECK(ck.loc.span.end == Pos{ck.loc.span.begin.line, ck.loc.span.begin.column + 15});
  CHECK(ck.forward_no_grad);
  CHECK(ck.backward_recomputes);
  CHECK_FALSE(ck.saves_rng);
  CHECK(ck.dropout_inside);
  check_at(ck.dropout_loc, f, "drop(torch::gelu");
  CHECK_FALSE(ck.mutates_state);
  CHECK_FALSE(ck.nested);

  REQUIRE(u.code.recompute_calls.size() == 1);
  const auto& call = u.code.recompute_calls[0];
  check_at(call.call.loc, f, "CheckpointBlock::apply(h");
  CHECK(call.call.callee == "CheckpointBlock::apply");
  CHECK(call.function == "CheckpointBlock");
  CHECK(call.inputs_frozen);
  check_at(call.frozen_source_loc, f, "p.requires_grad_(false)");

  REQUIRE(u.code.freezes.size() == 1);
  CHECK(u.code.freezes[0].target == "model->embed");
  CHECK(u.code.freezes[0].embeddings);
  check_at(u.code.freezes[0].loc, f, "p.requires_grad_(false)");
  CHECK(u.code.freezes[0].order > call.call.order);  // source order: main comes after the model
  CHECK(u.code.autograd_grad.empty());
  CHECK(u.code.nonscalar_backward.empty());
}

TEST_CASE("cxx fixture: Functions that save activations are not checkpoints") {
  const std::string f = "saves_activations.cpp";
  const UnitReport& u = unit(f);
  compiled_cleanly(u);
  CHECK(u.code.recompute_functions.empty());  // LinearFunction, and ScaledTanh (no reentry)
  CHECK(u.code.recompute_calls.empty());
  REQUIRE(u.code.autograd_grad.size() == 1);  // a fact of the program; no checkpoint to clash with
  check_at(u.code.autograd_grad[0].loc, f, "torch::autograd::grad(");
  REQUIRE(u.code.freezes.size() == 1);
  CHECK(u.code.freezes[0].target == "embed");
  CHECK(u.code.freezes[0].embeddings);
}

TEST_CASE("cxx fixture: RNG saved and restored, inputs that require grad") {
  const std::string f = "rng_restored_inputs_require_grad.cpp";
  const UnitReport& u = unit(f);
  compiled_cleanly(u);
  REQUIRE(u.code.recompute_functions.size() == 2);
  for (const char* name : {"CheckpointBlock", "GuardedCheckpoint"}) {
    INFO(name);
    const auto& ck = fn(u, name);
    CHECK(ck.backward_recomputes);
    CHECK(ck.saves_rng);  // set_state before the recompute, directly or in the guard's constructor
    CHECK(ck.dropout_inside);
    check_at(ck.dropout_loc, f, "torch::nn::functional::dropout(");
  }
  REQUIRE(u.code.recompute_calls.size() == 3);
  check_at(u.code.recompute_calls[0].call.loc, f, "CheckpointBlock::apply(h");
  check_at(u.code.recompute_calls[1].call.loc, f, "GuardedCheckpoint::apply(h");
  check_at(u.code.recompute_calls[2].call.loc, f, "CheckpointBlock::apply(x");
  for (const auto& c : u.code.recompute_calls) {
    CHECK_FALSE(c.inputs_frozen);
    CHECK_FALSE(c.frozen_source_loc.known());
  }
  REQUIRE(u.code.freezes.size() == 1);  // the head, not what enters the checkpoint
  CHECK(u.code.freezes[0].target == "model->head");
  CHECK_FALSE(u.code.freezes[0].embeddings);
}

TEST_CASE("cxx fixture: no dropout (p = 0, train = false) and no RNG restore") {
  const std::string f = "no_dropout.cpp";
  const UnitReport& u = unit(f);
  compiled_cleanly(u);
  REQUIRE(u.code.recompute_functions.size() == 3);
  const auto& ck = fn(u, "Recompute");
  check_at(ck.loc, f, "Recompute : public");
  CHECK(ck.forward_no_grad);  // implied: Function::apply runs forward without grad
  CHECK(ck.backward_recomputes);
  CHECK_FALSE(ck.saves_rng);
  CHECK_FALSE(ck.dropout_inside);  // Dropout(0.0), p(0.0), train = false
  const auto& gf = fn(u, "GradForward");
  CHECK_FALSE(gf.forward_no_grad);  // AutoGradMode(true) around the computation in forward
  CHECK(gf.backward_recomputes);
  const auto& cb = fn(u, "CallbackCheckpoint");  // a C callback through a function pointer
  check_at(cb.loc, f, "CallbackCheckpoint : public");
  CHECK(cb.forward_no_grad);
  CHECK(cb.backward_recomputes);
  CHECK_FALSE(cb.dropout_inside);  // opaque: nothing to see
  REQUIRE(u.code.recompute_calls.size() == 3);
  check_at(u.code.recompute_calls[0].call.loc, f, "CallbackCheckpoint::apply(x");
  for (const auto& c : u.code.recompute_calls) CHECK_FALSE(c.inputs_frozen);
  CHECK(u.code.nonscalar_backward.empty());  // y.backward(grads[0]) is the implementation's
  CHECK(u.code.autograd_grad.empty());       // so is GradForward's grad()
}

TEST_CASE("cxx fixture: autograd::grad, backward(inputs) and a nested checkpoint") {
  const std::string f = "grad_and_nested.cpp";
  const UnitReport& u = unit(f);
  compiled_cleanly(u);
  REQUIRE(u.code.recompute_functions.size() == 4);
  const auto& inner = fn(u, "InnerCheckpoint");
  const auto& outer = fn(u, "OuterCheckpoint");
  const auto& leaf = fn(u, "LeafCheckpoint");
  CHECK(leaf.nested);  // applied directly in TwiceCheckpoint's forward (and backward)
  check_at(leaf.nested_loc, f, "LeafCheckpoint::apply(x, m);");
  CHECK_FALSE(fn(u, "TwiceCheckpoint").nested);
  CHECK(inner.backward_recomputes);  // through the run() template helper, grad() re-entry
  CHECK(inner.nested);
  check_at(inner.nested_loc, f, "InnerCheckpoint::apply(x");
  CHECK_FALSE(outer.nested);
  CHECK_FALSE(outer.dropout_inside);
  REQUIRE(u.code.recompute_calls.size() == 5);  // Inner, Leaf twice, Outer, Twice
  for (const auto& c : u.code.recompute_calls) CHECK_FALSE(c.inputs_frozen);
  // The implementations' own grad()/backward() calls are not the program's.
  REQUIRE(u.code.autograd_grad.size() == 2);
  check_at(u.code.autograd_grad[0].loc, f, "torch::autograd::grad({loss}");
  CHECK(u.code.autograd_grad[0].callee == "torch::autograd::grad");
  check_at(u.code.autograd_grad[1].loc, f, "total.backward");
  CHECK(u.code.autograd_grad[1].callee == "at::Tensor::backward");
  REQUIRE(u.code.nonscalar_backward.size() == 1);
  check_at(u.code.nonscalar_backward[0].loc, f, "score.backward(torch::ones_like");
  CHECK(u.code.autograd_grad[0].order < u.code.autograd_grad[1].order);
}

TEST_CASE("cxx fixture: std::function computation, state mutation, detach and no-grad inputs") {
  const std::string f = "stateful_recompute.cpp";
  const UnitReport& u = unit(f);
  compiled_cleanly(u);
  REQUIRE(u.code.recompute_functions.size() == 2);
  const auto& ck = fn(u, "Checkpoint");
  CHECK(ck.backward_recomputes);
  CHECK(ck.mutates_state);  // found through the lambda handed to apply()
  check_at(ck.mutation_loc, f, "cache.push_back");
  CHECK_FALSE(ck.dropout_inside);
  const auto& typed = fn(u, "TypedCheckpoint");  // a class template: analyzed once
  check_at(typed.loc, f, "TypedCheckpoint : public");
  CHECK(typed.dropout_inside);
  check_at(typed.dropout_loc, f, "drop->forward");
  CHECK_FALSE(typed.saves_rng);  // reseeded only after recomputing
  REQUIRE(u.code.recompute_calls.size() == 6);
  const auto& y1 = u.code.recompute_calls[0];
  const auto& y2 = u.code.recompute_calls[1];
  const auto& y3 = u.code.recompute_calls[2];
  const auto& y4 = u.code.recompute_calls[3];
  const auto& y5 = u.code.recompute_calls[4];
  const auto& probe = u.code.recompute_calls[5];
  check_at(y1.call.loc, f, "Checkpoint::apply(feats");
  CHECK(y1.inputs_frozen);
  check_at(y1.frozen_source_loc, f, "no_grad;");
  check_at(y2.call.loc, f, "Checkpoint::apply(detached");
  CHECK(y2.inputs_frozen);
  check_at(y2.frozen_source_loc, f, "encoder(x).detach()");
  check_at(y3.call.loc, f, "TypedCheckpoint<DropBlockImpl>::apply");
  CHECK(y3.call.callee == "TypedCheckpoint::apply");
  CHECK_FALSE(y3.inputs_frozen);
  check_at(y4.call.loc, f, "Checkpoint::apply(frozen_features");
  CHECK(y4.inputs_frozen);  // through the helper's return, computed under its guard
  check_at(y4.frozen_source_loc, f, "guard;");
  check_at(y5.call.loc, f, "Checkpoint::apply(mixed");
  CHECK_FALSE(y5.inputs_frozen);  // `mixed += encoder(x)` adds a term that requires grad
  check_at(probe.call.loc, f, "Checkpoint::apply(encoder(x)");
  CHECK_FALSE(probe.inputs_frozen);  // under NoGradGuard itself: inference
}

TEST_CASE("cxx fixture: a unit without LibTorch is skipped before parsing") {
  const UnitReport& u = unit("no_libtorch.cpp");
  CHECK_FALSE(u.analyzed);
  CHECK(u.reason == "includes no LibTorch header (2 files scanned)");
  CHECK(u.parse_ms == 0);
  CHECK(u.error_count == 0);
}

// The inline expectations of the fixtures (`// gcheck-expect: GC101` on the line before the
// offending line) against the C++ forms of the rules read from the facts. Phase 2's rules must
// point at the same lines; this keeps the fixtures and the facts honest until then.
TEST_CASE("cxx fixtures: every gcheck-expect line has its fact, and no fact is unexpected") {
  for (const auto& name : kFixtureFiles) {
    const UnitReport& u = unit(name);
    std::set<std::pair<uint32_t, std::string>> expected, found;
    std::istringstream in(read_text(kFixtures + name));
    std::string line;
    for (uint32_t n = 1; std::getline(in, line); ++n) {
      auto at = line.find("// gcheck-expect:");
      if (at == std::string::npos) continue;
      std::istringstream codes(line.substr(at + 17));
      std::string code;
      while (codes >> code) {
        if (code.back() == ',') code.pop_back();
        expected.insert({n + 1, code});
      }
    }
    const CodeFacts& c = u.code;
    auto here = [&](const Location& l) {
      CHECK_MESSAGE(l.file == kFixtures + name, l.file);
      return l.span.begin.line;
    };
    auto no_grad_forward = [&](const std::string& fn) {
      for (const auto& f : c.recompute_functions)
        if (f.name == fn) return f.forward_no_grad;
      return false;
    };
    for (const auto& call : c.recompute_calls)
      if (call.inputs_frozen && no_grad_forward(call.function))
        found.insert({here(call.call.loc), "GC101"});
    if (!c.recompute_functions.empty())
      for (const auto& g : c.autograd_grad) found.insert({here(g.loc), "GC103"});
    for (const auto& f : c.recompute_functions) {
      if (f.dropout_inside && !f.saves_rng) found.insert({here(f.loc), "GC106"});
      if (f.mutates_state) found.insert({here(f.mutation_loc), "GC107"});
      if (f.nested) found.insert({here(f.nested_loc), "GC109"});
    }
    INFO(name);
    CHECK(found == expected);
  }
}

TEST_CASE("cxx client: facts_from_report makes C++ Facts shown relative to the working dir") {
  auto cf = facts_from_report(fixtures(), InputLimits{});
  CHECK(cf.errors.empty());
  REQUIRE(cf.notes.size() == 1);
  CHECK(cf.notes[0].find("no_libtorch.cpp: skipped: includes no LibTorch header") !=
        std::string::npos);
  REQUIRE(cf.facts.size() == kFixtureFiles.size() - 1);
  const Facts& f = *cf.facts[0];
  CHECK(f.format == Format::Cpp);
  REQUIRE(f.code);
  REQUIRE(f.source);
  CHECK(f.source->path() == kFixtures + "frozen_embedding_dropout.cpp");
  CHECK(f.code->recompute_functions[0].loc.file == f.source->display());
  CHECK(f.code->recompute_calls[0].frozen_source_loc.file == f.source->display());
  CHECK(f.format_reason.find("<torch/torch.h>") != std::string::npos);
}

TEST_CASE("cxx client: compile errors come back located; --no-skip parses anyway") {
  TempDir t;
  std::string bad = t.write("bad.cpp", "int main() {\n  return missing_name;\n}\n");
  CxxRequest req;
  req.files = {bad};
  req.fixed_args = true;
  req.extra_args = {"-std=c++17"};
  req.binary = GCHECK_CXX_BIN;
  auto skipped = run_cxx_frontend(req);
  REQUIRE(skipped.ok());
  REQUIRE(skipped.value().units.size() == 1);
  CHECK_FALSE(skipped.value().units[0].analyzed);
  CHECK(skipped.value().units[0].error_count == 0);

  req.tool_flags = {"--no-skip"};
  auto parsed = run_cxx_frontend(req);
  REQUIRE(parsed.ok());
  const UnitReport& u = parsed.value().units[0];
  CHECK(u.analyzed);
  CHECK(u.error_count == 1);
  REQUIRE(u.diagnostics.size() == 1);
  CHECK(u.diagnostics[0].loc.file == bad);
  CHECK(u.diagnostics[0].loc.span.begin == Pos{2, 10});
  CHECK(u.diagnostics[0].message.find("missing_name") != std::string::npos);
  auto cf = facts_from_report(parsed.value(), InputLimits{});
  REQUIRE(cf.errors.size() == 1);
  CHECK(cf.errors[0].loc.span.begin.line == 2);

  // A usage error (an unknown option) is an error of the run, with gcheck-cxx's message.
  req.tool_flags = {"--no-such-option"};
  auto usage = run_cxx_frontend(req);
  REQUIRE_FALSE(usage.ok());
  CHECK(usage.error().message.find("no-such-option") != std::string::npos);
  // So is a -p folder without a compilation database (clang-tidy would go on without flags).
  req.tool_flags.clear();
  req.fixed_args = false;
  req.compile_db_dir = t.path + "/nowhere";
  auto no_db = run_cxx_frontend(req);
  REQUIRE_FALSE(no_db.ok());
  CHECK(no_db.error().message.find("no compile_commands.json") != std::string::npos);
}

TEST_CASE("cxx client: compile_commands.json through -p") {
  TempDir t;
  std::string src = t.write("src/train.cpp",
                            "#include <torch/types.h>\n"
                            "int main() { return 0; }\n");
  t.write("build/compile_commands.json",
          "[{\"directory\": \"" + t.path + "/build\", \"file\": \"" + src +
              "\", \"arguments\": [\"c++\", \"-std=c++17\", \"-I" GCHECK_LIBTORCH_API_INCLUDE
              "\", \"-DMISSING_HEADER\", \"-c\", \"" +
              src + "\"]}]");
  CxxRequest req;
  req.files = {src};
  req.compile_db_dir = t.path + "/build";
  req.binary = GCHECK_CXX_BIN;
  auto r = run_cxx_frontend(req);
  REQUIRE(r.ok());
  REQUIRE(r.value().units.size() == 1);
  const UnitReport& u = r.value().units[0];
  CHECK(u.analyzed);
  CHECK(u.error_count == 0);
  CHECK(u.reason.find("<torch/types.h>") != std::string::npos);
  CHECK(u.code.recompute_functions.empty());
}

// The real subject: the runtime probe's C++ translation of torch.utils.checkpoint
// (runtime_probe/checkpoint.cpp, merged from the probe's branch). Its reentrant engine must be
// recognised, with its RNG stash and fork; its non-reentrant frame (NoopSaveInputs, which
// saves and never recomputes) must not.
TEST_CASE("cxx: the probe's reentrant checkpoint engine is recognised") {
  const std::string src = std::string(GCHECK_SOURCE_DIR) + "/runtime_probe/checkpoint.cpp";
  struct stat st {};
  if (::stat(src.c_str(), &st) != 0) {
    MESSAGE("runtime_probe/checkpoint.cpp is not in this tree");
    return;
  }
  CxxRequest req;
  req.files = {src};
  req.fixed_args = true;
  req.extra_args = {"-std=c++20", "-I" GCHECK_SOURCE_DIR, "-isystem", GCHECK_LIBTORCH_API_INCLUDE};
  req.binary = GCHECK_CXX_BIN;
  auto r = run_cxx_frontend(req);
  REQUIRE(r.ok());
  REQUIRE(r.value().units.size() == 1);
  const UnitReport& u = r.value().units[0];
  CHECK(u.analyzed);
  CHECK(u.error_count == 0);
  REQUIRE(u.code.recompute_functions.size() == 1);
  const auto& f = u.code.recompute_functions[0];
  CHECK(f.name == "gprobe::CheckpointFunction");
  CHECK(f.loc.file == src);
  CHECK(f.forward_no_grad);
  CHECK(f.backward_recomputes);
  CHECK(f.saves_rng);  // stash_rng in forward; ForkRng and restore_rng before ctx_run in backward
  CHECK_FALSE(f.dropout_inside);
  CHECK_FALSE(f.mutates_state);
  REQUIRE_FALSE(u.code.recompute_calls.empty());
  for (const auto& c : u.code.recompute_calls) CHECK(c.function == "gprobe::CheckpointFunction");
}

#endif  // GCHECK_CXX_BIN
