// The Python front end's entry point: a training script read into located Facts (format
// Python), the config-like values it states in the ordinary fields and what only code can
// state in Facts::code.
#pragma once

#include <memory>
#include <string>

#include "analyzer/facts.h"

namespace gcheck {

struct PythonOptions {
  // Skip files that mention none of torch, transformers, trl, peft, unsloth or checkpoint
  // (they cannot hold a checkpointing setup): Facts with format Unknown and the reason.
  bool prefilter = true;
  // Parse every statement. By default a lexical scan of the whole file (which also catches the
  // lexical signs of bad syntax) picks the top-level statements that can hold a fact, and only
  // those are parsed; definitions that name no checkpointing API are left out, so their
  // grammar is not checked (see relevance.h).
  bool full_parse = false;
};

// Reads, parses and extracts one .py file. Unreadable files and bad syntax are InputErrors
// (file:line:col); a file the pre-filter skips has format Unknown.
Result<std::shared_ptr<Facts>> load_python(const std::string& path, const std::string& display,
                                           const InputLimits& limits);
Result<std::shared_ptr<Facts>> load_python(const std::string& path, const std::string& display,
                                           const InputLimits& limits, const PythonOptions& opts);
// The same for source already in memory.
Result<std::shared_ptr<Facts>> python_facts(SourcePtr src, const InputLimits& limits,
                                            const PythonOptions& opts = {});

// True when the text mentions one of the words the pre-filter looks for.
bool python_may_matter(std::string_view text);

}  // namespace gcheck
