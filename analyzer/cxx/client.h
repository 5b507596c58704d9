// gcheck's side of the C++ front end: runs gcheck-cxx (built beside gcheck when Clang is
// found) on C++ sources and turns its report into Facts with format Cpp. gcheck itself never
// links Clang; it pays for gcheck-cxx only when C++ files are linted.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "analyzer/cxx/report.h"
#include "analyzer/facts.h"

namespace gcheck::cxx {

struct CxxRequest {
  std::vector<std::string> files;  // C++ sources (translation units)
  std::string compile_db_dir;      // -p DIR (a folder holding compile_commands.json)
  bool fixed_args = false;         // pass `-- extra_args` (flags instead of a database)
  std::vector<std::string> extra_args;
  std::vector<std::string> tool_flags;  // more gcheck-cxx options (--no-skip, ...)
  std::string binary;                   // "" = find gcheck-cxx beside this executable, or on PATH
};

// Finds gcheck-cxx: beside the running executable (also ../libexec/gcheck/), else on PATH.
// "" when absent.
std::string find_cxx_binary();

// Runs gcheck-cxx and reads its report. An error when it is missing, fails, or writes
// something that is not a report (the message says which, with its stderr).
Result<Report> run_cxx_frontend(const CxxRequest& req);

// The facts of each analyzed unit (format Cpp, `code` filled, paths shown relative to the
// working directory), the skipped units as notes, and compiler errors as input errors.
struct CxxFacts {
  std::vector<std::shared_ptr<Facts>> facts;
  std::vector<std::string> notes;
  std::vector<InputError> errors;
};
CxxFacts facts_from_report(const Report& r, const InputLimits& limits);

}  // namespace gcheck::cxx
