#include "rules/rule.h"
#include "rules/wording.h"

namespace gcheck {
namespace {
void check(const Setup& s, Context& cx);
}  // namespace

extern const Rule kGC402 = {
    "GC402", "unsloth-forces-reentrant", Severity::Warning,
    "use_gradient_checkpointing=\"unsloth\" forces reentrant checkpointing process-wide",
    "", "unsloth_gc, use_reentrant", "code", &check};

namespace {

void check(const Setup& s, Context& cx) {
  if (!s.unsloth_gc.is(true)) return;
  cx.report(kGC402, where(s, {&s.unsloth_gc.why}),
            "use_gradient_checkpointing=\"unsloth\" patches torch.utils.checkpoint for the whole "
            "process to force use_reentrant=True: every use_reentrant: false you set is ignored, "
            "and every reentrant hazard applies, also to other models in the same process "
            "(multi-GPU DDP, vision LoRA, shared-KV models)",
            "for multi-GPU, vision-language or shared-parameter models use "
            "use_gradient_checkpointing=True and check the gradients (`gcheck probe`)",
            wording::chain({&s.unsloth_gc.why}));
}

}  // namespace
}  // namespace gcheck
