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
  if (key.find("deepspeed") != std::string_view::npos || key.find("zero") != std::string_view::npos)
    return "zero_stage";
  if (key == "launcher") return "multi_process";
  if (key.find("use_reentrant") != std::string_view::npos) return "use_reentrant";
  if (key.find("fsdp") != std::string_view::npos) return "fsdp_ac";
  if (key.find("checkpointing") != std::string_view::npos) return "checkpointing";
  if (key.find("dropout") != std::string_view::npos) return "dropout";
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

void check(const Setup& s, Context& cx) {
  for (const auto& u : s.unresolved) {
    std::string rules = rules_reading(field_for(u.key));
    if (run_time_value(s, u)) {
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
