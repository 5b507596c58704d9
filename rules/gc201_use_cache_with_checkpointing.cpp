#include "analyzer/defaults_table.h"
#include "analyzer/resolver.h"
#include "rules/rule.h"
#include "rules/wording.h"

namespace gcheck {
namespace {
void check(const Setup& s, Context& cx);
}  // namespace

extern const Rule kGC201 = {
    "GC201", "use-cache-with-checkpointing", Severity::Warning,
    "use_cache is on while training with checkpointing",
    "kv-cache", "checkpointing, use_cache, fsdp_ac", "config,code", &check};

namespace {

void check(const Setup& s, Context& cx) {
  if (!s.checkpointing.is(true) || !s.use_cache.is(true)) return;
  bool fsdp_ac = s.fsdp_ac.is(true);
  std::string what =
      fsdp_ac && !s.hf_gc.is(true)
          ? "FSDP activation checkpointing does not switch the cache off (only HF checkpointing "
            "does), so the recomputation appends to the same KV cache again and non-reentrant "
            "checkpointing raises CheckpointError with a doubled sequence length (saved [B, S, "
            "H, D] vs recomputed [B, 2S, H, D])"
          : "transformers switches the cache off under HF checkpointing with a warning every "
            "step; any non-HF wrapper keeps it and the recomputation grows the cache (extra "
            "memory, or a CheckpointError with a doubled sequence length)";
  cx.report(kGC201, where(s, {&s.use_cache.why}),
            fmt::format("use_cache is True ({}) while training with checkpointing: {}",
                        wording::source(s.use_cache), what),
            "set use_cache: false for training (model config, from_pretrained(..., "
            "use_cache=False), or TrainingArguments use_cache on transformers 5)",
            wording::chain({&s.use_cache.why, &s.checkpointing.why}));
  if (s.hf_gc.is(true)) cx.findings().back().provenance.push_back(row_origin(row("hf.use_cache.gc")));
}

}  // namespace
}  // namespace gcheck
