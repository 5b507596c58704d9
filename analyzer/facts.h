// Located facts: what one input file says, in the training stacks' own terms, before any
// default is applied. Front ends (config extractors, the Python and C++ analyzers) fill a
// Facts; the resolver turns Facts into a Setup. A fact never holds a guess: a value the
// front end could not read is absent, or marked `unknown` with the place that hid it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "analyzer/code_facts.h"
#include "analyzer/doc.h"
#include "analyzer/source.h"

namespace gcheck {

enum class Format : uint8_t {
  Unknown,
  Axolotl,
  HfTrl,          // HF TrainingArguments / TRL configs (HfArgumentParser, TrlParser)
  LlamaFactory,   // LLaMA-Factory v0 (llamafactory-cli train x.yaml)
  LlamaFactoryV1, // LLaMA-Factory v1 dialect (examples/v1)
  Torchtune,
  Accelerate,     // accelerate launcher config
  DeepSpeed,      // DeepSpeed JSON
  Python,         // training script
  Cpp,            // LibTorch C++ source
};

std::string_view format_name(Format f);         // "axolotl", "hf-trl", ...
std::string_view format_title(Format f);        // "Axolotl", "HF TrainingArguments / TRL", ...
std::optional<Format> parse_format_name(std::string_view s);

// A value as a file states it, with where it is stated.
template <class T>
struct Fact {
  T value{};
  Location loc;     // the value's span
  Location key_loc; // the key's span (for configs)
  std::string key;  // dotted key path as written ("gradient_checkpointing_kwargs.use_reentrant")
  std::string raw;  // the text as written, for messages
  cfg::NodeId node = cfg::kNone;  // the value's node (configs)
};
template <class T>
using Opt = std::optional<Fact<T>>;

// A value that is present but could not be read (a template, a name bound at run time).
struct Unreadable {
  Location loc;
  std::string key;
  std::string why;
};

struct Facts {
  Format format = Format::Unknown;
  SourcePtr source;
  std::shared_ptr<const cfg::Document> doc;  // config files only
  std::string format_reason;                 // why the detector chose the format
  Location anchor;                           // where findings about implicit values point

  // --- checkpointing switches -----------------------------------------------------------
  Opt<bool> gradient_checkpointing;         // HF/TRL/Axolotl/LF `gradient_checkpointing`
  Opt<std::string> gradient_checkpointing_mode;  // Axolotl deprecated "offload"/"offload_disk"
  Opt<bool> gc_kwargs;                      // gradient_checkpointing_kwargs present; value: non-empty
  Opt<bool> use_reentrant;                  // ...kwargs.use_reentrant
  Opt<bool> preserve_rng_state;             // ...kwargs.preserve_rng_state
  Opt<std::string> determinism_check;       // ...kwargs.determinism_check
  Opt<bool> debug;                          // ...kwargs.debug
  Opt<std::string> context_fn;              // ...kwargs.context_fn (present)
  Opt<bool> early_stop;                     // ...kwargs.early_stop
  Opt<int64_t> every_n_layers;              // ...kwargs.every_n_layers (newer transformers)
  Opt<bool> offload;                        // ...kwargs.offload (newer transformers)
  Opt<bool> disable_gradient_checkpointing; // LLaMA-Factory v0
  Opt<bool> use_reentrant_gc;               // LLaMA-Factory v0
  Opt<bool> use_unsloth_gc;                 // LLaMA-Factory v0
  Opt<bool> use_unsloth;                    // LLaMA-Factory v0
  Opt<bool> enable_activation_checkpointing;  // torchtune, LLaMA-Factory v1
  Opt<std::string> ac_mode;                 // torchtune selective AC ("selective"/"full")
  Opt<bool> enable_activation_offloading;   // torchtune
  Opt<std::string> activation_offloading;   // Axolotl: true/legacy/disk/hidden_states
  Opt<bool> selective_checkpointing;        // Axolotl
  Opt<std::string> unsloth_gc;              // use_gradient_checkpointing="unsloth" (code)

