#include <set>

#include "rules/rule.h"

namespace gcheck {
namespace {
void check(const Setup& s, Context& cx);
}  // namespace

extern const Rule kGC505 = {
    "GC505", "nonstandard-json", Severity::Warning,
    "A JSON config uses comments or trailing commas: DeepSpeed accepts them, json.load does not",
    "", "", "config", &check, /*per_document=*/true};

namespace {

void scan(const Facts* f, std::set<const cfg::Document*>& seen, Context& cx) {
  if (!f || !f->doc || !seen.insert(f->doc.get()).second) return;
  const cfg::Document& d = *f->doc;
  if (d.lenient.empty()) return;
  size_t comments = 0, commas = 0;
  for (const auto& n : d.lenient) (n.what == "comment" ? comments : commas)++;
  std::string what;
  if (comments) what += fmt::format("{} comment{}", comments, comments == 1 ? "" : "s");
  if (commas) what += fmt::format("{}{} trailing comma{}", what.empty() ? "" : " and ", commas, commas == 1 ? "" : "s");
  const auto& first = d.lenient.front();
  cx.report(kGC505, d.loc(first.span),
            fmt::format("this JSON has {} (first: this {}): DeepSpeed's own hjson loader accepts "
                        "them, but the HF Trainer (HfDeepSpeedConfig) and accelerate read DeepSpeed "
                        "configs with json.load, which rejects the file at launch",
                        what, first.what),
            "remove comments and trailing commas (keep notes in a README or a key such as "
            "\"_comment\")",
            {});
}

void check(const Setup& s, Context& cx) {
  std::set<const cfg::Document*> seen;
  scan(s.facts, seen, cx);
  scan(s.deepspeed, seen, cx);
}

}  // namespace
}  // namespace gcheck
