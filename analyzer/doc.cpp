#include "analyzer/doc.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <unordered_map>

namespace gcheck::cfg {

const Entry* Document::entry(NodeId map, std::string_view key) const {
  if (!is_map(map)) return nullptr;
  const auto& es = nodes[map].entries;
  for (auto it = es.rbegin(); it != es.rend(); ++it) {
    const Entry& e = entries[*it];
    if (e.key == key) return &e;
  }
  return nullptr;
}

NodeId Document::get(NodeId map, std::string_view key) const {
  const Entry* e = entry(map, key);
  return e ? e->value : kNone;
}

const Entry* Document::entry_at(std::string_view dotted) const {
  NodeId cur = root;
  const Entry* e = nullptr;
  while (!dotted.empty()) {
    size_t dot = dotted.find('.');
    std::string_view part = dotted.substr(0, dot);
    e = entry(cur, part);
    if (!e) return nullptr;
    cur = e->value;
    dotted = dot == std::string_view::npos ? std::string_view{} : dotted.substr(dot + 1);
  }
  return e;
}

namespace {

bool ieq(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}

// PyYAML accepts exactly three case forms: lower, Capitalised and UPPER.
bool yaml11_case_form(std::string_view s, std::string_view lower) {
  if (s.size() != lower.size()) return false;
  if (s == lower) return true;
  auto up = [](char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 32) : c; };
  if (s[0] != up(lower[0])) return false;
  bool rest_lower = true, rest_upper = true;
  for (size_t i = 1; i < s.size(); ++i) {
    rest_lower &= s[i] == lower[i];
    rest_upper &= s[i] == up(lower[i]);
  }
  return rest_lower || rest_upper;
}

bool all_of(std::string_view s, bool (*pred)(char)) {
  if (s.empty()) return false;
  for (char c : s)
    if (!pred(c)) return false;
  return true;
}
bool is_dec_or_us(char c) { return (c >= '0' && c <= '9') || c == '_'; }
bool is_oct_or_us(char c) { return (c >= '0' && c <= '7') || c == '_'; }
bool is_bin_or_us(char c) { return c == '0' || c == '1' || c == '_'; }
bool is_hex_or_us(char c) { return std::isxdigit(static_cast<unsigned char>(c)) || c == '_'; }

std::string strip_us(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s)
    if (c != '_') out.push_back(c);
  return out;
}

// PyYAML int: [-+]?0b[01_]+ | [-+]?0[0-7_]+ | [-+]?(0|[1-9][0-9_]*) | [-+]?0x[0-9a-fA-F_]+
// (sexagesimal ints are left as strings here: they never name a checkpoint setting).
std::optional<int64_t> yaml_int(std::string_view s) {
  bool neg = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s.empty()) return std::nullopt;
  int base = 10;
  std::string digits;
  if (s.size() > 2 && s[0] == '0' && s[1] == 'b' && all_of(s.substr(2), is_bin_or_us)) {
    base = 2, digits = strip_us(s.substr(2));
  } else if (s.size() > 2 && s[0] == '0' && s[1] == 'x' && all_of(s.substr(2), is_hex_or_us)) {
    base = 16, digits = strip_us(s.substr(2));
  } else if (s.size() > 1 && s[0] == '0' && all_of(s.substr(1), is_oct_or_us)) {
    base = 8, digits = strip_us(s.substr(1));
  } else if (s == "0") {
    digits = "0";
  } else if (s[0] >= '1' && s[0] <= '9' && all_of(s, is_dec_or_us)) {
    digits = strip_us(s);
  } else {
    return std::nullopt;
  }
  if (digits.empty()) return std::nullopt;
  int64_t v = 0;
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v, base);
  if (ec != std::errc() || p != digits.data() + digits.size()) return std::nullopt;
  return neg ? -v : v;
}

// PyYAML float: [-+]?([0-9][0-9_]*)?\.[0-9_]*([eE][-+][0-9]+)? | [-+]?\.(inf|Inf|INF) |
// \.(nan|NaN|NAN). Note: "1e-5" (no dot) is a *string* for PyYAML.
std::optional<double> yaml_float(std::string_view s) {
  std::string_view body = s;
  double sign = 1;
  if (!body.empty() && (body[0] == '-' || body[0] == '+')) {
    sign = body[0] == '-' ? -1 : 1;
    body.remove_prefix(1);
  }
  if (body == ".inf" || body == ".Inf" || body == ".INF") return sign * INFINITY;
  if (s == ".nan" || s == ".NaN" || s == ".NAN") return NAN;
  size_t i = 0;
  while (i < body.size() && is_dec_or_us(body[i])) ++i;
  if (i > 0 && body[0] == '_') return std::nullopt;
  bool leading_digits = i > 0;
  if (!leading_digits && body.size() != s.size()) return std::nullopt;  // "-.5" is a string
  if (i >= body.size() || body[i] != '.') return std::nullopt;
  ++i;
  size_t frac_start = i;
  while (i < body.size() && is_dec_or_us(body[i])) ++i;
  if (!leading_digits && i == frac_start) return std::nullopt;
  if (i < body.size()) {
    if (body[i] != 'e' && body[i] != 'E') return std::nullopt;
    ++i;
    if (i >= body.size() || (body[i] != '-' && body[i] != '+')) return std::nullopt;
    ++i;
    size_t start = i;
    while (i < body.size() && std::isdigit(static_cast<unsigned char>(body[i]))) ++i;
    if (i == start || i != body.size()) return std::nullopt;
  }
  std::string clean = strip_us(body);
  char* end = nullptr;
  double v = std::strtod(clean.c_str(), &end);
  if (end != clean.c_str() + clean.size()) return std::nullopt;
  return sign * v;
}

}  // namespace

