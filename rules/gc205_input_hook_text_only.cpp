#include "rules/rule.h"
#include "rules/wording.h"

namespace gcheck {
namespace {
void check(const Setup& s, Context& cx);
}  // namespace

extern const Rule kGC205 = {
    "GC205", "input-hook-text-only", Severity::Warning,
    "Reentrant checkpointing with adapters on a frozen vision/audio tower: the input hook covers "
    "the text embedding only",
    "frozen-inputs", "checkpointing, use_reentrant, frozen_tower, input_hook", "config,code", &check};

namespace {

void check(const Setup& s, Context& cx) {
  if (!s.checkpointing.is(true) || !s.use_reentrant.is(true) || !s.frozen_tower.is(true)) return;
  cx.report(kGC205, where(s, {&s.frozen_tower.why}),
            fmt::format("adapters train inside a vision/audio tower ({}) while checkpointing is "
                        "reentrant ({}): the tower's checkpointed blocks get their input from its "
                        "own frozen patch embedding, which enable_input_require_grads() does not "
                        "hook (it covers get_input_embeddings(), the text embedding), so the "
                        "tower's adapters get no gradient while the text adapters train",
                        wording::source(s.frozen_tower), wording::reentrant(s)),
            "use non-reentrant checkpointing for multimodal models (gradient_checkpointing_kwargs: "
            "{use_reentrant: false}), or register input-grad hooks on every tower's entry module",
            wording::chain({&s.frozen_tower.why, &s.use_reentrant.why, &s.input_hook.why}));
}

}  // namespace
}  // namespace gcheck
