#include "analyzer/resolver.h"
#include "rules/rule.h"
#include "rules/wording.h"

namespace gcheck {
namespace {
void check(const Setup& s, Context& cx);
}  // namespace

extern const Rule kGC108 = {
    "GC108", "determinism-check-disabled", Severity::Warning,
    "determinism_check=\"none\" turns recompute mismatches into silently wrong gradients",
    "", "checkpointing, use_reentrant", "config,code", &check};

namespace {

void check(const Setup& s, Context& cx) {
  for (const auto& st : s.sites) {
    if (!st.determinism_check || st.determinism_check->first != "none" || st.use_reentrant.is(true)) continue;
    cx.report(kGC108, st.determinism_check->second.known() ? st.determinism_check->second : st.loc,
              "determinism_check=\"none\": the non-reentrant implementation no longer compares "
              "the shape, dtype and device of recomputed tensors with the forward pass, so a "
              "forward that is not reproducible trains on silently wrong gradients instead of "
              "raising CheckpointError",
              "remove determinism_check (the default \"default\" keeps the check)",
              st.use_reentrant.why);
  }
  if (!s.checkpointing.is(true) || !s.facts || !s.facts->determinism_check) return;
  if (s.use_reentrant.is(true)) return;  // ignored there: GC104
  const auto& d = *s.facts->determinism_check;
  if (d.value != "none") return;
  cx.report(kGC108, d.key_loc.known() ? d.key_loc : d.loc,
            "determinism_check is \"none\": the non-reentrant implementation no longer compares "
            "the shape, dtype and device of recomputed tensors with the forward pass, so a "
            "forward that is not reproducible (ZeRO-3 partitioning, a growing cache, MoE routing) "
            "trains on silently wrong gradients instead of raising CheckpointError",
            "remove determinism_check (the default \"default\" keeps the check); fix the cause of "
            "the CheckpointError instead",
            {key_origin(d)});
}

}  // namespace
}  // namespace gcheck
