#include "analyzer/defaults_table.h"

#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>

namespace gcheck {
namespace {

// clang-format off
constexpr DefaultRow kRows[] = {
  // ---- PyTorch ---------------------------------------------------------------------------
  {"torch.use_reentrant", "PyTorch", "", "", "", "use_reentrant", "true",
   "checkpoint() / checkpoint_sequential() called without use_reentrant (a deprecation warning since 2.1; still the default)",
   "torch/utils/checkpoint.py (_checkpoint_impl); PR #100551; issue #160534"},
  {"torch.preserve_rng_state", "PyTorch", "", "", "", "preserve_rng_state", "true",
   "checkpoint() called without preserve_rng_state",
   "torch/utils/checkpoint.py"},
  {"torch.checkpoint_wrapper.reentrant", "PyTorch", "torch", "", "2.2.0", "checkpoint_impl", "REENTRANT",
   "checkpoint_wrapper(module) without checkpoint_impl",
   "torch/distributed/algorithms/_checkpoint/checkpoint_wrapper.py; PR #108435 changed it in 2.2"},
  {"torch.checkpoint_wrapper.no_reentrant", "PyTorch", "torch", "2.2.0", "", "checkpoint_impl", "NO_REENTRANT",
   "checkpoint_wrapper(module) without checkpoint_impl",
   "PR #108435"},
  {"hf.gradient_checkpointing", "transformers", "", "", "", "gradient_checkpointing", "false",
   "TrainingArguments.gradient_checkpointing not set",
   "transformers training_args.py (TrainingArguments)"},
  {"hf.use_reentrant.model_code", "transformers", "transformers", "", "4.35.0", "use_reentrant", "true",
   "no gradient_checkpointing_kwargs support yet: each model calls torch.utils.checkpoint.checkpoint itself, without use_reentrant, so torch's default (reentrant) applies",
   "transformers PR #27020 added gradient_checkpointing_kwargs in 4.35.0"},
  {"hf.use_reentrant.empty", "transformers", "transformers", "4.35.0", "4.37.0", "use_reentrant", "true",
   "gradient_checkpointing_enable() defaults to gradient_checkpointing_kwargs={}, which passes nothing to torch, whose default is reentrant (with a warning)",
   "transformers#28536; fixed by PR #28538"},
  {"hf.use_reentrant.true", "transformers", "transformers", "4.37.0", "5.1.0", "use_reentrant", "true",
   "gradient_checkpointing_enable() without kwargs passes {\"use_reentrant\": True}",
   "transformers PR #28538"},
  {"hf.use_reentrant.false", "transformers", "transformers", "5.1.0", "", "use_reentrant", "false",
   "gradient_checkpointing_enable() without kwargs passes {\"use_reentrant\": False}",
   "transformers PR #43203 (first released in 5.1.0)"},
  {"hf.gc_kwargs.unsupported", "transformers", "transformers", "", "4.35.0", "gradient_checkpointing_kwargs", "ignored",
   "the TrainingArguments field and the gradient_checkpointing_enable() argument do not exist yet",
   "transformers PR #27020 (4.35.0); PEFT docs: only available in transformers > 4.34.1"},
  {"hf.gc_kwargs.every_n_layers", "transformers", "transformers", "5.17.0", "", "gradient_checkpointing_kwargs.every_n_layers", "accepted",
   "a transformers key, not a torch one: older versions pass it on to torch's checkpoint()",
   "transformers PR #48200 (merged Aug 2026; documented in 5.17.0)"},
  {"hf.gc_kwargs.offload", "transformers", "transformers", "5.17.0", "", "gradient_checkpointing_kwargs.offload", "accepted",
   "a transformers key, not a torch one: older versions pass it on to torch's checkpoint()",
   "transformers PR #48444 (merged Sep 2026; documented in 5.17.0)"},
  {"hf.ddp_find_unused.peft", "transformers", "", "", "", "ddp_find_unused_parameters", "true",
   "not set, and the model is not a PreTrainedModel (a PeftModel is not)",
   "transformers Trainer._build_accelerator_args; TrainingArguments.ddp_find_unused_parameters doc"},
  {"hf.ddp_find_unused.gc", "transformers", "", "", "", "ddp_find_unused_parameters", "false",
   "not set, a PreTrainedModel with gradient checkpointing on (find_unused_parameters = not model.is_gradient_checkpointing)",
   "transformers Trainer._build_accelerator_args; PR #4659"},
  {"hf.ddp_find_unused.plain", "transformers", "", "", "", "ddp_find_unused_parameters", "true",
   "not set, a PreTrainedModel without gradient checkpointing",
   "transformers Trainer._build_accelerator_args"},
  {"hf.fsdp_ac_with_gc", "transformers", "", "", "", "fsdp_config.activation_checkpointing + gradient_checkpointing", "ValueError",
   "both on: \"The activation_checkpointing in FSDP config and the gradient_checkpointing in training arg can't be set to True simultaneously\"",
   "transformers Trainer.create_accelerator_and_postprocess"},
  {"hf.use_cache.gc", "transformers", "", "", "", "use_cache", "false",
   "HF gradient checkpointing in training mode turns the cache off (with a warning)",
   "transformers modeling_layers.py (GradientCheckpointingLayer.__call__)"},

  {"transformers.model_dropout", "transformers", "", "", "", "dropout", "0.1",
   "the model is GPT-2, BERT and its kin (RoBERTa, DeBERTa, HuBERT), T5, BART, OPT or wav2vec2, whose config classes default to dropout 0.1 inside every block (a checkpoint's config.json may say otherwise); Llama-style models (Llama, Qwen, Mistral, Gemma, Phi) default to 0",
   "transformers models/gpt2/configuration_gpt2.py (resid_pdrop=0.1), models/bert/configuration_bert.py (hidden_dropout_prob=0.1), models/t5/configuration_t5.py (dropout_rate=0.1), models/bart/configuration_bart.py (dropout=0.1), models/opt/configuration_opt.py (dropout=0.1), models/wav2vec2/configuration_wav2vec2.py (hidden_dropout=0.1)"},

  // ---- PEFT ---------------------------------------------------------------------------------
  {"peft.lora_dropout", "PEFT", "", "", "", "lora_dropout", "0.0",
   "LoraConfig without lora_dropout",
   "peft src/peft/tuners/lora/config.py"},
  {"peft.kbit.hook", "PEFT", "", "", "", "input-require-grads hook", "true",
   "prepare_model_for_kbit_training with gradient checkpointing and use_reentrant not False",
   "peft src/peft/utils/other.py (prepare_model_for_kbit_training); PR #1036"},
  {"peft.wrap.hook", "PEFT", "", "", "", "input-require-grads hook", "true",
   "get_peft_model on a model that already has gradient checkpointing on and is not quantized: PeftModel installs the hook at wrap time (and only then)",
   "peft src/peft/peft_model.py (_prepare_model_for_gradient_checkpointing)"},
  {"torch.ddp.find_unused", "PyTorch", "", "", "", "find_unused_parameters", "false",
   "DistributedDataParallel(...) without find_unused_parameters",
   "torch/nn/parallel/distributed.py"},
  {"peft.kbit.empty_kwargs", "PEFT", "", "", "", "gradient_checkpointing_kwargs", "{}",
   "prepare_model_for_kbit_training(..., gradient_checkpointing_kwargs=None) turns None into {} and passes it on, so torch's default (reentrant) applies",
   "peft src/peft/utils/other.py"},

  // ---- TRL ------------------------------------------------------------------------------------
  {"trl.gradient_checkpointing", "TRL", "trl", "0.22.0", "", "gradient_checkpointing", "true",
   "a TRL config (SFTConfig, DPOConfig, GRPOConfig, ...) without gradient_checkpointing",
   "trl/trainer/base_config.py; PR #3510"},
  {"trl.gradient_checkpointing.old", "TRL", "trl", "", "0.22.0", "gradient_checkpointing", "false",
   "a TRL config without gradient_checkpointing (the transformers default)",
   "TRL before PR #3510"},
  {"trl.use_reentrant", "TRL", "trl", "0.27.0", "", "use_reentrant", "false",
   "gradient checkpointing on and use_reentrant not set: gradient_checkpointing_kwargs.setdefault(\"use_reentrant\", False), only with transformers < 5.0.0",
   "trl/trainer/sft_trainer.py, grpo_trainer.py; PR #4811", "transformers", "", "5.0.0"},
  {"trl.force_reentrant.sft", "TRL", "trl", "0.28.0", "", "use_reentrant", "true",
   "SFTTrainer + PEFT model + DeepSpeed ZeRO-3 + gradient checkpointing: forced, overriding an explicit false (with a warning)",
   "trl/trainer/sft_trainer.py; PR #4951; issue #2514"},
  {"trl.force_reentrant.other", "TRL", "trl", "1.9.0", "", "use_reentrant", "true",
   "DPO/GRPO/KTO/Reward/RLOO trainer + PEFT model + DeepSpeed ZeRO-3 + gradient checkpointing: forced, overriding an explicit false",
   "trl/trainer/dpo_trainer.py and siblings; PR #6356"},
  {"trl.input_hook", "TRL", "", "", "", "input-require-grads hook", "true",
   "PEFT model + gradient checkpointing: model.enable_input_require_grads()",
   "trl/trainer/sft_trainer.py, dpo_trainer.py (workaround for transformers#42489)"},
  {"trl.lora_dropout", "TRL", "", "", "", "lora_dropout", "0.05",
   "ModelConfig without lora_dropout (use_peft: true)",
   "trl/trainer/model_config.py"},
  {"trl.disable_dropout.dpo", "TRL", "", "", "", "disable_dropout", "true",
   "DPOConfig without disable_dropout: every dropout module is set to p=0",
   "trl/trainer/dpo_config.py"},
  {"trl.disable_dropout.other", "TRL", "", "", "", "disable_dropout", "false",
   "GRPOConfig and most other configs without disable_dropout",
   "trl/trainer/grpo_config.py"},

  // ---- Axolotl --------------------------------------------------------------------------------
  {"axolotl.gradient_checkpointing", "Axolotl", "", "", "", "gradient_checkpointing", "false",
   "gradient_checkpointing not set",
   "axolotl src/axolotl/utils/schemas/config.py"},
  {"axolotl.use_reentrant.injected", "Axolotl", "", "", "", "gradient_checkpointing_kwargs.use_reentrant", "true",
   "gradient checkpointing on, and none of gradient_checkpointing_kwargs, unfrozen_parameters and rl set: normalize_config injects {\"use_reentrant\": True}",
   "axolotl src/axolotl/utils/config/__init__.py (normalize_config); PR #1167"},
  {"axolotl.use_reentrant.builder", "Axolotl", "", "", "", "gradient_checkpointing_kwargs.use_reentrant", "false",
   "gradient checkpointing on, gradient_checkpointing_kwargs not set, and unfrozen_parameters or rl set: the trainer builder passes {\"use_reentrant\": False}",
   "axolotl src/axolotl/core/builders/base.py (_configure_gradient_checkpointing)"},
  {"axolotl.use_reentrant.gemma4", "Axolotl", "", "", "", "gradient_checkpointing_kwargs.use_reentrant", "false",
   "Gemma-4 model with gradient checkpointing: forced (\"Gemma4 requires use_reentrant=False\")",
   "axolotl src/axolotl/utils/config/__init__.py (Gemma-4 block)"},
  {"axolotl.use_reentrant.ebft", "Axolotl", "", "", "", "gradient_checkpointing_kwargs.use_reentrant", "true",
   "rl: ebft in strided mode with attn_implementation: flex_attention and gradient checkpointing: forced (non-reentrant raises CheckpointError on the BlockMask)",
   "axolotl src/axolotl/utils/schemas/validation.py (check_ebft_gradient_checkpointing_reentrant)"},
  {"axolotl.use_reentrant.hidden_states", "Axolotl", "", "", "", "gradient_checkpointing_kwargs.use_reentrant", "false",
   "activation_offloading: hidden_states without use_reentrant",
   "axolotl src/axolotl/core/builders/base.py; docs/gradient_checkpointing.qmd"},
  {"axolotl.offload.no_hf_gc", "Axolotl", "", "", "", "gradient_checkpointing", "false",
   "activation_offloading true/legacy/disk: HF checkpointing is switched off and TRL's offloader (with a checkpoint wrapper for full fine-tunes) takes its place; gradient_checkpointing_kwargs are not used",
   "axolotl src/axolotl/core/builders/base.py (_configure_gradient_checkpointing)"},
  {"axolotl.offload.adapter", "Axolotl", "", "", "", "gradient_checkpointing", "false",
   "activation_offloading true/legacy/disk with LoRA/QLoRA: TRL's offloader replaces recompute entirely (pure offloading, no checkpoint wrapper)",
   "axolotl src/axolotl/loaders/model.py (_apply_activation_checkpointing); core/builders/base.py"},
  {"axolotl.input_hook.adapter", "Axolotl", "", "", "", "input-require-grads hook", "true",
   "LoRA/QLoRA: checkpointing is enabled before get_peft_model (PEFT installs the hook), QLoRA through prepare_model_for_kbit_training",
   "axolotl src/axolotl/loaders/model.py"},
  {"axolotl.ddp_find_unused", "Axolotl", "", "", "", "ddp_find_unused_parameters", "false",
   "DDP and ddp_find_unused_parameters not set: bool(None)",
   "axolotl src/axolotl/core/builders/causal.py"},
  {"axolotl.ddp_find_unused.gemma4", "Axolotl", "", "", "", "ddp_find_unused_parameters", "true",
   "Gemma-4 under DDP without ddp_find_unused_parameters",
   "axolotl src/axolotl/utils/config/__init__.py (Gemma-4 block)"},
  {"axolotl.lora_dropout", "Axolotl", "", "", "", "lora_dropout", "0.0",
   "lora_dropout not set",
   "axolotl src/axolotl/utils/schemas/peft.py"},

  // ---- LLaMA-Factory ------------------------------------------------------------------------
  {"lf.gradient_checkpointing", "LLaMA-Factory", "", "", "", "disable_gradient_checkpointing", "false",
   "not set: LLaMA-Factory enables gradient checkpointing itself",
   "LLaMA-Factory src/llamafactory/hparams/model_args.py; model/model_utils/checkpointing.py"},
  {"lf.use_reentrant_gc", "LLaMA-Factory", "", "", "", "use_reentrant_gc", "true",
   "not set",
   "LLaMA-Factory src/llamafactory/hparams/model_args.py"},
  {"lf.use_reentrant_gc.fsdp2", "LLaMA-Factory", "", "", "", "use_reentrant_gc", "false",
   "launched with FSDP2 (ACCELERATE_USE_FSDP and FSDP_VERSION=2): forced",
   "LLaMA-Factory src/llamafactory/hparams/parser.py"},
  {"lf.hf_gc.reenable", "LLaMA-Factory", "", "", "", "use_reentrant", "true",
   "the HF key gradient_checkpointing: true makes the Trainer call LLaMA-Factory's patched gradient_checkpointing_enable(None), whose default is {\"use_reentrant\": True}, whatever use_reentrant_gc says (inferred from the code)",
   "LLaMA-Factory model/model_utils/checkpointing.py (_gradient_checkpointing_enable); transformers#26221"},
  {"lf.input_hook", "LLaMA-Factory", "", "", "", "input-require-grads hook", "true",
   "LLaMA-Factory's checkpoint wrapper calls requires_grad_(True) on the first floating-point argument of every layer with trainable parameters",
   "LLaMA-Factory model/model_utils/checkpointing.py (get_custom_gradient_checkpointing_func)"},
  {"lf.ddp_find_unused.lora", "LLaMA-Factory", "", "", "", "ddp_find_unused_parameters", "false",
   "LoRA under DDP with ddp_find_unused_parameters not set",
   "LLaMA-Factory src/llamafactory/hparams/parser.py"},
  {"lf.finetuning_type", "LLaMA-Factory", "", "", "", "finetuning_type", "lora",
   "not set",
   "LLaMA-Factory src/llamafactory/hparams/finetuning_args.py"},
  {"lf.lora_dropout", "LLaMA-Factory", "", "", "", "lora_dropout", "0.0",
   "not set",
   "LLaMA-Factory src/llamafactory/hparams/finetuning_args.py"},
  {"lf.use_cache", "LLaMA-Factory", "", "", "", "use_cache", "false",
   "gradient checkpointing on: config.use_cache is set to False",
   "LLaMA-Factory model/model_utils/checkpointing.py (prepare_model_for_training)"},
  {"lfv1.enable_activation_checkpointing", "LLaMA-Factory v1", "", "", "", "enable_activation_checkpointing", "true",
   "not set",
   "LLaMA-Factory v1 (examples/v1)"},
  {"lfv1.use_reentrant", "LLaMA-Factory v1", "", "", "", "use_reentrant", "false",
   "always {\"use_reentrant\": False}",
   "LLaMA-Factory v1 checkpointing"},

  // ---- torchtune -----------------------------------------------------------------------------
  {"torchtune.enable_activation_checkpointing", "torchtune", "", "", "", "enable_activation_checkpointing", "false",
   "not set: the recipes read cfg.get(\"enable_activation_checkpointing\", False)",
   "torchtune recipes/*.py"},
  {"torchtune.use_reentrant", "torchtune", "", "", "", "use_reentrant", "false",
   "torchtune wraps layers with checkpoint_wrapper(CheckpointImpl.NO_REENTRANT)",
   "torchtune torchtune/training/activations.py"},
  {"torchtune.preserve_rng_state", "torchtune", "", "", "", "preserve_rng_state", "true",
   "enable_activation_checkpointing: the default checkpoint_wrapper",
   "torchtune torchtune/training/activations.py"},
  {"torchtune.preserve_rng_state.ac_mode", "torchtune", "", "", "", "preserve_rng_state", "false",
   "ac_mode set and enable_activation_checkpointing False in the full fine-tune distributed recipes: checkpoint_wrapper(..., preserve_rng_state=False)",
   "torchtune recipes/full_finetune_distributed.py; torchtune/training/activations.py"},

  // ---- accelerate / FSDP -----------------------------------------------------------------------
  {"accelerate.fsdp_ac.use_reentrant", "accelerate", "", "", "", "use_reentrant", "false",
   "FSDP activation checkpointing wraps layers with checkpoint_wrapper(CheckpointImpl.NO_REENTRANT)",
   "accelerate src/accelerate/accelerator.py; utils/fsdp_utils.py (fsdp2_apply_ac)"},
  {"accelerate.fsdp2_ac.preserve_rng_state", "accelerate", "accelerate", "1.8.0", "", "preserve_rng_state", "false",
   "FSDP2 activation checkpointing: checkpoint_wrapper(layer, preserve_rng_state=False)",
   "accelerate src/accelerate/utils/fsdp_utils.py (fsdp2_apply_ac); PR #3585"},
  {"accelerate.fsdp2_ac.preserve_rng_state.old", "accelerate", "accelerate", "", "1.8.0", "preserve_rng_state", "true",
   "FSDP2 activation checkpointing before PR #3585",
   "accelerate src/accelerate/utils/fsdp_utils.py"},
  {"accelerate.fsdp_version", "accelerate", "", "", "", "fsdp_version", "1",
   "not set",
   "accelerate src/accelerate/utils/dataclasses.py (FullyShardedDataParallelPlugin)"},

  // ---- DeepSpeed ---------------------------------------------------------------------------------
  {"deepspeed.zero_stage", "DeepSpeed", "", "", "", "zero_optimization.stage", "0",
   "no zero_optimization.stage",
   "deepspeed/runtime/zero/config.py (DeepSpeedZeroConfig.stage)"},
  {"deepspeed.zero3_frozen_recompute", "DeepSpeed", "deepspeed", "0.19.3", "", "ZeRO-3 recompute with frozen parameters", "fixed",
   "ZeRO-3 keeps frozen parameters gathered during a checkpoint recompute",
   "DeepSpeed PR #8148 (built on #8130), first released in 0.19.3"},
  {"deepspeed.zero3_nonscalar_backward", "DeepSpeed", "deepspeed", "0.18.5", "", "ZeRO-3 + reentrant + non-scalar backward", "fixed",
   "stale parameters in ipg_buckets between iterations",
   "DeepSpeed PR #7780, first released in 0.18.5"},
  {"deepspeed.activation_checkpointing.unused", "DeepSpeed", "", "", "", "activation_checkpointing", "not read",
   "the section configures deepspeed.checkpointing only; HF, TRL, Axolotl, LLaMA-Factory and accelerate never call deepspeed.checkpointing.configure",
   "deepspeed/runtime/activation_checkpointing/config.py, checkpointing.py; transformers docs/source/en/deepspeed.md"},

  // ---- Unsloth -----------------------------------------------------------------------------------
  {"unsloth.use_reentrant", "Unsloth", "", "", "", "use_reentrant", "true",
   "use_gradient_checkpointing=\"unsloth\": torch.utils.checkpoint is patched process-wide to force use_reentrant=True",
   "unsloth-zoo unsloth_zoo/gradient_checkpointing.py (unsloth_checkpoint)"},
  {"unsloth.input_hook", "Unsloth", "", "", "", "input-require-grads hook", "true",
   "FastLanguageModel.get_peft_model(..., use_gradient_checkpointing=True or \"unsloth\"): prepare_model_for_training(use_reentrant=True) calls enable_input_require_grads()",
   "unsloth-zoo unsloth_zoo/training_utils.py (prepare_model_for_training)"},
  {"unsloth.offload_patch", "Unsloth", "", "", "", "CheckpointFunction", "patched",
   "Unsloth's offloading replaces torch.utils.checkpoint.CheckpointFunction, which only the reentrant path uses",
   "unsloth-zoo unsloth_zoo/gradient_checkpointing.py; LLaMA-Factory use_unsloth_gc"},
};
// clang-format on

}  // namespace

std::span<const DefaultRow> default_rows() { return kRows; }

const DefaultRow& row(std::string_view id) {
  for (const auto& r : kRows)
    if (r.id == id) return r;
  std::fprintf(stderr, "gcheck: internal error: no default row '%.*s'\n",
               static_cast<int>(id.size()), id.data());
  std::abort();
}

bool row_applies(const DefaultRow& r, Scenario& sc) {
  if (!r.library.empty() && !sc.in_range(r.library, r.since, r.until)) return false;
  if (!r.library2.empty() && !sc.in_range(r.library2, r.since2, r.until2)) return false;
  return true;
}

const DefaultRow* pick_row(Scenario& sc, std::initializer_list<std::string_view> ids) {
  for (auto id : ids) {
    const DefaultRow& r = row(id);
    if (row_applies(r, sc)) return &r;
  }
  return nullptr;
}

namespace {
std::string gate(std::string_view lib, std::string_view since, std::string_view until) {
  if (lib.empty()) return "";
  if (!since.empty() && !until.empty()) return fmt::format("{} <= {} < {}", since, lib, until);
  if (!since.empty()) return fmt::format("{} >= {}", lib, since);
  if (!until.empty()) return fmt::format("{} < {}", lib, until);
  return "";
}
}  // namespace

std::string row_versions(const DefaultRow& r) {
  std::string a = gate(r.library, r.since, r.until);
  std::string b = gate(r.library2, r.since2, r.until2);
  if (!a.empty() && !b.empty()) return a + " with " + b;
  return a.empty() ? b : a;
}

bool row_bool(const DefaultRow& r) { return r.value == "true"; }

}  // namespace gcheck
