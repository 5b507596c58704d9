#include "rules/rule.h"
#include "rules/wording.h"

namespace gcheck {
namespace {
void check(const Setup& s, Context& cx);
}  // namespace

extern const Rule kGC105 = {
    "GC105",
    "implicit-use-reentrant",
    Severity::Warning,
    "Checkpointing is on but nothing states use_reentrant, so torch's own default decides",
    "",
    "checkpointing, use_reentrant",
    "config,code",
    &check};

namespace {

std::string_view call_name(const CheckpointSite& st) {
  auto dot = st.api.rfind('.');
  return dot == std::string::npos ? std::string_view(st.api)
                                  : std::string_view(st.api).substr(dot + 1);
}

// Each call in code that leaves use_reentrant to a default (TorchFix TOR003 and more).
void sites(const Setup& s, Context& cx) {
  for (const auto& st : s.sites) {
    if (st.stated_by != "torch" || !st.use_reentrant.known()) continue;
    std::string what, fix;
    switch (st.kind) {
      case CheckpointSite::Kind::TorchCall:
        what = fmt::format(
            "{}(...) is called without use_reentrant, so torch's own default "
            "applies: use_reentrant=True (the reentrant variant, with a deprecation "
            "warning every call, and every GC1xx hazard of reentrant checkpointing)",
            call_name(st));
        fix = "pass use_reentrant=False (or True where reentrant is needed, stated)";
        break;
      case CheckpointSite::Kind::Wrapper:
        what = fmt::format(
            "{}(...) is called without checkpoint_impl, so torch's default decides: "
            "{} ({})",
            call_name(st),
            *st.use_reentrant ? "CheckpointImpl.REENTRANT" : "CheckpointImpl.NO_REENTRANT",
            wording::source(st.use_reentrant));
        fix = "pass checkpoint_impl=CheckpointImpl.NO_REENTRANT (or REENTRANT, stated)";
        break;
      case CheckpointSite::Kind::HfEnable:
      case CheckpointSite::Kind::KbitPrepare:
        what = fmt::format(
            "{}(...) leaves use_reentrant unstated: {}, so torch's own default "
            "applies: use_reentrant=True (reentrant, with a deprecation warning "
            "every step)",
            st.api,
            st.has_kwargs
                ? std::string("its gradient_checkpointing_kwargs do not "
                              "contain it and reach torch as they are")
                : fmt::format(
                      "without gradient_checkpointing_kwargs, "
                      "{} passes none ({})",
                      st.kind == CheckpointSite::Kind::KbitPrepare ? "PEFT" : "transformers",
                      wording::source(st.use_reentrant)));
        fix = "pass gradient_checkpointing_kwargs={\"use_reentrant\": False}";
        if (!st.via.empty()) {
          what = fmt::format(
              "{} switches checkpointing on through the model config: the model's "
              "post_init calls gradient_checkpointing_enable() without "
              "gradient_checkpointing_kwargs and transformers passes none ({}), "
              "so torch's own default applies: use_reentrant=True (reentrant, "
              "with a deprecation warning every step)",
              st.via, wording::source(st.use_reentrant));
          fix =
              "drop gradient_checkpointing=True and call model.gradient_checkpointing_enable("
              "gradient_checkpointing_kwargs={\"use_reentrant\": False}) after loading";
        }
        break;
      default:
        continue;
    }
    cx.report(kGC105, st.loc, what, fix, st.use_reentrant.why);
  }
}

void check(const Setup& s, Context& cx) {
  sites(s, cx);
  if (s.reentrant_site >= 0) return;  // the call that decides was reported above
  if (!s.checkpointing.is(true) || s.stated_by != "torch" || !s.facts) return;
  const Facts& f = *s.facts;
  Location loc =
      f.gc_kwargs ? f.gc_kwargs->key_loc : where(s, {&s.hf_gc.why, &s.checkpointing.why});
  std::string how =
      f.gc_kwargs && !f.gc_kwargs->value
          ? "gradient_checkpointing_kwargs is {}, and an empty dict reaches torch as is "
            "(transformers only fills in its default when the argument is None)"
      : f.gc_kwargs ? "gradient_checkpointing_kwargs is given without use_reentrant and reaches "
                      "torch as is"
                    : fmt::format("no layer of the stack passes use_reentrant ({})",
                                  wording::source(s.use_reentrant));
  cx.report(kGC105, loc,
            fmt::format("checkpointing is on but use_reentrant is never stated: {}, so torch's own "
                        "default applies: use_reentrant=True (the reentrant variant, with a "
                        "deprecation warning every step, and every GC1xx hazard of reentrant "
                        "checkpointing)",
                        how),
            "state it: gradient_checkpointing_kwargs: {use_reentrant: false} (or true where a "
            "framework needs reentrant, e.g. ZeRO-3 with PEFT on DeepSpeed < 0.19.3)",
            wording::chain({&s.use_reentrant.why, &s.checkpointing.why}));
}

}  // namespace
}  // namespace gcheck
