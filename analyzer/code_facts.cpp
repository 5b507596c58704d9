#include "analyzer/code_facts.h"

#include <set>
#include <string_view>
#include <utility>

namespace gcheck {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

// Strips one pair of enclosing parentheses that wrap the whole text.
std::string_view unwrap(std::string_view s) {
  s = trim(s);
  if (s.size() < 2 || s.front() != '(' || s.back() != ')') return s;
  int depth = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '(') ++depth;
    if (s[i] == ')' && --depth == 0 && i + 1 != s.size()) return s;  // "(a) and (b)"
  }
  return trim(s.substr(1, s.size() - 2));
}

// Splits on a top-level operator (" and ", " or ").
std::vector<std::string_view> split_top(std::string_view s, std::string_view op) {
  int depth = 0;
  size_t start = 0;
  std::vector<std::string_view> parts;
  for (size_t i = 0; i < s.size(); ++i) {
    char ch = s[i];
    if (ch == '(' || ch == '[' || ch == '{') ++depth;
    if (ch == ')' || ch == ']' || ch == '}') --depth;
    if (depth == 0 && s.compare(i, op.size(), op) == 0) {
      parts.push_back(s.substr(start, i - start));
      start = i + op.size();
      i += op.size() - 1;
    }
  }
  parts.push_back(s.substr(start));
  return parts;
}

// The literals a condition implies, as (text, positive): the conjuncts of `a and not b`, and
// by De Morgan the negated disjuncts of `not (a or b)`. Other shapes stay one literal.
void atoms(std::string_view cond, std::set<std::pair<std::string, bool>>& out) {
  for (auto p : split_top(unwrap(cond), " and ")) {
    p = unwrap(p);
    bool pos = true;
    while (p.rfind("not ", 0) == 0) {
      pos = !pos;
      p = unwrap(p.substr(4));
    }
    auto ors = split_top(p, " or ");
    if (!pos && ors.size() > 1) {
      for (auto o : ors) atoms("not (" + std::string(unwrap(o)) + ")", out);
      continue;
    }
    out.insert({std::string(p), pos});
  }
}

}  // namespace

bool may_run_together(const CodeCall& a, const CodeCall& b) {
  if (a.scope != b.scope) return true;
  std::set<std::pair<std::string, bool>> x, y;
  for (const auto& g : a.guards) atoms(g, x);
  for (const auto& g : b.guards) atoms(g, y);
  for (const auto& [text, pos] : x)
    if (y.count({text, !pos})) return false;
  return true;
}

}  // namespace gcheck
