#include "analyzer/python/load_python.h"

#include "analyzer/python/extractor.h"
#include "analyzer/python/grammar.h"
#include "analyzer/python/relevance.h"
#include "analyzer/python/script_metadata.h"
#include "analyzer/python/syntax.h"
#include "analyzer/python/ts_arena.h"

namespace gcheck {

bool python_may_matter(std::string_view text) {
  for (std::string_view w : {"torch", "transformers", "trl", "peft", "unsloth", "checkpoint"})
    if (text.find(w) != std::string_view::npos) return true;
  return false;
}

Result<std::shared_ptr<Facts>> python_facts(SourcePtr src, const InputLimits& limits,
                                            const PythonOptions& opts) {
  static const std::optional<std::string> grammar = py::grammar_problem();
  Location top{src->display(), Span{Pos{1, 1}, {}}};
  if (grammar) return InputError{top, *grammar};
  auto f = std::make_shared<Facts>();
  f->source = src;
  f->anchor = top;
  if (opts.prefilter && !python_may_matter(src->text())) {
    f->format = Format::Unknown;
    f->format_reason =
        "a Python file that mentions none of torch, transformers, trl, peft, unsloth, checkpoint";
    return f;
  }
  if (size_t nul = src->text().find('\0'); nul != std::string::npos) {
    Pos p = src->pos_of(nul);
    return InputError{Location{src->display(), Span{p, p}},
                      "source code cannot contain null bytes"};
  }
  py::Selection sel;
  if (!opts.full_parse) sel = py::select_statements(*src);
  // Tree-sitter's memory for this file comes from an arena, dropped when the facts are read.
  py::TsArena arena;
  auto m = py::parse_module(src, sel.whole ? nullptr : &sel.ranges);
  if (!m) return m.error();
  f->format = Format::Python;
  f->format_reason = "Python source";
  f->code = std::make_shared<CodeFacts>();
  py::Extractor x(m.value(), *f, limits);
  x.run();
  py::read_script_metadata(*src, *f->code);
  return f;
}

Result<std::shared_ptr<Facts>> load_python(const std::string& path, const std::string& display,
                                           const InputLimits& limits, const PythonOptions& opts) {
  auto src = read_source(path, display, limits);
  if (!src) return src.error();
  return python_facts(src.value(), limits, opts);
}

Result<std::shared_ptr<Facts>> load_python(const std::string& path, const std::string& display,
                                           const InputLimits& limits) {
  return load_python(path, display, limits, PythonOptions{});
}

}  // namespace gcheck
