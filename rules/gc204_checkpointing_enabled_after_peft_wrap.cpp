#include "rules/rule.h"
#include "rules/wording.h"

namespace gcheck {
namespace {
void check(const Setup& s, Context& cx);
}  // namespace

extern const Rule kGC204 = {
    "GC204", "checkpointing-enabled-after-peft-wrap", Severity::Warning,
    "Checkpointing enabled after get_peft_model: PEFT's input-require-grads hook is never installed",
    "frozen-inputs", "sites, use_reentrant, input_hook", "code", &check};

namespace {

constexpr std::string_view kWhy =
    "PEFT installs its input-require-grads hook only at wrap time, and only when checkpointing is "
    "already on; transformers' own fallback covers adapters attached with add_adapter(), not a "
    "PeftModel. The checkpointed layers' inputs come from frozen embeddings, so the LoRA weights "
    "inside them get no gradient (\"element 0 of tensors does not require grad\", or silently when "
    "anything else trains)";

void check(const Setup& s, Context& cx) {
  for (const auto& st : s.sites) {
    if (st.kind != CheckpointSite::Kind::HfEnable || !st.after_peft_wrap || st.hook_in_scope) continue;
    if (!st.use_reentrant.is(true)) continue;
    std::vector<Origin> why = st.use_reentrant.why;
    Origin w;
    w.kind = Origin::Kind::Derived;
    w.loc = st.wrap_loc;
    w.text = "get_peft_model(...) wraps the model first";
    why.insert(why.begin(), w);
    cx.report(kGC204, st.loc,
              fmt::format("gradient_checkpointing_enable() runs after get_peft_model(...) (line {}) "
                          "with reentrant checkpointing ({}) and no enable_input_require_grads(): {}",
                          st.wrap_loc.span.begin.line, wording::source(st.use_reentrant), kWhy),
              "enable checkpointing before get_peft_model(...), or call "
              "model.enable_input_require_grads() after it, or pass "
              "gradient_checkpointing_kwargs={\"use_reentrant\": False}",
              why);
  }
  // The Trainer enables it (TrainingArguments(gradient_checkpointing=True)) on a model the
  // script wrapped with get_peft_model first.
  if (!s.gc_after_peft_wrap.is(true) || s.reentrant_site >= 0 || !s.use_reentrant.is(true)) return;
  if (s.gc_after_peft_wrap.why.empty() || !s.gc_after_peft_wrap.why.front().loc.known()) return;
  const Origin& o = s.gc_after_peft_wrap.why.front();
  if (o.key.empty()) return;  // the per-call form above
  cx.report(kGC204, o.loc,
            fmt::format("the Trainer enables checkpointing (gradient_checkpointing=True) on a model "
                        "the script wrapped with get_peft_model(...) before, with reentrant "
                        "checkpointing ({}): {}",
                        wording::reentrant(s), kWhy),
            "call model.gradient_checkpointing_enable(...) before get_peft_model(...), or "
            "model.enable_input_require_grads() after it, or set gradient_checkpointing_kwargs="
            "{\"use_reentrant\": False}",
            wording::chain({&s.gc_after_peft_wrap.why, &s.use_reentrant.why}));
}

}  // namespace
}  // namespace gcheck
