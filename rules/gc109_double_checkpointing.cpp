#include "rules/rule.h"
#include "rules/wording.h"

namespace gcheck {
namespace {
void check(const Setup& s, Context& cx);
}  // namespace

extern const Rule kGC109 = {
    "GC109", "double-checkpointing", Severity::Warning,
    "Two checkpointing mechanisms wrap the same layers",
    "nested", "checkpointing", "config,code", &check};

namespace {

bool is(Mechanism m, Mechanism x) { return m == x; }

void sites(const Setup& s, Context& cx) {
  for (const auto& st : s.sites) {
    if (st.kind == CheckpointSite::Kind::CxxFunction && st.nested) {
      cx.report(kGC109, st.nested_loc.known() ? st.nested_loc : st.loc,
                fmt::format("{} is applied inside another recompute Function's computation: the "
                            "outer backward recomputes the inner block, whose own backward "
                            "recomputes it again. Every backward runs the inner block three "
                            "times for no memory gain",
                            st.api),
                "checkpoint each block once: apply the inner Function outside the outer one, or "
                "drop one level",
                st.use_reentrant.why);
    } else if (st.save_on_cpu) {
      cx.report(kGC109, st.loc,
                "a checkpoint inside torch.autograd.graph.save_on_cpu(): the checkpoint already "
                "keeps only its inputs, which save_on_cpu then copies to the host and back; the "
                "two memory mechanisms stack their costs (recompute plus PCIe transfers) on the "
                "same layers",
                "use one mechanism per block: checkpointing, or save_on_cpu offloading",
                st.use_reentrant.why);
    }
  }
}

void check(const Setup& s, Context& cx) {
  sites(s, cx);
  if (s.mechanisms.size() < 2) return;
  // HF gradient checkpointing + FSDP activation checkpointing is GC304. Direct checkpoint calls
  // and hand-rolled Functions in code wrap their own blocks, not necessarily the same layers.
  std::vector<const MechanismUse*> wrap;
  for (const auto& m : s.mechanisms)
    if (!is(m.mechanism, Mechanism::FsdpActivationCheckpointing) &&
        !is(m.mechanism, Mechanism::TorchCheckpointCall) &&
        !is(m.mechanism, Mechanism::HandRolledRecompute))
      wrap.push_back(&m);
  if (wrap.size() < 2) return;
  const MechanismUse& a = *wrap[0];
  const MechanismUse& b = *wrap[1];
  std::string extra;
  bool lf = is(a.mechanism, Mechanism::LlamaFactoryWrapper) || is(a.mechanism, Mechanism::UnslothCheckpointing);
  if (lf && is(b.mechanism, Mechanism::HfGradientCheckpointing)) {
    extra = fmt::format(
        "; the Trainer re-enables checkpointing through LLaMA-Factory's patched method with "
        "{}, whatever use_reentrant_gc says",
        s.use_reentrant.known() ? fmt::format("use_reentrant={} ({})", wording::py(*s.use_reentrant),
                                              wording::source(s.use_reentrant))
                                : std::string("its own kwargs"));
  }
  Location loc = b.origin.loc.known() ? b.origin.loc : where(s, {&s.checkpointing.why});
  cx.report(kGC109, loc,
            fmt::format("{} ({}) and {} ({}) both checkpoint the same layers: one switch is "
                        "redundant and each backward can recompute every layer twice{}",
                        mechanism_name(a.mechanism), wording::source(a.origin),
                        mechanism_name(b.mechanism), wording::source(b.origin), extra),
            s.format == Format::LlamaFactory
                ? "use LLaMA-Factory's own switches only (disable_gradient_checkpointing, "
                  "use_reentrant_gc) and remove gradient_checkpointing from the YAML"
                : "keep exactly one checkpointing mechanism",
            {a.origin, b.origin});
}

}  // namespace
}  // namespace gcheck
