#include "rules/rule.h"
#include "rules/wording.h"

namespace gcheck {
namespace {

void check(const Setup& s, Context& cx);

}  // namespace

extern const Rule kGC101 = {
    "GC101", "reentrant-frozen-inputs", Severity::Error,
    "Reentrant checkpointing whose inputs do not require grad drops the gradients of the "
    "checkpointed layers",
    "frozen-inputs", "checkpointing, use_reentrant, frozen_embeddings, input_hook", "config,code",
    &check};

namespace {

// A hand-rolled reentrant Function (C++) applied to tensors that all come from frozen modules,
// NoGradGuard scopes or .detach().
void cxx_calls(const Setup& s, Context& cx) {
  for (const auto& st : s.sites) {
    if (st.kind != CheckpointSite::Kind::CxxCall || !st.inputs_frozen || !st.use_reentrant.is(true)) continue;
    std::vector<Origin> why = st.use_reentrant.why;
    Origin src;
    src.kind = Origin::Kind::Derived;
    src.loc = st.frozen_source;
    src.text = "the tensor arguments do not require grad (frozen here)";
    why.push_back(src);
    cx.report(kGC101, st.loc,
              fmt::format("{}::apply recomputes its block reentrantly (forward under NoGradGuard, "
                          "again in backward), but every tensor argument of this call is frozen{}: "
                          "the output does not require grad, so the block's parameters get no "
                          "gradient: silently when anything else trains, else \"element 0 of "
                          "tensors does not require grad\"",
                          st.api,
                          st.frozen_source.known()
                              ? fmt::format(" ({}:{})", st.frozen_source.file, st.frozen_source.span.begin.line)
                              : std::string()),
              "make the input require grad before the call (x.requires_grad_(true) on a copy), "
              "or pass the block's parameters to apply so forward's output requires grad",
              why);
  }
}

void check(const Setup& s, Context& cx) {
  cxx_calls(s, cx);
  if (!s.checkpointing.is(true) || !s.use_reentrant.is(true)) return;
  if (!s.frozen_embeddings.is(true) || s.input_hook.is(true)) return;
  std::string what = s.partial_freeze.is(true)
                         ? fmt::format("the model is partially frozen ({})",
                                       wording::source(s.partial_freeze))
                         : fmt::format("{} adapters leave the embeddings frozen ({})",
                                       adapter_name(*s.adapter), wording::source(s.adapter));
  std::string msg = fmt::format(
      "reentrant checkpointing ({}) while the tensors entering the checkpointed layers do not "
      "require grad: {}, and no input-require-grads hook is in effect. The checkpointed "
      "layers get no gradient: silently when anything outside them trains, else "
      "\"element 0 of tensors does not require grad\" at the first backward",
      wording::reentrant(s), what);
  // Point at the key the user can change: use_reentrant if they wrote it, else the freezing.
  Location loc = s.stated_by == "user" ? where(s, {&s.use_reentrant.why})
                                       : where(s, {&s.partial_freeze.why, &s.adapter.why,
                                                   &s.use_reentrant.why});
  cx.report(kGC101, loc, msg,
            "set gradient_checkpointing_kwargs: {use_reentrant: false}; or keep reentrant and "
            "call model.enable_input_require_grads() before training",
            wording::chain({&s.use_reentrant.why, &s.frozen_embeddings.why, &s.input_hook.why}));
}

}  // namespace
}  // namespace gcheck
