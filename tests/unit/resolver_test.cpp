// The detector and the resolver: every row of the defaults table is exercised by a config
// that makes it decide, and the effective value cites the row.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include <doctest/doctest.h>

#include "analyzer/defaults_table.h"
#include "analyzer/detect.h"
#include "analyzer/yaml_frontend.h"
#include "cli/engine.h"

using namespace gcheck;

namespace {

std::set<std::string>& rows_seen() {
  static std::set<std::string> s;
  return s;
}

struct TempDir {
  std::string path;
  TempDir() {
    char t[] = "/tmp/gcheck-resolver-XXXXXX";
    path = mkdtemp(t);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string write(const std::string& name, const std::string& text) const {
    std::string p = path + "/" + name;
    std::ofstream(p) << text;
    return p;
  }
};

struct Resolved {
  ExplainResult er;
  const Setup& only() const {
    REQUIRE(er.paths.size() == 1);
    return er.paths.front().setup;
  }
};

void note_rows(const Setup& s) {
  auto take = [](const auto& eff) {
    for (const auto& o : eff.why)
      if (o.row) rows_seen().insert(std::string(o.row->id));
  };
  take(s.checkpointing); take(s.hf_gc); take(s.use_reentrant); take(s.preserve_rng_state);
  take(s.input_hook); take(s.adapter); take(s.quant_bits); take(s.frozen_embeddings);
  take(s.dropout); take(s.zero_stage); take(s.fsdp); take(s.fsdp_version); take(s.fsdp_ac);
  take(s.find_unused_parameters); take(s.use_cache); take(s.multi_process);
  for (const auto& m : s.mechanisms)
    if (m.origin.row) rows_seen().insert(std::string(m.origin.row->id));
}

Resolved resolve_text(const std::string& text, std::vector<std::pair<std::string, std::string>> assume = {},
                      const std::string& launcher = "", const std::string& extra_name = "",
                      const std::string& extra = "") {
  TempDir dir;
  std::string cfg = dir.write("config.yaml", text);
  if (!extra_name.empty()) dir.write(extra_name, extra);
  LintOptions o;
  o.assume = std::move(assume);
  if (!launcher.empty()) o.launcher = dir.write("launcher.yaml", launcher);
  Resolved r{run_explain(cfg, o)};
  REQUIRE_MESSAGE(!r.er.error, (r.er.error ? r.er.error->message : ""));
  for (const auto& p : r.er.paths) note_rows(p.setup);
  return r;
}

#if GCHECK_HAVE_PYTHON
// A Python script resolved like a config (the Python front end is optional in the build).
Resolved resolve_script(const std::string& text, std::vector<std::pair<std::string, std::string>> assume = {}) {
  TempDir dir;
  std::string py = dir.write("train.py", text);
  LintOptions o;
  o.assume = std::move(assume);
  Resolved r{run_explain(py, o)};
  REQUIRE_MESSAGE(!r.er.error, (r.er.error ? r.er.error->message : ""));
  for (const auto& p : r.er.paths) {
    note_rows(p.setup);
    for (const auto& st : p.setup.sites)
      for (const auto& w : st.use_reentrant.why)
        if (w.row) rows_seen().insert(std::string(w.row->id));
  }
  return r;
}

#endif

std::string first_row(const std::vector<Origin>& why) {
  for (const auto& o : why)
    if (o.row) return std::string(o.row->id);
  return "";
}

}  // namespace

// ---- detection ------------------------------------------------------------------------------

TEST_CASE("detector: the decision list") {
  auto det = [](const std::string& text) {
    auto d = cfg::parse_yaml(std::make_shared<SourceFile>("x", "x", text), InputLimits{});
    REQUIRE(d.ok());
    return detect_format(d.value()).format;
  };
  CHECK(det("model:\n  _component_: torchtune.models.llama3_2.lora_llama3_2_1b\n") == Format::Torchtune);
  CHECK(det("distributed_type: FSDP\nnum_processes: 8\n") == Format::Accelerate);
  CHECK(det("compute_environment: LOCAL_MACHINE\nnum_processes: 2\n") == Format::Accelerate);
  CHECK(det("zero_optimization:\n  stage: 3\n") == Format::DeepSpeed);
  CHECK(det("train_micro_batch_size_per_gpu: auto\n") == Format::DeepSpeed);
  CHECK(det("base_model: x\nadapter: lora\n") == Format::Axolotl);
  CHECK(det("model: Qwen/Qwen3-4B\nmodel_class: llm\n") == Format::LlamaFactoryV1);
  CHECK(det("model: Qwen/Qwen3-4B\npeft_config:\n  name: lora\n") == Format::LlamaFactoryV1);
  CHECK(det("model_name_or_path: x\nstage: sft\n") == Format::LlamaFactory);
  CHECK(det("model_name_or_path: x\ntemplate: qwen\n") == Format::LlamaFactory);
  CHECK(det("model_name_or_path: x\nuse_peft: true\n") == Format::HfTrl);
  CHECK(det("output_dir: out\ngradient_checkpointing: true\n") == Format::HfTrl);
  CHECK(det("name: CI\non: [push]\n") == Format::Unknown);
}

// ---- transformers and torch ------------------------------------------------------------------

TEST_CASE("resolver: transformers' use_reentrant default by version") {
  const char* cfg = "output_dir: out\ngradient_checkpointing: true\n";
  CHECK(first_row(resolve_text(cfg, {{"transformers", "4.34.0"}}).only().use_reentrant.why) == "hf.use_reentrant.model_code");
  auto empty = resolve_text(cfg, {{"transformers", "4.36.2"}});
  CHECK(first_row(empty.only().use_reentrant.why) == "hf.use_reentrant.empty");
  CHECK(empty.only().stated_by == "torch");
  auto t = resolve_text(cfg, {{"transformers", "4.46.0"}});
  CHECK(t.only().use_reentrant.is(true));
  CHECK(first_row(t.only().use_reentrant.why) == "hf.use_reentrant.true");
  CHECK(t.only().stated_by == "stack");
  auto f = resolve_text(cfg, {{"transformers", "5.2.0"}});
  CHECK(f.only().use_reentrant.is(false));
  CHECK(first_row(f.only().use_reentrant.why) == "hf.use_reentrant.false");
}

TEST_CASE("resolver: unknown transformers is explored from the modelled floor") {
  auto r = resolve_text("output_dir: out\ngradient_checkpointing: true\n");
  CHECK(r.er.paths.size() == 3);  // 4.35-4.36, 4.37-5.0, >= 5.1
}

TEST_CASE("resolver: a kwargs dict without use_reentrant reaches torch as is") {
  auto r = resolve_text("output_dir: out\ngradient_checkpointing: true\ngradient_checkpointing_kwargs: {}\n",
                        {{"transformers", "4.46.0"}});
  CHECK(r.only().use_reentrant.is(true));
  CHECK(first_row(r.only().use_reentrant.why) == "torch.use_reentrant");
  CHECK(r.only().stated_by == "torch");
}

TEST_CASE("resolver: HF gradient checkpointing off by default; RNG preserved by default") {
  auto r = resolve_text("output_dir: out\n", {{"transformers", "4.46.0"}});
  CHECK(r.only().checkpointing.is(false));
  CHECK(first_row(r.only().hf_gc.why) == "hf.gradient_checkpointing");
  auto g = resolve_text("output_dir: out\ngradient_checkpointing: true\n", {{"transformers", "4.46.0"}});
  CHECK(first_row(g.only().preserve_rng_state.why) == "torch.preserve_rng_state");
  CHECK(first_row(g.only().find_unused_parameters.why) == "hf.ddp_find_unused.gc");
  CHECK(first_row(r.only().find_unused_parameters.why) == "hf.ddp_find_unused.plain");
}

// ---- TRL -------------------------------------------------------------------------------------------

TEST_CASE("resolver: TRL turns checkpointing on from 0.22") {
  const char* cfg = "model_name_or_path: x\nmax_seq_length: 512\n";
  auto on = resolve_text(cfg, {{"trl", "0.22.0"}, {"transformers", "4.46.0"}});
  CHECK(on.only().checkpointing.is(true));
  CHECK(first_row(on.only().checkpointing.why) == "trl.gradient_checkpointing");
  auto off = resolve_text(cfg, {{"trl", "0.21.0"}, {"transformers", "4.46.0"}});
  CHECK(off.only().checkpointing.is(false));
  CHECK(first_row(off.only().hf_gc.why) == "trl.gradient_checkpointing.old");
}

TEST_CASE("resolver: TRL defaults use_reentrant to False only with transformers < 5.0") {
  const char* cfg = "model_name_or_path: x\nmax_seq_length: 512\ngradient_checkpointing: true\n";
  auto a = resolve_text(cfg, {{"trl", "0.27.0"}, {"transformers", "4.57.0"}});
  CHECK(a.only().use_reentrant.is(false));
  CHECK(first_row(a.only().use_reentrant.why) == "trl.use_reentrant");
  auto b = resolve_text(cfg, {{"trl", "0.27.0"}, {"transformers", "5.0.0"}});
  CHECK(b.only().use_reentrant.is(true));  // TRL steps aside, transformers 5.0 still says True
  CHECK(first_row(b.only().use_reentrant.why) == "hf.use_reentrant.true");
}

TEST_CASE("resolver: TRL forces reentrant for PEFT + ZeRO-3, per trainer and version") {
  const char* launcher = "distributed_type: DEEPSPEED\ndeepspeed_config:\n  zero_stage: 3\nnum_processes: 2\n";
  const char* sft = "model_name_or_path: x\nmax_seq_length: 512\nuse_peft: true\ngradient_checkpointing: true\n"
                    "gradient_checkpointing_kwargs:\n  use_reentrant: false\n";
  auto a = resolve_text(sft, {{"trl", "0.28.0"}}, launcher);
  CHECK(a.only().use_reentrant.is(true));
  CHECK(first_row(a.only().use_reentrant.why) == "trl.force_reentrant.sft");
  CHECK(a.only().overridden.has_value());
  CHECK(first_row(a.only().input_hook.why) == "trl.input_hook");
  CHECK(first_row(a.only().zero_stage.why).empty());  // the launcher's key
  const char* dpo = "model_name_or_path: x\nbeta: 0.1\nuse_peft: true\ngradient_checkpointing: true\n"
                    "gradient_checkpointing_kwargs:\n  use_reentrant: false\n";
  CHECK(resolve_text(dpo, {{"trl", "1.8.0"}}, launcher).only().use_reentrant.is(false));
  auto d = resolve_text(dpo, {{"trl", "1.9.0"}}, launcher);
  CHECK(first_row(d.only().use_reentrant.why) == "trl.force_reentrant.other");
}

TEST_CASE("resolver: TRL dropout defaults") {
  const std::vector<std::pair<std::string, std::string>> v = {{"trl", "0.22.0"}, {"transformers", "4.57.0"}};
  auto sft = resolve_text("model_name_or_path: x\nmax_seq_length: 512\nuse_peft: true\n", v);
  CHECK(*sft.only().dropout.value == doctest::Approx(0.05));
  CHECK(first_row(sft.only().dropout.why) == "trl.lora_dropout");
  auto grpo = resolve_text("model_name_or_path: x\nnum_generations: 8\nuse_peft: true\n", v);
  CHECK(rows_seen().count("trl.disable_dropout.other"));
  auto dpo = resolve_text("model_name_or_path: x\nbeta: 0.1\nuse_peft: true\n", v);
  CHECK(dpo.only().dropout.is(0.0));
  CHECK(first_row(dpo.only().dropout.why) == "trl.disable_dropout.dpo");
  CHECK(first_row(sft.only().find_unused_parameters.why) == "hf.ddp_find_unused.peft");
  (void)grpo;
}

TEST_CASE("resolver: the model's own dropout for config classes that have one") {
  const std::vector<std::pair<std::string, std::string>> v = {{"trl", "0.22.0"}, {"transformers", "4.57.0"}};
  // GPT-2 keeps 0.1 in every block: more than TRL's LoRA default of 0.05.
  auto gpt2 = resolve_text("model_name_or_path: openai-community/gpt2\nmax_seq_length: 512\nuse_peft: true\n", v);
  CHECK(*gpt2.only().dropout.value == doctest::Approx(0.1));
  CHECK(first_row(gpt2.only().dropout.why) == "transformers.model_dropout");
  // DPO turns every dropout off, the model's included.
  auto dpo = resolve_text("model_name_or_path: gpt2\nbeta: 0.1\nuse_peft: true\n", v);
  CHECK(dpo.only().dropout.is(0.0));
  // Llama-style models have none; ModernBERT neither.
  auto qwen = resolve_text("model_name_or_path: Qwen/Qwen2.5-0.5B\nmax_seq_length: 512\n", v);
  CHECK(qwen.only().dropout.is(0.0));
  auto mb = resolve_text("model_name_or_path: answerdotai/ModernBERT-base\nmax_seq_length: 512\n", v);
  CHECK(mb.only().dropout.is(0.0));
}

// ---- Axolotl ------------------------------------------------------------------------------------

TEST_CASE("resolver: Axolotl's use_reentrant ladder") {
  auto inj = resolve_text("base_model: x\ngradient_checkpointing: true\n");
  CHECK(inj.only().use_reentrant.is(true));
  CHECK(first_row(inj.only().use_reentrant.why) == "axolotl.use_reentrant.injected");
  auto rl = resolve_text("base_model: x\nrl: dpo\nadapter: lora\ngradient_checkpointing: true\n", {{"trl", "1.0.0"}});
  CHECK(first_row(rl.only().use_reentrant.why) == "axolotl.use_reentrant.builder");
  auto g4 = resolve_text("base_model: google/gemma-4-31B\ngradient_checkpointing: true\n"
                         "gradient_checkpointing_kwargs:\n  use_reentrant: true\n");
  CHECK(g4.only().use_reentrant.is(false));
  CHECK(first_row(g4.only().use_reentrant.why) == "axolotl.use_reentrant.gemma4");
  CHECK(first_row(g4.only().find_unused_parameters.why) == "axolotl.ddp_find_unused.gemma4");
  auto hs = resolve_text("base_model: x\ngradient_checkpointing: true\nactivation_offloading: hidden_states\n");
  CHECK(first_row(hs.only().use_reentrant.why) == "axolotl.use_reentrant.hidden_states");
  auto off = resolve_text("base_model: x\nadapter: lora\ngradient_checkpointing: true\nactivation_offloading: true\n");
  CHECK(off.only().checkpointing.is(false));
  CHECK(first_row(off.only().hf_gc.why) == "axolotl.offload.adapter");
  auto full = resolve_text("base_model: x\ngradient_checkpointing: true\nactivation_offloading: legacy\n",
                           {{"torch", "2.5.0"}});
  CHECK(full.only().use_reentrant.is(false));
  CHECK(first_row(full.only().use_reentrant.why) == "torch.checkpoint_wrapper.no_reentrant");
  CHECK(first_row(full.only().hf_gc.why) == "axolotl.offload.no_hf_gc");
  CHECK(resolve_text("base_model: x\ngradient_checkpointing: true\nactivation_offloading: legacy\n",
                     {{"torch", "2.1.0"}}).only().use_reentrant.is(true));
  CHECK(rows_seen().count("torch.checkpoint_wrapper.reentrant"));
  auto ebft = resolve_text("base_model: x\nrl: ebft\nebft:\n  mode: strided\nattn_implementation: flex_attention\n"
                           "gradient_checkpointing: true\ngradient_checkpointing_kwargs:\n  use_reentrant: false\n",
                           {{"trl", "1.9.0"}});
  CHECK(ebft.only().use_reentrant.is(true));
  CHECK(first_row(ebft.only().use_reentrant.why) == "axolotl.use_reentrant.ebft");
  auto none = resolve_text("base_model: x\n");
  CHECK(first_row(none.only().hf_gc.why) == "axolotl.gradient_checkpointing");
}

TEST_CASE("resolver: Axolotl adapters, hooks, freezing, DDP") {
  auto lora = resolve_text("base_model: x\nadapter: lora\ngradient_checkpointing: true\n");
  CHECK(lora.only().input_hook.is(true));
  CHECK(first_row(lora.only().input_hook.why) == "axolotl.input_hook.adapter");
  CHECK(lora.only().frozen_embeddings.is(true));
  CHECK(first_row(lora.only().find_unused_parameters.why) == "axolotl.ddp_find_unused");
  CHECK(first_row(lora.only().dropout.why) == "axolotl.lora_dropout");
  auto q = resolve_text("base_model: x\nadapter: qlora\nload_in_4bit: true\n");
  CHECK(q.only().adapter.is(Adapter::Qlora));
  CHECK(q.only().quant_bits.is(4));
  auto part = resolve_text("base_model: x\nunfrozen_parameters:\n  - ^model.layers.3.*\n");
  CHECK(part.only().partial_freeze.is(true));
  CHECK(part.only().frozen_embeddings.is(true));
  auto emb = resolve_text("base_model: x\nadapter: lora\nlora_modules_to_save: [embed_tokens, lm_head]\n");
  CHECK(emb.only().frozen_embeddings.is(false));
}

TEST_CASE("resolver: DeepSpeed files are followed and their stage read") {
  auto r = resolve_text("base_model: x\ndeepspeed: ds.json\n", {}, "", "ds.json",
                        "{\"zero_optimization\": {\"stage\": 3}}");
  CHECK(r.only().zero_stage.is(3));
  CHECK(r.er.inputs.deepspeed != nullptr);
  auto nostage = resolve_text("base_model: x\ndeepspeed: ds.json\n", {}, "", "ds.json",
                              "{\"train_micro_batch_size_per_gpu\": 1}");
  CHECK(nostage.only().zero_stage.is(0));
  CHECK(first_row(nostage.only().zero_stage.why) == "deepspeed.zero_stage");
  auto inl = resolve_text("base_model: x\ndeepspeed:\n  zero_optimization:\n    stage: 2\n");
  CHECK(inl.only().zero_stage.is(2));
  auto missing = resolve_text("base_model: x\ndeepspeed: nope.json\n");
  CHECK_FALSE(missing.only().zero_stage.known());
  CHECK_FALSE(missing.er.inputs.unresolved.empty());
}

// ---- LLaMA-Factory --------------------------------------------------------------------------------

TEST_CASE("resolver: LLaMA-Factory defaults") {
  auto d = resolve_text("model_name_or_path: x\nstage: sft\n");
  CHECK(d.only().checkpointing.is(true));
  CHECK(first_row(d.only().checkpointing.why) == "lf.gradient_checkpointing");
  CHECK(d.only().use_reentrant.is(true));
  CHECK(first_row(d.only().use_reentrant.why) == "lf.use_reentrant_gc");
  CHECK(first_row(d.only().input_hook.why) == "lf.input_hook");
  CHECK(first_row(d.only().adapter.why) == "lf.finetuning_type");
  CHECK(first_row(d.only().find_unused_parameters.why) == "lf.ddp_find_unused.lora");
  CHECK(first_row(d.only().use_cache.why) == "lf.use_cache");
  CHECK(first_row(d.only().dropout.why) == "lf.lora_dropout");
  auto hf = resolve_text("model_name_or_path: x\nstage: sft\nuse_reentrant_gc: false\ngradient_checkpointing: true\n");
  CHECK(hf.only().use_reentrant.is(true));
  CHECK(first_row(hf.only().use_reentrant.why) == "lf.hf_gc.reenable");
  auto fsdp2 = resolve_text("model_name_or_path: x\nstage: sft\n", {},
                            "distributed_type: FSDP\nfsdp_config:\n  fsdp_version: 2\nnum_processes: 2\n");
  CHECK(fsdp2.only().use_reentrant.is(false));
  CHECK(first_row(fsdp2.only().use_reentrant.why) == "lf.use_reentrant_gc.fsdp2");
  auto off = resolve_text("model_name_or_path: x\nstage: sft\ndisable_gradient_checkpointing: true\n");
  CHECK(off.only().checkpointing.is(false));
}

TEST_CASE("resolver: LLaMA-Factory v1") {
  auto r = resolve_text("model: Qwen/Qwen3-4B\nmodel_class: llm\npeft_config:\n  name: lora\n");
  CHECK(r.only().checkpointing.is(true));
  CHECK(first_row(r.only().hf_gc.why) == "lfv1.enable_activation_checkpointing");
  CHECK(first_row(r.only().use_reentrant.why) == "lfv1.use_reentrant");
}

// ---- torchtune, accelerate --------------------------------------------------------------------------

TEST_CASE("resolver: torchtune") {
  const char* base = "model:\n  _component_: torchtune.models.llama3_2.lora_llama3_2_1b\n  lora_dropout: 0.1\n";
  auto off = resolve_text(base);
  CHECK(off.only().checkpointing.is(false));
  CHECK(rows_seen().count("torchtune.enable_activation_checkpointing"));
  auto on = resolve_text(std::string(base) + "enable_activation_checkpointing: True\n");
  CHECK(first_row(on.only().use_reentrant.why) == "torchtune.use_reentrant");
  CHECK(first_row(on.only().preserve_rng_state.why) == "torchtune.preserve_rng_state");
  const char* full = "model:\n  _component_: torchtune.models.llama2.llama2\n  attn_dropout: 0.1\n";
  auto sac = resolve_text(std::string(full) + "enable_activation_checkpointing: False\nac_mode: selective\n");
  CHECK(sac.only().checkpointing.is(true));
  CHECK(sac.only().preserve_rng_state.is(false));
  CHECK(first_row(sac.only().preserve_rng_state.why) == "torchtune.preserve_rng_state.ac_mode");
  auto both = resolve_text(std::string(full) + "enable_activation_checkpointing: True\nac_mode: selective\n");
  CHECK(both.only().checkpointing.is(false));
  auto lora_sac = resolve_text(std::string(base) + "enable_activation_checkpointing: True\nac_mode: selective\n");
  CHECK(lora_sac.only().preserve_rng_state.is(true));
  auto q = resolve_text("model:\n  _component_: torchtune.models.llama3_1.qlora_llama3_1_8b\n");
  CHECK(q.only().adapter.is(Adapter::Qlora));
}

TEST_CASE("resolver: accelerate FSDP activation checkpointing") {
  const char* cfg = "base_model: x\nadapter: lora\nlora_dropout: 0.1\nfsdp_config:\n  fsdp_version: 2\n  activation_checkpointing: true\n";
  auto n = resolve_text(cfg, {{"accelerate", "1.8.0"}});
  CHECK(n.only().use_reentrant.is(false));
  CHECK(first_row(n.only().use_reentrant.why) == "accelerate.fsdp_ac.use_reentrant");
  CHECK(n.only().preserve_rng_state.is(false));
  CHECK(first_row(n.only().preserve_rng_state.why) == "accelerate.fsdp2_ac.preserve_rng_state");
  CHECK(resolve_text(cfg, {{"accelerate", "1.7.0"}}).only().preserve_rng_state.is(true));
  CHECK(rows_seen().count("accelerate.fsdp2_ac.preserve_rng_state.old"));
  auto v1 = resolve_text("base_model: x\nfsdp_config:\n  activation_checkpointing: true\n");
  CHECK(first_row(v1.only().fsdp_version.why) == "accelerate.fsdp_version");
  auto la = resolve_text("distributed_type: MULTI_GPU\nnum_processes: 4\n");
  CHECK(la.only().multi_process.is(true));
}

// ---- Python scripts: the same Setup from code ------------------------------------------------

#if GCHECK_HAVE_PYTHON
TEST_CASE("resolver: a script's model-level call decides use_reentrant; PEFT's wrap installs the hook") {
  const std::string before =
      "from peft import LoraConfig, get_peft_model\n"
      "from transformers import AutoModelForCausalLM\n"
      "model = AutoModelForCausalLM.from_pretrained('x')\n"
      "model.gradient_checkpointing_enable()\n"
      "model = get_peft_model(model, LoraConfig(r=8))\n";
  auto r = resolve_script(before, {{"transformers", "4.46.0"}});
  const Setup& s = r.only();
  CHECK(s.checkpointing.is(true));
  CHECK(s.adapter.is(Adapter::Lora));
  CHECK(s.use_reentrant.is(true));
  CHECK(first_row(s.use_reentrant.why) == "hf.use_reentrant.true");
  CHECK(s.stated_by == "stack");
  REQUIRE(s.reentrant_site >= 0);
  CHECK(s.sites[s.reentrant_site].loc.span.begin.line == 4);
  CHECK(s.input_hook.is(true));
  CHECK(first_row(s.input_hook.why) == "peft.wrap.hook");
  CHECK(s.frozen_embeddings.is(true));
  CHECK(s.gc_after_peft_wrap.is(false));
  CHECK(first_row(s.dropout.why) == "peft.lora_dropout");

  // After the wrap: no hook, the call is late.
  const std::string after =
      "from peft import LoraConfig, get_peft_model\n"
      "from transformers import AutoModelForCausalLM\n"
      "model = AutoModelForCausalLM.from_pretrained('x')\n"
      "model = get_peft_model(model, LoraConfig(r=8))\n"
      "model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={'use_reentrant': True})\n";
  auto a = resolve_script(after);
  CHECK(a.only().input_hook.is(false));
  CHECK(a.only().gc_after_peft_wrap.is(true));
  CHECK(a.only().stated_by == "user");
}

TEST_CASE("resolver: PEFT's kbit preparation passes {} (torch's default) and installs the hook") {
  auto r = resolve_script(
      "from peft import prepare_model_for_kbit_training\n"
      "from transformers import AutoModelForCausalLM, BitsAndBytesConfig\n"
      "model = AutoModelForCausalLM.from_pretrained('x', quantization_config=BitsAndBytesConfig(load_in_4bit=True))\n"
      "model = prepare_model_for_kbit_training(model)\n");
  const Setup& s = r.only();
  CHECK(s.quant_bits.is(4));
  CHECK(s.use_reentrant.is(true));
  CHECK(s.stated_by == "torch");
  REQUIRE(s.reentrant_site >= 0);
  CHECK(first_row(s.sites[s.reentrant_site].use_reentrant.why) == "torch.use_reentrant");
  bool empty = false;
  for (const auto& o : s.sites[s.reentrant_site].use_reentrant.why)
    empty |= o.row && o.row->id == std::string_view("peft.kbit.empty_kwargs");
  CHECK(empty);
  CHECK(first_row(s.input_hook.why) == "peft.kbit.hook");
}

TEST_CASE("resolver: the Trainer's arguments win over a model-level call, which GC206 names") {
  auto r = resolve_script(
      "from transformers import Trainer, TrainingArguments\n"
      "model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={'use_reentrant': False})\n"
      "args = TrainingArguments(output_dir='o', gradient_checkpointing=True)\n"
      "Trainer(model=model, args=args).train()\n",
      {{"transformers", "4.46.0"}});
  const Setup& s = r.only();
  CHECK(s.use_reentrant.is(true));
  CHECK(first_row(s.use_reentrant.why) == "hf.use_reentrant.true");
  CHECK(s.reentrant_site == -1);
  CHECK(s.trainer_overrides_gc.is(true));
  CHECK(s.gc_enable_loc.span.begin.line == 2);
}

TEST_CASE("resolver: DDP in a script; Unsloth forces reentrant; checkpoint calls are sites") {
  auto d = resolve_script(
      "import torch\n"
      "from torch.nn.parallel import DistributedDataParallel as DDP\n"
      "from torch.utils.checkpoint import checkpoint\n"
      "model = DDP(model)\n"
      "y = checkpoint(block, x)\n");
  const Setup& s = d.only();
  CHECK(s.ddp.is(true));
  CHECK(s.multi_process.is(true));
  CHECK(s.find_unused_parameters.is(false));
  CHECK(first_row(s.find_unused_parameters.why) == "torch.ddp.find_unused");
  REQUIRE(s.sites.size() == 1);
  CHECK(s.sites[0].stated_by == "torch");
  CHECK(s.use_reentrant.is(true));
  CHECK(s.checkpointing.is(true));

  auto u = resolve_script(
      "from unsloth import FastLanguageModel\n"
      "model = FastLanguageModel.get_peft_model(model, r=16, use_gradient_checkpointing='unsloth')\n");
  CHECK(u.only().use_reentrant.is(true));
  CHECK(first_row(u.only().use_reentrant.why) == "unsloth.use_reentrant");
  CHECK(u.only().unsloth_gc.is(true));
  CHECK(first_row(u.only().input_hook.why) == "unsloth.input_hook");
}
#endif

// Runs last (doctest orders test cases by file, then line): every row the resolver can apply
// has been seen above. Rules' gates and the code front ends' rows are checked by their tests.
TEST_CASE("resolver: every defaults row the resolver applies is exercised") {
  std::set<std::string> rule_or_code_rows = {
      "hf.gc_kwargs.unsupported", "hf.gc_kwargs.every_n_layers", "hf.gc_kwargs.offload",
      "hf.fsdp_ac_with_gc", "hf.use_cache.gc", "deepspeed.zero3_frozen_recompute",
      "deepspeed.zero3_nonscalar_backward", "deepspeed.activation_checkpointing.unused",
      "unsloth.offload_patch"};
#if !GCHECK_HAVE_PYTHON
  // Rows only scripts reach.
  for (const char* id : {"peft.lora_dropout", "peft.kbit.hook", "peft.kbit.empty_kwargs",
                         "unsloth.use_reentrant", "peft.wrap.hook", "torch.ddp.find_unused",
                         "unsloth.input_hook"})
    rows_seen().insert(id);
#endif
  for (const auto& r : default_rows()) {
    std::string id(r.id);
    if (rule_or_code_rows.count(id)) continue;
    CHECK_MESSAGE(rows_seen().count(id), "defaults row never exercised: " << id);
  }
}
