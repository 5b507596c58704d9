// YAML and JSON front ends: positions, PyYAML typing, duplicates, aliases, limits, errors.
#include <doctest/doctest.h>

#include "analyzer/json_frontend.h"
#include "analyzer/yaml_frontend.h"

using namespace gcheck;
using namespace gcheck::cfg;

namespace {

SourcePtr src(const std::string& text, const std::string& name = "t.yaml") {
  return std::make_shared<SourceFile>(name, name, text);
}

Document yaml(const std::string& text) {
  auto r = parse_yaml(src(text), InputLimits{});
  REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message));
  return std::move(r.value());
}

Document json(const std::string& text) {
  auto r = parse_json(src(text, "t.json"), InputLimits{});
  REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message));
  return std::move(r.value());
}

const Node& at(const Document& d, std::string_view dotted) {
  const Entry* e = d.entry_at(dotted);
  REQUIRE_MESSAGE(e != nullptr, dotted);
  return d.node(e->value);
}

}  // namespace

TEST_CASE("yaml: keys and values carry line and column") {
  Document d = yaml("a: 1\ngradient_checkpointing_kwargs:\n  use_reentrant: false\n");
  const Entry* e = d.entry_at("gradient_checkpointing_kwargs.use_reentrant");
  REQUIRE(e);
  CHECK(e->key_span.begin == Pos{3, 3});
  CHECK(d.node(e->value).span.begin == Pos{3, 18});
  CHECK(d.node(e->value).span.end == Pos{3, 23});
  CHECK(d.node(e->value).kind == Kind::Bool);
  CHECK_FALSE(d.node(e->value).b);
}

TEST_CASE("yaml: PyYAML (YAML 1.1) typing") {
  Document d = yaml(
      "a: yes\nb: Off\nc: y\nd: n\ne: True\nf: 'false'\ng: 1e-5\nh: 2.0e-04\ni: 0o12\nj: 012\n"
      "k: ~\nl:\nm: .inf\nn: 0x1F\no: 1_000\np: -.5\n");
  CHECK(at(d, "a").kind == Kind::Bool);
  CHECK(at(d, "a").b);
  CHECK(at(d, "a").bool_word);
  CHECK(at(d, "b").kind == Kind::Bool);
  CHECK_FALSE(at(d, "b").b);
  CHECK(at(d, "c").kind == Kind::String);  // PyYAML: "y" is a string
  CHECK(at(d, "d").kind == Kind::String);
  CHECK(at(d, "e").kind == Kind::Bool);
  CHECK_FALSE(at(d, "e").bool_word);
  CHECK(at(d, "f").kind == Kind::String);
  CHECK(at(d, "f").quoted);
  CHECK(at(d, "g").kind == Kind::String);  // no dot: a string for PyYAML
  CHECK(at(d, "h").kind == Kind::Float);
  CHECK(at(d, "h").f == doctest::Approx(2e-4));
  CHECK(at(d, "i").kind == Kind::String);  // 0o is YAML 1.2 only
  CHECK(at(d, "j").kind == Kind::Int);
  CHECK(at(d, "j").i == 10);               // octal
  CHECK(at(d, "k").kind == Kind::Null);
  CHECK(at(d, "l").kind == Kind::Null);
  CHECK(at(d, "m").kind == Kind::Float);
  CHECK(at(d, "n").i == 31);
  CHECK(at(d, "o").i == 1000);
  CHECK(at(d, "p").kind == Kind::String);
}

TEST_CASE("yaml: duplicate keys keep the last value and are recorded") {
  Document d = yaml("gradient_checkpointing: true\nx: 1\ngradient_checkpointing: false\n");
  CHECK_FALSE(at(d, "gradient_checkpointing").b);
  REQUIRE(d.duplicates.size() == 1);
  CHECK(d.entries[d.duplicates[0].first].key_span.begin.line == 1);
  CHECK(d.entries[d.duplicates[0].second].key_span.begin.line == 3);
}

TEST_CASE("yaml: aliases are shared and merge keys resolved, explicit keys winning") {
  Document d = yaml("base: &b\n  use_reentrant: true\n  debug: false\nrun:\n  <<: *b\n  use_reentrant: false\n");
  CHECK_FALSE(at(d, "run.use_reentrant").b);
  CHECK_FALSE(at(d, "run.debug").b);
  CHECK(d.duplicates.empty());
}

