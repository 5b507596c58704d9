#include <set>

#include "rules/rule.h"

namespace gcheck {
namespace {
void check(const Setup& s, Context& cx);
}  // namespace

extern const Rule kGC501 = {
    "GC501", "duplicate-key", Severity::Error,
    "A key appears twice in one mapping; the loader silently keeps one of them",
    "", "", "config", &check, /*per_document=*/true};

namespace {

void scan(const Facts* f, std::set<const cfg::Document*>& seen, Context& cx) {
  if (!f || !f->doc || !seen.insert(f->doc.get()).second) return;
  const cfg::Document& d = *f->doc;
  for (const auto& [first, second] : d.duplicates) {
    const cfg::Entry& a = d.entries[first];
    const cfg::Entry& b = d.entries[second];
    Location la = d.loc(a.key_span);
    std::string loader =
        d.syntax == cfg::Syntax::Yaml
            ? "PyYAML (and every stack that loads this file with it) silently keeps the last "
              "value"
            : "json.load (HF Trainer, accelerate) keeps the last value silently, while "
              "DeepSpeed's own hjson loader rejects the file";
    Origin o;
    o.kind = Origin::Kind::Key;
    o.loc = la;
    o.key = a.key;
    o.text = "first written here";
    cx.report(kGC501, d.loc(b.key_span),
              fmt::format("'{}' is set twice in this mapping (first at line {}): {}, so the value "
                          "at line {} wins and the one at line {} is ignored",
                          b.key, la.span.begin.line, loader, b.key_span.begin.line,
                          la.span.begin.line),
              "keep one of the two", {o});
  }
}

void check(const Setup& s, Context& cx) {
  std::set<const cfg::Document*> seen;
  scan(s.facts, seen, cx);
  scan(s.deepspeed, seen, cx);
  scan(s.launcher, seen, cx);
}

}  // namespace
}  // namespace gcheck
