#include <nlohmann/json.hpp>

#include "analyzer/extract/formats.h"

namespace gcheck::extract {

void gc_kwargs(Reader& r, Facts& f, cfg::NodeId m, std::string_view prefix) {
  std::string base = std::string(prefix) + "gradient_checkpointing_kwargs";
  const cfg::Entry* e = r.read_present(m, "gradient_checkpointing_kwargs", base, f.gc_kwargs);
  if (!e) return;
  const cfg::Node& n = r.doc().node(e->value);
  if (n.kind == cfg::Kind::String) {
    // HF accepts a JSON string here: '{"use_reentrant": false}'.
    auto j = nlohmann::json::parse(n.text, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object()) {
      r.unreadable(*e, base, "is a string that is not a JSON object");
      f.gc_kwargs.reset();
      return;
    }
    f.gc_kwargs->value = !j.empty();
    auto put_bool = [&](const char* k, Opt<bool>& out) {
      if (j.contains(k) && j[k].is_boolean()) r.set(out, j[k].get<bool>(), *e, base + "." + k);
    };
    put_bool("use_reentrant", f.use_reentrant);
    put_bool("preserve_rng_state", f.preserve_rng_state);
    put_bool("debug", f.debug);
    put_bool("early_stop", f.early_stop);
    put_bool("offload", f.offload);
    if (j.contains("determinism_check") && j["determinism_check"].is_string())
      r.set(f.determinism_check, j["determinism_check"].get<std::string>(), *e,
            base + ".determinism_check");
    if (j.contains("context_fn")) r.set(f.context_fn, std::string("(set)"), *e, base + ".context_fn");
    if (j.contains("every_n_layers") && j["every_n_layers"].is_number_integer())
      r.set(f.every_n_layers, j["every_n_layers"].get<int64_t>(), *e, base + ".every_n_layers");
    return;
  }
  if (n.kind != cfg::Kind::Map) {
    r.unreadable(*e, base, "expected a mapping of keyword arguments");
    f.gc_kwargs.reset();
    return;
  }
  cfg::NodeId k = e->value;
  r.read_bool(k, "use_reentrant", base + ".use_reentrant", f.use_reentrant);
  r.read_bool(k, "preserve_rng_state", base + ".preserve_rng_state", f.preserve_rng_state);
  r.read_text(k, "determinism_check", base + ".determinism_check", f.determinism_check);
  r.read_bool(k, "debug", base + ".debug", f.debug);
  r.read_text(k, "context_fn", base + ".context_fn", f.context_fn);
  r.read_bool(k, "early_stop", base + ".early_stop", f.early_stop);
  r.read_int(k, "every_n_layers", base + ".every_n_layers", f.every_n_layers);
  r.read_bool(k, "offload", base + ".offload", f.offload);
}

void fsdp_config(Reader& r, Facts& f, cfg::NodeId m, std::string_view path) {
  std::string base(path);
  // The fsdp_ prefix is stripped by TrainingArguments and Axolotl; both spellings work.
  if (!r.read_bool(m, "activation_checkpointing", base + ".activation_checkpointing", f.fsdp_ac))
    r.read_bool(m, "fsdp_activation_checkpointing", base + ".fsdp_activation_checkpointing",
                f.fsdp_ac);
  if (!r.read_int(m, "fsdp_version", base + ".fsdp_version", f.fsdp_version))
    r.read_int(m, "version", base + ".version", f.fsdp_version);
  if (!r.read_text(m, "sharding_strategy", base + ".sharding_strategy", f.fsdp_sharding))
    if (!r.read_text(m, "fsdp_sharding_strategy", base + ".fsdp_sharding_strategy",
                     f.fsdp_sharding))
      if (!r.read_text(m, "reshard_after_forward", base + ".reshard_after_forward",
                       f.fsdp_sharding))
        r.read_text(m, "fsdp_reshard_after_forward", base + ".fsdp_reshard_after_forward",
                    f.fsdp_sharding);
}

void deepspeed_dict(Reader& r, Facts& f, cfg::NodeId m, std::string_view prefix) {
  std::string base(prefix);
  cfg::NodeId zero = r.map(m, "zero_optimization");
  if (zero != cfg::kNone) r.read_int(zero, "stage", base + "zero_optimization.stage", f.zero_stage);
  const cfg::Entry* ac =
      r.read_present(m, "activation_checkpointing", base + "activation_checkpointing",
                     f.ds_activation_checkpointing);
  if (ac && r.doc().is_map(ac->value)) {
    for (uint32_t ei : r.doc().node(ac->value).entries) {
      const cfg::Entry& ke = r.doc().entries[ei];
      Fact<std::string> k;
      k.value = ke.key;
      k.key = base + "activation_checkpointing." + ke.key;
      k.key_loc = r.loc(ke.key_span);
      k.loc = r.loc(r.doc().node(ke.value).span);
      k.node = ke.value;
      k.raw = r.raw(ke.value);
      f.ds_ac_keys.push_back(std::move(k));
    }
  }
}

void hf_training_args(Reader& r, Facts& f) {
  cfg::NodeId root = r.root();
  const cfg::Entry* gc = r.doc().entry(root, "gradient_checkpointing");
  if (gc && r.doc().node(gc->value).kind == cfg::Kind::String &&
      (r.doc().node(gc->value).text == "offload" ||
       r.doc().node(gc->value).text == "offload_disk")) {
    r.note(*gc, "gradient_checkpointing");
    r.set(f.gradient_checkpointing_mode, r.doc().node(gc->value).text, *gc,
          "gradient_checkpointing");
    r.set(f.gradient_checkpointing, true, *gc, "gradient_checkpointing");
  } else {
    r.read_bool(root, "gradient_checkpointing", "gradient_checkpointing",
                f.gradient_checkpointing);
  }
  gc_kwargs(r, f, root, "");
  r.read_bool(root, "ddp_find_unused_parameters", "ddp_find_unused_parameters",
              f.ddp_find_unused_parameters);
  r.read_bool(root, "ddp_static_graph", "ddp_static_graph", f.ddp_static_graph);
  if (const cfg::Entry* ds = r.doc().entry(root, "deepspeed")) {
    const cfg::Node& n = r.doc().node(ds->value);
    r.note(*ds, "deepspeed");
    if (n.kind == cfg::Kind::Map) {
      f.deepspeed_inline = ds->value;
      f.deepspeed_inline_loc = r.loc(ds->key_span);
    } else if (n.kind == cfg::Kind::String && !n.text.empty()) {
      if (is_template(n.text)) {
        r.unreadable(*ds, "deepspeed",
                     "holds the template " + r.raw(ds->value) + "; its value is only known at launch");
      } else if (!n.text.empty() && n.text.front() == '{') {
        r.unreadable(*ds, "deepspeed", "is a JSON string; give the DeepSpeed config as a mapping or a path");
      } else {
        r.set(f.deepspeed_path, n.text, *ds, "deepspeed");
      }
    }
  }
  // fsdp: "full_shard auto_wrap", a list of options, or a boolean in newer versions.
  if (const cfg::Entry* fs = r.doc().entry(root, "fsdp")) {
    const cfg::Node& n = r.doc().node(fs->value);
    r.note(*fs, "fsdp");
    std::string text;
    if (n.kind == cfg::Kind::Seq) {
      for (cfg::NodeId it : n.items)
        if (auto t = cfg::as_text(r.doc().node(it))) text += (text.empty() ? "" : " ") + *t;
    } else if (n.kind == cfg::Kind::Bool) {
      text = n.b ? "full_shard" : "";
    } else if (auto t = cfg::as_text(n)) {
      text = *t;
    }
    if (n.kind != cfg::Kind::Null && lower(text) != "false" && lower(text) != "no")
      r.set(f.fsdp, text, *fs, "fsdp");
  }
  if (const cfg::Entry* fc = r.doc().entry(root, "fsdp_config")) {
    const cfg::Node& n = r.doc().node(fc->value);
    r.note(*fc, "fsdp_config");
    if (n.kind == cfg::Kind::Map) {
      fsdp_config(r, f, fc->value, "fsdp_config");
    } else if (n.kind == cfg::Kind::String && !n.text.empty()) {
      r.set(f.fsdp_config_path, n.text, *fc, "fsdp_config");
    }
  }
  if (!r.read_bool(root, "torch_compile", "torch_compile", f.torch_compile)) {
    // Axolotl also accepts "auto".
    if (const cfg::Entry* tc = r.doc().entry(root, "torch_compile")) {
      if (r.doc().node(tc->value).text == "auto") r.set(f.torch_compile, true, *tc, "torch_compile");
    }
  }
  r.read_bool(root, "use_cache", "use_cache", f.use_cache);
}

std::optional<std::string> trainer_from_path(std::string_view path) {
  static constexpr std::string_view kinds[] = {"grpo", "dpo", "orpo", "kto", "ppo", "rloo",
                                               "simpo", "cpo", "ipo", "gkd", "sft", "reward"};
  std::string p = lower(path);
  // Split into components and file-name words.
  std::vector<std::string> words;
  std::string cur;
  for (char c : p) {
    if (c == '/' || c == '_' || c == '-' || c == '.') {
      if (!cur.empty()) words.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (!cur.empty()) words.push_back(cur);
  for (auto it = words.rbegin(); it != words.rend(); ++it)
    for (auto k : kinds)
      if (*it == k) return std::string(k);
  return std::nullopt;
}

bool is_rl_trainer(std::string_view t) {
  static constexpr std::string_view rl[] = {"dpo",  "ipo",  "orpo", "kto",  "simpo",      "grpo",
                                            "gdpo", "ppo",  "rloo", "cpo",  "online_dpo", "bco",
                                            "ebft", "nash_md", "xpo", "gkd"};
  for (auto k : rl)
    if (t == k) return true;
  return false;
}

}  // namespace gcheck::extract
