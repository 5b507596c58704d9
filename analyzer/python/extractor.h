// The walk that turns a parsed module into Facts: statements in document order (the `order`
// of CodeFacts records), with the scope, the enclosing conditions and loops, and any
// save_on_cpu() block in effect; every call and assignment is offered to the handlers, which
// live in files named for the stack they read (calls_torch.cpp, calls_hf.cpp, calls_peft.cpp,
// freeze.cpp). Internal to analyzer/python.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "analyzer/facts.h"
#include "analyzer/python/fact_sink.h"
#include "analyzer/python/read_keywords.h"
#include "analyzer/python/values.h"

namespace gcheck::py {

// A call's callee as far as the file tells: its qualified name when rooted at an import
// (through aliases and functools.partial bindings), and the method name and receiver when it
// is an attribute call (model.gradient_checkpointing_enable).
struct Callee {
  std::string qual;              // "torch.utils.checkpoint.checkpoint", or ""
  std::string_view method;       // "gradient_checkpointing_enable", or ""
  TSNode receiver{};             // the object of an attribute call
  TSNode fn{};                   // the function expression
  std::optional<Value> partial;  // the callee is a name bound to functools.partial(...)
  TSNode local_class{};          // the callee is a class defined in this file
};

// A call's arguments, split by kind.
struct Args {
  std::vector<TSNode> positional;               // plain positional expressions
  std::vector<TSNode> keywords;                 // keyword_argument nodes
  std::vector<std::string_view> keyword_names;  // their names, in the same order
  std::vector<TSNode> list_splats;
  std::vector<TSNode> dict_splats;
  TSNode keyword(std::string_view name, const Module& m) const;
};

// One option of a call, from a keyword, a **dict the file spells out, or a partial binding.
struct Option {
  Value value;
  TSNode key{};  // the keyword or dict key
  bool found = false;
};

class Extractor {
 public:
  Extractor(const Module& m, Facts& f, const InputLimits& limits);
  // Walks the module and fills the Facts (and its CodeFacts).
  void run();

 private:
  struct Cond {
    TSNode expr;
    bool negated;
  };
  struct Loop {
    enum class Kind : uint8_t { Parameters, NamedParameters, Other } kind = Kind::Other;
    TSNode node{};
    TSNode iterable{};
    TSNode receiver{};          // model in model.named_parameters()
    std::string_view var;       // the parameter (or item) variable
    std::string_view name_var;  // the name variable of named_parameters()
    size_t conds_at = 0;        // conditions inside the loop start here
  };

  // ---- walk (extract_walk.cpp) ----
  void densify_order();
  void walk_block(TSNode block, uint32_t depth);
  void walk_statement(TSNode st, uint32_t depth);
  void walk_if(TSNode st, uint32_t depth);
  void walk_for(TSNode st, uint32_t depth);
  void walk_with(TSNode st, uint32_t depth);
  void walk_definition(TSNode def, uint32_t depth);
  void scan(TSNode n);
  bool is_fstring(TSNode str) const;
  bool may_matter(TSNode fn) const;
  void on_call(TSNode call);
  void on_assignment(TSNode asg);
  Callee callee_of(TSNode call) const;
  Args args_of(TSNode call) const;
  // An option by name: keyword, then **dict spelled out in the file, then a partial binding.
  // Only the keywords of read_keywords.h can be asked for (the statement selection follows
  // no others).
  Option option(const Args& a, ReadKeyword name, const Callee* c = nullptr) const;
  // A **splat whose content gcheck cannot read (it may hold any option), or null.
  TSNode opaque_splat(const Args& a) const;
  CodeCall code_call(TSNode call, const Callee& c) const;
  Location loc(TSNode n) const { return m_.loc(n); }
  Unreadable unreadable(const Value& v, TSNode fallback, std::string key) const;
  template <class T>
  Fact<T> fact(T value, TSNode value_node, TSNode key_node, std::string key) const {
    return Fact<T>{std::move(value),
                   loc(value_node),
                   loc(ts_node_is_null(key_node) ? value_node : key_node),
                   std::move(key),
                   std::string(m_.text(value_node)),
                   cfg::kNone};
  }
  const std::string& scope_name() const { return scopes_.at(scope_).name; }

