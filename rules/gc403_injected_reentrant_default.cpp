#include "rules/rule.h"
#include "rules/wording.h"

namespace gcheck {
namespace {
void check(const Setup& s, Context& cx);
}  // namespace

extern const Rule kGC403 = {
    "GC403", "injected-reentrant-default", Severity::Info,
    "The stack injects use_reentrant: true because the config does not state it",
    "", "checkpointing, use_reentrant", "config,code", &check};

namespace {

void check(const Setup& s, Context& cx) {
  if (!s.checkpointing.is(true) || !s.use_reentrant.is(true) || s.stated_by != "stack") return;
  if (s.overridden) return;  // an explicit value overridden: GC401
  const Origin& o = s.use_reentrant.why.front();
  if (!o.row) return;
  cx.report(kGC403, where(s, {&s.hf_gc.why, &s.checkpointing.why}),
            fmt::format("use_reentrant is not stated, and {} injects use_reentrant=True ({}): "
                        "the run uses reentrant checkpointing, which transformers >= 5.1, TRL >= "
                        "0.27 and PyTorch recommend against; the same config runs non-reentrant "
                        "under other stacks or versions",
                        o.row->stack, o.row->when),
            "write gradient_checkpointing_kwargs: {use_reentrant: ...} (or the stack's own key) "
            "so the choice is explicit and survives upgrades",
            wording::chain({&s.use_reentrant.why}));
}

}  // namespace
}  // namespace gcheck
