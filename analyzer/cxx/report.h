// What gcheck-cxx returns for each translation unit, and its JSON form: gcheck-cxx writes it
// on stdout, gcheck reads it back (analyzer/cxx/client.h). Only this clang-free code is shared
// by both programs, so gcheck never loads libclang-cpp.
//
// {"gcheck_cxx": 1, "units": [{"file": "/abs/train.cpp", "analyzed": true,
//   "reason": "includes <torch/torch.h> (train.cpp:1)", "diagnostics": [...],
//   "parse_ms": 2400.5, "analysis_ms": 3.1, "code": {"recompute_functions": [...], ...}}]}
// A location is {"file", "line", "col", "end_line", "end_col"} (1-based, columns in bytes,
// end exclusive); an unknown one is null.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "analyzer/code_facts.h"
#include "analyzer/source.h"

namespace gcheck::cxx {

inline constexpr int kReportVersion = 1;

// A compiler diagnostic of the unit (errors only: the facts of a unit that does not compile may
// be incomplete).
struct UnitDiagnostic {
  Location loc;
  std::string message;
};

struct UnitReport {
  std::string file;       // the main file, absolute
  bool analyzed = false;  // false: skipped (see reason) or could not be parsed at all
  std::string reason;     // why it was analyzed or skipped
  std::vector<UnitDiagnostic> diagnostics;
  size_t error_count = 0;  // all errors, also those beyond the ones listed
  double parse_ms = 0;     // Clang's front end (parse and semantic analysis)
  double analysis_ms = 0;  // gcheck's AST analysis
  CodeFacts code;          // recompute_functions, recompute_calls, autograd_grad,
                           // nonscalar_backward, freezes
};

struct Report {
  std::vector<UnitReport> units;
};

std::string report_to_json(const Report& r);
Result<Report> report_from_json(std::string_view text);

}  // namespace gcheck::cxx
