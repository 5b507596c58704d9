#include "analyzer/extract/formats.h"

namespace gcheck::extract {

namespace {
// Keys that only TRL's configs and ModelConfig/ScriptArguments accept (a plain
// TrainingArguments file does not have them).
constexpr std::string_view kTrlKeys[] = {
    "use_peft", "lora_r", "lora_alpha", "lora_dropout", "lora_target_modules", "load_in_4bit",
    "load_in_8bit", "dataset_name", "dataset_mixture", "dataset_text_field", "max_seq_length",
    "max_length", "packing", "beta", "max_prompt_length", "max_completion_length",
    "num_generations", "use_vllm", "reward_funcs", "dataset_num_proc", "chat_template",
    "model_init_kwargs", "activation_offloading", "padding_free", "completion_only_loss",
    "assistant_only_loss", "loss_type", "use_liger_kernel", "ds3_gather_for_generation"};

// Keys that imply a preference / RL trainer.
std::optional<std::string> trainer_from_keys(const cfg::Document& d) {
  cfg::NodeId root = d.root;
  if (d.entry(root, "num_generations") || d.entry(root, "reward_funcs") ||
      d.entry(root, "use_vllm"))
    return "grpo";
  if (d.entry(root, "beta") || d.entry(root, "max_prompt_length")) return "dpo";
  return std::nullopt;
}
}  // namespace

void hf_trl(Reader& r, Facts& f) {
  cfg::NodeId root = r.root();
  hf_training_args(r, f);
  r.read_text(root, "model_name_or_path", "model_name_or_path", f.model_name);
  r.read_bool(root, "use_peft", "use_peft", f.use_peft);
  Opt<bool> b4, b8;
  r.read_bool(root, "load_in_4bit", "load_in_4bit", b4);
  r.read_bool(root, "load_in_8bit", "load_in_8bit", b8);
  if (b4 && b4->value) f.quant_bits = Fact<int64_t>{4, b4->loc, b4->key_loc, b4->key, b4->raw, b4->node};
  else if (b8 && b8->value) f.quant_bits = Fact<int64_t>{8, b8->loc, b8->key_loc, b8->key, b8->raw, b8->node};
  r.read_number(root, "lora_dropout", "lora_dropout", f.lora_dropout);
  r.read_bool(root, "disable_dropout", "disable_dropout", f.disable_dropout);
  r.read_bool(root, "trust_remote_code", "trust_remote_code", f.trust_remote_code);
  if (cfg::NodeId mik = r.map(root, "model_init_kwargs"); mik != cfg::kNone)
    r.read_bool(mik, "use_cache", "model_init_kwargs.use_cache", f.use_cache);
  if (const cfg::Entry* ao = r.doc().entry(root, "activation_offloading")) {
    r.note(*ao, "activation_offloading");
    if (cfg::as_bool(r.doc().node(ao->value)).value_or(false))
      r.set(f.activation_offloading, std::string("true"), *ao, "activation_offloading");
  }
  // TRL or plain TrainingArguments?
  for (auto k : kTrlKeys) {
    if (const cfg::Entry* e = r.doc().entry(root, k)) {
      r.set(f.trl, true, *e, std::string(k));
      break;
    }
  }
  // Which trainer: a key that only one family has, else the path ("recipes/x/dpo/...").
  if (auto t = trainer_from_keys(r.doc())) {
    f.trainer = Fact<std::string>{*t, f.anchor, f.anchor, "(keys)", *t, cfg::kNone};
  } else if (auto t2 = trainer_from_path(r.doc().source->display())) {
    f.trainer = Fact<std::string>{*t2, f.anchor, f.anchor, "(path)", *t2, cfg::kNone};
  }
  if (f.trainer && !f.trl) {
    f.trl = Fact<bool>{true, f.anchor, f.anchor, "(trainer)", "", cfg::kNone};
  }
}

}  // namespace gcheck::extract
