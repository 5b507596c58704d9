// Freezing: requires_grad_(False) and .requires_grad = False on a module, a parameter, or the
// parameters a loop selects:
//   for name, p in model.named_parameters():
//       if "embed" in name:                 -> the embeddings
//           p.requires_grad = False
//   for name, p in model.named_parameters():
//       p.requires_grad = "lora" in name    -> everything but the adapters
// The selection is read from the conditions around the assignment (in / not in, startswith,
// endswith, any(k in name for k in [...]), not, and, or); a condition of another shape is
// recorded as a freeze of unknown reach, with an Unreadable.
#include <cctype>

#include <fmt/format.h>

#include "analyzer/python/extractor.h"

namespace gcheck::py {

namespace {

struct Selection {
  std::vector<std::string> keep_frozen;  // names containing these are frozen
  std::vector<std::string> all_but;      // names containing these are not frozen
  TSNode unread{};                       // a condition gcheck cannot read
};

}  // namespace

const Extractor::Loop* Extractor::loop_var(std::string_view name) const {
  for (auto it = loops_.rbegin(); it != loops_.rend(); ++it)
    if (!name.empty() && it->var == name) return &*it;
  return nullptr;
}

namespace {

class CondReader {
 public:
  CondReader(const Module& m, const Evaluator& ev, int scope, std::string_view name_var)
      : m_(m), ev_(ev), scope_(scope), name_var_(name_var) {}

  void read(TSNode e, bool positive, Selection& sel) {
    const Symbols& y = sym();
    if (is(e, y.parenthesized_expression) && ts_node_named_child_count(e) == 1) {
      return read(ts_node_named_child(e, 0), positive, sel);
    }
    if (is(e, y.not_operator)) return read(field(e, y.f_argument), !positive, sel);
    if (is(e, y.boolean_operator)) {
      read(field(e, y.f_left), positive, sel);
      read(field(e, y.f_right), positive, sel);
      return;
    }
    std::vector<std::string> strs;
    bool in = true;
    if (membership(e, strs, in) || prefix_call(e, strs) || any_call(e, strs)) {
      bool freeze_matching = positive == in;
      auto& dst = freeze_matching ? sel.keep_frozen : sel.all_but;
      dst.insert(dst.end(), strs.begin(), strs.end());
      return;
    }
    if (ts_node_is_null(sel.unread)) sel.unread = e;
  }

 private:
  bool is_name(TSNode n) const {
    return is(n, sym().identifier) && !name_var_.empty() && m_.text(n) == name_var_;
  }

  bool strings(TSNode n, std::vector<std::string>& out) const {
    Value v = ev_.eval(n, scope_);
    if (v.kind == Value::Kind::Str) {
      out.push_back(v.s);
      return true;
    }
    if (v.kind != Value::Kind::List && v.kind != Value::Kind::Tuple && v.kind != Value::Kind::Set)
      return false;
    for (const Value& i : v.items) {
      if (i.kind != Value::Kind::Str) return false;
      out.push_back(i.s);
    }
    return true;
  }

  // "embed" in name / "embed" not in name
  bool membership(TSNode e, std::vector<std::string>& out, bool& in) const {
    const Symbols& y = sym();
    if (!is(e, y.comparison_operator) || ts_node_named_child_count(e) != 2) return false;
    TSNode a = ts_node_named_child(e, 0), b = ts_node_named_child(e, 1);
    if (!is_name(b)) return false;
    std::string_view op;
    uint32_t n = ts_node_child_count(e);
    for (uint32_t i = 0; i < n; ++i) {
      TSNode c = ts_node_child(e, i);
      if (!ts_node_is_named(c)) op = ts_node_type(c);
    }
    if (op != "in" && op != "not in") return false;
    in = op == "in";
    return strings(a, out);
  }

  // name.startswith("model.embed") / name.endswith(("wte.weight", ...))
  bool prefix_call(TSNode e, std::vector<std::string>& out) const {
    const Symbols& y = sym();
    if (!is(e, y.call)) return false;
    TSNode fn = field(e, y.f_function);
    if (!is(fn, y.attribute) || !is_name(field(fn, y.f_object))) return false;
    std::string_view meth = m_.text(field(fn, y.f_attribute));
    if (meth != "startswith" && meth != "endswith" && meth != "__contains__") return false;
    TSNode args = field(e, y.f_arguments);
    if (ts_node_named_child_count(args) < 1) return false;
    return strings(ts_node_named_child(args, 0), out);
  }

