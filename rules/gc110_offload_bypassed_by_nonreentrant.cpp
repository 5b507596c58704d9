#include "rules/rule.h"
#include "rules/wording.h"

namespace gcheck {
namespace {
void check(const Setup& s, Context& cx);
}  // namespace

extern const Rule kGC110 = {
    "GC110", "offload-bypassed-by-nonreentrant", Severity::Warning,
    "An offloader that patches the reentrant CheckpointFunction does nothing under non-reentrant",
    "", "checkpointing, use_reentrant, offload_patches_reentrant", "config,code", &check};

namespace {

void check(const Setup& s, Context& cx) {
  if (!s.checkpointing.is(true) || !s.offload_patches_reentrant.is(true)) return;
  if (!s.use_reentrant.is(false)) return;
  cx.report(kGC110, where(s, {&s.offload_patches_reentrant.why, &s.use_reentrant.why}),
            fmt::format("the activation offloader ({}) replaces torch's reentrant "
                        "CheckpointFunction, but checkpointing is non-reentrant ({}), which never "
                        "calls it: offloading silently does nothing and long sequences run out "
                        "of memory with no hint why",
                        wording::source(s.offload_patches_reentrant), wording::reentrant(s)),
            "force use_reentrant: true for this offloader, or use a saved-tensor-hook offloader "
            "that works with non-reentrant checkpointing (TRL activation_offloading, "
            "gradient_checkpointing_kwargs: {offload: true} on transformers >= 5.17)",
            wording::chain({&s.offload_patches_reentrant.why, &s.use_reentrant.why}));
}

}  // namespace
}  // namespace gcheck
