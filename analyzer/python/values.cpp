#include "analyzer/python/values.h"

#include <charconv>
#include <cstdlib>

#include <fmt/format.h>

namespace gcheck::py {

const Value* Value::get(std::string_view key, TSNode* key_node) const {
  if (kind != Kind::Dict) return nullptr;
  // The last entry wins, as in a dict display.
  for (size_t j = keys.size(); j-- > 0;) {
    if (keys[j].kind == Kind::Str && keys[j].s == key) {
      if (key_node) *key_node = key_nodes[j];
      return &items[j];
    }
  }
  return nullptr;
}

bool Value::number(double& out) const {
  if (kind == Kind::Int)
    out = static_cast<double>(i);
  else if (kind == Kind::Float)
    out = d;
  else
    return false;
  return true;
}

std::string Value::show() const {
  switch (kind) {
    case Kind::Unknown:
      return "<unknown>";
    case Kind::None:
      return "None";
    case Kind::Bool:
      return b ? "True" : "False";
    case Kind::Int:
      return std::to_string(i);
    case Kind::Float:
      return fmt::format("{}", d);
    case Kind::Str:
      return "'" + s + "'";
    case Kind::Ref:
      return s;
    case Kind::Partial:
      return "partial(" + s + ", ...)";
    case Kind::List:
    case Kind::Tuple:
    case Kind::Set: {
      std::string out = kind == Kind::List ? "[" : kind == Kind::Tuple ? "(" : "{";
      for (size_t j = 0; j < items.size(); ++j) out += (j ? ", " : "") + items[j].show();
      return out + (kind == Kind::List ? "]" : kind == Kind::Tuple ? ")" : "}");
    }
    case Kind::Dict: {
      std::string out = "{";
      for (size_t j = 0; j < items.size(); ++j)
        out += (j ? ", " : "") + keys[j].show() + ": " + items[j].show();
      if (open) out += std::string(items.empty() ? "" : ", ") + "**...";
      return out + "}";
    }
  }
  return "";
}

Value Evaluator::unknown(TSNode n, std::string why) const {
  Value v;
  v.node = n;
  v.why = std::move(why);
  return v;
}

namespace {

// Python escape sequences in a plain (non-raw) string; unknown ones stay as written.
void append_escape(std::string& out, std::string_view esc) {
  if (esc.size() < 2) {
    out += esc;
    return;
  }
  switch (esc[1]) {
    case 'n':
      out += '\n';
      break;
    case 't':
      out += '\t';
      break;
    case 'r':
      out += '\r';
      break;
    case '\\':
      out += '\\';
      break;
    case '\'':
      out += '\'';
      break;
    case '"':
      out += '"';
      break;
    case '0':
      out += '\0';
      break;
    case '\n':
      break;  // line continuation inside the string
    default:
      out += esc;
      break;
  }
}

}  // namespace

Value Evaluator::eval_string(TSNode str) const {
  const Symbols& y = sym();
  Value v;
  v.kind = Value::Kind::Str;
  v.node = str;
  std::string_view text = m_.text(str);
  // The prefix (r, b, u, f, combinations) comes before the first quote.
  size_t q = text.find_first_of("'\"");
  std::string_view prefix = text.substr(0, q == std::string_view::npos ? 0 : q);
  bool raw = prefix.find_first_of("rR") != std::string_view::npos;
  uint32_t n = ts_node_named_child_count(str);
  for (uint32_t j = 0; j < n; ++j) {
    TSNode c = ts_node_named_child(str, j);
    TSSymbol k = ts_node_symbol(c);
    if (k == y.interpolation) return unknown(str, "an f-string is formatted at run time");
    if (k == y.string_content) {
      // string_content may hold escape_sequence children; copy around them.
      uint32_t b = ts_node_start_byte(c);
      uint32_t ce = ts_node_named_child_count(c);
      for (uint32_t e = 0; e < ce; ++e) {
        TSNode esc = ts_node_named_child(c, e);
        if (!is(esc, y.escape_sequence)) continue;
        uint32_t eb = ts_node_start_byte(esc);
        v.s += m_.source().text().substr(b, eb - b);
        if (raw)
          v.s += m_.text(esc);
        else
          append_escape(v.s, m_.text(esc));
        b = ts_node_end_byte(esc);
      }
      v.s += m_.source().text().substr(b, ts_node_end_byte(c) - b);
    } else if (k == y.escape_sequence) {
      if (raw)
        v.s += m_.text(c);
      else
        append_escape(v.s, m_.text(c));
    }
  }
  return v;
}

Value Evaluator::eval_name(TSNode id, int scope, uint32_t depth) const {
  std::string_view name = m_.text(id);
  Scopes::Found f = scopes_.lookup(name, scope);
  if (!f.bindings) {
    std::string q = scopes_.qualify(id, scope);
    if (!q.empty()) {
      Value v;
      v.kind = Value::Kind::Ref;
      v.s = q;
      v.node = id;
      return v;
    }
    return unknown(id, fmt::format("`{}` is not bound in this file", name));
  }
  const auto& bs = *f.bindings;
  const Binding& b = bs.front();
  if (b.kind == Binding::Kind::Import) {
    Value v;
    v.kind = Value::Kind::Ref;
    v.s = scopes_.qualify(id, scope);
    v.node = id;
    if (v.s.empty()) return unknown(id, fmt::format("`{}` is bound more than one way", name));
    return v;
  }
  if (b.kind == Binding::Kind::Param) {
    const std::string& fn = scopes_.at(f.scope).name;
    return unknown(id,
                   fmt::format("`{}` is a parameter of {}(), known only at run time", name, fn));
  }
  if (bs.size() > 1) {
    std::string lines;
    for (size_t j = 0; j < bs.size() && j < 4; ++j)
      lines += fmt::format("{}{}", j ? ", " : "", ts_node_start_point(bs[j].site).row + 1);
    return unknown(id, fmt::format("`{}` is bound more than once (lines {})", name, lines));
  }
  if (b.kind != Binding::Kind::Assign) {
    return unknown(id, fmt::format("`{}` is bound at line {} by something other than a plain "
                                   "assignment",
                                   name, ts_node_start_point(b.site).row + 1));
  }
  const auto& mut = scopes_.at(f.scope).mutated;
  if (auto it = mut.find(name); it != mut.end()) {
    return unknown(id, fmt::format("`{}` is changed after it is bound (line {})", name,
                                   ts_node_start_point(it->second).row + 1));
  }
  Value v = eval(b.value, f.scope, depth + 1);
  return v;
}

Value Evaluator::eval_call(TSNode call, int scope, uint32_t depth) const {
  const Symbols& y = sym();
  std::string callee = scopes_.qualify(field(call, y.f_function), scope);
  TSNode args = field(call, y.f_arguments);
  if (!is(args, y.argument_list))
    return unknown(call, fmt::format("`{}` is computed at run time", short_text(m_, call)));
  if (callee == "builtins.dict" ||
      (callee.empty() && m_.text(field(call, y.f_function)) == "dict" &&
       !scopes_.lookup("dict", scope).bindings)) {
    Value d;
    d.kind = Value::Kind::Dict;
    d.node = call;
    uint32_t n = ts_node_named_child_count(args);
    for (uint32_t j = 0; j < n; ++j) {
      TSNode a = ts_node_named_child(args, j);
      if (is(a, y.keyword_argument)) {
        Value k;
        k.kind = Value::Kind::Str;
        TSNode kn = field(a, y.f_name);
        k.s = std::string(m_.text(kn));
        k.node = kn;
        d.keys.push_back(std::move(k));
        d.key_nodes.push_back(kn);
        d.items.push_back(eval(field(a, y.f_value), scope, depth + 1));
      } else if (is(a, y.comment)) {
        continue;
      } else {
        return unknown(call, "dict(...) built from a value known only at run time");
      }
    }
    return d;
  }
  if (callee == "functools.partial") {
    uint32_t n = ts_node_named_child_count(args);
    Value p;
    p.kind = Value::Kind::Partial;
    p.node = call;
    bool first = true;
    for (uint32_t j = 0; j < n; ++j) {
      TSNode a = ts_node_named_child(args, j);
      if (is(a, y.comment)) continue;
      if (first) {
        first = false;
        p.s = scopes_.qualify(a, scope);  // "" for a function of the script's own
        continue;
      }
      if (is(a, y.keyword_argument)) {
        Value k;
        k.kind = Value::Kind::Str;
        TSNode kn = field(a, y.f_name);
        k.s = std::string(m_.text(kn));
        k.node = kn;
        p.keys.push_back(std::move(k));
        p.key_nodes.push_back(kn);
        p.items.push_back(eval(field(a, y.f_value), scope, depth + 1));
      } else if (is(a, y.dictionary_splat)) {
        p.open = true;
        p.open_node = a;
      } else {
        ++p.positional;
      }
    }
    if (first) return unknown(call, "functools.partial() without a function");
    return p;
  }
  return unknown(call, fmt::format("`{}` is computed at run time", short_text(m_, call)));
}

Value Evaluator::eval(TSNode e, int scope, uint32_t depth) const {
  const Symbols& y = sym();
  if (ts_node_is_null(e)) return unknown(e, "no value");
  if (depth > max_depth_) return unknown(e, "nested too deeply to read");
  TSSymbol k = ts_node_symbol(e);
  Value v;
  v.node = e;
  if (k == y.true_ || k == y.false_) {
    v.kind = Value::Kind::Bool;
    v.b = k == y.true_;
    return v;
  }
  if (k == y.none) {
    v.kind = Value::Kind::None;
    return v;
  }
  if (k == y.integer) {
    std::string t;
    for (char c : m_.text(e))
      if (c != '_') t.push_back(c);
    int base = 10;
    size_t off = 0;
    if (t.size() > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X'))
      base = 16, off = 2;
    else if (t.size() > 2 && t[0] == '0' && (t[1] == 'o' || t[1] == 'O'))
      base = 8, off = 2;
    else if (t.size() > 2 && t[0] == '0' && (t[1] == 'b' || t[1] == 'B'))
      base = 2, off = 2;
    auto r = std::from_chars(t.data() + off, t.data() + t.size(), v.i, base);
    if (r.ec != std::errc() || r.ptr != t.data() + t.size())
      return unknown(e, "an integer gcheck cannot read");
    v.kind = Value::Kind::Int;
    return v;
  }
  if (k == y.float_) {
    std::string t;
    for (char c : m_.text(e))
      if (c != '_') t.push_back(c);
    if (!t.empty() && (t.back() == 'j' || t.back() == 'J')) return unknown(e, "a complex number");
    char* end = nullptr;
    v.d = std::strtod(t.c_str(), &end);
    if (end != t.c_str() + t.size()) return unknown(e, "a number gcheck cannot read");
    v.kind = Value::Kind::Float;
    return v;
  }
  if (k == y.string) return eval_string(e);
  if (k == y.concatenated_string) {
    v.kind = Value::Kind::Str;
    uint32_t n = ts_node_named_child_count(e);
    for (uint32_t j = 0; j < n; ++j) {
      TSNode part = ts_node_named_child(e, j);
      if (!is(part, y.string)) continue;
      Value p = eval_string(part);
      if (!p.known()) return p;
      v.s += p.s;
    }
    return v;
  }
  if (k == y.parenthesized_expression) {
    if (ts_node_named_child_count(e) == 1) {
      Value inner = eval(ts_node_named_child(e, 0), scope, depth + 1);
      return inner;
    }
    return unknown(e, "not a literal");
  }
  if (k == y.unary_operator) {
    Value a = eval(field(e, y.f_argument), scope, depth + 1);
    std::string_view op = m_.text(field(e, y.f_operator));
    if (op == "-" && a.kind == Value::Kind::Int)
      a.i = -a.i;
    else if (op == "-" && a.kind == Value::Kind::Float)
      a.d = -a.d;
    else if (op == "+" && (a.kind == Value::Kind::Int || a.kind == Value::Kind::Float)) {
    } else
      return unknown(e, fmt::format("`{}` is computed at run time", short_text(m_, e)));
    a.node = e;
    return a;
  }
  if (k == y.not_operator) {
    Value a = eval(field(e, y.f_argument), scope, depth + 1);
    if (a.kind != Value::Kind::Bool)
      return unknown(e, fmt::format("`{}` is computed at run time", short_text(m_, e)));
    a.b = !a.b;
    a.node = e;
    return a;
  }
  if (k == y.list || k == y.tuple || k == y.set) {
    v.kind = k == y.list ? Value::Kind::List : k == y.tuple ? Value::Kind::Tuple : Value::Kind::Set;
    uint32_t n = ts_node_named_child_count(e);
    for (uint32_t j = 0; j < n; ++j) {
      TSNode c = ts_node_named_child(e, j);
      if (is(c, y.comment)) continue;
      if (is(c, y.list_splat)) return unknown(e, "a collection unpacked at run time");
      v.items.push_back(eval(c, scope, depth + 1));
    }
    return v;
  }
  if (k == y.dictionary) {
    v.kind = Value::Kind::Dict;
    each_named(e, [&](TSNode c) {
      if (is(c, y.pair)) {
        TSNode kn = field(c, y.f_key);
        v.keys.push_back(eval(kn, scope, depth + 1));
        v.key_nodes.push_back(kn);
        v.items.push_back(eval(field(c, y.f_value), scope, depth + 1));
      } else if (is(c, y.dictionary_splat)) {
        Value inner = eval(ts_node_named_child(c, 0), scope, depth + 1);
        if (inner.kind == Value::Kind::Dict) {
          for (size_t q = 0; q < inner.keys.size(); ++q) {
            v.keys.push_back(inner.keys[q]);
            v.key_nodes.push_back(inner.key_nodes[q]);
            v.items.push_back(inner.items[q]);
          }
          if (inner.open) {
            v.open = true;
            v.open_node = inner.open_node;
          }
        } else {
          v.open = true;
          v.open_node = c;
        }
      }
    });
    return v;
  }
  if (k == y.identifier) return eval_name(e, scope, depth);
  if (k == y.attribute) {
    std::string q = scopes_.qualify(e, scope);
    if (!q.empty()) {
      v.kind = Value::Kind::Ref;
      v.s = q;
      return v;
    }
    return unknown(e, fmt::format("`{}` is known only at run time", short_text(m_, e)));
  }
  if (k == y.call) return eval_call(e, scope, depth);
  if (k == y.conditional_expression) {
    // a if cond else b: readable only when both branches agree.
    uint32_t n = ts_node_named_child_count(e);
    if (n >= 3) {
      Value a = eval(ts_node_named_child(e, 0), scope, depth + 1);
      Value b = eval(ts_node_named_child(e, 2), scope, depth + 1);
      if (a.known() && b.known() && a.show() == b.show()) return a;
    }
    return unknown(
        e, fmt::format("`{}` depends on a condition evaluated at run time", short_text(m_, e)));
  }
  return unknown(e, fmt::format("`{}` is not a literal", short_text(m_, e)));
}

}  // namespace gcheck::py
