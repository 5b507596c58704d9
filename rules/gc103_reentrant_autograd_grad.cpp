#include "rules/rule.h"
#include "rules/wording.h"

namespace gcheck {
namespace {
void check(const Setup& s, Context& cx);
}  // namespace

extern const Rule kGC103 = {
    "GC103", "reentrant-autograd-grad", Severity::Error,
    "Reentrant checkpointing with torch.autograd.grad(...) or backward(inputs=...) raises",
    "autograd-grad", "use_reentrant, sites, autograd_grad", "code", &check};

namespace {

void check(const Setup& s, Context& cx) {
  if (!s.facts || !s.facts->code || s.facts->code->autograd_grad.empty()) return;
  // The reentrant checkpoint in this program: the Setup's, else any call site's.
  const Eff<bool>* reentrant = nullptr;
  if (s.checkpointing.is(true) && s.use_reentrant.is(true)) reentrant = &s.use_reentrant;
  for (const auto& st : s.sites)
    if (!reentrant && st.use_reentrant.is(true)) reentrant = &st.use_reentrant;
  if (!reentrant) return;
  bool cxx = s.format == Format::Cpp;
  for (const auto& g : s.facts->code->autograd_grad) {
    std::vector<Origin> why = reentrant->why;
    cx.report(kGC103, g.loc,
              fmt::format("{} in a program that checkpoints reentrantly ({}): the reentrant "
                          "backward cannot run inside {}. torch raises \"When use_reentrant=True, "
                          "torch.utils.checkpoint is incompatible with .grad() or passing an "
                          "`inputs` parameter to .backward()\"{}",
                          cxx ? "torch::autograd::grad(...) / backward(..., inputs)"
                              : "torch.autograd.grad(...) / backward(inputs=...)",
                          wording::source(*reentrant),
                          cxx ? "autograd::grad" : "autograd.grad",
                          cxx ? "; a hand-rolled recompute Function gets no gradient for its "
                                "block (its backward only runs when the block's output is "
                                "differentiated through ordinary backward)"
                              : ""),
              cxx ? "differentiate with loss.backward() and read the .grad fields, or make the "
                    "recompute Function non-reentrant (save the activations it needs)"
                  : "use use_reentrant=False, or call loss.backward() without inputs=",
              why);
  }
}

}  // namespace
}  // namespace gcheck
