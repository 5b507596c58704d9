// Reporters: they know findings and errors, nothing about rules' logic.
#pragma once

#include <string>

#include "cli/engine.h"

namespace gcheck {

struct TextStyle {
  bool color = false;
  bool statistics = false;
  bool show_source = true;
  bool verbose = false;
};

std::string report_text(const LintResult& r, const TextStyle& style);
std::string report_json(const LintResult& r);
std::string report_sarif(const LintResult& r);
std::string report_github(const LintResult& r);
std::string report_statistics(const LintResult& r);

// Repository-relative path for SARIF (relative to the git root when inside one).
std::string repo_relative(const std::string& display_path);

}  // namespace gcheck
