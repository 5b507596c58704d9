// Reading values out of Python code without running it: literals (True, 0.1, "unsloth",
// {"use_reentrant": False}, [...]), names bound once to a literal in the same module or function
// (gc_kwargs = {...}; TrainingArguments(gradient_checkpointing_kwargs=gc_kwargs)), qualified
// references (CheckpointImpl.REENTRANT), dict(...) and functools.partial(...). Anything else is
// Unknown with the reason, never a guess.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "analyzer/python/scopes.h"

namespace gcheck::py {

struct Value {
  enum class Kind : uint8_t {
    Unknown,
    None,
    Bool,
    Int,
    Float,
    Str,
    List,
    Tuple,
    Set,
    Dict,
    Ref,
    Partial
  };
  Kind kind = Kind::Unknown;
  bool b = false;
  int64_t i = 0;
  double d = 0;
  std::string s;                  // Str: the text; Ref: the qualified name; Partial: the callee's
                                  // qualified name ("" for a function of the script's own)
  std::vector<Value> items;       // List/Tuple/Set: elements; Dict: values; Partial: keyword values
  std::vector<Value> keys;        // Dict: keys; Partial: keyword names (Str)
  std::vector<TSNode> key_nodes;  // Dict and Partial: where each key is written
  uint32_t positional = 0;        // Partial: positional arguments bound after the callee
  TSNode node{};                  // where the value is written
  std::string why;                // Unknown: why it cannot be read
  bool open = false;              // Dict: a **splat of unknown content may add entries
  TSNode open_node{};             //   ... that splat

  bool known() const { return kind != Kind::Unknown; }
  bool is_bool(bool v) const { return kind == Kind::Bool && b == v; }
  bool is_dict() const { return kind == Kind::Dict; }
  // Dict entry by string key, or null.
  const Value* get(std::string_view key, TSNode* key_node = nullptr) const;
  // A number as double (Int or Float), else false.
  bool number(double& out) const;
  // Display form (True, 0.05, 'unsloth', {...}).
  std::string show() const;
};

class Evaluator {
 public:
  Evaluator(const Module& m, const Scopes& scopes, uint32_t max_depth)
      : m_(m), scopes_(scopes), max_depth_(max_depth) {}
  Value eval(TSNode expr, int scope) const { return eval(expr, scope, 0); }

 private:
  Value eval(TSNode expr, int scope, uint32_t depth) const;
  Value eval_name(TSNode id, int scope, uint32_t depth) const;
  Value eval_string(TSNode str) const;
  Value eval_call(TSNode call, int scope, uint32_t depth) const;
  Value unknown(TSNode n, std::string why) const;

  const Module& m_;
  const Scopes& scopes_;
  uint32_t max_depth_;
};

}  // namespace gcheck::py
