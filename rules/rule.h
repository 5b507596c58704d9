// A rule: metadata, its documentation (the .md beside it) and a check that reads only the
// Setup. Adding a rule is adding rules/gcNNN_name.cpp and rules/gcNNN_name.md.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "analyzer/setup.h"

namespace gcheck {

enum class Severity : uint8_t { Info = 0, Warning = 1, Error = 2 };
std::string_view severity_name(Severity s);
std::optional<Severity> parse_severity(std::string_view s);
Severity lower(Severity s);

struct Rule;

struct Finding {
  const Rule* rule = nullptr;
  Severity severity = Severity::Warning;
  Location loc;
  std::string message;
  std::string fix;
  std::vector<Origin> provenance;  // the effective values that made it fire
  std::string condition;           // versions/launch under which it holds ("" = always)
  std::string probe;               // probe scenario that can confirm it ("" = static only)
  std::string verdict;             // filled by `lint --probe`
};

// What a rule's check gets: the scenario (for version questions) and a place to report.
class Context {
 public:
  explicit Context(Scenario& sc) : sc_(sc) {}
  Scenario& scenario() { return sc_; }

  // Reports a finding at `loc` (a file the user can open); severity defaults to the rule's.
  void report(const Rule& rule, Location loc, std::string message, std::string fix,
              std::vector<Origin> provenance, std::optional<Severity> severity = std::nullopt);
  std::vector<Finding>& findings() { return out_; }

  // Launch questions that configs often leave open: answered by the Setup when it knows,
  // else explored both ways.
  bool multi_process(const Setup& s);
  bool ddp(const Setup& s);  // several processes, neither FSDP nor DeepSpeed

 private:
  Scenario& sc_;
  std::vector<Finding> out_;
};

struct Rule {
  std::string_view code;      // GC101
  std::string_view name;      // reentrant-frozen-inputs
  Severity severity;
  std::string_view summary;   // one line
  std::string_view probe;     // probe scenario, "" when static only
  std::string_view reads;     // Setup values it reads, comma-separated (for explain)
  std::string_view inputs;    // which inputs can express it: "config", "code", "config,code"
  void (*check)(const Setup&, Context&);
  // Reads only the documents (duplicate keys, syntax, key names), never a version or launch
  // question: run once per file instead of once per path through the unknowns.
  bool per_document = false;
};

struct RuleEntry {
  const Rule* rule;
  std::string_view doc;  // rules/gcNNN_name.md
};

std::span<const RuleEntry> all_rules();
const RuleEntry* find_rule(std::string_view code);  // by code (GC101) or name

// The location a finding about an effective value points at: the first origin that names a
// place in a file, else the file's anchor (its first key).
Location where(const Setup& s, std::initializer_list<const std::vector<Origin>*> chains);

}  // namespace gcheck
