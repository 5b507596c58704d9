#include "analyzer/pairing.h"

namespace gcheck {

namespace {

// Every field the YAML sets replaces the script's; unreadable values of the script that the
// YAML now states are dropped (the parser fills them from the YAML).
template <class T>
void take(Opt<T>& into, const Opt<T>& from, std::vector<std::string>& stated) {
  if (!from) return;
  into = from;
  stated.push_back(from->key);
}

bool covered(const std::string& key, const std::vector<std::string>& stated) {
  for (const auto& k : stated) {
    if (k.empty()) continue;
    if (key == k || key.rfind(k + ".", 0) == 0 || k.rfind(key + ".", 0) == 0) return true;
  }
  return false;
}

}  // namespace

std::shared_ptr<Facts> merge_pair(const Facts& script, const Facts& config) {
  auto m = std::make_shared<Facts>(script);
  std::vector<std::string> stated;
  take(m->gradient_checkpointing, config.gradient_checkpointing, stated);
  take(m->gradient_checkpointing_mode, config.gradient_checkpointing_mode, stated);
  take(m->gc_kwargs, config.gc_kwargs, stated);
  take(m->use_reentrant, config.use_reentrant, stated);
  take(m->preserve_rng_state, config.preserve_rng_state, stated);
  take(m->determinism_check, config.determinism_check, stated);
  take(m->debug, config.debug, stated);
  take(m->context_fn, config.context_fn, stated);
  take(m->early_stop, config.early_stop, stated);
  take(m->every_n_layers, config.every_n_layers, stated);
  take(m->offload, config.offload, stated);
  take(m->disable_gradient_checkpointing, config.disable_gradient_checkpointing, stated);
  take(m->use_reentrant_gc, config.use_reentrant_gc, stated);
  take(m->use_unsloth_gc, config.use_unsloth_gc, stated);
  take(m->use_unsloth, config.use_unsloth, stated);
  take(m->enable_activation_checkpointing, config.enable_activation_checkpointing, stated);
  take(m->ac_mode, config.ac_mode, stated);
  take(m->enable_activation_offloading, config.enable_activation_offloading, stated);
  take(m->activation_offloading, config.activation_offloading, stated);
  take(m->selective_checkpointing, config.selective_checkpointing, stated);
  take(m->unsloth_gc, config.unsloth_gc, stated);
  take(m->model_name, config.model_name, stated);
  take(m->model_type, config.model_type, stated);
  take(m->use_cache, config.use_cache, stated);
  take(m->trust_remote_code, config.trust_remote_code, stated);
  take(m->attn_implementation, config.attn_implementation, stated);
  take(m->ebft_mode, config.ebft_mode, stated);
  take(m->adapter, config.adapter, stated);
  take(m->finetuning_type, config.finetuning_type, stated);
  take(m->use_peft, config.use_peft, stated);
  take(m->quant_bits, config.quant_bits, stated);
  take(m->unfrozen_parameters, config.unfrozen_parameters, stated);
  take(m->freeze_trainable_layers, config.freeze_trainable_layers, stated);
  take(m->freeze_vision_tower, config.freeze_vision_tower, stated);
  take(m->freeze_mm_modules, config.freeze_mm_modules, stated);
  take(m->vision_lora, config.vision_lora, stated);
  take(m->embeddings_trainable, config.embeddings_trainable, stated);
  take(m->lora_dropout, config.lora_dropout, stated);
  take(m->attention_dropout, config.attention_dropout, stated);
  take(m->hidden_dropout, config.hidden_dropout, stated);
  take(m->disable_dropout, config.disable_dropout, stated);
  take(m->deepspeed_path, config.deepspeed_path, stated);
  take(m->zero_stage, config.zero_stage, stated);
  take(m->deepspeed_config_file, config.deepspeed_config_file, stated);
  take(m->ds_activation_checkpointing, config.ds_activation_checkpointing, stated);
  take(m->fsdp, config.fsdp, stated);
  take(m->fsdp_ac, config.fsdp_ac, stated);
  take(m->fsdp_version, config.fsdp_version, stated);
  take(m->fsdp_sharding, config.fsdp_sharding, stated);
  take(m->fsdp_config_path, config.fsdp_config_path, stated);
  take(m->ddp_find_unused_parameters, config.ddp_find_unused_parameters, stated);
  take(m->ddp_static_graph, config.ddp_static_graph, stated);
  take(m->distributed_type, config.distributed_type, stated);
  take(m->num_processes, config.num_processes, stated);
  take(m->num_machines, config.num_machines, stated);
  take(m->use_ray, config.use_ray, stated);
  take(m->ray_num_workers, config.ray_num_workers, stated);
  take(m->trainer, config.trainer, stated);
  take(m->trl, config.trl, stated);
  take(m->torch_compile, config.torch_compile, stated);
  if (config.use_peft || config.adapter) stated.push_back("peft_config");
  std::vector<Unreadable> kept;
  for (const auto& u : script.unreadable)
    if (!covered(u.key, stated)) kept.push_back(u);
  for (const auto& u : config.unreadable) kept.push_back(u);
  m->unreadable = std::move(kept);
  m->doc = config.doc;
  m->relevant = config.relevant;
  m->format_reason = script.format_reason + ", paired with " + config.source->display();
  m->paired_with = config.source->display();
  return m;
}

}  // namespace gcheck
