#include <cctype>

#include "rules/rule.h"

namespace gcheck {
namespace {
void check(const Setup& s, Context& cx);
}  // namespace

extern const Rule kGC503 = {
    "GC503", "ambiguous-boolean", Severity::Warning,
    "A checkpoint-relevant key holds a YAML 1.1 boolean word or a string spelling a boolean",
    "", "", "config", &check, /*per_document=*/true};

namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

void scan(const Facts* f, Context& cx) {
  if (!f || !f->doc) return;
  const cfg::Document& d = *f->doc;
  for (const auto& k : f->relevant) {
    if (k.node == cfg::kNone) continue;
    const cfg::Node& n = d.node(k.node);
    std::string msg;
    if (n.kind == cfg::Kind::Bool && n.bool_word) {
      msg = fmt::format("{} is `{}`, a YAML 1.1 boolean word: PyYAML (Axolotl, TRL, LLaMA-Factory) "
                        "reads {}, while YAML 1.2 loaders read the string \"{}\"",
                        k.path, n.text, n.b ? "True" : "False", n.text);
    } else if (cfg::is_string_bool(n)) {
      std::string l = lower(n.text);
      bool quoted = n.quoted;
      bool says_false = l == "false" || l == "no" || l == "off" || l == "n";
      msg = fmt::format(
          "{} is the {}string \"{}\", not a boolean: {}pydantic (Axolotl) and argparse convert "
          "it, but HfArgumentParser.parse_dict/parse_yaml_file keep the string, and any "
          "non-empty string is True in Python{}",
          k.path, quoted ? "quoted " : "", n.text,
          quoted ? "" : "PyYAML only knows yes/no/on/off/true/false as booleans, so ",
          says_false ? fmt::format(" (so \"{}\" can switch it ON)", n.text) : "");
    } else {
      continue;
    }
    cx.report(kGC503, k.loc, msg, "write true or false, unquoted", {});
  }
}

void check(const Setup& s, Context& cx) {
  scan(s.facts, cx);
  scan(s.deepspeed, cx);
  scan(s.launcher, cx);
}

}  // namespace
}  // namespace gcheck
