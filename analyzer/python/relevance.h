// Which statements of a script are worth a full parse. A training script is mostly argument
// parsing, data preparation, logging and utilities; the checkpointing setup lives in the
// statements that name a checkpointing API. A lexical scan (a Python tokenizer, not pattern
// matching: strings, f-strings, comments, brackets, continuations and indentation are followed
// as the language defines them) splits the file into logical lines and keeps:
//   - every line that names one of the APIs the front end reads (checkpoint, TrainingArguments,
//     gradient_checkpointing_enable, requires_grad, ...) or an alias of one (an `import ... as`
//     name, `ck = functools.partial(checkpoint, ...)`, a trainer subclass), and every import,
//     global and nonlocal statement;
//   - every line that binds a name a kept line reads where the front end can read it,
//     transitively (so a value the front end reads through a name, and every other binding of
//     that name, is parsed too). The front end evaluates the value of an assignment, the
//     positional arguments, **splats and listed keyword arguments (read_keywords.h) of the
//     calls it reads, and the if/elif conditions of freezes; it reads through literals,
//     displays, dict(), partial(), conditional expressions and attribute chains, never through
//     operators, subscripts or other calls. So `Trainer(..., train_dataset=ds)`,
//     `loss = a + b` or `print(x)` pull in no binding of ds, a, b or x;
//   - the headers around a kept line (def, class, if/elif/else, for, with, try, ...), and one
//     statement of any block that would otherwise be empty.
// Within a kept line, a keyword argument that no handler reads and that holds nothing the front
// end acts on (no trigger or alias, lambda, comprehension, :=) is left out of the parse too
// (`train_dataset=ds,` of a trainer, `torch_dtype=...,` of from_pretrained), through its comma:
// what remains is still Python. Every argument of a checkpoint API, an alias, dict() or
// partial() is kept, and so is every argument of a def, class, if or elif line or a freeze.
// Skipped lines cannot change a fact, so the facts equal those of a full parse (the tests and
// the benchmark check this over every input they have). The scan also looks for the lexical
// signs of bad syntax (an unterminated string, an unclosed or mismatched bracket, inconsistent
// indentation, a compound statement without its colon, a Python 2 print statement, a character
// Python does not accept); when it sees one, or when nearly all of the file is kept anyway, the
// whole file is parsed. What is not checked: the grammar of skipped lines that are lexically
// sound (`x = = 1` in a logging helper).
#pragma once

#include <tree_sitter/api.h>

#include <string>
#include <string_view>
#include <vector>

#include "analyzer/source.h"

namespace gcheck::py {

struct Selection {
  std::vector<TSRange> ranges;  // the lines to parse, in order (empty when whole)
  size_t bytes = 0;             // bytes the ranges hold
  size_t lines = 0;             // logical lines in the file
  size_t kept = 0;              // logical lines kept
  size_t dropped = 0;           // keyword arguments of kept lines left out
  bool whole = true;            // parse the whole file
  std::string why;              // why the whole file ("" when ranges are used)
};

Selection select_statements(const SourceFile& src);

// The identifiers the front end acts on (API, class and method names, keyword names).
bool is_trigger(std::string_view identifier);

}  // namespace gcheck::py
