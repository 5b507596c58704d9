#include "rules/rule.h"
#include "rules/wording.h"

namespace gcheck {
namespace {
void check(const Setup& s, Context& cx);
}  // namespace

extern const Rule kGC206 = {
    "GC206", "trainer-overrides-model-checkpointing", Severity::Warning,
    "The Trainer re-enables checkpointing with its own kwargs, replacing the model-level call's",
    "", "trainer_overrides_gc, use_reentrant", "code", &check};

namespace {

bool same(const Location& a, const Location& b) {
  return a.file == b.file && a.span.begin == b.span.begin;
}

void check(const Setup& s, Context& cx) {
  if (!s.trainer_overrides_gc.is(true) || !s.gc_enable_loc.known()) return;
  std::string model_value;
  for (const auto& st : s.sites) {
    if (!same(st.loc, s.gc_enable_loc)) continue;
    if (st.use_reentrant.known())
      model_value = fmt::format("use_reentrant={} there", wording::py(*st.use_reentrant));
  }
  std::string eff = s.use_reentrant.known() ? wording::reentrant(s) : "its own default";
  bool differs = false;
  for (const auto& st : s.sites)
    if (same(st.loc, s.gc_enable_loc) && st.use_reentrant.known() && s.use_reentrant.known())
      differs = *st.use_reentrant != *s.use_reentrant;
  cx.report(kGC206, s.gc_enable_loc,
            fmt::format("this call's gradient_checkpointing_kwargs{} do not survive training: "
                        "TrainingArguments(gradient_checkpointing=True) ({}) makes Trainer.train() "
                        "call gradient_checkpointing_enable() again with the Trainer's own "
                        "kwargs, so the run uses {}{}",
                        model_value.empty() ? "" : " (" + model_value + ")",
                        wording::source(s.hf_gc), eff,
                        differs ? ", not what this call asks for" : ""),
            "put the kwargs in TrainingArguments(gradient_checkpointing_kwargs=...) (one source of "
            "truth), or set gradient_checkpointing=False there when the model is already prepared",
            wording::chain({&s.trainer_overrides_gc.why, &s.use_reentrant.why}));
}

}  // namespace
}  // namespace gcheck
