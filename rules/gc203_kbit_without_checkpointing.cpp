#include "rules/rule.h"
#include "rules/wording.h"

namespace gcheck {
namespace {
void check(const Setup& s, Context& cx);
}  // namespace

extern const Rule kGC203 = {
    "GC203", "kbit-without-checkpointing", Severity::Info,
    "4-bit or 8-bit adapter training without checkpointing or offloading: activation memory "
    "dominates",
    "memory", "checkpointing, quant_bits, adapter, activation_offload", "config,code", &check};

namespace {

void check(const Setup& s, Context& cx) {
  if (!s.checkpointing.is(false) || !s.quant_bits.known() || *s.quant_bits == 0) return;
  if (s.adapter.is(Adapter::None) || s.activation_offload.is(true)) return;
  cx.report(kGC203, where(s, {&s.quant_bits.why, &s.adapter.why}),
            fmt::format("{}-bit {} training without any checkpointing ({}): the frozen base is "
                        "small, so activations dominate memory; checkpointing the decoder layers "
                        "usually cuts activation memory by half or more for ~20-30% more compute",
                        *s.quant_bits, adapter_name(*s.adapter), wording::source(s.checkpointing)),
            "turn gradient checkpointing on (gradient_checkpointing: true with "
            "gradient_checkpointing_kwargs: {use_reentrant: false}); `gcheck probe --scenario "
            "memory` measures the saving",
            wording::chain({&s.quant_bits.why, &s.checkpointing.why}));
}

}  // namespace
}  // namespace gcheck