  // ---- torch (calls_torch.cpp) ----
  bool torch_call(TSNode call, const Callee& c, const Args& a);
  void checkpoint_call(TSNode call, const Callee& c, const Args& a, CheckpointCallFact::Api api);
  void read_checkpoint_options(CheckpointCallFact& fc, const Args& a, const Callee* c,
                               const Value* bound);
  void backward_call(TSNode call, const Callee& c, const Args& a);
  void ddp_call(TSNode call, const Callee& c, const Args& a);

  // ---- transformers / TRL (calls_hf.cpp) ----
  bool hf_call(TSNode call, const Callee& c, const Args& a);
  void training_args_call(TSNode call, const Callee& c, const Args& a, std::string_view cls,
                          bool trl);
  void gc_kwargs_value(const Value& v, TSNode key, std::string_view path);
  void trainer_call(TSNode call, const Callee& c, const Args& a, std::string cls, std::string kind,
                    bool trl);
  void gc_enable_call(TSNode call, const Callee& c, const Args& a);
  // What a gradient_checkpointing_kwargs dict passes on to torch's checkpoint: use_reentrant
  // (or that an opaque **splat may set it) and preserve_rng_state.
  void read_gc_kwargs(const Value& kwargs, std::optional<bool>& use_reentrant,
                      Location& use_reentrant_at, std::optional<bool>& preserve,
                      Location& preserve_at);
  void version_call(TSNode call, const Callee& c, const Args& a, std::string_view fn);
  void from_pretrained_call(TSNode call, const Callee& c, const Args& a);
  void quantization_call(TSNode call, const Args& a, std::string_view cls);
  void use_cache_assignment(TSNode target, TSNode value);
  // The trainer kind a class defined in this file inherits ("sft" for class X(SFTTrainer)).
  std::optional<std::pair<std::string, bool>> local_trainer(TSNode cls, uint32_t depth) const;

  // ---- PEFT / Unsloth (calls_peft.cpp) ----
  bool peft_call(TSNode call, const Callee& c, const Args& a);
  void kbit_call(TSNode call, const Callee& c, const Args& a);
  void peft_wrap(TSNode call, const Callee& c, TSNode config, std::string_view unsloth_adapter);
  void peft_config_call(TSNode call, const Args& a, std::string_view cls);
  void lora_options(const Args& a, const Callee* c);
  void unsloth_option(TSNode call, const Callee& c, const Args& a);
  // The adapter a PEFT config expression names ("lora" for LoraConfig(...) or a name bound to one).
  std::optional<std::pair<std::string, TSNode>> adapter_of(TSNode config) const;

  // The loop a for statement or comprehension clause makes (`for name, p in X.named_parameters()`).
  Loop loop_of(TSNode left, TSNode right, TSNode node) const;

  // ---- freezing (freeze.cpp) ----
  std::optional<Loop> comprehension_loop(TSNode at, std::string_view var,
                                         std::vector<Cond>& conds) const;
  void freeze(TSNode target, TSNode value_node, const Value& value, TSNode at);
  const Loop* loop_var(std::string_view name) const;

  const Module& m_;
  Facts& f_;
  CodeFacts& code_;
  InputLimits limits_;
  Scopes scopes_;
  Evaluator ev_;
  FactSink sink_;
  int scope_ = Scopes::kModule;
  int order_ = 0;
  std::optional<Location> save_on_cpu_;
  std::vector<Cond> conds_;
  std::vector<Loop> loops_;
  std::optional<Location> anchor_config_, anchor_trainer_, anchor_other_;
};

// Keyword names checkpoint() itself takes; any other keyword is passed to the function.
bool is_checkpoint_option(std::string_view kw);
// "transformers" for "transformers.training_args.TrainingArguments".
std::string_view root_of(std::string_view qual);
std::string_view last_of(std::string_view qual);
// The name mentions the input embeddings (embed_tokens, wte, word_embeddings,
// get_input_embeddings).
bool names_embeddings(std::string_view text);

}  // namespace gcheck::py
