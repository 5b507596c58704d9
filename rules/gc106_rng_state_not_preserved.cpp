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

void sites(const Setup& s, Context& cx) {
  for (const auto& st : s.sites) {
    if (!st.preserve_rng_state.is(false)) continue;
    if (st.kind == CheckpointSite::Kind::CxxFunction) {
      if (!st.dropout_inside) continue;
      std::vector<Origin> why = st.preserve_rng_state.why;
      Origin d;
      d.kind = Origin::Kind::Derived;
      d.loc = st.dropout_loc;
      d.text = "dropout in the recomputed computation";
      why.push_back(d);
      cx.report(kGC106, st.loc,
                fmt::format("{} recomputes its block in backward without saving and restoring the "
                            "RNG state, and the block uses dropout{}: the recomputation draws new "
                            "masks, so the gradients belong to a different sample than the loss. "
                            "Silently wrong gradients",
                            st.api,
                            st.dropout_loc.known() ? fmt::format(" ({}:{})", st.dropout_loc.file,
                                                                 st.dropout_loc.span.begin.line)
                                                   : std::string()),
                "save the generator state in forward (torch::cuda::detail::getDefaultCUDAGenerator()"
                ".get_state() / at::globalContext().defaultGenerator(...)) and restore it in "
                "backward before recomputing, as torch.utils.checkpoint does",
                why);
    } else if (s.dropout.known() && *s.dropout > 0) {
      const Origin* o = nullptr;
      for (const auto& w : st.preserve_rng_state.why)
        if (w.loc.known() && !o) o = &w;
      cx.report(kGC106, o ? o->loc : st.loc,
                fmt::format("this checkpoint runs with preserve_rng_state=False while dropout {} is "
                            "active ({}): the recomputation draws fresh dropout masks. Silently "
                            "wrong gradients",
                            *s.dropout, wording::source(s.dropout)),
                "keep preserve_rng_state=True whenever dropout > 0 inside the checkpointed function",
                wording::chain({&st.preserve_rng_state.why, &s.dropout.why}));
    }
  }
}

void check(const Setup& s, Context& cx) {
  sites(s, cx);
  if (s.reentrant_site >= 0) return;  // code: judged per site above
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
