#include "rules/rule.h"
#include "rules/wording.h"

namespace gcheck {
namespace {
void check(const Setup& s, Context& cx);
}  // namespace

extern const Rule kGC404 = {
    "GC404", "implicit-checkpointing", Severity::Info,
    "Checkpointing is on although the file never mentions it",
    "", "checkpointing", "config", &check};

namespace {

void check(const Setup& s, Context& cx) {
  if (!s.checkpointing.is(true) || s.checkpointing.why.empty()) return;
  const Origin& o = s.checkpointing.why.front();
  if (o.kind != Origin::Kind::Default || !o.row) return;
  cx.report(kGC404, s.facts->anchor,
            fmt::format("checkpointing is on although this file never mentions it: {} ({})",
                        wording::source(o), o.row->when),
            "state it explicitly (gradient_checkpointing: true / false, or the stack's own key), "
            "so the run does not change with the library's defaults",
            {o});
}

}  // namespace
}  // namespace gcheck
