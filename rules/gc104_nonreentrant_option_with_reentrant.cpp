#include "analyzer/resolver.h"
#include "rules/rule.h"
#include "rules/wording.h"

namespace gcheck {
namespace {
void check(const Setup& s, Context& cx);
}  // namespace

extern const Rule kGC104 = {
    "GC104", "nonreentrant-option-with-reentrant", Severity::Error,
    "An option of the non-reentrant implementation is used with reentrant checkpointing",
    "", "checkpointing, use_reentrant", "config,code", &check};

namespace {

template <class T>
void one(const Setup& s, Context& cx, const Opt<T>& opt, std::string_view what, Severity sev,
         std::string_view consequence) {
  if (!opt) return;
  cx.report(kGC104, opt->key_loc.known() ? opt->key_loc : opt->loc,
            fmt::format("{} is set while checkpointing is reentrant ({}): {}", what,
                        wording::reentrant(s), consequence),
            "set use_reentrant: false, or drop the option",
            wording::chain({&s.use_reentrant.why}), sev);
  cx.findings().back().provenance.insert(cx.findings().back().provenance.begin(), key_origin(*opt));
}

constexpr std::string_view kValueError =
    "torch raises \"ValueError: Passing `context_fn` or `debug` is only supported when "
    "use_reentrant=False.\" at the first checkpointed forward";

// checkpoint(..., context_fn=..., use_reentrant=True) and friends, call by call.
void sites(const Setup& s, Context& cx) {
  for (const auto& st : s.sites) {
    if (!st.use_reentrant.is(true)) continue;
    auto one = [&](const Location& at, std::string_view what, Severity sev, std::string_view consequence) {
      cx.report(kGC104, at.known() ? at : st.loc,
                fmt::format("{} is passed to a reentrant checkpoint (use_reentrant=True, {}): {}",
                            what, wording::source(st.use_reentrant), consequence),
                "pass use_reentrant=False, or drop the option", st.use_reentrant.why, sev);
    };
    if (st.context_fn) one(*st.context_fn, "context_fn", Severity::Error, kValueError);
    if (st.debug) one(*st.debug, "debug=True", Severity::Error, kValueError);
    if (st.determinism_check)
      one(st.determinism_check->second, "determinism_check", Severity::Warning,
          "reentrant checkpointing never checks recomputed values, so the option is silently ignored");
    if (st.early_stop)
      one(*st.early_stop, "early_stop", Severity::Warning,
          "early stop only exists in the non-reentrant implementation; the option is silently ignored");
  }
}

void check(const Setup& s, Context& cx) {
  sites(s, cx);
  if (!s.checkpointing.is(true) || !s.use_reentrant.is(true) || !s.facts) return;
  const Facts& f = *s.facts;
  one(s, cx, f.context_fn, "context_fn", Severity::Error, kValueError);
  if (f.debug && f.debug->value) one(s, cx, f.debug, "debug: true", Severity::Error, kValueError);
  if (f.selective_checkpointing && f.selective_checkpointing->value)
    one(s, cx, f.selective_checkpointing, "selective_checkpointing (a context_fn policy)",
        Severity::Error,
        "Axolotl rejects it (\"selective_checkpointing requires non-reentrant checkpointing\"), "
        "and torch would raise the context_fn ValueError");
  one(s, cx, f.determinism_check, "determinism_check", Severity::Warning,
      "reentrant checkpointing never checks recomputed values, so the option is silently ignored");
  one(s, cx, f.early_stop, "early_stop", Severity::Warning,
      "early stop only exists in the non-reentrant implementation; the option is silently ignored");
}

}  // namespace
}  // namespace gcheck
