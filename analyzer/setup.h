// The effective Setup: what the training stack will really do, every value with the chain of
// reasons (provenance) that produced it. Rules read only this.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "analyzer/facts.h"
#include "analyzer/versions.h"

namespace gcheck {

struct DefaultRow;

// One link of a provenance chain.
struct Origin {
  enum class Kind : uint8_t {
    Key,       // a file states it (loc, key)
    Default,   // a library default (row)
    Override,  // a library overrides what the files say (row)
    Derived,   // computed from other values (text)
    Unknown,   // could not be determined (text says why)
  };
  Kind kind = Kind::Derived;
  Location loc;
  std::string key;
  std::string text;                 // human wording
  const DefaultRow* row = nullptr;  // for Default/Override

  std::string describe() const;  // "axolotl.yml:12:3 gradient_checkpointing_kwargs.use_reentrant"
};

template <class T>
struct Eff {
  std::optional<T> value;
  std::vector<Origin> why;

  bool known() const { return value.has_value(); }
  bool is(const T& v) const { return value && *value == v; }
  const T& operator*() const { return *value; }
  // The first located origin (a key in a file), if any.
  const Origin* located() const {
    for (const auto& o : why)
      if (o.loc.known()) return &o;
    return nullptr;
  }
  void set(T v, Origin o) {
    value = std::move(v);
    why.clear();
    why.push_back(std::move(o));
  }
  void because(Origin o) { why.push_back(std::move(o)); }
};

// Checkpointing mechanisms that can wrap the decoder layers.
enum class Mechanism : uint8_t {
  HfGradientCheckpointing,  // transformers gradient_checkpointing_enable / TrainingArguments
  LlamaFactoryWrapper,      // LLaMA-Factory's own patched gradient_checkpointing_enable
  FsdpActivationCheckpointing,  // accelerate / FSDP checkpoint_wrapper
  TorchtuneActivationCheckpointing,
  UnslothCheckpointing,     // use_gradient_checkpointing="unsloth" / use_unsloth_gc
  AxolotlOffloadWrapper,    // Axolotl activation_offloading true/legacy/disk: TRL offloader
  TorchCheckpointCall,      // direct torch.utils.checkpoint calls (code)
  CheckpointWrapperCall,    // checkpoint_wrapper / apply_activation_checkpointing (code)
  HandRolledRecompute,      // a C++ autograd Function that re-runs forward in backward
};
std::string_view mechanism_name(Mechanism m);

struct MechanismUse {
  Mechanism mechanism;
  Origin origin;
};

enum class Adapter : uint8_t { None, Lora, Qlora, Other };

// One place in code that checkpoints on its own: a torch.utils.checkpoint call, a
// checkpoint_wrapper, a model-level HF enabling call (gradient_checkpointing_enable,
// prepare_model_for_kbit_training), or a hand-rolled LibTorch recompute Function and its
// calls. Each has its own effective use_reentrant (a call's keyword, a wrapper's impl, a
// library default, or torch's default).
struct CheckpointSite {
  enum class Kind : uint8_t {
    TorchCall,        // torch.utils.checkpoint.checkpoint / checkpoint_sequential
    Wrapper,          // checkpoint_wrapper / apply_activation_checkpointing
    HfEnable,         // model.gradient_checkpointing_enable(...)
    KbitPrepare,      // peft.prepare_model_for_kbit_training(...)
    CxxFunction,      // a LibTorch Function that recomputes its forward in backward
    CxxCall,          // a call of such a Function
  };
  Kind kind = Kind::TorchCall;
  Location loc;
  std::string api;                 // "torch.utils.checkpoint.checkpoint", "CheckpointBlock", ...
  std::string via;                 // HfEnable through the model config: what the file says
  std::string scope;               // the enclosing function ("" for the module)
  int order = -1;                  // statement order within the scope
  Eff<bool> use_reentrant;
  std::string stated_by;           // user, stack, torch (as Setup::stated_by)
  Eff<bool> preserve_rng_state;
  // Python calls
  bool keyword_tensors = false;    // grad-carrying tensors by keyword / in containers (GC102)
  Location keyword_loc;
  std::optional<Location> context_fn, debug, early_stop;   // non-reentrant-only options
  std::optional<std::pair<std::string, Location>> determinism_check;
  std::optional<Location> save_on_cpu;                     // inside save_on_cpu() (GC109)
  // HF enabling calls
  bool has_kwargs = false;         // gradient_checkpointing_kwargs given
  bool after_peft_wrap = false;    // enabled after get_peft_model in the same function (GC204)
  Location wrap_loc;
  bool hook_in_scope = false;      // an input-require-grads hook covers this model
  // C++ recompute Functions and their calls
  bool inputs_frozen = false;      // a call whose tensor arguments are all frozen (GC101)
  Location frozen_source;
  bool dropout_inside = false;     // dropout in the recomputed computation (GC106)
  Location dropout_loc;
  bool mutates_state = false;      // state written in the recomputed computation (GC107)
  Location mutation_loc;
  bool nested = false;             // applied inside another recompute Function (GC109)
  Location nested_loc;
};
std::string_view adapter_name(Adapter a);

struct Setup {
  Format format = Format::Unknown;
  const Facts* facts = nullptr;          // the primary file
  const Facts* deepspeed = nullptr;      // linked DeepSpeed JSON (file or inline)
  const Facts* launcher = nullptr;       // linked accelerate launcher config
  Scenario* scenario = nullptr;          // the versions this Setup assumes

