#include <algorithm>

#include <fmt/format.h>

#include "analyzer/python/extractor.h"
#include "analyzer/python/relevance.h"

namespace gcheck::py {

std::string_view root_of(std::string_view q) {
  return q.substr(0, q.find('.'));
}
std::string_view last_of(std::string_view q) {
  size_t d = q.rfind('.');
  return d == std::string_view::npos ? q : q.substr(d + 1);
}

bool names_embeddings(std::string_view t) {
  return t.find("embed") != std::string_view::npos || t.find("wte") != std::string_view::npos ||
         t.find("Embed") != std::string_view::npos;
}

bool is_checkpoint_option(std::string_view kw) {
  return kw == "use_reentrant" || kw == "preserve_rng_state" || kw == "context_fn" ||
         kw == "determinism_check" || kw == "debug" || kw == "early_stop";
}

TSNode Args::keyword(std::string_view name, const Module& /*m*/) const {
  for (size_t i = 0; i < keywords.size(); ++i)
    if (keyword_names[i] == name) return keywords[i];
  return TSNode{};
}

Extractor::Extractor(const Module& m, Facts& f, const InputLimits& limits)
    : m_(m), f_(f), code_(*f.code), limits_(limits), ev_(m, scopes_, limits.max_depth), sink_(f) {}

void Extractor::run() {
  scopes_.build(m_, limits_.max_depth);
  walk_block(m_.root(), limits_.max_depth);
  sink_.finalize();
  densify_order();
  // Findings about values the script never states point at its training configuration, else
  // its trainer, else the first checkpoint-related call, else the first line.
  if (anchor_config_)
    f_.anchor = *anchor_config_;
  else if (anchor_trainer_)
    f_.anchor = *anchor_trainer_;
  else if (anchor_other_)
    f_.anchor = *anchor_other_;
  else
    f_.anchor = Location{m_.source().display(), Span{Pos{1, 1}, {}}};
}

void Extractor::densify_order() {
  std::vector<int*> refs;
  auto add = [&](CodeCall& c) { refs.push_back(&c.order); };
  for (auto& c : code_.checkpoint_calls) add(c.call);
  for (auto& c : code_.gc_enables) add(c.call);
  for (auto& c : code_.kbit_prepares) add(c.call);
  for (auto* v :
       {&code_.peft_wraps, &code_.input_hooks, &code_.autograd_grad, &code_.nonscalar_backward,
        &code_.compiles, &code_.unsloth_gc, &code_.save_on_cpu, &code_.arg_parsers})
    for (auto& c : *v) add(c);
  for (auto& c : code_.ddps) add(c.call);
  for (auto& c : code_.trainers) add(c.call);
  for (auto& z : code_.freezes) refs.push_back(&z.order);
  std::vector<int> values;
  for (int* r : refs) values.push_back(*r);
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  for (int* r : refs)
    *r = static_cast<int>(std::lower_bound(values.begin(), values.end(), *r) - values.begin());
}

// ---- statements ------------------------------------------------------------------------------

void Extractor::walk_block(TSNode block, uint32_t depth) {
  if (depth == 0) return;
  each_named(block, [&](TSNode st) { walk_statement(st, depth - 1); });
}

void Extractor::walk_definition(TSNode def, uint32_t depth) {
  const Symbols& y = sym();
  // Defaults and superclasses are evaluated where the definition is.
  TSNode params = field(def, is(def, y.function_definition) ? y.f_parameters : y.f_superclasses);
  if (!ts_node_is_null(params)) scan(params);
  int inner = scopes_.scope_of(def);
  TSNode body = field(def, y.f_body);
  if (inner < 0 || ts_node_is_null(body)) return;
  // The body runs later, on its own: outer conditions, loops and with-blocks do not apply.
  int saved_scope = scope_;
  auto saved_conds = std::move(conds_);
  auto saved_loops = std::move(loops_);
  auto saved_soc = save_on_cpu_;
  conds_.clear();
  loops_.clear();
  save_on_cpu_.reset();
  scope_ = inner;
  walk_block(body, depth);
  scope_ = saved_scope;
  conds_ = std::move(saved_conds);
  loops_ = std::move(saved_loops);
  save_on_cpu_ = saved_soc;
}

void Extractor::walk_if(TSNode st, uint32_t depth) {
  const Symbols& y = sym();
  std::vector<TSNode> previous;
  auto branch = [&](TSNode cond, TSNode body) {
    size_t mark = conds_.size();
    for (TSNode p : previous) conds_.push_back({p, true});
    if (!ts_node_is_null(cond)) conds_.push_back({cond, false});
    if (!ts_node_is_null(body)) walk_block(body, depth);
    conds_.resize(mark);
    if (!ts_node_is_null(cond)) previous.push_back(cond);
  };
  TSNode cond = field(st, y.f_condition);
  scan(cond);
  branch(cond, field(st, y.f_consequence));
  each_named(st, [&](TSNode c) {
    if (is(c, y.elif_clause)) {
      order_ = static_cast<int>(ts_node_start_byte(c));
      TSNode ec = field(c, y.f_condition);
      scan(ec);
      branch(ec, field(c, y.f_consequence));
    } else if (is(c, y.else_clause)) {
      branch(TSNode{}, field(c, y.f_body));
    }
  });
}

Extractor::Loop Extractor::loop_of(TSNode left, TSNode right, TSNode node) const {
  const Symbols& y = sym();
  Loop lp;
  lp.node = node;
  lp.iterable = right;
  lp.conds_at = conds_.size();
  // for p in X.parameters(): / for name, p in X.named_parameters():
  if (is(right, y.call)) {
    TSNode fn = field(right, y.f_function);
    if (is(fn, y.attribute)) {
      std::string_view meth = m_.text(field(fn, y.f_attribute));
      if (meth == "parameters")
        lp.kind = Loop::Kind::Parameters;
      else if (meth == "named_parameters")
        lp.kind = Loop::Kind::NamedParameters;
      if (lp.kind != Loop::Kind::Other) lp.receiver = field(fn, y.f_object);
    }
  }
  if (lp.kind == Loop::Kind::NamedParameters) {
    if ((is(left, y.pattern_list) || is(left, y.tuple_pattern) || is(left, y.tuple)) &&
        ts_node_named_child_count(left) == 2) {
      TSNode a = ts_node_named_child(left, 0), b = ts_node_named_child(left, 1);
      if (is(a, y.identifier)) lp.name_var = m_.text(a);
      if (is(b, y.identifier)) lp.var = m_.text(b);
    }
  } else if (is(left, y.identifier)) {
    lp.var = m_.text(left);
  }
  return lp;
}

void Extractor::walk_for(TSNode st, uint32_t depth) {
  const Symbols& y = sym();
  TSNode right = field(st, y.f_right);
  scan(right);
  Loop lp = loop_of(field(st, y.f_left), right, st);
  loops_.push_back(lp);
  walk_block(field(st, y.f_body), depth);
  loops_.pop_back();
  TSNode alt = field(st, y.f_alternative);
  if (!ts_node_is_null(alt)) walk_block(field(alt, y.f_body), depth);
}

void Extractor::walk_with(TSNode st, uint32_t depth) {
  const Symbols& y = sym();
  auto saved = save_on_cpu_;
  uint32_t n = ts_node_named_child_count(st);
  for (uint32_t i = 0; i < n; ++i) {
    TSNode c = ts_node_named_child(st, i);
    if (!is(c, y.with_clause)) continue;
    uint32_t items = ts_node_named_child_count(c);
    for (uint32_t j = 0; j < items; ++j) {
      TSNode v = field(ts_node_named_child(c, j), y.f_value);
      scan(v);
      if (is(v, y.as_pattern)) v = ts_node_named_child(v, 0);
      if (is(v, y.call) && callee_of(v).qual == "torch.autograd.graph.save_on_cpu")
        save_on_cpu_ = loc(v);
    }
  }
  walk_block(field(st, y.f_body), depth);
  save_on_cpu_ = saved;
}

void Extractor::walk_statement(TSNode st, uint32_t depth) {
  const Symbols& y = sym();
  TSSymbol k = ts_node_symbol(st);
  if (k == y.comment) return;
  // The statement's byte offset; made dense (0, 1, 2, ...) over the records at the end, so the
  // order does not depend on which statements were parsed.
  order_ = static_cast<int>(ts_node_start_byte(st));
  if (k == y.function_definition || k == y.class_definition) {
    walk_definition(st, depth);
  } else if (k == y.decorated_definition) {
    each_named(st, [&](TSNode c) {
      if (is(c, y.decorator)) scan(c);
    });
    TSNode def = field(st, y.f_definition);
    if (!ts_node_is_null(def)) walk_definition(def, depth);
  } else if (k == y.if_statement) {
    walk_if(st, depth);
  } else if (k == y.for_statement) {
    walk_for(st, depth);
  } else if (k == y.with_statement) {
    walk_with(st, depth);
  } else if (k == y.while_statement || k == y.try_statement || k == y.match_statement ||
             k == y.except_clause || k == y.except_group_clause || k == y.finally_clause ||
             k == y.else_clause || k == y.case_clause || k == y.elif_clause) {
    each_named(st, [&](TSNode c) {
      TSSymbol ck = ts_node_symbol(c);
      if (ck == y.block) {
        // match: the block holds case clauses.
        if (k == y.match_statement) {
          uint32_t cn = ts_node_named_child_count(c);
          for (uint32_t j = 0; j < cn; ++j) walk_statement(ts_node_named_child(c, j), depth);
        } else {
          walk_block(c, depth);
        }
      } else if (ck == y.except_clause || ck == y.except_group_clause || ck == y.finally_clause ||
                 ck == y.else_clause || ck == y.case_clause) {
        walk_statement(c, depth);
      } else {
        scan(c);
      }
    });
  } else {
    scan(st);
  }
}

// ---- expressions -----------------------------------------------------------------------------

bool Extractor::is_fstring(TSNode str) const {
  std::string_view t = m_.text(str);
  for (size_t i = 0; i < t.size() && i < 3; ++i) {
    if (t[i] == 'f' || t[i] == 'F') return true;
    if (t[i] == '"' || t[i] == '\'') return false;
  }
  return false;
}

void Extractor::scan(TSNode n) {
  if (ts_node_is_null(n)) return;
  const Symbols& y = sym();
  Cursor c(n);
  for (;;) {
    TSNode cur = c.node();
    TSSymbol k = ts_node_symbol(cur);
    bool descend = true;
    if (k == y.call)
      on_call(cur);
    else if (k == y.assignment)
      on_assignment(cur);
    else if (k == y.string)
      descend = is_fstring(cur);  // only f-string interpolations can hold calls
    else if (k == y.comment || k == y.integer || k == y.float_ || k == y.identifier)
      descend = false;
    if (descend && c.first_child()) continue;
    while (!c.next_sibling()) {
      if (!c.parent()) return;
      if (ts_node_eq(c.node(), n)) return;
    }
  }
}

Callee Extractor::callee_of(TSNode call) const {
  const Symbols& y = sym();
  Callee c;
  c.fn = field(call, y.f_function);
  if (is(c.fn, y.attribute)) {
    c.method = m_.text(field(c.fn, y.f_attribute));
    c.receiver = field(c.fn, y.f_object);
  }
  c.qual = scopes_.qualify(c.fn, scope_);
  if (c.qual.empty() && is(c.fn, y.identifier)) {
    Scopes::Found f = scopes_.lookup(m_.text(c.fn), scope_);
    if (f.bindings && f.bindings->size() == 1) {
      const Binding& b = f.bindings->front();
      if (b.kind == Binding::Kind::Assign && is(b.value, y.call)) {
        Value v = ev_.eval(b.value, f.scope);
        if (v.kind == Value::Kind::Partial && !v.s.empty()) {
          c.qual = v.s;
          c.partial = std::move(v);
        }
      } else if (b.kind == Binding::Kind::Def && is(b.value, y.class_definition)) {
        c.local_class = b.value;
      }
    }
  }
  return c;
}

Args Extractor::args_of(TSNode call) const {
  const Symbols& y = sym();
  Args a;
  TSNode list = field(call, y.f_arguments);
  if (!is(list, y.argument_list)) {
    if (!ts_node_is_null(list)) a.positional.push_back(list);  // f(x for x in y)
    return a;
  }
  each_named(list, [&](TSNode c) {
    TSSymbol k = ts_node_symbol(c);
    if (k == y.comment) return;
    if (k == y.keyword_argument) {
      a.keywords.push_back(c);
      a.keyword_names.push_back(m_.text(field(c, y.f_name)));
    } else if (k == y.list_splat)
      a.list_splats.push_back(c);
    else if (k == y.dictionary_splat)
      a.dict_splats.push_back(c);
    else
      a.positional.push_back(c);
  });
  return a;
}

Option Extractor::option(const Args& a, ReadKeyword kw, const Callee* c) const {
  std::string_view name = kw;
  const Symbols& y = sym();
  Option o;
  if (TSNode k = a.keyword(name, m_); !ts_node_is_null(k)) {
    o.found = true;
    o.key = field(k, y.f_name);
    o.value = ev_.eval(field(k, y.f_value), scope_);
    return o;
  }
  for (TSNode s : a.dict_splats) {
    Value d = ev_.eval(ts_node_named_child(s, 0), scope_);
    TSNode kn{};
    if (const Value* v = d.get(name, &kn)) {
      o.found = true;
      o.key = kn;
      o.value = *v;
      return o;
    }
  }
  if (c && c->partial) {
    for (size_t i = 0; i < c->partial->keys.size(); ++i) {
      if (c->partial->keys[i].s == name) {
        o.found = true;
        o.key = c->partial->key_nodes[i];
        o.value = c->partial->items[i];
        return o;
      }
    }
  }
  return o;
}

TSNode Extractor::opaque_splat(const Args& a) const {
  for (TSNode s : a.dict_splats) {
    Value d = ev_.eval(ts_node_named_child(s, 0), scope_);
    if (!d.is_dict()) return s;
    if (d.open) return ts_node_is_null(d.open_node) ? s : d.open_node;
  }
  return TSNode{};
}

namespace {
// A condition's text with its whitespace (line breaks inside parentheses) collapsed.
std::string squeeze(std::string_view t) {
  std::string out;
  bool space = false;
  for (char ch : t) {
    if (ch == ' ' || ch == '\n' || ch == '\t' || ch == '\r' || ch == '\\') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += ch;
  }
  return out;
}
}  // namespace

CodeCall Extractor::code_call(TSNode call, const Callee& c) const {
  CodeCall cc;
  cc.loc = loc(call);
  cc.callee = c.qual.empty() ? std::string(m_.text(c.fn)) : c.qual;
  if (cc.callee.size() > 120) cc.callee = short_text(m_, c.fn);
  cc.order = order_;
  cc.scope = scope_name();
  // The conditions it runs under, up to its function.
  const Symbols& y = sym();
  TSNode child = call;
  for (TSNode p = ts_node_parent(call); !ts_node_is_null(p); child = p, p = ts_node_parent(p)) {
    if (is(p, y.function_definition) || is(p, y.class_definition)) break;
    if (is(p, y.if_statement) || is(p, y.elif_clause)) {
      if (ts_node_eq(child, field(p, y.f_consequence)))
        cc.guards.insert(cc.guards.begin(), squeeze(m_.text(field(p, y.f_condition))));
    } else if (is(p, y.else_clause)) {
      TSNode ifs = ts_node_parent(p);
      if (!ts_node_is_null(ifs) && is(ifs, y.if_statement))
        cc.guards.insert(cc.guards.begin(),
                         "not (" + squeeze(m_.text(field(ifs, y.f_condition))) + ")");
    } else if (is(p, y.assignment) && ts_node_eq(child, field(p, y.f_right))) {
      cc.bound = short_text(m_, field(p, y.f_left));
    }
  }
  TSNode fn = field(call, y.f_function);
  if (is(fn, y.attribute)) cc.subject = short_text(m_, field(fn, y.f_object));
  return cc;
}

Unreadable Extractor::unreadable(const Value& v, TSNode fallback, std::string key) const {
  TSNode at = ts_node_is_null(v.node) ? fallback : v.node;
  return Unreadable{loc(at), std::move(key), v.why.empty() ? "not a literal" : v.why};
}

// Whether a call can be one the handlers read: its method or function name is one of the names
// they key on, or the function is a name bound by an import, an assignment (an alias or a
// functools.partial) or a class definition of this file. Most calls (print, len, a local
// helper, a tensor method) are not, and cost no more than this test.
bool Extractor::may_matter(TSNode fn) const {
  const Symbols& y = sym();
  if (is(fn, y.attribute)) return is_trigger(m_.text(field(fn, y.f_attribute)));
  if (!is(fn, y.identifier)) return false;
  std::string_view name = m_.text(fn);
  if (is_trigger(name)) return true;
  Scopes::Found f = scopes_.lookup(name, scope_);
  if (!f.bindings) return scopes_.has_wildcard(scope_);
  for (const Binding& b : *f.bindings) {
    if (b.kind == Binding::Kind::Import || b.kind == Binding::Kind::Assign) return true;
    if (b.kind == Binding::Kind::Def && is(b.value, y.class_definition)) return true;
  }
  return false;
}

void Extractor::on_call(TSNode call) {
  if (!may_matter(field(call, sym().f_function))) return;
  Callee c = callee_of(call);
  Args a = args_of(call);
  if (!c.qual.empty()) {
    if (torch_call(call, c, a) || hf_call(call, c, a) || peft_call(call, c, a)) return;
  }
  if (!ts_node_is_null(c.local_class)) {
    if (auto t = local_trainer(c.local_class, 0)) {
      trainer_call(call, c, a, std::string(m_.text(c.fn)), t->first, t->second);
      return;
    }
  }
  // Methods whatever the receiver (a local model, a loss tensor).
  std::string_view meth = c.method;
  if (meth.empty()) return;
  if (meth == "gradient_checkpointing_enable") {
    gc_enable_call(call, c, a);
  } else if (meth == "enable_input_require_grads") {
    code_.input_hooks.push_back(code_call(call, c));
  } else if (meth == "register_forward_hook" && names_embeddings(m_.text(c.receiver))) {
    code_.input_hooks.push_back(code_call(call, c));
  } else if (meth == "requires_grad_") {
    Option o = option(a, "requires_grad");
    TSNode vn{};
    if (o.found) {
      vn = o.value.node;
    } else if (!a.positional.empty()) {
      vn = a.positional[0];
      o.value = ev_.eval(vn, scope_);
    } else {
      return;  // requires_grad_() turns gradients on
    }
    freeze(c.receiver, vn, o.value, call);
  } else if (meth == "freeze_base_model") {
    // transformers' speech models (wav2vec2, HuBERT, MMS adapters): every parameter of the
    // base model, its feature encoder included, stops training; the head trains, and whatever
    // is unfrozen after it (the adapters inside the encoder layers).
    FreezeFact fz;
    fz.loc = loc(call);
    fz.order = order_;
    fz.scope = scope_name();
    fz.target =
        fmt::format("the base model of {} (freeze_base_model())", short_text(m_, c.receiver));
    fz.whole_model = true;
    fz.embeddings = true;
    code_.freezes.push_back(std::move(fz));
  } else if (meth == "backward") {
    backward_call(call, c, a);
  } else if (meth == "from_pretrained") {
    from_pretrained_call(call, c, a);
  } else if (meth == "get_peft_model" || meth == "prepare_model_for_kbit_training") {
    // Reached only when the callee is not resolved (an Unsloth class not imported by name).
    unsloth_option(call, c, a);
  }
}

void Extractor::on_assignment(TSNode asg) {
  const Symbols& y = sym();
  TSNode left = field(asg, y.f_left);
  TSNode right = field(asg, y.f_right);
  while (is(right, y.assignment)) right = field(right, y.f_right);
  if (ts_node_is_null(right) || !is(left, y.attribute)) return;
  std::string_view attr = m_.text(field(left, y.f_attribute));
  if (attr == "use_cache") {
    use_cache_assignment(left, right);
  } else if (attr == "gradient_checkpointing_kwargs") {
    // training_args.gradient_checkpointing_kwargs = {...} on arguments a parser made.
    gc_kwargs_value(ev_.eval(right, scope_), field(left, y.f_attribute),
                    "gradient_checkpointing_kwargs");
  } else if (attr == "requires_grad") {
    freeze(field(left, y.f_object), right, ev_.eval(right, scope_), asg);
  }
}

}  // namespace gcheck::py
