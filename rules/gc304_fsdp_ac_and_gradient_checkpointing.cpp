#include "analyzer/defaults_table.h"
#include "analyzer/resolver.h"
#include "rules/rule.h"
#include "rules/wording.h"

namespace gcheck {
namespace {
void check(const Setup& s, Context& cx);
}  // namespace

extern const Rule kGC304 = {
    "GC304", "fsdp-ac-and-gradient-checkpointing", Severity::Error,
    "FSDP activation checkpointing and HF gradient checkpointing are both on",
    "nested", "checkpointing, fsdp_ac", "config,code", &check};

namespace {

void check(const Setup& s, Context& cx) {
  if (!s.fsdp_ac.is(true)) return;
  const MechanismUse* other = nullptr;
  for (const auto& m : s.mechanisms)
    if (m.mechanism == Mechanism::HfGradientCheckpointing ||
        m.mechanism == Mechanism::LlamaFactoryWrapper)
      other = &m;
  if (!other) return;
  bool trainer = other->mechanism == Mechanism::HfGradientCheckpointing &&
                 s.format != Format::LlamaFactoryV1;
  cx.report(kGC304, other->origin.loc.known() ? other->origin.loc : where(s, {&s.fsdp_ac.why}),
            fmt::format("FSDP activation checkpointing ({}) and {} ({}) are both on: {}",
                        wording::source(s.fsdp_ac), mechanism_name(other->mechanism),
                        wording::source(other->origin),
                        trainer ? "the HF Trainer raises \"ValueError: The activation_checkpointing "
                                  "in FSDP config and the gradient_checkpointing in training arg "
                                  "can't be set to True simultaneously\"; outside the Trainer every "
                                  "layer recomputes twice"
                                : "every layer is wrapped twice and recomputes twice in backward"),
            "with FSDP keep FSDP's activation_checkpointing and set gradient_checkpointing: false",
            wording::chain({&s.fsdp_ac.why}));
  cx.findings().back().provenance.push_back(other->origin);
  if (trainer) cx.findings().back().provenance.push_back(row_origin(row("hf.fsdp_ac_with_gc")));
}

}  // namespace
}  // namespace gcheck
