// Library versions and the exploration of what is not known.
//
// A version is known (a pin, --assume), bounded (a requirement like transformers>=4.40,<5) or
// unknown. The resolver and the rules ask questions ("is transformers >= 5.1.0?"). Where the
// answer is not determined, the Scenario forks: every answer is explored in turn (explore()),
// each run records the constraints it assumed, and a finding that appears on some runs only
// is reported with the condition under which it holds, one severity lower.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "analyzer/source.h"

namespace gcheck {

// PEP 440, reduced to what version gates need: release numbers, pre/dev/post tags, local
// labels ignored.
struct Version {
  std::vector<int> release;  // 4.46.0 -> {4, 46, 0}
  int phase = 4;             // 0 dev-only, 1 a, 2 b, 3 rc, 4 final
  int phase_num = 0;
  int post = -1;
  int dev = INT32_MAX;       // .devN within its phase; none sorts last
  std::string text;

  static std::optional<Version> parse(std::string_view s);
  int compare(const Version& o) const;
  bool operator<(const Version& o) const { return compare(o) < 0; }
  bool operator==(const Version& o) const { return compare(o) == 0; }
  bool operator<=(const Version& o) const { return compare(o) <= 0; }
};

struct Bound {
  Version v;
  bool inclusive = true;
};

// The versions a library may have: [lo, hi] with open/closed ends.
struct VersionRange {
  std::optional<Bound> lo;
  std::optional<Bound> hi;
  bool exact() const;
  bool empty() const;
  std::string describe(std::string_view lib) const;  // "transformers >= 4.40, < 5"
  // Parses a requirement specifier list (">=4.40,<5", "==4.46.0", "~=0.27.0", "==4.46.*").
  static std::optional<VersionRange> parse_spec(std::string_view spec);
  void intersect(const VersionRange& o);
  bool contains(const Version& v) const;
  friend bool operator==(const VersionRange& a, const VersionRange& b);
};

// Where a library's version came from.
struct VersionInfo {
  VersionRange range;
  Location where;       // requirements line, pyproject key, lock entry; empty for --assume
  std::string source;   // "--assume", ".gcheck.toml", "requirements.txt", ...
};

// The libraries gcheck knows version gates for.
inline constexpr std::string_view kLibraries[] = {
    "torch", "transformers", "peft", "trl", "deepspeed", "accelerate", "axolotl",
    "llamafactory", "unsloth", "torchtune", "bitsandbytes"};
std::string normalize_library(std::string_view name);  // "LLaMA-Factory" -> "llamafactory"
bool is_known_library(std::string_view name);

using VersionMap = std::map<std::string, VersionInfo, std::less<>>;

// Environment facts that configs often leave open and that rules depend on.
enum class EnvFact : uint8_t { MultiProcess };
std::string_view env_fact_text(EnvFact f, bool value);

// What one path through the unknowns assumed: ranges per library, answers per environment
// fact. Only assumptions the run made, never what the inputs stated.
struct PathCondition {
  std::map<std::string, VersionRange, std::less<>> ranges;
  std::map<EnvFact, bool> env;
  std::string describe() const;  // "transformers < 5.1.0 and trl >= 0.22.0"; "" = always
};

// One path through the unknowns.
class Scenario {
 public:
  Scenario(const VersionMap& known, std::vector<bool> script);

  // Version questions. `v` is a version literal ("5.1.0").
  bool at_least(std::string_view lib, std::string_view v);
  bool below(std::string_view lib, std::string_view v) { return !at_least(lib, v); }
  // since <= version < until; either end may be empty.
  bool in_range(std::string_view lib, std::string_view since, std::string_view until);
  // An environment question; `known` answers without forking when the input states it.
  bool env(EnvFact f, std::optional<bool> known);

  // The version if it is known exactly, and where it came from.
  std::optional<Version> exact(std::string_view lib) const;
  const VersionInfo* info(std::string_view lib) const;
  // What is known or assumed about a library on this path ("4.46.0", ">= 5.1.0", "unknown").
  std::string view(std::string_view lib) const;

  const PathCondition& condition() const { return cond_; }
  const std::vector<bool>& decisions() const { return decisions_; }

 private:
  bool decide();
  VersionRange current(std::string_view lib) const;
  const VersionMap& known_;
  std::vector<bool> script_;
  size_t next_ = 0;
  std::vector<bool> decisions_;
  PathCondition cond_;
};

// Runs `body` once per distinct path through the unknowns it asks about. Returns each path's
// condition, in run order (the index passed to body). At most `max_paths` paths are run.
std::vector<PathCondition> explore(const VersionMap& known,
                                   const std::function<void(Scenario&, size_t)>& body,
                                   size_t max_paths = 64);

// The condition under which something holds, given which paths it holds on: simplified
// (assumptions that do not matter are dropped, adjacent ranges joined). "" when it holds on
// every path.
std::string describe_condition(const std::vector<PathCondition>& paths,
                               const std::vector<bool>& holds);

}  // namespace gcheck
