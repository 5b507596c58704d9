// The keyword arguments the front end's handlers read (Extractor::option). The statement
// selection (relevance.cpp) relies on this list: in a call the handlers may read, it follows
// the names of the positional arguments, the **splats and the keyword arguments named here,
// and no others (`train_dataset=ds` of a trainer call cannot change a fact, so the lines that
// build `ds` are not parsed). So a handler can only ask for a keyword listed here:
// Extractor::option takes a ReadKeyword, which only a name from this list can make, checked
// when gcheck is compiled.
#pragma once

#include <string_view>

namespace gcheck::py {

inline constexpr std::string_view kReadKeywords[] = {
    // torch.utils.checkpoint and checkpoint_wrapper options
    "use_reentrant",
    "preserve_rng_state",
    "context_fn",
    "determinism_check",
    "debug",
    "early_stop",
    "checkpoint_impl",
    "checkpoint_wrapper_fn",
    // backward / autograd, DDP
    "inputs",
    "gradient",
    "grad_tensors",
    "find_unused_parameters",
    "static_graph",
    // TrainingArguments and the TRL configs
    "gradient_checkpointing",
    "gradient_checkpointing_kwargs",
    "ddp_find_unused_parameters",
    "ddp_static_graph",
    "torch_compile",
    "use_cache",
    "disable_dropout",
    "deepspeed",
    "fsdp",
    "fsdp_config",
    "model_init_kwargs",
    // trainers, from_pretrained, quantization, TRL's ModelConfig
    "peft_config",
    "model",
    "pretrained_model_name_or_path",
    "model_name",
    "model_name_or_path",
    "quantization_config",
    "trust_remote_code",
    "load_in_4bit",
    "load_in_8bit",
    "bits",
    "use_peft",
    // PEFT configs, Unsloth, freezing
    "lora_dropout",
    "target_modules",
    "modules_to_save",
    "lora_target_modules",
    "lora_modules_to_save",
    "use_gradient_checkpointing",
    "requires_grad",
};

constexpr bool is_read_keyword(std::string_view name) {
  for (std::string_view k : kReadKeywords)
    if (k == name) return true;
  return false;
}

// A keyword name from kReadKeywords; any other name does not compile.
class ReadKeyword {
 public:
  // NOLINTNEXTLINE(google-explicit-constructor): made from the literal at each call site
  consteval ReadKeyword(const char* name) : name_(name) {
    if (!is_read_keyword(name_)) throw "not in kReadKeywords: add it there";
  }
  std::string_view name() const { return name_; }
  operator std::string_view() const { return name_; }  // NOLINT(google-explicit-constructor)

 private:
  std::string_view name_;
};

}  // namespace gcheck::py
