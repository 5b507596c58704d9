#include "analyzer/python/scopes.h"

#include <fmt/format.h>

namespace gcheck::py {

namespace {

// Calls fn on each child of `n` held in field `f` (fields may repeat: `import a, b`).
template <class Fn>
void each_field(TSNode n, TSFieldId f, Fn&& fn) {
  Cursor c(n);
  if (!c.first_child()) return;
  do {
    if (c.field() == f) fn(c.node());
  } while (c.next_sibling());
}

std::string dotted(const Module& m, TSNode n) {
  // dotted_name text without inner spaces (`torch . utils` is legal).
  std::string out;
  for (char ch : m.text(n))
    if (ch != ' ' && ch != '\t' && ch != '\\' && ch != '\n' && ch != '\r') out.push_back(ch);
  return out;
}

constexpr std::string_view kMutators[] = {"update", "setdefault",  "pop",         "popitem",
                                          "clear",  "__setitem__", "__delitem__", "append",
                                          "extend", "insert",      "remove"};

}  // namespace

std::string short_text(const Module& m, TSNode n) {
  std::string_view t = m.text(n);
  size_t nl = t.find('\n');
  bool cut = nl != std::string_view::npos;
  if (cut) t = t.substr(0, nl);
  if (t.size() > 48) {
    t = t.substr(0, 45);
    cut = true;
  }
  std::string s(t);
  if (cut) s += "...";
  return s;
}

int Scopes::open_scope(Scope::Kind kind, TSNode node, int parent, std::string_view name) {
  Scope sc;
  sc.kind = kind;
  sc.node = node;
  sc.parent = parent;
  if (parent > kModule && !scopes_[static_cast<size_t>(parent)].name.empty()) {
    sc.name = scopes_[static_cast<size_t>(parent)].name + "." + std::string(name);
  } else {
    sc.name = std::string(name);
  }
  scopes_.push_back(std::move(sc));
  int id = static_cast<int>(scopes_.size() - 1);
  by_node_[node.id] = id;
  return id;
}

void Scopes::bind(int s, TSNode name_node, Binding b) {
  if (b.site.id == nullptr) b.site = name_node;
  std::string_view name = m_->text(name_node);
  Scope* sc = &scopes_[static_cast<size_t>(s)];
  if (sc->globals.count(name)) sc = &scopes_[kModule];
  sc->names[name].push_back(std::move(b));
}

void Scopes::build(const Module& m, uint32_t max_depth) {
  m_ = &m;
  scopes_.clear();
  by_node_.clear();
  open_scope(Scope::Kind::Module, m.root(), -1, "");
  collect_block(m.root(), kModule, max_depth);
}

int Scopes::scope_of(TSNode def) const {
  auto it = by_node_.find(def.id);
  return it == by_node_.end() ? -1 : it->second;
}

void Scopes::collect_block(TSNode block, int s, uint32_t depth) {
  if (depth == 0) return;
  uint32_t n = ts_node_named_child_count(block);
  for (uint32_t i = 0; i < n; ++i) collect_statement(ts_node_named_child(block, i), s, depth - 1);
}

void Scopes::collect_imports(TSNode st, int s) {
  const Symbols& y = sym();
  const Module& m = *m_;
  if (is(st, y.import_statement)) {
    each_field(st, y.f_name, [&](TSNode n) {
      if (is(n, y.aliased_import)) {
        TSNode alias = field(n, y.f_alias);
        if (!ts_node_is_null(alias))
          bind(s, alias, {Binding::Kind::Import, dotted(m, field(n, y.f_name)), {}, alias});
      } else if (is(n, y.dotted_name) && ts_node_named_child_count(n) > 0) {
        // `import a.b.c` binds `a`; attribute reads then spell the rest.
        TSNode first = ts_node_named_child(n, 0);
        bind(s, first, {Binding::Kind::Import, std::string(m.text(first)), {}, n});
      }
    });
    return;
  }
  // from M import ...
  TSNode mod = field(st, y.f_module_name);
  std::string base = ts_node_is_null(mod) ? "" : dotted(m, mod);
  uint32_t nc = ts_node_named_child_count(st);
  for (uint32_t i = 0; i < nc; ++i) {
    if (is(ts_node_named_child(st, i), y.wildcard_import))
      scopes_[static_cast<size_t>(s)].wildcard.push_back(base);
  }
  each_field(st, y.f_name, [&](TSNode n) {
    if (is(n, y.aliased_import)) {
      TSNode alias = field(n, y.f_alias);
      if (!ts_node_is_null(alias))
        bind(s, alias,
             {Binding::Kind::Import, base + "." + dotted(m, field(n, y.f_name)), {}, alias});
    } else if (is(n, y.dotted_name)) {
      bind(s, n, {Binding::Kind::Import, base + "." + dotted(m, n), {}, n});
    }
  });
}

void Scopes::collect_targets(TSNode t, int s, TSNode value, bool plain) {
  const Symbols& y = sym();
  if (ts_node_is_null(t)) return;
  TSSymbol k = ts_node_symbol(t);
  if (k == y.identifier) {
    bind(s, t,
         plain ? Binding{Binding::Kind::Assign, "", value, t}
               : Binding{Binding::Kind::Other, "", {}, t});
  } else if (k == y.pattern_list || k == y.tuple_pattern || k == y.list_pattern ||
             k == y.expression_list || k == y.tuple || k == y.list ||
             k == y.parenthesized_expression || k == y.list_splat_pattern || k == y.list_splat) {
    uint32_t n = ts_node_named_child_count(t);
    for (uint32_t i = 0; i < n; ++i) collect_targets(ts_node_named_child(t, i), s, {}, false);
  } else if (k == y.subscript || k == y.attribute) {
    // name[k] = v and name.attr = v change the object `name` holds.
    TSNode root = t;
    while (is(root, y.subscript) || is(root, y.attribute)) {
      root = is(root, y.subscript) ? field(root, y.f_value) : field(root, y.f_object);
    }
    if (is(root, y.identifier) && k == y.subscript) {
      scopes_[static_cast<size_t>(s)].mutated.emplace(m_->text(root), t);
    }
  }
}

void Scopes::collect_params(TSNode params, int s) {
  const Symbols& y = sym();
  if (ts_node_is_null(params)) return;
  each_named(params, [&](TSNode p) {
    TSNode name{};
    if (is(p, y.identifier)) {
      name = p;
    } else if (is(p, y.default_parameter) || is(p, y.typed_default_parameter)) {
      name = field(p, y.f_name);
    } else if (is(p, y.typed_parameter) || is(p, y.list_splat_pattern) ||
               is(p, y.dictionary_splat_pattern)) {
      TSNode c = ts_node_named_child(p, 0);
      if (is(c, y.list_splat_pattern) || is(c, y.dictionary_splat_pattern))
        c = ts_node_named_child(c, 0);
      name = c;
    }
    if (is(name, y.identifier)) bind(s, name, {Binding::Kind::Param, "", {}, name});
  });
}

void Scopes::collect_statement(TSNode st, int s, uint32_t depth) {
  const Symbols& y = sym();
  const Module& m = *m_;
  TSSymbol k = ts_node_symbol(st);
  if (k == y.import_statement || k == y.import_from_statement) {
    collect_imports(st, s);
  } else if (k == y.expression_statement) {
    uint32_t n = ts_node_named_child_count(st);
    for (uint32_t i = 0; i < n; ++i) {
      TSNode e = ts_node_named_child(st, i);
      if (is(e, y.assignment)) {
        // a = b = value: every target gets the final value.
        std::vector<TSNode> targets;
        TSNode cur = e;
        while (is(cur, y.assignment)) {
          targets.push_back(field(cur, y.f_left));
          cur = field(cur, y.f_right);
        }
        bool has_value = !ts_node_is_null(cur);
        for (TSNode t : targets) {
          if (has_value) collect_targets(t, s, cur, true);
          // `x: int` without a value binds nothing.
        }
      } else if (is(e, y.augmented_assignment)) {
        TSNode left = field(e, y.f_left);
        if (is(left, y.identifier)) {
          bind(s, left, {Binding::Kind::Other, "", {}, left});
          scopes_[static_cast<size_t>(s)].mutated.emplace(m.text(left), e);
        } else {
          collect_targets(left, s, {}, false);
        }
      } else if (is(e, y.call)) {
        // name.update(...) and friends change a dict bound to `name`.
        TSNode fn = field(e, y.f_function);
        if (is(fn, y.attribute) && is(field(fn, y.f_object), y.identifier)) {
          std::string_view meth = m.text(field(fn, y.f_attribute));
          for (auto mm : kMutators) {
            if (meth == mm) {
              scopes_[static_cast<size_t>(s)].mutated.emplace(m.text(field(fn, y.f_object)), e);
              break;
            }
          }
        }
      }
    }
  } else if (k == y.function_definition || k == y.class_definition) {
    TSNode name = field(st, y.f_name);
    if (is(name, y.identifier)) bind(s, name, {Binding::Kind::Def, "", st, st});
    int inner = open_scope(k == y.function_definition ? Scope::Kind::Function : Scope::Kind::Class,
                           st, s, is(name, y.identifier) ? m.text(name) : "?");
    if (k == y.function_definition) collect_params(field(st, y.f_parameters), inner);
    TSNode body = field(st, y.f_body);
    if (!ts_node_is_null(body)) collect_block(body, inner, depth);
  } else if (k == y.decorated_definition) {
    TSNode def = field(st, y.f_definition);
    if (!ts_node_is_null(def)) collect_statement(def, s, depth);
  } else if (k == y.global_statement) {
    each_named(st, [&](TSNode id) {
      if (is(id, y.identifier)) scopes_[static_cast<size_t>(s)].globals.insert(m.text(id));
    });
  } else if (k == y.delete_statement) {
    uint32_t n = ts_node_named_child_count(st);
    for (uint32_t i = 0; i < n; ++i) collect_targets(ts_node_named_child(st, i), s, {}, false);
  } else if (k == y.block) {
    collect_block(st, s, depth);
  } else {
    // Compound statements: loop and with targets, then every nested block and clause.
    if (k == y.for_statement) collect_targets(field(st, y.f_left), s, {}, false);
    each_named(st, [&](TSNode c) {
      TSSymbol ck = ts_node_symbol(c);
      if (ck == y.block) {
        collect_block(c, s, depth);
      } else if (ck == y.elif_clause || ck == y.else_clause || ck == y.except_clause ||
                 ck == y.except_group_clause || ck == y.finally_clause || ck == y.case_clause) {
        collect_statement(c, s, depth);
      } else if (ck == y.with_clause) {
        uint32_t items = ts_node_named_child_count(c);
        for (uint32_t j = 0; j < items; ++j) {
          TSNode v = field(ts_node_named_child(c, j), y.f_value);
          if (is(v, y.as_pattern)) {
            TSNode alias = field(v, y.f_alias);
            if (!ts_node_is_null(alias) && ts_node_named_child_count(alias) > 0)
              collect_targets(ts_node_named_child(alias, 0), s, {}, false);
          }
        }
      }
    });
  }
}

Scopes::Found Scopes::lookup(std::string_view name, int s) const {
  int cur = s;
  bool first = true;
  while (cur >= 0) {
    const Scope& sc = scopes_[static_cast<size_t>(cur)];
    if (first && sc.globals.count(name)) {
      cur = kModule;
      first = false;
      continue;
    }
    // Class bodies are visible only to their own statements, not to nested functions.
    if (first || sc.kind != Scope::Kind::Class) {
      auto it = sc.names.find(name);
      if (it != sc.names.end()) return Found{&it->second, cur};
    }
    first = false;
    cur = sc.parent;
  }
  return Found{};
}

std::string Scopes::qualify(TSNode e, int s, uint32_t depth) const {
  const Symbols& y = sym();
  if (depth > 32 || ts_node_is_null(e)) return "";
  TSSymbol k = ts_node_symbol(e);
  if (k == y.attribute) {
    std::string base = qualify(field(e, y.f_object), s, depth + 1);
    if (base.empty()) return "";
    return base + "." + std::string(m_->text(field(e, y.f_attribute)));
  }
  if (k == y.parenthesized_expression && ts_node_named_child_count(e) == 1) {
    return qualify(ts_node_named_child(e, 0), s, depth + 1);
  }
  if (k != y.identifier) return "";
  std::string_view name = m_->text(e);
  Found f = lookup(name, s);
  if (!f.bindings) {
    // `from M import *`: the name may come from M.
    for (int cur = s; cur >= 0; cur = scopes_[static_cast<size_t>(cur)].parent) {
      for (const auto& w : scopes_[static_cast<size_t>(cur)].wildcard)
        return w + "." + std::string(name);
    }
    return "";
  }
  // One import (possibly repeated, or with a `name = None` fallback for a failed import):
  // resolved. Anything else: a local value.
  std::string qual;
  const Binding* alias = nullptr;
  int assigns = 0;
  for (const Binding& b : *f.bindings) {
    if (b.kind == Binding::Kind::Import) {
      if (!qual.empty() && qual != b.qual) return "";
      qual = b.qual;
    } else if (b.kind == Binding::Kind::Assign) {
      ++assigns;
      if (is(b.value, y.none)) continue;
      alias = &b;
    } else {
      return "";
    }
  }
  if (!qual.empty()) return alias ? "" : qual;
  if (alias && assigns == 1) return qualify(alias->value, f.scope, depth + 1);
  return "";
}

}  // namespace gcheck::py
