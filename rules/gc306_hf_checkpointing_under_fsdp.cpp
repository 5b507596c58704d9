#include "rules/rule.h"
#include "rules/wording.h"

namespace gcheck {
namespace {
void check(const Setup& s, Context& cx);
}  // namespace

extern const Rule kGC306 = {
    "GC306", "hf-checkpointing-under-fsdp", Severity::Info,
    "HF gradient checkpointing under FSDP full sharding instead of FSDP activation checkpointing",
    "", "checkpointing, fsdp, fsdp_ac, fsdp_full_shard", "config,code", &check};

namespace {

void check(const Setup& s, Context& cx) {
  if (!s.hf_gc.is(true) || !s.fsdp.is(true) || !s.fsdp_full_shard.is(true)) return;
  if (s.fsdp_ac.is(true)) return;  // both on: GC304
  cx.report(kGC306, where(s, {&s.hf_gc.why}),
            fmt::format("HF gradient checkpointing ({}) under FSDP full sharding ({}): the "
                        "recomputation in backward all-gathers each layer's parameters a second "
                        "time; FSDP's own activation checkpointing avoids the redundant AllGather",
                        wording::source(s.hf_gc), wording::source(s.fsdp_full_shard)),
            "set gradient_checkpointing: false and activation_checkpointing: true in fsdp_config",
            wording::chain({&s.hf_gc.why, &s.fsdp.why}));
}

}  // namespace
}  // namespace gcheck
