// Facts only code can state: Python training scripts and LibTorch C++ sources. The Python and
// C++ front ends fill a CodeFacts (hung on Facts::code); config-like values a script sets
// (TrainingArguments(gradient_checkpointing=True, ...), LoraConfig(lora_dropout=...)) go into
// the ordinary Facts fields, located at the keyword argument that sets them.
//
// Every record carries a Location a user can click. `order` is the statement order in the
// module (0, 1, 2, ...) where the stacks' behaviour depends on it (checkpointing enabled
// before or after get_peft_model). A value that is not a literal (or a name bound to one in
// the same module) is never guessed: it is absent and an Unreadable says where it is.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "analyzer/source.h"
#include "analyzer/versions.h"

namespace gcheck {

struct CodeCall {
  Location loc;        // the call expression
  std::string callee;  // resolved qualified name, e.g. "torch.utils.checkpoint.checkpoint"
  int order = -1;      // statement order in the module / function
  std::string scope;   // the function the call is in ("main", "Tower.forward"; "" for the
                       // module): compare `order` only within one scope
  // The conditions the call runs under within its scope, outermost first, as written
  // ("args.gradient_checkpointing", "not (args.use_boft)" for an else branch).
  std::vector<std::string> guards;
  std::string bound;    // the name the call's result is assigned to ("model" in model = f(...))
  std::string subject;  // the object it acts on: a method call's receiver, get_peft_model's model
};

// Whether two calls can run in the same run: false when one runs only under a condition
// the other runs only under the negation of (`if a and b:` ... `if a and not b:`).
bool may_run_together(const CodeCall& a, const CodeCall& b);

// torch.utils.checkpoint.checkpoint / checkpoint_sequential, checkpoint_wrapper,
// apply_activation_checkpointing (Python); a hand-rolled recompute Function's call (C++).
struct CheckpointCallFact {
  CodeCall call;
  enum class Api : uint8_t { Checkpoint, CheckpointSequential, CheckpointWrapper, ApplyActivationCheckpointing } api;
  std::optional<bool> use_reentrant;   // literal value, or CheckpointImpl.REENTRANT/NO_REENTRANT
  Location use_reentrant_loc;          // the keyword, when given
  bool use_reentrant_given = false;    // the keyword is present (even when not a literal)
  std::optional<bool> preserve_rng_state;
  Location preserve_rng_state_loc;
  bool context_fn = false;
  Location context_fn_loc;
  std::optional<bool> debug;
  std::optional<std::string> determinism_check;
  Location determinism_check_loc;
  std::optional<bool> early_stop;
  Location early_stop_loc;
  // Tensors that reach the checkpointed function as keyword arguments or inside containers
  // (dict/list/tuple literals, **kwargs, functools.partial-bound arguments): reentrant drops
  // their gradients (GC102).
  bool keyword_tensors = false;
  Location keyword_tensors_loc;
  // The call sits inside a `with torch.autograd.graph.save_on_cpu():` block (GC109).
  bool in_save_on_cpu = false;
  Location save_on_cpu_loc;
};

// model.gradient_checkpointing_enable(...) (HF).
struct GcEnableFact {
  CodeCall call;
  bool has_kwargs = false;              // gradient_checkpointing_kwargs= given
  bool empty_kwargs = false;            // given as {}
  std::optional<bool> use_reentrant;
  Location use_reentrant_loc;
  std::optional<bool> preserve_rng_state;  // gradient_checkpointing_kwargs["preserve_rng_state"]
  Location preserve_rng_state_loc;
  std::string receiver;                 // "model", "peft_model", ...
  // Set when checkpointing is switched on through the model config rather than by a call:
  // `from_pretrained(..., gradient_checkpointing=True)` (the model's post_init then calls
  // gradient_checkpointing_enable() with no arguments); the text names what the file says.
  std::string via;
};

// peft.prepare_model_for_kbit_training(model, use_gradient_checkpointing=..., gradient_checkpointing_kwargs=...)
struct KbitPrepareFact {
  CodeCall call;
  std::optional<bool> use_gradient_checkpointing;  // default True in PEFT
  bool has_kwargs = false;
  std::optional<bool> use_reentrant;
  Location use_reentrant_loc;
  std::optional<bool> preserve_rng_state;  // gradient_checkpointing_kwargs["preserve_rng_state"]
  Location preserve_rng_state_loc;
};

// requires_grad_(False) / .requires_grad = False on a module or named parameters.
struct FreezeFact {
  Location loc;
  std::string target;        // "model.model.embed_tokens", "param" in a loop, ...
  bool embeddings = false;   // the target is (or contains) the input embeddings
  bool whole_model = false;  // every parameter (then some are unfrozen again, or adapters train)
  int order = -1;
  std::string scope;         // as CodeCall::scope
};

// DistributedDataParallel(..., find_unused_parameters=..., static_graph=...)
// (also accelerate DistributedDataParallelKwargs).
struct DdpFact {
  CodeCall call;
  std::optional<bool> find_unused_parameters;
  Location find_unused_loc;
  std::optional<bool> static_graph;
};

// Which Trainer class runs the model: Trainer, Seq2SeqTrainer, SFTTrainer, DPOTrainer, ...
struct TrainerFact {
  CodeCall call;
  std::string cls;   // "SFTTrainer"
  std::string kind;  // sft, dpo, grpo, kto, orpo, reward, ppo, rloo, ... ("" for plain Trainer)
};

// A LibTorch autograd Function that re-runs its forward in backward: a hand-rolled reentrant
// checkpoint (C++).
struct RecomputeFunctionFact {
  Location loc;                      // the class
  std::string name;
  bool forward_no_grad = false;      // forward runs under NoGradGuard / AutoGradMode(false)
  bool backward_recomputes = false;  // backward runs the wrapped computation again
  bool saves_rng = false;            // RNG state saved in forward and restored in backward
  bool dropout_inside = false;       // dropout in the recomputed computation
  Location dropout_loc;
  bool mutates_state = false;        // members written / containers appended in the computation
  Location mutation_loc;
  bool nested = false;               // applied inside another recompute function
  Location nested_loc;
};

// A call of such a Function and where its tensor arguments come from (C++).
struct RecomputeCallFact {
  CodeCall call;
  std::string function;              // the Function's name
  bool inputs_frozen = false;        // every tensor argument comes from frozen modules,
                                     // NoGradGuard scopes or .detach()
  Location frozen_source_loc;        // where the input was frozen
};

// A library version the script itself requires to run (Python): transformers'
// check_min_version("4.57.0.dev0") and require_version("peft>=0.10") raise at start-up when
// the installed version does not satisfy them; a PEP 723 `# /// script` header's
// dependencies are what a runner (uv run, pipx run) installs. Only libraries gcheck knows.
struct VersionDeclFact {
  std::string library;  // normalized ("transformers")
  VersionRange range;
  std::string spec;  // as written (">=4.57.0.dev0", "==4.46.0")
  Location loc;      // the call, or the dependency string in the header
  std::string via;   // "check_min_version", "require_version", "PEP 723 script metadata"
};

struct CodeFacts {
  std::vector<CheckpointCallFact> checkpoint_calls;
  std::vector<GcEnableFact> gc_enables;
  std::vector<KbitPrepareFact> kbit_prepares;
  std::vector<CodeCall> peft_wraps;          // get_peft_model(...), PeftModel.from_pretrained(...)
  std::vector<CodeCall> input_hooks;         // enable_input_require_grads(), register_forward_hook making embeddings require grad
  std::vector<FreezeFact> freezes;
  std::vector<CodeCall> autograd_grad;       // torch.autograd.grad(...), x.backward(inputs=...)
  std::vector<CodeCall> nonscalar_backward;  // x.backward(gradient=...) / torch.autograd.backward(t, grad_tensors)
  std::vector<DdpFact> ddps;
  std::vector<CodeCall> compiles;            // torch.compile(...)
  std::vector<CodeCall> unsloth_gc;          // use_gradient_checkpointing="unsloth"
  std::vector<TrainerFact> trainers;
  std::vector<CodeCall> save_on_cpu;         // torch.autograd.graph.save_on_cpu() around a checkpoint
  std::vector<VersionDeclFact> version_decls;  // the versions the script requires (Python)
  std::vector<CodeCall> arg_parsers;         // HfArgumentParser(...) / TrlParser(...): the training
                                             // settings come from the command line or a YAML
  std::vector<RecomputeFunctionFact> recompute_functions;  // C++
  std::vector<RecomputeCallFact> recompute_calls;          // C++
};

}  // namespace gcheck
