#include "analyzer/python/syntax.h"

#include "analyzer/python/ts_arena.h"

#include <cstring>

#include <fmt/format.h>

namespace gcheck::py {

namespace {

// One parser per thread: creating one per file costs more than parsing a small script.
TSParser* thread_parser() {
  thread_local ParserPtr parser = [] {
    install_ts_allocator();
    ParserPtr p(ts_parser_new());
    ts_parser_set_language(p.get(), language());
    return p;
  }();
  return parser.get();
}

bool is_compound(TSSymbol s) {
  const Symbols& y = sym();
  return s == y.if_statement || s == y.for_statement || s == y.while_statement ||
         s == y.try_statement || s == y.with_statement || s == y.function_definition ||
         s == y.class_definition || s == y.decorated_definition || s == y.match_statement ||
         s == y.elif_clause || s == y.else_clause || s == y.except_clause ||
         s == y.except_group_clause || s == y.finally_clause || s == y.case_clause;
}

std::string_view first_line(std::string_view s) {
  size_t nl = s.find('\n');
  if (nl != std::string_view::npos) s = s.substr(0, nl);
  while (!s.empty() && (s.back() == '\r' || s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

std::string snippet(std::string_view s) {
  s = first_line(s);
  if (s.size() > 40) return std::string(s.substr(0, 37)) + "...";
  return std::string(s);
}

bool starts_with_keyword(std::string_view s, std::string_view kw) {
  return s.size() > kw.size() && s.substr(0, kw.size()) == kw &&
         (s[kw.size()] == ' ' || s[kw.size()] == '\t' || s[kw.size()] == '(');
}

Location point_loc(const Module& m, uint32_t byte) {
  Pos p = m.source().pos_of(byte);
  return Location{m.source().display(), Span{p, p}};
}

// Describes an ERROR node the way Python would where the shape is recognisable.
InputError describe_error(const Module& m, TSNode err) {
  std::string_view text = m.text(err);
  uint32_t start = ts_node_start_byte(err);
  // An opening bracket that is never closed inside the error.
  int depth = 0;
  uint32_t open_at = 0;
  char open_ch = 0;
  char quote = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quote) {
      if (c == '\\')
        ++i;
      else if (c == quote || c == '\n')
        quote = 0;
      continue;
    }
    if (c == '#') {
      while (i < text.size() && text[i] != '\n') ++i;
      continue;
    }
    if (c == '"' || c == '\'')
      quote = c;
    else if (c == '(' || c == '[' || c == '{') {
      if (depth++ == 0) {
        open_at = start + static_cast<uint32_t>(i);
        open_ch = c;
      }
    } else if (c == ')' || c == ']' || c == '}') {
      if (depth > 0) --depth;
    }
  }
  if (depth > 0)
    return InputError{point_loc(m, open_at),
                      fmt::format("syntax error: '{}' was never closed", open_ch)};
  if (!text.empty() && (text[0] == '"' || text[0] == '\'')) {
    return InputError{m.loc(err), "syntax error: unterminated string literal"};
  }
  std::string_view line = first_line(text);
  for (std::string_view kw : {"if", "elif", "else", "for", "while", "def", "class", "with", "try",
                              "except", "finally", "async"}) {
    if ((starts_with_keyword(line, kw) || line == kw) && line.find(':') == std::string_view::npos) {
      return InputError{point_loc(m, start + static_cast<uint32_t>(line.size())),
                        "syntax error: expected ':'"};
    }
  }
  return InputError{m.loc(err), fmt::format("syntax error: invalid syntax at '{}'", snippet(text))};
}

// The first ERROR or MISSING node in document order; only subtrees that hold an error are
// entered.
std::optional<InputError> first_tree_error(const Module& m) {
  TSNode n = m.root();
  if (!ts_node_has_error(n)) return std::nullopt;
  for (uint32_t guard = 0; guard < 1'000'000; ++guard) {
    if (ts_node_is_missing(n)) {
      const char* what = ts_node_type(n);
      bool named = ts_node_is_named(n);
      return InputError{m.loc(n), named ? fmt::format("syntax error: missing {}", what)
                                        : fmt::format("syntax error: missing '{}'", what)};
    }
    if (std::strcmp(ts_node_type(n), "ERROR") == 0) return describe_error(m, n);
    // Descend into the first child that holds an error.
    TSNode next{};
    bool found = false;
    uint32_t count = ts_node_child_count(n);
    for (uint32_t i = 0; i < count; ++i) {
      TSNode c = ts_node_child(n, i);
      if (ts_node_has_error(c) || ts_node_is_missing(c)) {
        next = c;
        found = true;
        break;
      }
    }
    if (!found) return InputError{m.loc(n), "syntax error"};
    n = next;
  }
  return InputError{m.loc(m.root()), "syntax error"};
}

// Leading spaces and tabs of a 0-based row.
uint32_t line_indent(const Module& m, uint32_t row) {
  std::string_view l = m.source().line(row + 1);
  uint32_t n = 0;
  while (n < l.size() && (l[n] == ' ' || l[n] == '\t')) ++n;
  return n;
}

bool starts_line(const Module& m, TSNode n) {
  const std::string& t = m.source().text();
  uint32_t b = ts_node_start_byte(n);
  while (b > 0) {
    char c = t[b - 1];
    if (c == '\n') return true;
    if (c != ' ' && c != '\t') return false;
    --b;
  }
  return true;
}

// Statements Python 3 rejects although the grammar accepts them: Python 2 print/exec, and
// statements indented unlike their siblings (tree-sitter-python keeps them in the block).
std::optional<InputError> check_block(const Module& m, TSNode container, int depth);

std::optional<InputError> check_compound(const Module& m, TSNode n, int depth) {
  if (depth > 200) return std::nullopt;
  std::optional<InputError> err;
  each_named(n, [&](TSNode c) {
    if (err) return;
    TSSymbol s = ts_node_symbol(c);
    if (s == sym().block)
      err = check_block(m, c, depth + 1);
    else if (is_compound(s))
      err = check_compound(m, c, depth + 1);
  });
  return err;
}

std::optional<InputError> check_block(const Module& m, TSNode container, int depth) {
  const Symbols& y = sym();
  std::optional<uint32_t> column;
  std::optional<InputError> err;
  TSNode prev{};
  each_named(container, [&](TSNode c) {
    if (err) return;
    TSSymbol s = ts_node_symbol(c);
    if (s == y.comment) return;
    if (s == y.print_statement || s == y.exec_statement) {
      err = InputError{m.loc(c), fmt::format("syntax error: Python 2 {} statement (not valid "
                                             "Python 3); did you mean {}(...)?",
                                             s == y.print_statement ? "print" : "exec",
                                             s == y.print_statement ? "print" : "exec")};
      return;
    }
    if (starts_line(m, c)) {
      uint32_t col = ts_node_start_point(c).column;
      // After a more deeply indented line, a deeper or shallower start is a dedent to a level
      // that was never opened.
      bool after_deeper =
          !ts_node_is_null(prev) && line_indent(m, ts_node_end_point(prev).row) > col;
      bool root = container.id == m.root().id;
      if (!column) {
        column = col;
        if (s != y.case_clause && root && col != 0) {
          err =
              InputError{m.loc(c), after_deeper ? "syntax error: unindent does not match any outer "
                                                  "indentation level"
                                                : "syntax error: unexpected indent"};
          return;
        }
      } else if (col != *column) {
        err = InputError{m.loc(c), col < *column || after_deeper
                                       ? "syntax error: unindent does not match any outer "
                                         "indentation level"
                                       : "syntax error: unexpected indent"};
        return;
      }
    }
    prev = c;
    if (is_compound(s)) err = check_compound(m, c, depth + 1);
  });
  return err;
}

}  // namespace

std::optional<InputError> first_syntax_error(const Module& m) {
  if (auto e = first_tree_error(m)) return e;
  return check_block(m, m.root(), 0);
}

Result<Module> parse_module(SourcePtr src, const std::vector<TSRange>* ranges, bool* reparsed) {
  if (reparsed) *reparsed = false;
  // Under an open arena the parser is made for this file and dropped with it; otherwise the
  // thread's parser is reused.
  bool arena = TsArena::open();
  ParserPtr own(arena ? ts_parser_new() : nullptr);
  if (own) ts_parser_set_language(own.get(), language());
  TSParser* p = own ? own.get() : thread_parser();
  auto make_tree = [&](TSTree* t) { return TreePtr(t, TreeDeleter{arena}); };
  const std::string& text = src->text();
  auto size = static_cast<uint32_t>(text.size());
  if (ranges && !ranges->empty()) {
    ts_parser_set_included_ranges(p, ranges->data(), static_cast<uint32_t>(ranges->size()));
    TreePtr tree = make_tree(ts_parser_parse_string(p, nullptr, text.data(), size));
    ts_parser_set_included_ranges(p, nullptr, 0);
    if (tree) {
      Module m(src, std::move(tree));
      if (!first_syntax_error(m)) return m;
    }
    if (reparsed) *reparsed = true;
  }
  TreePtr tree = make_tree(ts_parser_parse_string(p, nullptr, text.data(), size));
  if (!tree)
    return InputError{Location{src->display(), Span{Pos{1, 1}, {}}},
                      "the Python parser gave up on this file"};
  Module m(std::move(src), std::move(tree));
  if (auto e = first_syntax_error(m)) return *e;
  return m;
}

}  // namespace gcheck::py
