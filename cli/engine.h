// The lint engine: expands paths, reads and links configs, explores the unknown versions,
// runs the selected rules on each effective Setup, merges what they find, applies
// suppressions, and returns findings and errors for a reporter.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "analyzer/linker.h"
#include "analyzer/project.h"
#include "rules/rule.h"

namespace gcheck {

struct LintOptions {
  std::vector<std::string> paths;                       // files or folders; default "."
  std::vector<std::string> exclude;                     // --exclude GLOB (added to defaults)
  std::optional<std::vector<std::string>> select;       // --select (replaces the config's)
  std::vector<std::string> extend_select;
  std::vector<std::string> ignore;
  std::optional<Severity> severity_threshold;
  std::vector<std::pair<std::string, std::string>> assume;  // --assume lib=version
  std::optional<std::string> launcher;                  // --launcher accel.yaml
  std::vector<std::pair<std::string, std::string>> format_of;  // --format-of FILE=KIND
  std::optional<std::string> project_config;            // --project-config FILE
  std::vector<std::pair<std::string, std::string>> pairs;  // --pair SCRIPT=CONFIG
  std::string compile_db_dir;                           // -p DIR (C++: compile_commands.json)
  std::optional<std::vector<std::string>> cxx_args;     // C++ compiler flags after `--`
  InputLimits limits;
  unsigned jobs = 0;                                    // files read in parallel (0: one per core)
  bool verbose = false;
};

// An input or usage problem: printed as file:line:col: error, exit code 2.
struct LintError {
  Location loc;
  std::string message;
};

struct LintResult {
  std::vector<Finding> findings;  // sorted by file, line, column, code
  std::vector<LintError> errors;
  std::vector<std::string> notes; // files skipped and why (shown with --verbose)
  std::vector<std::string> warnings;  // always shown: an explicitly named file that is empty
  size_t files_checked = 0;
  Severity threshold = Severity::Warning;
  std::map<std::string, SourcePtr> sources;  // for caret display: display path -> text
  bool usage_error = false;       // the project configuration or an option is invalid
  std::shared_ptr<void> keep_alive;  // the parsed documents, so a CLI can exit without freeing
};

LintResult run_lint(const LintOptions& opts);

// The resolved Setup of one file on every path through the unknowns (gcheck explain).
struct ExplainPath {
  PathCondition condition;
  Setup setup;
};
struct ExplainResult {
  std::shared_ptr<const Facts> facts;
  Inputs inputs;
  VersionMap versions;
  std::vector<ExplainPath> paths;
  std::optional<LintError> error;
};
ExplainResult run_explain(const std::string& file, const LintOptions& opts);

// Rule selection (ruff semantics: code or prefix, ALL; the longest matching prefix wins).
struct Selection {
  std::vector<std::string> select{"ALL"};
  std::vector<std::string> ignore;
  bool enabled(std::string_view code) const;
};

}  // namespace gcheck
