// The resolver: from the facts of a config (and the files it links to) to the effective Setup,
// applying the stack's defaults and overrides from the defaults table on one path of the
// version scenario.
#pragma once

#include <memory>
#include <vector>

#include "analyzer/facts.h"
#include "analyzer/setup.h"

namespace gcheck {

// A config and what it links to, as the linker found them.
struct Inputs {
  std::shared_ptr<const Facts> primary;
  std::shared_ptr<const Facts> deepspeed;  // referenced JSON, inline dict, or launcher's file
  std::shared_ptr<const Facts> launcher;   // accelerate launcher config
  Origin deepspeed_link;                   // how the DeepSpeed config was found
  Origin launcher_link;                    // how the launcher was paired
  std::vector<Unreadable> unresolved;      // references that could not be followed
};

Setup resolve(const Inputs& in, Scenario& sc);

// Wording helpers shared with rules and explain.
Origin key_origin(const Fact<bool>& f);
Origin key_origin(const Fact<int64_t>& f);
Origin key_origin(const Fact<double>& f);
Origin key_origin(const Fact<std::string>& f);
Origin key_origin(const Fact<std::vector<std::string>>& f);
Origin row_origin(const DefaultRow& r, Origin::Kind kind = Origin::Kind::Default);

}  // namespace gcheck
