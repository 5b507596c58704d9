#include "analyzer/extract/formats.h"

namespace gcheck::extract {

void axolotl(Reader& r, Facts& f) {
  cfg::NodeId root = r.root();
  hf_training_args(r, f);
  r.read_text(root, "base_model", "base_model", f.model_name);
  if (!r.read_text(root, "model_config_type", "model_config_type", f.model_type))
    r.read_text(root, "model_type", "model_type", f.model_type);
  r.read_text(root, "adapter", "adapter", f.adapter);
  Opt<bool> b4, b8;
  r.read_bool(root, "load_in_4bit", "load_in_4bit", b4);
  r.read_bool(root, "load_in_8bit", "load_in_8bit", b8);
  if (b4 && b4->value) f.quant_bits = Fact<int64_t>{4, b4->loc, b4->key_loc, b4->key, b4->raw, b4->node};
  else if (b8 && b8->value) f.quant_bits = Fact<int64_t>{8, b8->loc, b8->key_loc, b8->key, b8->raw, b8->node};
  r.read_list(root, "unfrozen_parameters", "unfrozen_parameters", f.unfrozen_parameters);
  r.read_bool(root, "freeze_mm_modules", "freeze_mm_modules", f.freeze_mm_modules);
  r.read_number(root, "lora_dropout", "lora_dropout", f.lora_dropout);
  r.read_text(root, "rl", "rl", f.trainer);
  r.read_text(root, "activation_offloading", "activation_offloading", f.activation_offloading);
  if (const cfg::Entry* sc = r.doc().entry(root, "selective_checkpointing")) {
    r.note(*sc, "selective_checkpointing");
    const cfg::Node& n = r.doc().node(sc->value);
    bool on = n.kind == cfg::Kind::Map ? true : cfg::as_bool(n).value_or(false);
    r.set(f.selective_checkpointing, on, *sc, "selective_checkpointing");
  }
  r.read_bool(root, "use_ray", "use_ray", f.use_ray);
  r.read_int(root, "ray_num_workers", "ray_num_workers", f.ray_num_workers);
  r.read_int(root, "fsdp_version", "fsdp_version", f.fsdp_version);
  r.read_bool(root, "trust_remote_code", "trust_remote_code", f.trust_remote_code);
  r.read_text(root, "attn_implementation", "attn_implementation", f.attn_implementation);
  if (cfg::NodeId ebft = r.map(root, "ebft"); ebft != cfg::kNone)
    r.read_text(ebft, "mode", "ebft.mode", f.ebft_mode);
  // lora_modules_to_save naming the embeddings makes the checkpointed blocks' inputs trainable.
  Opt<std::vector<std::string>> to_save;
  if (r.read_list(root, "lora_modules_to_save", "lora_modules_to_save", to_save)) {
    for (const auto& m : to_save->value) {
      if (contains(lower(m), "embed")) {
        f.embeddings_trainable = Fact<bool>{true, to_save->loc, to_save->key_loc, to_save->key,
                                            m, to_save->node};
      }
    }
  }
  Opt<std::vector<std::string>> targets;
  if (r.read_list(root, "lora_target_modules", "lora_target_modules", targets)) {
    const cfg::Node& list = r.doc().node(targets->node);
    for (size_t i = 0; i < targets->value.size(); ++i) {
      std::string l = lower(targets->value[i]);
      if (contains(l, "vision") || contains(l, "visual") || contains(l, "audio") ||
          contains(l, "image_encoder") || contains(l, "vit.")) {
        Location at = targets->loc;
        if (list.kind == cfg::Kind::Seq && i < list.items.size())
          at = r.loc(r.doc().node(list.items[i]).span);
        f.vision_lora = Fact<bool>{true, at, targets->key_loc, targets->key, targets->value[i],
                                   targets->node};
        break;
      }
    }
  }
}

}  // namespace gcheck::extract
