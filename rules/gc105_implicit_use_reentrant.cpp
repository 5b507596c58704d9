#include "rules/rule.h"
#include "rules/wording.h"

namespace gcheck {
namespace {
void check(const Setup& s, Context& cx);
}  // namespace

extern const Rule kGC105 = {
    "GC105", "implicit-use-reentrant", Severity::Warning,
    "Checkpointing is on but nothing states use_reentrant, so torch's own default decides",
    "", "checkpointing, use_reentrant", "config,code", &check};

namespace {

void check(const Setup& s, Context& cx) {
  if (!s.checkpointing.is(true) || s.stated_by != "torch" || !s.facts) return;
  const Facts& f = *s.facts;
  Location loc = f.gc_kwargs ? f.gc_kwargs->key_loc : where(s, {&s.hf_gc.why, &s.checkpointing.why});
  std::string how =
      f.gc_kwargs && !f.gc_kwargs->value
          ? "gradient_checkpointing_kwargs is {}, and an empty dict reaches torch as is "
            "(transformers only fills in its default when the argument is None)"
      : f.gc_kwargs ? "gradient_checkpointing_kwargs is given without use_reentrant and reaches "
                      "torch as is"
                    : fmt::format("no layer of the stack passes use_reentrant ({})",
                                  wording::source(s.use_reentrant));
  cx.report(kGC105, loc,
            fmt::format("checkpointing is on but use_reentrant is never stated: {}, so torch's own "
                        "default applies: use_reentrant=True (the reentrant variant, with a "
                        "deprecation warning every step, and every GC1xx hazard of reentrant "
                        "checkpointing)",
                        how),
            "state it: gradient_checkpointing_kwargs: {use_reentrant: false} (or true where a "
            "framework needs reentrant, e.g. ZeRO-3 with PEFT on DeepSpeed < 0.19.3)",
            wording::chain({&s.use_reentrant.why, &s.checkpointing.why}));
}

}  // namespace
}  // namespace gcheck
