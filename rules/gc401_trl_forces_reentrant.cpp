#include "rules/rule.h"
#include "rules/wording.h"

namespace gcheck {
namespace {
void check(const Setup& s, Context& cx);
}  // namespace

extern const Rule kGC401 = {
    "GC401", "trl-forces-reentrant", Severity::Warning,
    "TRL overrides an explicit use_reentrant: false for PEFT + ZeRO-3",
    "", "use_reentrant, adapter, zero_stage", "config,code", &check};

namespace {

void check(const Setup& s, Context& cx) {
  if (!s.overridden || !s.use_reentrant.is(true) || s.use_reentrant.why.empty()) return;
  const Origin& o = s.use_reentrant.why.front();
  if (!o.row || std::string_view(o.row->id).rfind("trl.force_reentrant", 0) != 0) return;
  cx.report(kGC401, s.overridden->loc.known() ? s.overridden->loc : where(s, {&s.use_reentrant.why}),
            fmt::format("use_reentrant: false ({}) is overridden: {} forces use_reentrant=True "
                        "for a PEFT model under DeepSpeed ZeRO-3 with checkpointing (\"You are "
                        "using PEFT with DeepSpeed ZeRO-3 and gradient checkpointing with "
                        "`use_reentrant=False`. `use_reentrant` is forced to `True` ...\"); the "
                        "run is reentrant, with its memory profile and hazards",
                        wording::source(*s.overridden), wording::source(o)),
            "drop use_reentrant: false (or set it to true) so the config says what runs; on "
            "DeepSpeed >= 0.19.3 the override is no longer needed upstream",
            wording::chain({&s.use_reentrant.why}));
}

}  // namespace
}  // namespace gcheck
