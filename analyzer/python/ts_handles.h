// RAII owners for tree-sitter objects: a parser, a tree and a tree cursor are released by
// their destructors, never by hand.
#pragma once

#include <tree_sitter/api.h>

#include <memory>

namespace gcheck::py {

// A parser is always deleted: its external scanner keeps state the grammar allocates with the
// C library, which only ts_parser_delete releases (the rest of it, made while a TsArena is
// open, goes with the arena). A tree made while a TsArena is open (ts_arena.h) is dropped with
// the arena: its deleter does nothing, so freeing it costs no walk over its nodes.
struct ParserDeleter {
  void operator()(TSParser* p) const { ts_parser_delete(p); }
};
struct TreeDeleter {
  bool in_arena = false;
  void operator()(TSTree* t) const {
    if (!in_arena) ts_tree_delete(t);
  }
};
using ParserPtr = std::unique_ptr<TSParser, ParserDeleter>;
using TreePtr = std::unique_ptr<TSTree, TreeDeleter>;

// A cursor over a subtree; deleted when it goes out of scope.
class Cursor {
 public:
  explicit Cursor(TSNode n) : c_(ts_tree_cursor_new(n)) {}
  ~Cursor() { ts_tree_cursor_delete(&c_); }
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;

  TSNode node() const { return ts_tree_cursor_current_node(&c_); }
  TSFieldId field() const { return ts_tree_cursor_current_field_id(&c_); }
  bool first_child() { return ts_tree_cursor_goto_first_child(&c_); }
  bool next_sibling() { return ts_tree_cursor_goto_next_sibling(&c_); }
  bool parent() { return ts_tree_cursor_goto_parent(&c_); }

 private:
  mutable TSTreeCursor c_;
};

}  // namespace gcheck::py
