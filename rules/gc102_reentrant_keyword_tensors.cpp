#include "analyzer/resolver.h"
#include "rules/rule.h"
#include "rules/wording.h"

namespace gcheck {
namespace {
void check(const Setup& s, Context& cx);
}  // namespace

extern const Rule kGC102 = {
    "GC102", "reentrant-keyword-tensors", Severity::Warning,
    "Reentrant checkpointing drops the gradients of tensors passed by keyword or inside containers",
    "keyword-tensors", "use_reentrant, sites, model_type", "config,code", &check};

namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Gemma-4 shares KV states across layers through a dict the checkpointed layers receive by
// keyword (shared_kv_states).
const Opt<std::string>* gemma4(const Facts& f) {
  if (f.model_type) {
    std::string t = lower(f.model_type->value);
    return t.rfind("gemma4", 0) == 0 ? &f.model_type : nullptr;
  }
  if (f.model_name) {
    std::string n = lower(f.model_name->value);
    if (n.find("gemma-4") != std::string::npos || n.find("gemma4") != std::string::npos) return &f.model_name;
  }
  return nullptr;
}

void check(const Setup& s, Context& cx) {
  for (const auto& st : s.sites) {
    if (!st.keyword_tensors || !st.use_reentrant.is(true)) continue;
    cx.report(kGC102, st.keyword_loc.known() ? st.keyword_loc : st.loc,
              fmt::format("reentrant checkpoint (use_reentrant=True, {}) with tensors passed by "
                          "keyword, inside a container or bound in a functools.partial: the "
                          "reentrant implementation only tracks top-level positional tensors, so "
                          "these get no gradient (silently: the loss looks fine)",
                          wording::source(st.use_reentrant)),
              "use use_reentrant=False, or pass every tensor that needs a gradient as a positional "
              "argument of checkpoint()",
              st.use_reentrant.why);
  }
  // Model families whose decoder layers receive grad-carrying tensors by keyword.
  if (!s.checkpointing.is(true) || !s.use_reentrant.is(true) || !s.facts || !s.hf_gc.is(true)) return;
  const Opt<std::string>* g = gemma4(*s.facts);
  if (!g) return;
  const auto& named = **g;
  cx.report(kGC102, named.key_loc.known() ? named.key_loc : named.loc,
            fmt::format("{} is a Gemma-4 model: its layers share KV states (shared_kv_states) "
                        "through keyword arguments, which reentrant checkpointing ({}) does not "
                        "track, so the producing layers' k/v projections get wrong gradients "
                        "(measured cosine 0.14 against the reference)",
                        named.raw, wording::reentrant(s)),
            "set gradient_checkpointing_kwargs: {use_reentrant: false}",
            wording::chain({&s.use_reentrant.why}));
  cx.findings().back().provenance.insert(cx.findings().back().provenance.begin(), key_origin(named));
}

}  // namespace
}  // namespace gcheck
