// Python name binding, as the front end needs it: every scope's imports, assignments,
// parameters and definitions (collected from statements before anything is read), looked up
// with Python's rules (local, enclosing functions, module; class bodies are not visible from
// their methods; a name bound anywhere in a function is local to all of it), and resolved to
// qualified names through imports:
//   import torch.utils.checkpoint as cp;  cp.checkpoint          ->
//   torch.utils.checkpoint.checkpoint from torch.utils.checkpoint import checkpoint as ckpt; ckpt
//   -> torch.utils.checkpoint.checkpoint ckpt_fn = torch.utils.checkpoint.checkpoint; ckpt_fn ->
//   torch.utils.checkpoint.checkpoint
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "analyzer/python/syntax.h"

namespace gcheck::py {

struct Binding {
  enum class Kind : uint8_t {
    Import,  // qual holds the imported name
    Assign,  // `name = value` (one plain target): value holds the right-hand side
    Param,   // a function parameter
    Def,     // def / class: site is the definition
    Other,   // unpacking, loop and with targets, augmented assignment, del
  };
  Kind kind = Kind::Other;
  std::string qual;
  TSNode value{};
  TSNode site{};
};

struct Scope {
  enum class Kind : uint8_t { Module, Function, Class };
  Kind kind = Kind::Module;
  TSNode node{};
  int parent = -1;
  std::string name;  // "" (module), "main", "Tower.forward"
  std::unordered_map<std::string_view, std::vector<Binding>> names;
  std::unordered_map<std::string_view, TSNode> mutated;  // name[k] = v, name.update(...), ...
  std::unordered_set<std::string_view> globals;          // `global name`
  std::vector<std::string> wildcard;                     // from M import *
};

class Scopes {
 public:
  // Collects the bindings of every scope of `m` (nesting deeper than max_depth is not entered).
  void build(const Module& m, uint32_t max_depth);

  static constexpr int kModule = 0;
  // The scope a def or class opens (its node), or -1.
  int scope_of(TSNode def) const;
  const Scope& at(int i) const { return scopes_[static_cast<size_t>(i)]; }

  struct Found {
    const std::vector<Binding>* bindings = nullptr;  // null: not bound anywhere visible
    int scope = -1;                                  // the scope that binds it
  };
  Found lookup(std::string_view name, int scope) const;
  // A `from M import *` is visible from `scope`.
  bool has_wildcard(int scope) const {
    for (int cur = scope; cur >= 0; cur = scopes_[static_cast<size_t>(cur)].parent)
      if (!scopes_[static_cast<size_t>(cur)].wildcard.empty()) return true;
    return false;
  }

  // The qualified name an expression of names and attributes denotes when its root is an
  // import ("" for local values, calls, subscripts, ...).
  std::string qualify(TSNode expr, int scope, uint32_t depth = 0) const;

 private:
  void collect_block(TSNode block, int s, uint32_t depth);
  void collect_statement(TSNode st, int s, uint32_t depth);
  void collect_imports(TSNode st, int s);
  void collect_targets(TSNode target, int s, TSNode value, bool plain);
  void collect_params(TSNode params, int s);
  int open_scope(Scope::Kind kind, TSNode node, int parent, std::string_view name);
  void bind(int s, TSNode name_node, Binding b);

  const Module* m_ = nullptr;
  std::vector<Scope> scopes_;
  std::unordered_map<const void*, int> by_node_;
};

// The text of a node shortened for messages ("args.gradient_checkpointing", "foo(...)").
std::string short_text(const Module& m, TSNode n);

}  // namespace gcheck::py
