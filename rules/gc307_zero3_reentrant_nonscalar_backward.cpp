#include "analyzer/defaults_table.h"
#include "analyzer/resolver.h"
#include "rules/rule.h"
#include "rules/wording.h"

namespace gcheck {
namespace {
void check(const Setup& s, Context& cx);
}  // namespace

extern const Rule kGC307 = {
    "GC307", "zero3-reentrant-nonscalar-backward", Severity::Warning,
    "ZeRO-3 with reentrant checkpointing and a non-scalar backward fails on later iterations",
    "", "checkpointing, use_reentrant, zero_stage, nonscalar_backward", "code", &check};

namespace {

void check(const Setup& s, Context& cx) {
  if (!s.checkpointing.is(true) || !s.use_reentrant.is(true) || !s.zero_stage.is(3)) return;
  if (!s.nonscalar_backward.is(true)) return;
  const DefaultRow& fixed = row("deepspeed.zero3_nonscalar_backward");
  if (row_applies(fixed, cx.scenario())) return;
  cx.report(kGC307, where(s, {&s.nonscalar_backward.why}),
            fmt::format("a non-scalar backward ({}) under ZeRO-3 ({}) with reentrant "
                        "checkpointing ({}) on DeepSpeed {}: stale parameters stay in the "
                        "reduction buckets between iterations and a later step raises "
                        "\"AttributeError: 'NoneType' object has no attribute 'numel'\"",
                        wording::source(s.nonscalar_backward), wording::source(s.zero_stage),
                        wording::reentrant(s), cx.scenario().view("deepspeed")),
            "upgrade DeepSpeed to >= 0.18.5 (PR #7780), or reduce the output to a scalar before "
            "backward",
            wording::chain({&s.nonscalar_backward.why, &s.zero_stage.why, &s.use_reentrant.why}));
  cx.findings().back().provenance.push_back(row_origin(fixed));
}

}  // namespace
}  // namespace gcheck
