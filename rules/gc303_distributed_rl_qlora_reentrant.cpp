#include "rules/rule.h"
#include "rules/wording.h"

namespace gcheck {
namespace {
void check(const Setup& s, Context& cx);
}  // namespace

extern const Rule kGC303 = {
    "GC303", "distributed-rl-qlora-reentrant", Severity::Error,
    "Distributed RL training with QLoRA and reentrant checkpointing fails",
    "", "checkpointing, use_reentrant, rl, adapter, quant_bits, multi_process", "config,code",
    &check};

namespace {

void check(const Setup& s, Context& cx) {
  if (!s.checkpointing.is(true) || !s.use_reentrant.is(true) || !s.rl.is(true)) return;
  if (!s.adapter.is(Adapter::Qlora) && !(s.quant_bits.is(4) && !s.adapter.is(Adapter::None))) return;
  if (!cx.multi_process(s)) return;
  cx.report(kGC303, where(s, {&s.use_reentrant.why, &s.trainer.why}),
            fmt::format("{} training with QLoRA ({}) and reentrant checkpointing ({}) on more than "
                        "one GPU: the policy's passes (chosen and rejected) run the same "
                        "checkpointed parameters through several reentrant backwards per step; "
                        "DDP raises \"Expected to mark a variable ready only once\" with "
                        "find_unused_parameters=True, and with False it reduces after the first "
                        "backward and ignores the rest: silently wrong gradients that differ "
                        "between the ranks. Axolotl refuses the combination (\"The "
                        "`use_reentrant: True` implementation of gradient checkpointing is not "
                        "supported for distributed RL training with QLoRA\")",
                        s.trainer.known() ? *s.trainer : "RL", wording::source(s.adapter),
                        wording::reentrant(s)),
            "set gradient_checkpointing_kwargs: {use_reentrant: false}",
            wording::chain({&s.use_reentrant.why, &s.trainer.why, &s.adapter.why, &s.multi_process.why}));
}

}  // namespace
}  // namespace gcheck
