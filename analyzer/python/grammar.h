// The tree-sitter-python grammar: the language object, its ABI check, and the node symbols and
// field ids the front end compares against (looked up once by name, so a grammar that renames
// a node fails loudly in the tests instead of silently matching nothing).
#pragma once

#include <tree_sitter/api.h>

#include <optional>
#include <string>

extern "C" const TSLanguage* tree_sitter_python(void);

namespace gcheck::py {

const TSLanguage* language();

// Empty when this tree-sitter library accepts the grammar (its ABI version, and every node and
// field the front end uses); else a message saying why not.
std::optional<std::string> grammar_problem();

// Node symbols (named nodes) and field ids.
struct Symbols {
  TSSymbol module, block, expression_statement, assignment, augmented_assignment, call,
      argument_list, keyword_argument, list_splat, dictionary_splat, attribute, identifier,
      dotted_name, aliased_import, import_statement, import_from_statement, future_import_statement,
      wildcard_import, relative_import, function_definition, class_definition, decorated_definition,
      decorator, lambda, with_statement, with_clause, with_item, as_pattern, as_pattern_target,
      for_statement, while_statement, if_statement, elif_clause, else_clause, try_statement,
      except_clause, except_group_clause, finally_clause, match_statement, case_clause, string,
      string_content, escape_sequence, interpolation, concatenated_string, integer, float_, true_,
      false_, none, unary_operator, not_operator, boolean_operator, comparison_operator,
      conditional_expression, parenthesized_expression, list, tuple, set, dictionary, pair,
      subscript, pattern_list, tuple_pattern, list_pattern, expression_list, parameters,
      typed_parameter, default_parameter, typed_default_parameter, list_splat_pattern,
      dictionary_splat_pattern, global_statement, nonlocal_statement, delete_statement,
      print_statement, exec_statement, comment, generator_expression, list_comprehension,
      dictionary_comprehension, set_comprehension, for_in_clause, if_clause, named_expression,
      lambda_parameters, type_alias_statement;
  TSFieldId f_function, f_arguments, f_name, f_value, f_object, f_attribute, f_left, f_right,
      f_module_name, f_alias, f_condition, f_consequence, f_alternative, f_body, f_key,
      f_parameters, f_superclasses, f_operator, f_argument, f_definition, f_operators;
};
const Symbols& sym();

}  // namespace gcheck::py
