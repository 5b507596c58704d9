// A parsed Python module: the source, its tree-sitter tree, and the helpers every part of the
// front end uses to read nodes (text, locations, fields). Parsing reports bad syntax as an
// InputError at the first ERROR or MISSING node (tree-sitter recovers from errors, so the tree
// alone never fails), plus what tree-sitter-python accepts but Python 3 does not: Python 2
// print/exec statements and statements indented unlike their siblings.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "analyzer/python/grammar.h"
#include "analyzer/python/ts_handles.h"
#include "analyzer/source.h"

namespace gcheck::py {

class Module {
 public:
  Module(SourcePtr src, TreePtr tree) : src_(std::move(src)), tree_(std::move(tree)) {}

  const SourceFile& source() const { return *src_; }
  const SourcePtr& source_ptr() const { return src_; }
  TSNode root() const { return ts_tree_root_node(tree_.get()); }

  // Null nodes (an absent field) read as empty text and an unknown location.
  std::string_view text(TSNode n) const {
    if (ts_node_is_null(n)) return {};
    uint32_t b = ts_node_start_byte(n), e = ts_node_end_byte(n);
    return std::string_view(src_->text()).substr(b, e - b);
  }
  Location loc(TSNode n) const {
    if (ts_node_is_null(n)) return Location{};
    TSPoint b = ts_node_start_point(n), e = ts_node_end_point(n);
    return Location{src_->display(),
                    Span{Pos{b.row + 1, b.column + 1}, Pos{e.row + 1, e.column + 1}}};
  }

 private:
  SourcePtr src_;
  TreePtr tree_;
};

// Node helpers.
inline bool is(TSNode n, TSSymbol s) {
  return !ts_node_is_null(n) && ts_node_symbol(n) == s;
}
inline TSNode field(TSNode n, TSFieldId f) {
  return ts_node_child_by_field_id(n, f);
}

// Calls fn(child) for each named child of `n`, in order. (A cursor walk: ts_node_named_child(n, i)
// costs O(i), so indexing every child of a long block would cost O(n^2).)
template <class Fn>
void each_named(TSNode n, Fn&& fn) {
  if (ts_node_is_null(n) || ts_node_child_count(n) == 0) return;
  Cursor c(n);
  if (!c.first_child()) return;
  do {
    TSNode k = c.node();
    if (ts_node_is_named(k)) fn(k);
  } while (c.next_sibling());
}

// Parses `src` (thread-safe: one parser per thread). Bad syntax is an InputError located at
// the first problem. With `ranges`, only those byte ranges (whole top-level statements) are
// parsed; should they hold an error, the whole file is parsed and decides (`*reparsed` says
// when that happened: the benchmark counts it).
Result<Module> parse_module(SourcePtr src, const std::vector<TSRange>* ranges = nullptr,
                            bool* reparsed = nullptr);

// The first syntax problem in a parsed tree, if any.
std::optional<InputError> first_syntax_error(const Module& m);

}  // namespace gcheck::py