  Eff<std::string> stack;                // "Axolotl", "TRL", "HF Trainer", ...
  Eff<std::string> trainer;              // sft, dpo, grpo, ... ("" = plain supervised)

  // checkpointing
  Eff<bool> checkpointing;               // any mechanism on
  std::vector<MechanismUse> mechanisms;  // every mechanism on
  Eff<bool> hf_gc;                       // HF gradient checkpointing on
  Eff<bool> use_reentrant;               // of the checkpointing that wraps the layers
  Eff<bool> use_reentrant_stated;        // a user's file states it
  // Who chose use_reentrant: "user" (a file states it), "stack" (a library passes a value
  // explicitly: Axolotl, LLaMA-Factory, TRL, transformers 4.37+), "torch" (nobody does, so
  // torch's own default applies, with its deprecation warning).
  std::string stated_by;
  std::optional<Origin> overridden;      // a value the user wrote that a stack overrides
  Eff<bool> preserve_rng_state;
  Eff<bool> input_hook;                  // an input-require-grads hook is in effect
  Eff<bool> fsdp_ac;

  // what trains
  Eff<Adapter> adapter;
  Eff<int64_t> quant_bits;               // 0, 4, 8
  Eff<bool> frozen_embeddings;           // tensors entering the checkpointed blocks are frozen
  Eff<bool> frozen_params;               // some parameters inside the blocks are frozen
  Eff<bool> partial_freeze;              // partially frozen full fine-tune
  Eff<bool> frozen_tower;                // trainable params behind a frozen non-text tower
  Eff<double> dropout;                   // largest dropout inside the checkpointed blocks

  // distributed
  Eff<int64_t> zero_stage;
  Eff<bool> fsdp;
  Eff<int64_t> fsdp_version;
  Eff<bool> fsdp_full_shard;
  Eff<bool> multi_process;               // more than one process
  Eff<bool> ddp;                         // DDP (several processes, neither FSDP nor DeepSpeed)
  Eff<bool> find_unused_parameters;

  // other
  Eff<bool> rl;                          // an RL / preference trainer
  Eff<bool> use_cache;
  Eff<bool> torch_compile;
  Eff<bool> offload_patches_reentrant;   // an offloader that patches CheckpointFunction
  Eff<bool> activation_offload;          // activations are offloaded to CPU/disk

  // Code only (Python scripts, C++): false for configs.
  Eff<bool> nonscalar_backward;          // x.backward(gradient=...) on a non-scalar
  Eff<bool> unsloth_gc;                  // use_gradient_checkpointing="unsloth"
  Eff<bool> autograd_grad;               // torch.autograd.grad(...) / backward(inputs=...)
  Eff<bool> keyword_tensors;             // grad-carrying tensors passed by keyword/container
  Eff<bool> gc_after_peft_wrap;          // checkpointing enabled after get_peft_model
  Eff<bool> trainer_overrides_gc;        // model-level kwargs replaced by the Trainer's
  Location gc_enable_loc;                // the model-level enabling call that loses (GC204/GC206)

  // Every place in code that checkpoints on its own (Python calls, C++ recompute Functions).
  std::vector<CheckpointSite> sites;
  // The site whose use_reentrant is the Setup's (code without Trainer-level checkpointing);
  // -1 when a config or the Trainer's arguments decide.
  int reentrant_site = -1;

  // Values that could not be resolved because an input was missing or templated.
  std::vector<Unreadable> unresolved;
};

}  // namespace gcheck
