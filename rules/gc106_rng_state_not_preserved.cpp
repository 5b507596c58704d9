#include "rules/rule.h"
#include "rules/wording.h"

namespace gcheck {
namespace {
void check(const Setup& s, Context& cx);
}  // namespace

extern const Rule kGC106 = {
    "GC106", "rng-state-not-preserved", Severity::Error,
    "Checkpointing without RNG restoration while dropout is active: recomputation draws new masks",
    "dropout-rng", "checkpointing, preserve_rng_state, dropout", "config,code", &check};

namespace {

void check(const Setup& s, Context& cx) {
  if (!s.checkpointing.is(true) || !s.preserve_rng_state.is(false)) return;
  if (!s.dropout.known() || *s.dropout <= 0) return;
  cx.report(kGC106, where(s, {&s.preserve_rng_state.why, &s.dropout.why}),
            fmt::format("checkpointing runs with preserve_rng_state=False ({}) while dropout {} is "
                        "active inside the checkpointed blocks ({}): the recomputation draws fresh "
                        "dropout masks, so the gradients belong to a different sample than the "
                        "loss. Silently wrong gradients",
                        wording::source(s.preserve_rng_state), *s.dropout,
                        wording::source(s.dropout)),
            "keep preserve_rng_state=True whenever dropout > 0 inside checkpointed blocks (for "
            "accelerate FSDP2, use accelerate < 1.8 or FSDP1 activation checkpointing), or set "
            "the dropout to 0",
            wording::chain({&s.preserve_rng_state.why, &s.dropout.why}));
}

}  // namespace
}  // namespace gcheck
