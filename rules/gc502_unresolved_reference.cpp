#include "rules/rule.h"

namespace gcheck {
namespace {
void check(const Setup& s, Context& cx);
}  // namespace

extern const Rule kGC502 = {
    "GC502", "unresolved-reference", Severity::Warning,
    "A referenced file is missing, unreadable or a template; the rules that need it cannot check",
    "", "", "config,code", &check, /*per_document=*/true};

namespace {

// The Setup value an unresolved key would have decided.
std::string_view field_for(std::string_view key) {
  auto has = [&](std::string_view part) { return key.find(part) != std::string_view::npos; };
  if (has("deepspeed") || has("zero")) return "zero_stage";
  if (key == "launcher") return "multi_process";
  if (has("use_reentrant")) return "use_reentrant";
  if (has("fsdp")) return "fsdp_ac";
  if (has("checkpointing")) return "checkpointing";
  if (has("dropout")) return "dropout";
  if (has("find_unused")) return "find_unused_parameters";
  if (has("use_cache")) return "use_cache";
  if (has("compile")) return "torch_compile";
  if (has("load_in_") || has("bits") || has("quantization")) return "quant_bits";
  if (has("requires_grad")) return "frozen_params";
  if (has("adapter") || has("peft") || has("target_modules") || has("modules_to_save"))
    return "adapter";
  if (has("model_name") || has("model_type")) return "model_type";
  return "";
}

std::string rules_reading(std::string_view field) {
  std::string out;
  if (field.empty()) return out;
  for (const auto& e : all_rules()) {
    std::string_view r = e.rule->reads;
    size_t p = r.find(field);
    bool whole = p != std::string_view::npos &&
                 (p == 0 || r[p - 1] == ' ' || r[p - 1] == ',') &&
                 (p + field.size() == r.size() || r[p + field.size()] == ',');
    if (whole) out += (out.empty() ? "" : ", ") + std::string(e.rule->code);
  }
  return out;
}

// A value a script computes at run time (not a file it references): reported, but as info,
// since no lint can read it; explain lists them all.
bool run_time_value(const Setup& s, const Unreadable& u) {
  if (!s.facts || (s.format != Format::Python && s.format != Format::Cpp)) return false;
  if (u.key == "training settings") return true;  // an argument parser's (resolver)
  for (const auto& v : s.facts->unreadable)
    if (v.key == u.key && v.loc.file == u.loc.file && v.loc.span.begin == u.loc.span.begin &&
        v.why == u.why)
      return true;
  return false;
}

// A run-time value worth a note (explain lists them all): not trust_remote_code, which no rule
// reads; the model's name only where checkpointing may be on (the rules that read it are
// about checkpointed models: KV sharing, Mixture-of-Experts routers).
bool worth_a_note(const Setup& s, const Unreadable& u, std::string_view field) {
  if (u.key == "trust_remote_code") return false;
  if (field == "model_type") return !s.checkpointing.is(false);
  return true;
}

void check(const Setup& s, Context& cx) {
  for (const auto& u : s.unresolved) {
    std::string_view field = field_for(u.key);
    std::string rules = rules_reading(field);
    if (run_time_value(s, u)) {
      if (!worth_a_note(s, u, field)) continue;
      cx.report(kGC502, u.loc,
                fmt::format("{} {}{}", u.key, u.why,
                            rules.empty() ? std::string()
                                          : fmt::format("; not checked without it: {}", rules)),
                "state the value as a literal (or a name bound to one in this module), or pair "
                "the script with the config it reads (--pair script.py=config.yaml)",
                {}, Severity::Info);
      continue;
    }
    cx.report(kGC502, u.loc,
              fmt::format("{} {}{}", u.key, u.why,
                          rules.empty() ? std::string()
                                        : fmt::format("; not checked without it: {}", rules)),
              "point the key at an existing file (relative to the directory the run starts in "
              "or to this file), or render the template before linting",
              {});
  }
}

}  // namespace
}  // namespace gcheck
