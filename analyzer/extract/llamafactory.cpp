#include "analyzer/extract/formats.h"

namespace gcheck::extract {

void llamafactory(Reader& r, Facts& f) {
  cfg::NodeId root = r.root();
  hf_training_args(r, f);
  r.read_text(root, "model_name_or_path", "model_name_or_path", f.model_name);
  r.read_bool(root, "disable_gradient_checkpointing", "disable_gradient_checkpointing",
              f.disable_gradient_checkpointing);
  r.read_bool(root, "use_reentrant_gc", "use_reentrant_gc", f.use_reentrant_gc);
  r.read_bool(root, "use_unsloth_gc", "use_unsloth_gc", f.use_unsloth_gc);
  r.read_bool(root, "use_unsloth", "use_unsloth", f.use_unsloth);
  r.read_text(root, "stage", "stage", f.trainer);
  r.read_text(root, "finetuning_type", "finetuning_type", f.finetuning_type);
  r.read_int(root, "quantization_bit", "quantization_bit", f.quant_bits);
  r.read_int(root, "freeze_trainable_layers", "freeze_trainable_layers",
             f.freeze_trainable_layers);
  r.read_bool(root, "freeze_vision_tower", "freeze_vision_tower", f.freeze_vision_tower);
  r.read_number(root, "lora_dropout", "lora_dropout", f.lora_dropout);
  r.read_bool(root, "trust_remote_code", "trust_remote_code", f.trust_remote_code);
  Opt<std::vector<std::string>> extra;
  if (r.read_list(root, "additional_target", "additional_target", extra)) {
    for (const auto& m : extra->value)
      if (contains(lower(m), "embed"))
        f.embeddings_trainable = Fact<bool>{true, extra->loc, extra->key_loc, extra->key, m, extra->node};
  }
}

void llamafactory_v1(Reader& r, Facts& f) {
  cfg::NodeId root = r.root();
  r.read_text(root, "model", "model", f.model_name);
  r.read_bool(root, "enable_activation_checkpointing", "enable_activation_checkpointing",
              f.enable_activation_checkpointing);
  if (cfg::NodeId pc = r.map(root, "peft_config"); pc != cfg::kNone) {
    r.read_text(pc, "name", "peft_config.name", f.finetuning_type);
    r.read_number(pc, "lora_dropout", "peft_config.lora_dropout", f.lora_dropout);
  }
  if (cfg::NodeId qc = r.map(root, "quant_config"); qc != cfg::kNone)
    r.read_int(qc, "quantization_bit", "quant_config.quantization_bit", f.quant_bits);
  if (cfg::NodeId dc = r.map(root, "dist_config"); dc != cfg::kNone) {
    Opt<std::string> name;
    if (r.read_text(dc, "name", "dist_config.name", name)) {
      std::string n = lower(name->value);
      if (contains(n, "fsdp")) {
        f.fsdp = name;
        if (contains(n, "2")) f.fsdp_version = Fact<int64_t>{2, name->loc, name->key_loc, name->key, name->raw, name->node};
      } else if (contains(n, "deepspeed")) {
        r.read_int(dc, "zero_stage", "dist_config.zero_stage", f.zero_stage);
        Opt<std::string> cfgp;
        if (r.read_text(dc, "config_file", "dist_config.config_file", cfgp)) f.deepspeed_path = cfgp;
      }
    }
  }
  if (auto t = trainer_from_path(r.doc().source->display()))
    f.trainer = Fact<std::string>{*t, f.anchor, f.anchor, "(path)", *t, cfg::kNone};
}

}  // namespace gcheck::extract
