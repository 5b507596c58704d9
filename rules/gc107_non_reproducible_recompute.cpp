#include <cctype>

#include "analyzer/resolver.h"
#include "rules/rule.h"
#include "rules/wording.h"

namespace gcheck {
namespace {
void check(const Setup& s, Context& cx);
}  // namespace

extern const Rule kGC107 = {
    "GC107", "non-reproducible-recompute", Severity::Warning,
    "Something changes between the forward and its recomputation",
    "stateful-recompute", "checkpointing, use_reentrant, model_type", "config,code", &check};

namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Mixture-of-Experts families whose expert dispatch depends on the router's top-k.
bool moe_name(const std::string& raw) {
  std::string n = lower(raw);
  for (const char* k : {"moe", "mixtral", "deepseek-v2", "deepseek-v3", "deepseek_v2",
                        "deepseek_v3", "dbrx", "jamba", "arctic", "gpt-oss", "gpt_oss", "olmoe",
                        "granitemoe", "phimoe"}) {
    if (n.find(k) != std::string::npos) return true;
  }
  // Active-parameter suffixes: Qwen3-30B-A3B, Qwen3.5-35B-A3B, Qwen3-235B-A22B, Llama-4 A17B...
  for (size_t i = 0; i + 2 < n.size(); ++i) {
    if ((i == 0 || n[i - 1] == '-' || n[i - 1] == '_') && n[i] == 'a' &&
        std::isdigit(static_cast<unsigned char>(n[i + 1]))) {
      size_t j = i + 1;
      while (j < n.size() && (std::isdigit(static_cast<unsigned char>(n[j])) || n[j] == '.')) ++j;
      if (j < n.size() && n[j] == 'b') return true;
    }
  }
  return false;
}

void check(const Setup& s, Context& cx) {
  for (const auto& st : s.sites) {
    if (st.kind != CheckpointSite::Kind::CxxFunction || !st.mutates_state) continue;
    cx.report(kGC107, st.mutation_loc.known() ? st.mutation_loc : st.loc,
              fmt::format("{} writes state inside the computation it recomputes in backward (a "
                          "member, a counter or a container that grows): the recomputation does "
                          "not see what the forward saw, so backward differentiates a different "
                          "computation, and the state changes twice per step",
                          st.api),
              "keep the recomputed computation pure: move the state update out of it (before the "
              "apply call) or save what it depends on in forward",
              st.use_reentrant.why);
  }
  if (!s.checkpointing.is(true) || !s.facts) return;
  const Facts& f = *s.facts;
  const Opt<std::string>& named = f.model_type ? f.model_type : f.model_name;
  if (!named || !moe_name(named->value)) return;
  std::string mode = s.use_reentrant.is(true)
                         ? "reentrant checkpointing never compares them, so the gradients are "
                           "silently wrong"
                         : "non-reentrant checkpointing raises \"CheckpointError: ... A different "
                           "number of tensors was saved during the original forward and "
                           "recomputation\" or a metadata mismatch";
  cx.report(kGC107, named->key_loc.known() ? named->key_loc : named->loc,
            fmt::format("{} is a Mixture-of-Experts model under checkpointing: the router's top-k "
                        "is recomputed, and near-ties or non-deterministic kernels can send tokens "
                        "to other experts than in the forward pass; {}",
                        named->raw, mode),
            "save the router outputs for the backward (selective checkpointing that keeps router "
            "results), keep routing deterministic, or leave the MoE blocks out of checkpointing; "
            "do not put LoRA on the router without checking",
            wording::chain({&s.checkpointing.why}), Severity::Info);
  cx.findings().back().provenance.insert(cx.findings().back().provenance.begin(), key_origin(*named));
}

}  // namespace
}  // namespace gcheck
