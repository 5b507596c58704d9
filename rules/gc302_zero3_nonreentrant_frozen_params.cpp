#include "analyzer/defaults_table.h"
#include "analyzer/resolver.h"
#include "rules/rule.h"
#include "rules/wording.h"

namespace gcheck {
namespace {
void check(const Setup& s, Context& cx);
}  // namespace

extern const Rule kGC302 = {
    "GC302", "zero3-nonreentrant-frozen-params", Severity::Error,
    "DeepSpeed ZeRO-3 with non-reentrant checkpointing and frozen parameters raises CheckpointError",
    "zero3-partition", "checkpointing, use_reentrant, zero_stage, frozen_params", "config,code",
    &check};

namespace {

void check(const Setup& s, Context& cx) {
  if (!s.checkpointing.is(true) || !s.use_reentrant.is(false)) return;
  if (!s.zero_stage.is(3) || !s.frozen_params.is(true)) return;
  const DefaultRow& fixed = row("deepspeed.zero3_frozen_recompute");
  if (row_applies(fixed, cx.scenario())) return;
  cx.report(kGC302, where(s, {&s.use_reentrant.why, &s.zero_stage.why}),
            fmt::format("ZeRO-3 ({}) with non-reentrant checkpointing ({}) and frozen parameters "
                        "({}) on DeepSpeed {}: the recompute re-fires ZeRO-3's hooks, which "
                        "release the frozen parameters that checkpoint still references, and the "
                        "first backward raises \"CheckpointError: torch.utils.checkpoint: "
                        "Recomputed values for the following tensors have different metadata than "
                        "during the forward pass\" (saved shape [N], recomputed [0])",
                        wording::source(s.zero_stage), wording::reentrant(s),
                        wording::source(s.frozen_params), cx.scenario().view("deepspeed")),
            "upgrade DeepSpeed to >= 0.19.3 (PR #8148), or use use_reentrant: true with an "
            "input-require-grads hook",
            wording::chain({&s.use_reentrant.why, &s.zero_stage.why, &s.frozen_params.why}));
  cx.findings().back().provenance.push_back(row_origin(fixed));
}

}  // namespace
}  // namespace gcheck
