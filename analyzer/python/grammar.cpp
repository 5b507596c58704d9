#include "analyzer/python/grammar.h"

#include <cstring>

#include <fmt/format.h>

namespace gcheck::py {

const TSLanguage* language() {
  return tree_sitter_python();
}

namespace {
std::string g_missing;  // node or field names the grammar lacks (filled once, by make())
}  // namespace

std::optional<std::string> grammar_problem() {
  (void)sym();
  if (!g_missing.empty()) {
    return fmt::format(
        "the tree-sitter-python grammar built into gcheck lacks {}; it is not the "
        "pinned version (0.23.6)",
        g_missing);
  }
  uint32_t v = ts_language_version(language());
  if (v < TREE_SITTER_MIN_COMPATIBLE_LANGUAGE_VERSION || v > TREE_SITTER_LANGUAGE_VERSION) {
    return fmt::format(
        "the tree-sitter-python grammar built into gcheck has ABI version {}, but this "
        "tree-sitter library accepts {}..{}; rebuild gcheck against a matching libtree-sitter "
        "(tree-sitter-python 0.23.x is ABI 14)",
        v, TREE_SITTER_MIN_COMPATIBLE_LANGUAGE_VERSION, TREE_SITTER_LANGUAGE_VERSION);
  }
  return std::nullopt;
}

namespace {

TSSymbol named(const char* name) {
  TSSymbol s =
      ts_language_symbol_for_name(language(), name, static_cast<uint32_t>(std::strlen(name)), true);
  // 0 is the end symbol: the grammar has no such node (a renamed node in a new grammar).
  if (s == 0) g_missing += fmt::format("{}node '{}'", g_missing.empty() ? "" : ", ", name);
  return s;
}

TSFieldId field(const char* name) {
  TSFieldId f =
      ts_language_field_id_for_name(language(), name, static_cast<uint32_t>(std::strlen(name)));
  if (f == 0) g_missing += fmt::format("{}field '{}'", g_missing.empty() ? "" : ", ", name);
  return f;
}

Symbols make() {
  Symbols s{};
#define GCHECK_SYM(member, name) s.member = named(name)
  GCHECK_SYM(module, "module");
  GCHECK_SYM(block, "block");
  GCHECK_SYM(expression_statement, "expression_statement");
  GCHECK_SYM(assignment, "assignment");
  GCHECK_SYM(augmented_assignment, "augmented_assignment");
  GCHECK_SYM(call, "call");
  GCHECK_SYM(argument_list, "argument_list");
  GCHECK_SYM(keyword_argument, "keyword_argument");
  GCHECK_SYM(list_splat, "list_splat");
  GCHECK_SYM(dictionary_splat, "dictionary_splat");
  GCHECK_SYM(attribute, "attribute");
  GCHECK_SYM(identifier, "identifier");
  GCHECK_SYM(dotted_name, "dotted_name");
  GCHECK_SYM(aliased_import, "aliased_import");
  GCHECK_SYM(import_statement, "import_statement");
  GCHECK_SYM(import_from_statement, "import_from_statement");
  GCHECK_SYM(future_import_statement, "future_import_statement");
  GCHECK_SYM(wildcard_import, "wildcard_import");
  GCHECK_SYM(relative_import, "relative_import");
  GCHECK_SYM(function_definition, "function_definition");
  GCHECK_SYM(class_definition, "class_definition");
  GCHECK_SYM(decorated_definition, "decorated_definition");
  GCHECK_SYM(decorator, "decorator");
  GCHECK_SYM(lambda, "lambda");
  GCHECK_SYM(with_statement, "with_statement");
  GCHECK_SYM(with_clause, "with_clause");
  GCHECK_SYM(with_item, "with_item");
  GCHECK_SYM(as_pattern, "as_pattern");
  GCHECK_SYM(as_pattern_target, "as_pattern_target");
  GCHECK_SYM(for_statement, "for_statement");
  GCHECK_SYM(while_statement, "while_statement");
  GCHECK_SYM(if_statement, "if_statement");
  GCHECK_SYM(elif_clause, "elif_clause");
  GCHECK_SYM(else_clause, "else_clause");
  GCHECK_SYM(try_statement, "try_statement");
  GCHECK_SYM(except_clause, "except_clause");
  GCHECK_SYM(except_group_clause, "except_group_clause");
  GCHECK_SYM(finally_clause, "finally_clause");
  GCHECK_SYM(match_statement, "match_statement");
  GCHECK_SYM(case_clause, "case_clause");
  GCHECK_SYM(string, "string");
  GCHECK_SYM(string_content, "string_content");
  GCHECK_SYM(escape_sequence, "escape_sequence");
  GCHECK_SYM(interpolation, "interpolation");
  GCHECK_SYM(concatenated_string, "concatenated_string");
  GCHECK_SYM(integer, "integer");
  GCHECK_SYM(float_, "float");
  GCHECK_SYM(true_, "true");
  GCHECK_SYM(false_, "false");
  GCHECK_SYM(none, "none");
  GCHECK_SYM(unary_operator, "unary_operator");
  GCHECK_SYM(not_operator, "not_operator");
  GCHECK_SYM(boolean_operator, "boolean_operator");
  GCHECK_SYM(comparison_operator, "comparison_operator");
  GCHECK_SYM(conditional_expression, "conditional_expression");
  GCHECK_SYM(parenthesized_expression, "parenthesized_expression");
  GCHECK_SYM(list, "list");
  GCHECK_SYM(tuple, "tuple");
  GCHECK_SYM(set, "set");
  GCHECK_SYM(dictionary, "dictionary");
  GCHECK_SYM(pair, "pair");
  GCHECK_SYM(subscript, "subscript");
  GCHECK_SYM(pattern_list, "pattern_list");
  GCHECK_SYM(tuple_pattern, "tuple_pattern");
  GCHECK_SYM(list_pattern, "list_pattern");
  GCHECK_SYM(expression_list, "expression_list");
  GCHECK_SYM(parameters, "parameters");
  GCHECK_SYM(typed_parameter, "typed_parameter");
  GCHECK_SYM(default_parameter, "default_parameter");
  GCHECK_SYM(typed_default_parameter, "typed_default_parameter");
  GCHECK_SYM(list_splat_pattern, "list_splat_pattern");
  GCHECK_SYM(dictionary_splat_pattern, "dictionary_splat_pattern");
  GCHECK_SYM(global_statement, "global_statement");
  GCHECK_SYM(nonlocal_statement, "nonlocal_statement");
  GCHECK_SYM(delete_statement, "delete_statement");
  GCHECK_SYM(print_statement, "print_statement");
  GCHECK_SYM(exec_statement, "exec_statement");
  GCHECK_SYM(comment, "comment");
  GCHECK_SYM(generator_expression, "generator_expression");
  GCHECK_SYM(list_comprehension, "list_comprehension");
  GCHECK_SYM(dictionary_comprehension, "dictionary_comprehension");
  GCHECK_SYM(set_comprehension, "set_comprehension");
  GCHECK_SYM(for_in_clause, "for_in_clause");
  GCHECK_SYM(if_clause, "if_clause");
  GCHECK_SYM(named_expression, "named_expression");
  GCHECK_SYM(lambda_parameters, "lambda_parameters");
  GCHECK_SYM(type_alias_statement, "type_alias_statement");
#undef GCHECK_SYM
#define GCHECK_FIELD(member, name) s.member = field(name)
  GCHECK_FIELD(f_function, "function");
  GCHECK_FIELD(f_arguments, "arguments");
  GCHECK_FIELD(f_name, "name");
  GCHECK_FIELD(f_value, "value");
  GCHECK_FIELD(f_object, "object");
  GCHECK_FIELD(f_attribute, "attribute");
  GCHECK_FIELD(f_left, "left");
  GCHECK_FIELD(f_right, "right");
  GCHECK_FIELD(f_module_name, "module_name");
  GCHECK_FIELD(f_alias, "alias");
  GCHECK_FIELD(f_condition, "condition");
  GCHECK_FIELD(f_consequence, "consequence");
  GCHECK_FIELD(f_alternative, "alternative");
  GCHECK_FIELD(f_body, "body");
  GCHECK_FIELD(f_key, "key");
  GCHECK_FIELD(f_parameters, "parameters");
  GCHECK_FIELD(f_superclasses, "superclasses");
  GCHECK_FIELD(f_operator, "operator");
  GCHECK_FIELD(f_argument, "argument");
  GCHECK_FIELD(f_definition, "definition");
  GCHECK_FIELD(f_operators, "operators");
#undef GCHECK_FIELD
  return s;
}

}  // namespace

const Symbols& sym() {
  static const Symbols s = make();
  return s;
}

}  // namespace gcheck::py
