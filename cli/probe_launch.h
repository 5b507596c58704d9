// `gcheck probe` runs the gcheck-probe binary (built with LibTorch), which lives beside gcheck.
// Keeping LibTorch out of gcheck itself keeps `gcheck lint` starting in milliseconds.
#pragma once

#include <string>
#include <vector>

#include "cli/engine.h"

namespace gcheck {

// Replaces this process with gcheck-probe ARGS...; returns 2 with a message when it is missing.
int launch_probe(const char* argv0, const std::vector<std::string>& args);

// Finds the gcheck-probe binary: beside this executable, else on PATH. "" when absent.
std::string find_probe_binary(const char* argv0);

// Runs the scenarios the findings name once each and attaches CONFIRMED/REFUTED/ERROR with
// the numbers to every finding (lint --probe).
void attach_probe_verdicts(const char* argv0, LintResult& r, const LintOptions& opts);

}  // namespace gcheck