TEST_CASE("yaml: an alias bomb stays linear in memory") {
  std::string t = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  char prev = 'a';
  for (char c = 'b'; c <= 'z'; ++c) {
    t += std::string(1, c) + ": &" + c + " [";
    for (int i = 0; i < 10; ++i) t += std::string(i ? ", " : "") + "*" + prev;
    t += "]\n";
    prev = c;
  }
  auto r = parse_yaml(src(t), InputLimits{});
  REQUIRE(r.ok());
  CHECK(r.value().nodes.size() < 1000);  // 10^25 if expanded
}

TEST_CASE("yaml: deep nesting is refused with a location") {
  std::string t = "a: " + std::string(100000, '[') + std::string(100000, ']') + "\n";
  auto r = parse_yaml(src(t), InputLimits{});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("nesting deeper than") != std::string::npos);
  CHECK(r.error().loc.span.begin.line == 1);
}

TEST_CASE("yaml: syntax errors name the line") {
  auto r = parse_yaml(src("a: 1\nb: [1, 2\nc: 3\n"), InputLimits{});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.rfind("invalid YAML", 0) == 0);
  CHECK(r.error().loc.span.begin.line >= 2);
}

TEST_CASE("yaml: tags yaml.safe_load cannot construct are refused") {
  auto r = parse_yaml(src("a: !!python/object:os.system x\n"), InputLimits{});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("safe_load") != std::string::npos);
}

TEST_CASE("yaml: an empty file is a null document") {
  Document d = yaml("");
  CHECK(d.root_node() == nullptr);
  Document c = yaml("# only a comment\n");
  CHECK(c.root_node() == nullptr);
}

TEST_CASE("json: positions of keys and values") {
  Document d = json("{\n  \"zero_optimization\": {\n    \"stage\": 3\n  }\n}\n");
  const Entry* e = d.entry_at("zero_optimization.stage");
  REQUIRE(e);
  CHECK(e->key_span.begin == Pos{3, 5});
  CHECK(d.node(e->value).span.begin == Pos{3, 14});
  CHECK(d.node(e->value).i == 3);
  CHECK(d.lenient.empty());
}

TEST_CASE("json: strict errors carry a location") {
  auto r = parse_json(src("{\n  \"a\": 1\n  \"b\": 2\n}\n", "x.json"), InputLimits{});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().loc.span.begin.line == 3);
  CHECK(r.error().message.rfind("invalid JSON", 0) == 0);
}

TEST_CASE("json: comments and trailing commas are accepted and recorded") {
  Document d = json("{\n  // note\n  \"a\": [1, 2,],\n  /* b */ \"b\": true, # hash\n}\n");
  CHECK(at(d, "b").b);
  REQUIRE(d.lenient.size() == 5);
  CHECK(d.lenient[0].what == "comment");
  CHECK(d.lenient[0].span.begin == Pos{2, 3});
  CHECK(d.lenient[1].what == "trailing comma");
  CHECK(d.lenient[1].span.begin == Pos{3, 13});
}

TEST_CASE("json: template placeholders are recognised") {
  auto r = parse_json(src("{\"zero_optimization\": {\"stage\": ${zero_stage}}}", "t.json"), InputLimits{});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().placeholder);
  auto r2 = parse_json(src("{\"train_batch_size\": BATCH_SIZE}", "t.json"), InputLimits{});
  REQUIRE_FALSE(r2.ok());
  CHECK(r2.error().placeholder);
  auto r3 = parse_json(src("{\"a\": tru}", "t.json"), InputLimits{});
  REQUIRE_FALSE(r3.ok());
  CHECK_FALSE(r3.error().placeholder);
}

TEST_CASE("json: deep nesting is refused") {
  auto r = parse_json(src(std::string(100000, '[') + std::string(100000, ']'), "t.json"), InputLimits{});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("nesting deeper than") != std::string::npos);
}

TEST_CASE("json: duplicate keys are recorded, the last one wins") {
  Document d = json("{\"stage\": 2, \"stage\": 3}");
  CHECK(at(d, "stage").i == 3);
  CHECK(d.duplicates.size() == 1);
}

TEST_CASE("sources: binary and oversized files are refused") {
  char path[] = "/tmp/gcheck-bin-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  REQUIRE(write(fd, "a: 1\n\0\0\0", 8) == 8);
  close(fd);
  auto r = read_source(path, path, InputLimits{});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("binary") != std::string::npos);
  InputLimits tiny;
  tiny.max_file_bytes = 4;
  auto r2 = read_source(path, path, tiny);
  REQUIRE_FALSE(r2.ok());
  CHECK(r2.error().message.find("limit") != std::string::npos);
  unlink(path);
  auto r3 = read_source("/nonexistent/x.yaml", "x.yaml", InputLimits{});
  REQUIRE_FALSE(r3.ok());
  CHECK(r3.error().message.find("No such file") != std::string::npos);
}
