// `gcheck explain FILE`: the resolved Setup, each effective value with where it came from and
// which rules read it.
#pragma once

#include <string>

#include "cli/engine.h"

namespace gcheck {

std::string explain_text(const ExplainResult& er, bool color);
std::string explain_json(const ExplainResult& er);

}  // namespace gcheck