void resolve_plain_scalar(Node& n) {
  const std::string& s = n.text;
  n.kind = Kind::String;
  if (s.empty() || s == "~" || yaml11_case_form(s, "null")) {
    n.kind = Kind::Null;
    return;
  }
  // Every implicit resolver starts with one of these characters (PyYAML's first-char table).
  static constexpr std::string_view kFirst = "yYnNtTfFoO-+0123456789.";
  if (kFirst.find(s[0]) == std::string_view::npos) return;
  if (yaml11_case_form(s, "true") || yaml11_case_form(s, "false")) {
    n.kind = Kind::Bool;
    n.b = ieq(s, "true");
    return;
  }
  for (std::string_view w : {"yes", "on", "no", "off"}) {
    if (yaml11_case_form(s, w)) {
      n.kind = Kind::Bool;
      n.bool_word = true;
      n.b = (w == "yes" || w == "on");
      return;
    }
  }
  if (auto i = yaml_int(s)) {
    n.kind = Kind::Int;
    n.i = *i;
    return;
  }
  if (auto f = yaml_float(s)) {
    n.kind = Kind::Float;
    n.f = *f;
  }
}

std::optional<bool> as_bool(const Node& n) {
  switch (n.kind) {
    case Kind::Bool:
      return n.b;
    case Kind::Int:
      if (n.i == 0 || n.i == 1) return n.i == 1;
      return std::nullopt;
    case Kind::String:
      if (ieq(n.text, "true")) return true;
      if (ieq(n.text, "false")) return false;
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

bool is_string_bool(const Node& n) {
  if (n.kind != Kind::String) return false;
  for (std::string_view w : {"true", "false", "yes", "no", "on", "off", "y", "n"}) {
    if (ieq(n.text, w)) return true;
  }
  return false;
}

std::optional<int64_t> as_int(const Node& n) {
  if (n.kind == Kind::Int) return n.i;
  if (n.kind == Kind::Float && std::floor(n.f) == n.f && std::isfinite(n.f))
    return static_cast<int64_t>(n.f);
  if (n.kind == Kind::String) {
    std::string_view t = n.text;
    int64_t v = 0;
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (ec == std::errc() && p == t.data() + t.size()) return v;
  }
  return std::nullopt;
}

std::optional<double> as_number(const Node& n) {
  if (n.kind == Kind::Int) return static_cast<double>(n.i);
  if (n.kind == Kind::Float) return n.f;
  if (n.kind == Kind::String && !n.text.empty()) {
    // Python's float("1e-5") accepts what PyYAML left as a string; pydantic coerces it too.
    char* end = nullptr;
    double v = std::strtod(n.text.c_str(), &end);
    if (end == n.text.c_str() + n.text.size()) return v;
  }
  return std::nullopt;
}

std::optional<std::string> as_text(const Node& n) {
  switch (n.kind) {
    case Kind::Bool:
      return std::string(n.b ? "True" : "False");
    case Kind::Null:
      return std::string("None");
    case Kind::Int:
    case Kind::Float:
    case Kind::String:
      return n.text;
    default:
      return std::nullopt;
  }
}

void record_duplicates(Document& doc) {
  std::unordered_map<std::string_view, uint32_t> seen;
  for (NodeId id = 0; id < doc.nodes.size(); ++id) {
    const Node& n = doc.nodes[id];
    if (n.kind != Kind::Map || n.entries.size() < 2) continue;
    auto plain = [&](uint32_t e) {
      const Entry& en = doc.entries[e];
      return !en.from_merge && en.key != "<<";
    };
    if (n.entries.size() <= 16) {  // small mappings: compare pairwise, no hashing
      for (size_t j = 1; j < n.entries.size(); ++j) {
        uint32_t b = n.entries[j];
        if (!plain(b)) continue;
        for (size_t i = j; i-- > 0;) {
          uint32_t a = n.entries[i];
          if (plain(a) && doc.entries[a].key == doc.entries[b].key) {
            doc.duplicates.emplace_back(a, b);
            break;
          }
        }
      }
      continue;
    }
    seen.clear();
    for (uint32_t e : n.entries) {
      if (!plain(e)) continue;
      auto [it, fresh] = seen.emplace(doc.entries[e].key, e);
      if (!fresh) {
        doc.duplicates.emplace_back(it->second, e);
        it->second = e;
      }
    }
  }
}

std::string_view kind_name(Kind k) {
  switch (k) {
    case Kind::Null: return "null";
    case Kind::Bool: return "boolean";
    case Kind::Int: return "integer";
    case Kind::Float: return "number";
    case Kind::String: return "string";
    case Kind::Seq: return "list";
    case Kind::Map: return "mapping";
  }
  return "?";
}

}  // namespace gcheck::cfg