  // --- model ------------------------------------------------------------------------------
  Opt<std::string> model_name;              // base_model / model_name_or_path / component
  Opt<std::string> model_type;              // model_config_type, model_type
  Opt<bool> use_cache;
  Opt<bool> trust_remote_code;
  Opt<std::string> attn_implementation;     // flash_attention_2, flex_attention, sdpa, ...
  Opt<std::string> ebft_mode;               // Axolotl EBFT: ebft.mode (strided, ...)

  // --- adapters, quantization, freezing -----------------------------------------------------
  Opt<std::string> adapter;                 // lora, qlora, oft, ...
  Opt<std::string> finetuning_type;         // LLaMA-Factory: lora/oft/freeze/full
  Opt<bool> use_peft;                       // TRL ModelConfig
  Opt<int64_t> quant_bits;                  // 4 or 8
  Opt<std::vector<std::string>> unfrozen_parameters;  // Axolotl
  Opt<int64_t> freeze_trainable_layers;     // LLaMA-Factory freeze
  Opt<bool> freeze_vision_tower;            // LLaMA-Factory (default True)
  Opt<bool> freeze_mm_modules;              // Axolotl
  Opt<bool> vision_lora;                    // adapters on a vision/audio tower (when stated)
  Opt<bool> embeddings_trainable;           // the input embeddings train (modules_to_save, ...)
  Opt<double> lora_dropout;
  Opt<double> attention_dropout;
  Opt<double> hidden_dropout;
  Opt<bool> disable_dropout;                // TRL DPO/GRPO

  // --- distributed ---------------------------------------------------------------------------
  Opt<std::string> deepspeed_path;          // a path to a DeepSpeed JSON
  cfg::NodeId deepspeed_inline = cfg::kNone; // an inline DeepSpeed dict (same document)
  Location deepspeed_inline_loc;
  Opt<int64_t> zero_stage;                  // DeepSpeed JSON / accelerate zero_stage
  Opt<std::string> deepspeed_config_file;   // accelerate deepspeed_config.deepspeed_config_file
  Opt<bool> ds_activation_checkpointing;    // DeepSpeed JSON section present (value: non-empty)
  std::vector<Fact<std::string>> ds_ac_keys;  // keys in that section
  Opt<std::string> fsdp;                    // HF `fsdp` ("full_shard auto_wrap", list joined)
  Opt<bool> fsdp_ac;                        // FSDP activation checkpointing
  Opt<int64_t> fsdp_version;
  Opt<std::string> fsdp_sharding;           // sharding strategy / reshard
  Opt<std::string> fsdp_config_path;        // HF fsdp_config given as a path
  Opt<bool> ddp_find_unused_parameters;
  Opt<bool> ddp_static_graph;
  Opt<std::string> distributed_type;        // accelerate: NO/MULTI_GPU/DEEPSPEED/FSDP
  Opt<int64_t> num_processes;
  Opt<int64_t> num_machines;
  Opt<bool> use_ray;
  Opt<int64_t> ray_num_workers;

  // --- trainer -------------------------------------------------------------------------------
  Opt<std::string> trainer;                 // sft, dpo, grpo, kto, orpo, ppo, rm, ...
  Opt<bool> trl;                            // the file is a TRL config (vs plain TrainingArguments)
  Opt<bool> torch_compile;

  std::vector<Unreadable> unreadable;       // relevant values that could not be read

  // Python scripts and C++ sources: what only code can state (null for configs).
  std::shared_ptr<CodeFacts> code;
  std::string paired_with;  // a script merged with the config it parses (analyzer/pairing.h)

  // Every checkpoint-relevant key the extractor read (configs), in document order.
  struct KeyRef {
    std::string path;
    cfg::NodeId node = cfg::kNone;
    Location key_loc;
    Location loc;
  };
  std::vector<KeyRef> relevant;
};

}  // namespace gcheck