  // any(k in name for k in ["embed", "lm_head"]) (also a name bound to the list)
  bool any_call(TSNode e, std::vector<std::string>& out) const {
    const Symbols& y = sym();
    if (!is(e, y.call) || m_.text(field(e, y.f_function)) != "any") return false;
    TSNode gen = field(e, y.f_arguments);
    if (!is(gen, y.generator_expression)) return false;
    TSNode body = field(gen, y.f_body);
    TSNode clause{};
    uint32_t n = ts_node_named_child_count(gen);
    for (uint32_t i = 0; i < n; ++i)
      if (is(ts_node_named_child(gen, i), y.for_in_clause)) clause = ts_node_named_child(gen, i);
    if (ts_node_is_null(clause) || !is(body, y.comparison_operator) ||
        ts_node_named_child_count(body) != 2)
      return false;
    TSNode var = field(clause, y.f_left);
    TSNode a = ts_node_named_child(body, 0), b = ts_node_named_child(body, 1);
    if (!is_name(b) || !is(a, y.identifier) || m_.text(a) != m_.text(var)) return false;
    return strings(field(clause, y.f_right), out);
  }

  const Module& m_;
  const Evaluator& ev_;
  int scope_;
  std::string_view name_var_;
};

// The text names a whole model: a name that says so (model, base_model, ref_model,
// peft_model), or its .model / .base_model. A bare name like `vae`, `text_encoder` or `x` is
// recorded as the target it is, not as the model.
bool whole_module_text(std::string_view t) {
  auto ends = [&](std::string_view s) {
    return t.size() >= s.size() && t.substr(t.size() - s.size()) == s;
  };
  bool ident = !t.empty() && t.find_first_of(".()[] ") == std::string_view::npos;
  std::string lower;
  for (char c : t) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  return (ident && lower.find("model") != std::string::npos) || ends(".base_model") ||
         ends(".model");
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "\"" : ", \"") + s + "\"";
  return out;
}

}  // namespace

std::optional<Extractor::Loop> Extractor::comprehension_loop(TSNode at, std::string_view var,
                                                             std::vector<Cond>& conds) const {
  // [p.requires_grad_(False) for p in model.embed.parameters() if ...]: the comprehension's
  // for clause plays the loop, its if clauses the conditions.
  const Symbols& y = sym();
  for (TSNode n = ts_node_parent(at); !ts_node_is_null(n); n = ts_node_parent(n)) {
    TSSymbol k = ts_node_symbol(n);
    if (k == y.expression_statement || k == y.block || k == y.module) break;
    if (k != y.list_comprehension && k != y.generator_expression && k != y.set_comprehension &&
        k != y.dictionary_comprehension)
      continue;
    std::optional<Loop> found;
    each_named(n, [&](TSNode c) {
      if (is(c, y.if_clause)) {
        if (ts_node_named_child_count(c) > 0) conds.push_back({ts_node_named_child(c, 0), false});
        return;
      }
      if (found || !is(c, y.for_in_clause)) return;
      Loop lp = loop_of(field(c, y.f_left), field(c, y.f_right), c);
      if (lp.kind != Loop::Kind::Other && lp.var == var) found = lp;
    });
    if (found) return found;
    conds.clear();
  }
  return std::nullopt;
}

