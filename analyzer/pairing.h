// A training script and the YAML it parses (TrlParser / HfArgumentParser `--config x.yaml`)
// describe one run. merge_pair puts both into one Facts: the script's code facts, the YAML's
// values where it states them (the argument parsers load the YAML into the same dataclasses
// the script would otherwise fill), the script's values elsewhere.
#pragma once

#include <memory>

#include "analyzer/facts.h"

namespace gcheck {

std::shared_ptr<Facts> merge_pair(const Facts& script, const Facts& config);

}  // namespace gcheck
