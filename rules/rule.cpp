#include "rules/rule.h"

#include "analyzer/defaults_table.h"

namespace gcheck {

std::string_view severity_name(Severity s) {
  switch (s) {
    case Severity::Info: return "info";
    case Severity::Warning: return "warning";
    case Severity::Error: return "error";
  }
  return "?";
}

std::optional<Severity> parse_severity(std::string_view s) {
  if (s == "info" || s == "note") return Severity::Info;
  if (s == "warning" || s == "warn") return Severity::Warning;
  if (s == "error") return Severity::Error;
  return std::nullopt;
}

Severity lower(Severity s) {
  return s == Severity::Error ? Severity::Warning : Severity::Info;
}

void Context::report(const Rule& rule, Location loc, std::string message, std::string fix,
                     std::vector<Origin> provenance, std::optional<Severity> severity) {
  Finding f;
  f.rule = &rule;
  f.severity = severity.value_or(rule.severity);
  f.loc = std::move(loc);
  f.message = std::move(message);
  f.fix = std::move(fix);
  f.provenance = std::move(provenance);
  f.probe = std::string(rule.probe);
  out_.push_back(std::move(f));
}

bool Context::multi_process(const Setup& s) {
  return sc_.env(EnvFact::MultiProcess, s.multi_process.value);
}

bool Context::ddp(const Setup& s) {
  if (s.ddp.known()) return *s.ddp;
  bool possible = !s.fsdp.is(true) && s.zero_stage.is(0);
  return possible && multi_process(s);
}

Location where(const Setup& s, std::initializer_list<const std::vector<Origin>*> chains) {
  // The chains come in the rule's order of importance; the first one that names a place in
  // the linted file wins (a key the user wrote before any other place). Findings about a
  // config point into it; linked files show up in the provenance.
  const std::string primary = s.facts ? s.facts->source->display() : std::string();
  for (const auto* chain : chains) {
    const Origin* any = nullptr;
    for (const auto& o : *chain) {
      if (o.kind == Origin::Kind::Unknown || o.loc.file != primary || !o.loc.span.begin.known()) continue;
      if (o.kind == Origin::Kind::Key) return o.loc;
      if (!any) any = &o;
    }
    if (any) return any->loc;
  }
  return s.facts ? s.facts->anchor : Location{};
}

}  // namespace gcheck
