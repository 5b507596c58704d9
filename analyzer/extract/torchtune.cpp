#include "analyzer/extract/formats.h"

namespace gcheck::extract {

void torchtune(Reader& r, Facts& f) {
  cfg::NodeId root = r.root();
  r.read_bool(root, "enable_activation_checkpointing", "enable_activation_checkpointing",
              f.enable_activation_checkpointing);
  r.read_bool(root, "enable_activation_offloading", "enable_activation_offloading",
              f.enable_activation_offloading);
  r.read_text(root, "ac_mode", "ac_mode", f.ac_mode);
  r.read_bool(root, "compile", "compile", f.torch_compile);
  if (cfg::NodeId model = r.map(root, "model"); model != cfg::kNone) {
    Opt<std::string> comp;
    if (r.read_text(model, "_component_", "model._component_", comp)) {
      f.model_name = comp;
      std::string c = lower(comp->value);
      std::string leaf = c.substr(c.rfind('.') == std::string::npos ? 0 : c.rfind('.') + 1);
      if (leaf.rfind("qlora_", 0) == 0) {
        f.adapter = Fact<std::string>{"qlora", comp->loc, comp->key_loc, comp->key, comp->raw, comp->node};
        f.quant_bits = Fact<int64_t>{4, comp->loc, comp->key_loc, comp->key, comp->raw, comp->node};
      } else if (leaf.rfind("lora_", 0) == 0) {
        f.adapter = Fact<std::string>{"lora", comp->loc, comp->key_loc, comp->key, comp->raw, comp->node};
      }
    }
    r.read_number(model, "lora_dropout", "model.lora_dropout", f.lora_dropout);
    r.read_number(model, "attn_dropout", "model.attn_dropout", f.attention_dropout);
  }
  if (cfg::NodeId loss = r.map(root, "loss"); loss != cfg::kNone) {
    Opt<std::string> comp;
    if (r.read_text(loss, "_component_", "loss._component_", comp)) {
      std::string c = lower(comp->value);
      if (contains(c, "rlhf") || contains(c, "dpo") || contains(c, "ppo")) {
        std::string kind = contains(c, "ppo") ? "ppo" : "dpo";
        f.trainer = Fact<std::string>{kind, comp->loc, comp->key_loc, comp->key, comp->raw, comp->node};
      }
    }
  }
}

}  // namespace gcheck::extract
