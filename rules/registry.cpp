#include <algorithm>

#include "rules/rule.h"

namespace gcheck {

std::span<const RuleEntry> generated_rules();

std::span<const RuleEntry> all_rules() { return generated_rules(); }

const RuleEntry* find_rule(std::string_view code) {
  for (const auto& e : all_rules()) {
    if (e.rule->code == code || e.rule->name == code) return &e;
    // case-insensitive code: gc101
    if (code.size() == e.rule->code.size() &&
        std::equal(code.begin(), code.end(), e.rule->code.begin(),
                   [](char a, char b) { return std::toupper(static_cast<unsigned char>(a)) == b; }))
      return &e;
  }
  return nullptr;
}

}  // namespace gcheck
