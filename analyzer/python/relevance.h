// Which top-level statements of a script are worth a full parse. A training script is mostly
// argument parsing, data preparation, logging and utilities; the checkpointing setup lives in
// the statements that name a checkpointing API. A lexical scan (a Python tokenizer, not pattern
// matching: strings, f-strings, comments, brackets, continuations and indentation are followed
// as the language defines them) picks:
//   - every top-level statement that is not a def or class (imports, assignments, if/for/with
//     blocks, `if __name__ == "__main__":`): they bind names and run at import time;
//   - a def or class only when it names one of the APIs the front end reads (checkpoint,
//     TrainingArguments, gradient_checkpointing_enable, requires_grad, ...), a name imported or
//     assigned as an alias of one, or holds an import or `global` statement.
// The skipped definitions cannot hold a fact, so the facts are the same as from a full parse
// (the tests check this). The scan also looks for the lexical signs of bad syntax (an
// unterminated string, an unclosed or mismatched bracket, inconsistent indentation, a compound
// statement without its colon, a Python 2 print statement, a character Python does not accept);
// when it sees one, or when most of the file is selected anyway, the whole file is parsed.
#pragma once

#include <tree_sitter/api.h>

#include <string>
#include <string_view>
#include <vector>

#include "analyzer/source.h"

namespace gcheck::py {

struct Selection {
  std::vector<TSRange> ranges;  // the statements to parse, in order (empty when whole)
  size_t bytes = 0;             // bytes the ranges hold
  size_t skipped = 0;           // top-level definitions left out
  bool whole = true;            // parse the whole file
  std::string why;              // why the whole file ("" when ranges are used)
};

Selection select_statements(const SourceFile& src);

// The identifiers the front end acts on (API, class and method names, keyword names).
bool is_trigger(std::string_view identifier);

}  // namespace gcheck::py