void Extractor::freeze(TSNode target, TSNode value_node, const Value& value, TSNode at) {
  const Symbols& y = sym();
  if (value.kind == Value::Kind::Bool && value.b) return;  // unfreezing
  FreezeFact fz;
  fz.loc = loc(at);
  fz.order = order_;
  fz.scope = scope_name();
  std::string_view tt = m_.text(target);
  const Loop* lp = is(target, y.identifier) ? loop_var(tt) : nullptr;
  // A comprehension's conditions hold only here: put them back when done.
  struct Restore {
    std::vector<Cond>& conds;
    size_t size;
    ~Restore() { conds.resize(size); }
  } restore{conds_, conds_.size()};
  std::optional<Loop> comp;
  if (!lp && is(target, y.identifier)) {
    std::vector<Cond> extra;
    comp = comprehension_loop(at, tt, extra);
    if (comp) {
      comp->conds_at = conds_.size();
      conds_.insert(conds_.end(), extra.begin(), extra.end());
      lp = &*comp;
    }
  }

  if (lp && lp->kind != Loop::Kind::Other) {
    // A parameter the loop yields: the conditions inside the loop select which.
    Selection sel;
    CondReader rd(m_, ev_, scope_, lp->name_var);
    for (size_t i = lp->conds_at; i < conds_.size(); ++i)
      rd.read(conds_[i].expr, !conds_[i].negated, sel);
    if (value.kind != Value::Kind::Bool) rd.read(value_node, false, sel);  // requires_grad = <cond>
    std::string recv(m_.text(lp->receiver));
    std::string what =
        recv + (lp->kind == Loop::Kind::NamedParameters ? ".named_parameters()" : ".parameters()");
    // for layer in model.layers[:8]: for p in layer.parameters(): the receiver is one item of
    // an outer loop, not a whole model.
    const Loop* outer = is(lp->receiver, y.identifier) ? loop_var(recv) : nullptr;
    bool whole = !outer && whole_module_text(recv);
    std::string reach = outer ? recv + " " + std::string(m_.text(outer->iterable)) : recv;
    if (outer)
      what = fmt::format("{} for each {} in {}", what, recv, short_text(m_, outer->iterable));
    if (!ts_node_is_null(sel.unread)) {
      fz.target = fmt::format("{} where {}", what, short_text(m_, sel.unread));
      sink_.unreadable(
          Unreadable{loc(sel.unread), "requires_grad",
                     fmt::format("which parameters this freezes depends on `{}`, which "
                                 "gcheck cannot read",
                                 short_text(m_, sel.unread))});
    } else if (!sel.keep_frozen.empty()) {
      fz.target = fmt::format("{} named like {}", what, join(sel.keep_frozen));
      for (const auto& s : sel.keep_frozen) fz.embeddings |= names_embeddings(s);
    } else if (!sel.all_but.empty()) {
      fz.target = fmt::format("{} except those named like {}", what, join(sel.all_but));
      fz.whole_model = whole;
      bool embeddings_kept = false;
      for (const auto& s : sel.all_but) embeddings_kept |= names_embeddings(s);
      fz.embeddings = !embeddings_kept;
    } else {
      fz.target = what;
      fz.whole_model = whole;
      fz.embeddings = whole || names_embeddings(reach);
    }
    code_.freezes.push_back(std::move(fz));
    return;
  }
  if (value.kind != Value::Kind::Bool) {
    sink_.unreadable(unreadable(value, value_node, "requires_grad"));
    return;
  }
  if (lp) {
    // for layer in model.model.layers[:8]: layer.requires_grad_(False)
    fz.target = fmt::format("each of {}", short_text(m_, lp->iterable));
    fz.embeddings = names_embeddings(m_.text(lp->iterable));
  } else {
    fz.target = short_text(m_, target);
    // An attribute of a loop variable: name the loop's iterable too.
    TSNode root = target;
    while (is(root, y.attribute) || is(root, y.call) || is(root, y.subscript)) {
      root = is(root, y.attribute) ? field(root, y.f_object)
             : is(root, y.call)    ? field(root, y.f_function)
                                   : field(root, y.f_value);
    }
    const Loop* outer = is(root, y.identifier) ? loop_var(m_.text(root)) : nullptr;
    if (outer && !ts_node_is_null(outer->iterable)) {
      fz.target +=
          fmt::format(" for each {} in {}", m_.text(root), short_text(m_, outer->iterable));
      fz.embeddings = names_embeddings(tt) || names_embeddings(m_.text(outer->iterable));
    } else {
      fz.whole_model = whole_module_text(tt);
      fz.embeddings = fz.whole_model || names_embeddings(tt);
    }
  }
  code_.freezes.push_back(std::move(fz));
}

}  // namespace gcheck::py
