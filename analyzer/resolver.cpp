// Where every effective value is decided. Read top to bottom: distributed setup, what trains,
// which checkpointing mechanisms wrap the layers, then use_reentrant (the precedence ladder of
// the research notes, §4.1), RNG, the input-require-grads hook, DDP's find_unused_parameters.
#include "analyzer/resolver.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "analyzer/defaults_table.h"
#include "analyzer/extract/formats.h"

namespace gcheck {

// ---- provenance wording ----------------------------------------------------------------------

namespace {
template <class T>
Origin key_origin_t(const Fact<T>& f) {
  Origin o;
  if (!f.key.empty() && f.key.front() == '(') {
    o.kind = Origin::Kind::Derived;
    o.loc = f.loc;
    o.text = f.key == "(path)" ? fmt::format("inferred from the file path ({})", f.raw)
             : f.key == "(keys)" ? fmt::format("inferred from keys only a {} config has", f.raw)
                                 : fmt::format("inferred ({})", f.raw);
    return o;
  }
  o.kind = Origin::Kind::Key;
  o.loc = f.loc.known() ? f.loc : f.key_loc;
  o.key = f.key;
  o.text = fmt::format("{}: {}", f.key, f.raw);
  return o;
}
}  // namespace

Origin key_origin(const Fact<bool>& f) { return key_origin_t(f); }
Origin key_origin(const Fact<int64_t>& f) { return key_origin_t(f); }
Origin key_origin(const Fact<double>& f) { return key_origin_t(f); }
Origin key_origin(const Fact<std::string>& f) { return key_origin_t(f); }
Origin key_origin(const Fact<std::vector<std::string>>& f) { return key_origin_t(f); }

Origin row_origin(const DefaultRow& r, Origin::Kind kind) {
  Origin o;
  o.kind = kind;
  o.row = &r;
  std::string gate = row_versions(r);
  o.text = fmt::format("{} {}: {} = {} when {}{} [{}]",
                       r.stack, kind == Origin::Kind::Override ? "override" : "default", r.key,
                       r.value, r.when, gate.empty() ? "" : " (" + gate + ")", r.source);
  return o;
}

std::string Origin::describe() const {
  std::string where;
  if (loc.known()) {
    where = loc.span.begin.known()
                ? fmt::format("{}:{}:{}", loc.file, loc.span.begin.line, loc.span.begin.column)
                : loc.file;
  }
  if (kind == Kind::Key) return fmt::format("{} {}", where, text);
  if (!where.empty() && kind == Kind::Derived) return fmt::format("{} ({})", text, where);
  return text;
}

std::string_view mechanism_name(Mechanism m) {
  switch (m) {
    case Mechanism::HfGradientCheckpointing: return "HF gradient checkpointing";
    case Mechanism::LlamaFactoryWrapper: return "LLaMA-Factory's checkpoint wrapper";
    case Mechanism::FsdpActivationCheckpointing: return "FSDP activation checkpointing";
    case Mechanism::TorchtuneActivationCheckpointing: return "torchtune activation checkpointing";
    case Mechanism::UnslothCheckpointing: return "Unsloth checkpointing";
    case Mechanism::AxolotlOffloadWrapper: return "Axolotl activation offloading (TRL offloader)";
    case Mechanism::TorchCheckpointCall: return "torch.utils.checkpoint calls";
    case Mechanism::CheckpointWrapperCall: return "checkpoint_wrapper";
    case Mechanism::HandRolledRecompute: return "a hand-rolled recompute Function";
  }
  return "?";
}

std::string_view adapter_name(Adapter a) {
  switch (a) {
    case Adapter::None: return "none";
    case Adapter::Lora: return "LoRA";
    case Adapter::Qlora: return "QLoRA";
    case Adapter::Other: return "adapter";
  }
  return "?";
}

// ---- the resolver ----------------------------------------------------------------------------

namespace {

using extract::contains;
using extract::lower;

Origin derived(std::string text, Location loc = {}) {
  Origin o;
  o.kind = Origin::Kind::Derived;
  o.text = std::move(text);
  o.loc = std::move(loc);
  return o;
}

Origin unknown(std::string text, Location loc = {}) {
  Origin o;
  o.kind = Origin::Kind::Unknown;
  o.text = std::move(text);
  o.loc = std::move(loc);
  return o;
}

std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

bool unresolved_key(const Inputs& in, std::string_view key) {
  for (const auto& u : in.unresolved)
    if (u.key == key) return true;
  if (in.primary)
    for (const auto& u : in.primary->unreadable)
      if (u.key == key) return true;
  return false;
}

class Resolver {
  enum class Decider { User, Stack, Torch };

 public:
  Resolver(const Inputs& in, Scenario& sc) : in_(in), p_(*in.primary), sc_(sc) {
    ds_ = in.deepspeed.get();
    la_ = in.launcher.get();
    // A launcher config linted on its own is its own launcher.
    if (!la_ && p_.format == Format::Accelerate) la_ = &p_;
  }

  Setup run() {
    s_.format = p_.format;
    s_.facts = &p_;
    s_.deepspeed = ds_;
    s_.launcher = la_;
    s_.scenario = &sc_;
    s_.unresolved = in_.unresolved;
    for (const auto& u : p_.unreadable) s_.unresolved.push_back(u);
    // A script whose settings come from an argument parser: the YAML or command line it reads
    // decides values the script does not show.
    if (p_.code && !p_.code->arg_parsers.empty() && p_.paired_with.empty()) {
      const CodeCall& a = p_.code->arg_parsers.front();
      s_.unresolved.push_back(Unreadable{
          a.loc, "training settings",
          fmt::format("come from the command line or a YAML ({}(...)); gcheck checks what the "
                      "script states and the stacks' defaults for the rest",
                      a.callee.substr(a.callee.rfind('.') == std::string::npos ? 0 : a.callee.rfind('.') + 1))});
    }
    if (ds_)
      for (const auto& u : ds_->unreadable) s_.unresolved.push_back(u);
    if (la_)
      for (const auto& u : la_->unreadable) s_.unresolved.push_back(u);
    code_ = p_.code.get();
    py_ = p_.format == Format::Python;
    trl_ = (p_.format == Format::HfTrl || py_) && p_.trl && p_.trl->value;
    stack();
    distributed();
    trainer();
    what_trains();
    mechanisms();
    sites();
    relate_models();
    reentrant();
    rng_and_dropout();
    input_hook();
    find_unused();
    misc();
    code_misc();
    return std::move(s_);
  }

 private:
  // ---- stack and trainer ----------------------------------------------------------------------
  void stack() {
    std::string name;
    switch (p_.format) {
      case Format::Axolotl: name = "Axolotl"; break;
      case Format::HfTrl: name = trl_ ? "TRL" : "HF Trainer"; break;
      case Format::LlamaFactory: name = "LLaMA-Factory"; break;
      case Format::LlamaFactoryV1: name = "LLaMA-Factory v1"; break;
      case Format::Torchtune: name = "torchtune"; break;
      case Format::Accelerate: name = "accelerate"; break;
      case Format::DeepSpeed: name = "DeepSpeed"; break;
      case Format::Python:
        name = trl_ ? "TRL"
               : (p_.gradient_checkpointing || (code_ && !code_->trainers.empty())) ? "HF Trainer"
                                                                                   : "Python script";
        break;
      case Format::Cpp: name = "LibTorch C++"; break;
      default: name = "unknown"; break;
    }
    std::string what = p_.format == Format::Python ? "a Python training script"
                       : p_.format == Format::Cpp  ? "a LibTorch C++ source"
                                                   : fmt::format("{} config", format_title(p_.format));
    s_.stack.set(name, derived(fmt::format("{} ({})", what, p_.format_reason), p_.anchor));
  }

  void trainer() {
    if (p_.trainer) {
      std::string t = lower(p_.trainer->value);
      if (t == "pt") t = "sft";  // LLaMA-Factory pre-training: supervised
      if (t == "rm") t = "reward";
      s_.trainer.set(t, key_origin(*p_.trainer));
    } else if (p_.format == Format::LlamaFactory) {
      s_.trainer.set("sft", derived("LLaMA-Factory stage not set (sft)"));
    } else if (p_.format == Format::Axolotl) {
      s_.trainer.set("sft", derived("Axolotl without rl: supervised fine-tuning"));
    } else if (p_.format == Format::Cpp) {
      s_.trainer.set("", derived("a LibTorch program with its own training loop"));
    } else if (trl_) {
      s_.trainer.why.push_back(unknown("the TRL trainer is chosen by the script that reads this "
                                       "config; none of its keys or path names one"));
    } else {
      s_.trainer.set("sft", derived("supervised training"));
    }
    bool rl = s_.trainer.known() && extract::is_rl_trainer(*s_.trainer);
    s_.rl.set(rl, s_.trainer.why.empty() ? derived("") : s_.trainer.why.front());
  }

  // ---- distributed ----------------------------------------------------------------------------
  void distributed() {
    // ZeRO stage: the linked DeepSpeed config, else the launcher's inline zero_stage.
    bool ds_used = ds_ != nullptr ||
                   (la_ && la_->distributed_type && upper(la_->distributed_type->value) == "DEEPSPEED");
    if (ds_ && ds_->zero_stage) {
      s_.zero_stage.set(ds_->zero_stage->value, key_origin(*ds_->zero_stage));
      if (in_.deepspeed_link.kind != Origin::Kind::Unknown && !in_.deepspeed_link.text.empty())
        s_.zero_stage.because(in_.deepspeed_link);
    } else if (la_ && la_->zero_stage) {
      s_.zero_stage.set(la_->zero_stage->value, key_origin(*la_->zero_stage));
      s_.zero_stage.because(in_.launcher_link);
    } else if (unresolved_key(in_, "deepspeed") ||
               unresolved_key(in_, "deepspeed_config.deepspeed_config_file") ||
               (ds_ && unresolved_in(ds_, "zero_optimization.stage"))) {
      s_.zero_stage.why.push_back(unknown("the DeepSpeed config could not be read"));
    } else if (ds_used) {
      s_.zero_stage.set(0, row_origin(row("deepspeed.zero_stage")));
      if (ds_) s_.zero_stage.because(in_.deepspeed_link);
    } else {
      s_.zero_stage.set(0, derived("no DeepSpeed config"));
    }

    // FSDP: a TrainingArguments `fsdp`, Axolotl's fsdp_config, LLaMA-Factory v1 dist_config,
    // or an accelerate launcher with distributed_type FSDP.
    bool axolotl_fsdp = p_.format == Format::Axolotl &&
                        (p_.fsdp_ac || p_.fsdp_version || p_.fsdp_sharding || p_.fsdp);
    if (p_.fsdp && !p_.fsdp->value.empty()) {
      s_.fsdp.set(true, key_origin(*p_.fsdp));
    } else if (axolotl_fsdp) {
      const Location& l = p_.fsdp_ac ? p_.fsdp_ac->key_loc
                          : p_.fsdp_version ? p_.fsdp_version->key_loc
                                            : p_.fsdp_sharding->key_loc;
      s_.fsdp.set(true, derived("Axolotl fsdp_config", l));
    } else if (la_ && la_->distributed_type && upper(la_->distributed_type->value) == "FSDP") {
      s_.fsdp.set(true, key_origin(*la_->distributed_type));
      s_.fsdp.because(in_.launcher_link);
    } else {
      s_.fsdp.set(false, derived("no FSDP setting"));
    }
    if (*s_.fsdp) {
      const Opt<int64_t>& v = p_.fsdp_version ? p_.fsdp_version
                              : la_ && la_->fsdp_version ? la_->fsdp_version
                                                         : p_.fsdp_version;
      if (v) s_.fsdp_version.set(v->value, key_origin(*v));
      else s_.fsdp_version.set(1, row_origin(row("accelerate.fsdp_version")));
      const Opt<bool>& ac = p_.fsdp_ac ? p_.fsdp_ac : la_ ? la_->fsdp_ac : p_.fsdp_ac;
      if (ac) s_.fsdp_ac.set(ac->value, key_origin(*ac));
      else s_.fsdp_ac.set(false, derived("FSDP activation checkpointing not set"));
      // Full sharding unless a strategy says otherwise (accelerate's default is FULL_SHARD;
      // FSDP2 reshards after forward by default).
      std::string shard;
      Origin so = derived("FSDP's default sharding (FULL_SHARD / reshard_after_forward)");
      const Opt<std::string>& sh = p_.fsdp_sharding ? p_.fsdp_sharding
                                   : la_ ? la_->fsdp_sharding : p_.fsdp_sharding;
      if (sh) {
        shard = upper(sh->value);
        so = key_origin(*sh);
      } else if (p_.fsdp) {
        shard = upper(p_.fsdp->value);
        so = key_origin(*p_.fsdp);
      }
      bool full = shard.empty() || contains(shard, "FULL_SHARD") || contains(shard, "HYBRID") ||
                  shard == "1" || shard == "TRUE" || contains(shard, "FSDP");
      if (contains(shard, "SHARD_GRAD_OP") || contains(shard, "NO_SHARD") || shard == "FALSE")
        full = false;
      s_.fsdp_full_shard.set(full, so);
    } else {
      s_.fsdp_ac.set(false, derived("no FSDP"));
      s_.fsdp_full_shard.set(false, derived("no FSDP"));
    }

    // Process count, when a launcher or the config states it.
    if (la_ && la_->num_processes) {
      int64_t n = la_->num_processes->value * (la_->num_machines ? la_->num_machines->value : 1);
      s_.multi_process.set(n > 1, key_origin(*la_->num_processes));
      s_.multi_process.because(in_.launcher_link);
    } else if (la_ && la_->distributed_type && upper(la_->distributed_type->value) == "NO") {
      s_.multi_process.set(false, key_origin(*la_->distributed_type));
    } else if (p_.use_ray && p_.use_ray->value && p_.ray_num_workers) {
      s_.multi_process.set(p_.ray_num_workers->value > 1, key_origin(*p_.ray_num_workers));
    } else {
      s_.multi_process.why.push_back(
          unknown("the process count is set by the launch command (torchrun, accelerate launch)"));
    }
    if (!s_.multi_process.known() && code_ && !code_->ddps.empty()) {
      s_.multi_process.set(true, derived("the script wraps the model in DistributedDataParallel",
                                         code_->ddps.front().call.loc));
    }
    bool ddp_possible = !*s_.fsdp && s_.zero_stage.is(0);
    if (!ddp_possible) {
      s_.ddp.set(false, derived(*s_.fsdp ? "FSDP, not DDP" : "DeepSpeed, not DDP"));
    } else if (s_.multi_process.known()) {
      s_.ddp.set(*s_.multi_process, s_.multi_process.why.front());
    } else {
      s_.ddp.why.push_back(unknown("DDP if launched on more than one process"));
    }
  }

  static bool unresolved_in(const Facts* f, std::string_view key) {
    for (const auto& u : f->unreadable)
      if (contains(u.key, key)) return true;
    return false;
  }

  // ---- what trains ----------------------------------------------------------------------------
  void what_trains() {
    Adapter a = Adapter::None;
    Origin ao = derived("no adapter: a full fine-tune");
    int64_t bits = 0;
    Origin bo = derived("no quantization");
    if (p_.quant_bits && p_.quant_bits->value > 0) {
      bits = p_.quant_bits->value;
      bo = key_origin(*p_.quant_bits);
    }
    bool partial = false;
    Origin po = derived("no partial freezing");
    switch (p_.format) {
      case Format::Axolotl:
      case Format::Torchtune:
        if (p_.adapter) {
          std::string v = lower(p_.adapter->value);
          a = v == "qlora" ? Adapter::Qlora : v == "lora" ? Adapter::Lora
              : v.empty()  ? Adapter::None
                           : Adapter::Other;
          ao = key_origin(*p_.adapter);
        }
        if (p_.unfrozen_parameters && !p_.unfrozen_parameters->value.empty()) {
          partial = true;
          po = key_origin(*p_.unfrozen_parameters);
        }
        break;
      case Format::HfTrl:
        if (p_.use_peft && p_.use_peft->value) {
          a = Adapter::Lora;
          ao = key_origin(*p_.use_peft);
        }
        break;
      case Format::Python:
        if (p_.adapter) {
          std::string v = lower(p_.adapter->value);
          a = v == "qlora" ? Adapter::Qlora : v == "lora" ? Adapter::Lora : Adapter::Other;
          ao = key_origin(*p_.adapter);
        } else if (p_.use_peft && p_.use_peft->value) {
          a = Adapter::Lora;
          ao = key_origin(*p_.use_peft);
        } else if (code_ && !code_->peft_wraps.empty()) {
          a = Adapter::Other;
          ao = derived("get_peft_model(...) wraps the model (adapter type unknown)",
                       code_->peft_wraps.front().loc);
        }
        if (code_) {
          // requires_grad_(False) on the embeddings or some layers: a partially frozen model.
          // Freezing everything is what adapters do (and what unfreezing a few layers after
          // it does): partial only without adapters.
          for (const auto& z : code_->freezes) {
            if (z.whole_model && a != Adapter::None) continue;
            partial = true;
            po = derived(fmt::format("{} is frozen (requires_grad False)", z.target), z.loc);
            if (z.embeddings) break;
          }
        }
        break;
      case Format::LlamaFactory:
      case Format::LlamaFactoryV1: {
        std::string ft = "lora";
        if (p_.finetuning_type) {
          ft = lower(p_.finetuning_type->value);
          ao = key_origin(*p_.finetuning_type);
        } else if (p_.format == Format::LlamaFactory) {
          ao = row_origin(row("lf.finetuning_type"));
        } else {
          ft = "full";
          ao = derived("no peft_config: a full fine-tune");
        }
        if (ft == "lora") a = Adapter::Lora;
        else if (ft == "oft" || ft == "dora") a = Adapter::Other;
        else if (ft == "freeze") {
          partial = true;
          po = ao;
        }
        break;
      }
      default:
        break;
    }
    if (a == Adapter::Lora && bits == 4) a = Adapter::Qlora;
    s_.adapter.set(a, ao);
    if (a == Adapter::Qlora && bits == 0 && p_.format != Format::Torchtune) {
      bits = 4;
      bo = derived("QLoRA: a 4-bit base");
    }
    s_.quant_bits.set(bits, bo);
    s_.partial_freeze.set(partial, po);

    bool frozen = a != Adapter::None || partial;
    s_.frozen_params.set(frozen, frozen ? (a != Adapter::None ? ao : po)
                                        : derived("every parameter trains"));
    // The tensors entering the checkpointed blocks come from the embeddings; they are frozen
    // with adapters and partial freezing unless the embeddings are made trainable.
    bool emb_trainable = p_.embeddings_trainable.has_value();
    Origin eo = emb_trainable ? key_origin(*p_.embeddings_trainable) : derived("");
    if (partial && p_.unfrozen_parameters) {
      for (const auto& pat : p_.unfrozen_parameters->value)
        if (contains(lower(pat), "embed")) {
          emb_trainable = true;
          eo = key_origin(*p_.unfrozen_parameters);
        }
    }
    if (partial && p_.freeze_trainable_layers && p_.freeze_trainable_layers->value < 0) {
      // LLaMA-Factory: negative counts train the first layers; embeddings stay frozen.
    }
    if (py_ && partial && a == Adapter::None && code_) {
      // Code says which modules it froze: the inputs of the checkpointed layers are frozen
      // only when the embeddings are (freezing layers keeps the embeddings' grad flowing).
      frozen = false;
      for (const auto& z : code_->freezes) {
        if (z.embeddings || z.whole_model) {
          frozen = true;
          po = derived(fmt::format("{} is frozen (requires_grad False)", z.target), z.loc);
          break;
        }
      }
      if (!frozen && !emb_trainable) {
        emb_trainable = true;
        eo = derived("the script freezes some layers but not the input embeddings");
      }
      // GPT-2, OPT, BERT and kin add trained position embeddings to the token embeddings
      // before the first block: freezing the token embeddings alone leaves its input needing
      // grad.
      if (frozen && !emb_trainable) {
        if (const char* family = learned_positions_family()) {
          emb_trainable = true;
          eo = derived(fmt::format("{} ({}) adds trained position embeddings to the token "
                                   "embeddings before the first block, and only the token "
                                   "embeddings are frozen: the blocks' input still requires grad",
                                   p_.model_name->value, family),
                       p_.model_name->loc);
        }
      }
      frozen = true;
    }
    if (frozen && !emb_trainable) {
      s_.frozen_embeddings.set(true, a != Adapter::None ? ao : po);
      s_.frozen_embeddings.because(derived("the input embeddings do not train"));
    } else if (frozen) {
      s_.frozen_embeddings.set(false, eo);
    } else {
      s_.frozen_embeddings.set(false, derived("every parameter trains"));
    }
    if (p_.vision_lora && p_.vision_lora->value && a != Adapter::None) {
      s_.frozen_tower.set(true, key_origin(*p_.vision_lora));
      s_.frozen_tower.because(derived("adapters on a vision/audio tower whose input comes from "
                                      "its own frozen patch embedding"));
    } else {
      s_.frozen_tower.set(false, derived("no adapters on a non-text tower stated"));
    }
  }

  // ---- mechanisms -----------------------------------------------------------------------------
  void add(Mechanism m, Origin o) { s_.mechanisms.push_back({m, std::move(o)}); }

  void mechanisms() {
    hf_gc_ = false;
    Origin hf_o = derived("");
    switch (p_.format) {
      case Format::Axolotl: {
        std::string off = p_.activation_offloading ? lower(p_.activation_offloading->value) : "";
        if (p_.gradient_checkpointing_mode) off = p_.gradient_checkpointing_mode->value == "offload_disk" ? "disk" : "legacy";
        bool gc = p_.gradient_checkpointing ? p_.gradient_checkpointing->value : false;
        hf_o = p_.gradient_checkpointing ? key_origin(*p_.gradient_checkpointing)
                                         : row_origin(row("axolotl.gradient_checkpointing"));
        if (off == "true" || off == "legacy" || off == "disk") {
          // TRL's offloader replaces HF recompute. With adapters it is pure offloading (no
          // recompute at all); a full fine-tune keeps recompute through a checkpoint wrapper.
          Origin o = p_.gradient_checkpointing_mode ? key_origin(*p_.gradient_checkpointing_mode)
                                                    : key_origin(*p_.activation_offloading);
          s_.activation_offload.set(true, o);
          bool adapters = p_.adapter && !p_.adapter->value.empty();
          if (gc && !adapters) {
            offload_wrapper_ = true;
            add(Mechanism::AxolotlOffloadWrapper, o);
          }
          s_.hf_gc.set(false, row_origin(row(adapters ? "axolotl.offload.adapter" : "axolotl.offload.no_hf_gc"),
                                         Origin::Kind::Override));
          s_.hf_gc.because(o);
        } else {
          hf_gc_ = gc;
          s_.hf_gc.set(gc, hf_o);
        }
        hidden_states_ = off == "hidden_states";
        break;
      }
      case Format::HfTrl: {
        if (p_.gradient_checkpointing) {
          hf_gc_ = p_.gradient_checkpointing->value;
          hf_o = key_origin(*p_.gradient_checkpointing);
        } else if (trl_) {
          const DefaultRow* r = pick_row(sc_, {"trl.gradient_checkpointing", "trl.gradient_checkpointing.old"});
          hf_gc_ = r && row_bool(*r);
          hf_o = row_origin(*r);
        } else {
          hf_o = row_origin(row("hf.gradient_checkpointing"));
        }
        s_.hf_gc.set(hf_gc_, hf_o);
        break;
      }
      case Format::LlamaFactory: {
        bool lf_gc = true;
        Origin o = row_origin(row("lf.gradient_checkpointing"));
        if (p_.disable_gradient_checkpointing) {
          lf_gc = !p_.disable_gradient_checkpointing->value;
          o = key_origin(*p_.disable_gradient_checkpointing);
        }
        if (lf_gc) {
          add(p_.use_unsloth_gc && p_.use_unsloth_gc->value ? Mechanism::UnslothCheckpointing
                                                            : Mechanism::LlamaFactoryWrapper, o);
        }
        lf_gc_ = lf_gc;
        // The HF key as well: the Trainer re-enables checkpointing through LF's patched method.
        if (p_.gradient_checkpointing && p_.gradient_checkpointing->value) {
          hf_gc_ = true;
          s_.hf_gc.set(true, key_origin(*p_.gradient_checkpointing));
        } else {
          s_.hf_gc.set(false, p_.gradient_checkpointing ? key_origin(*p_.gradient_checkpointing)
                                                        : row_origin(row("hf.gradient_checkpointing")));
        }
        break;
      }
      case Format::LlamaFactoryV1: {
        bool on = true;
        Origin o = row_origin(row("lfv1.enable_activation_checkpointing"));
        if (p_.enable_activation_checkpointing) {
          on = p_.enable_activation_checkpointing->value;
          o = key_origin(*p_.enable_activation_checkpointing);
        }
        hf_gc_ = on;
        s_.hf_gc.set(on, o);
        break;
      }
      case Format::Torchtune: {
        bool on = false;
        Origin o = row_origin(row("torchtune.enable_activation_checkpointing"));
        if (p_.enable_activation_checkpointing) {
          on = p_.enable_activation_checkpointing->value;
          o = key_origin(*p_.enable_activation_checkpointing);
        }
        // The full fine-tune distributed recipes read ac_mode (selective AC) only when
        // enable_activation_checkpointing is False; with both set they apply neither. LoRA
        // recipes ignore ac_mode.
        bool full_model = !p_.adapter;
        std::string mode = p_.ac_mode ? lower(p_.ac_mode->value) : "";
        if (full_model && !mode.empty() && mode != "none") {
          if (on) {
            on = false;
            o = derived("enable_activation_checkpointing and ac_mode are both set: "
                        "full_finetune_distributed applies neither", p_.ac_mode->key_loc);
          } else {
            on = true;
            o = key_origin(*p_.ac_mode);
            tt_ac_mode_ = true;
          }
        }
        if (on) add(Mechanism::TorchtuneActivationCheckpointing, o);
        s_.hf_gc.set(false, derived("torchtune does not use HF checkpointing"));
        break;
      }
      case Format::Python:
        code_mechanisms();
        break;
      case Format::Cpp:
        s_.hf_gc.set(false, derived("LibTorch C++ has no HF checkpointing"));
        for (const auto& f : code_->recompute_functions) {
          if (!f.forward_no_grad || !f.backward_recomputes) continue;
          add(Mechanism::HandRolledRecompute,
              derived(fmt::format("{} runs its forward without grad and again in backward", f.name), f.loc));
          break;
        }
        break;
      default:
        s_.hf_gc.set(false, derived("no HF training arguments"));
        break;
    }
    if (hf_gc_) add(Mechanism::HfGradientCheckpointing, s_.hf_gc.why.front());
    if (py_) {
      bool call = false, wrapper = false;
      for (const auto& c : code_->checkpoint_calls) {
        bool w = c.api == CheckpointCallFact::Api::CheckpointWrapper ||
                 c.api == CheckpointCallFact::Api::ApplyActivationCheckpointing;
        if (w && !wrapper) {
          wrapper = true;
          add(Mechanism::CheckpointWrapperCall, derived("the script wraps modules with checkpoint_wrapper", c.call.loc));
        } else if (!w && !call) {
          call = true;
          add(Mechanism::TorchCheckpointCall, derived("the script calls torch.utils.checkpoint", c.call.loc));
        }
      }
    }
    if (*s_.fsdp && s_.fsdp_ac.is(true)) add(Mechanism::FsdpActivationCheckpointing, s_.fsdp_ac.why.front());
    bool any = !s_.mechanisms.empty();
    if (any) {
      s_.checkpointing.set(true, s_.mechanisms.front().origin);
      for (size_t i = 1; i < s_.mechanisms.size(); ++i) s_.checkpointing.because(s_.mechanisms[i].origin);
    } else {
      Origin o = s_.hf_gc.why.empty() ? derived("no checkpointing setting") : s_.hf_gc.why.front();
      if (p_.format == Format::LlamaFactory && p_.disable_gradient_checkpointing)
        o = key_origin(*p_.disable_gradient_checkpointing);
      if (p_.format == Format::Torchtune)
        o = p_.enable_activation_checkpointing
                ? key_origin(*p_.enable_activation_checkpointing)
                : row_origin(row("torchtune.enable_activation_checkpointing"));
      s_.checkpointing.set(false, o);
    }
  }

  // ---- Python scripts and C++ sources ---------------------------------------------------------

  // An origin for a value a script states as a literal at `loc`.
  static Origin code_key(const Location& loc, std::string key, std::string raw) {
    Origin o;
    o.kind = Origin::Kind::Key;
    o.loc = loc;
    o.key = key;
    o.text = fmt::format("{}={}", std::move(key), std::move(raw));
    return o;
  }

  // Whether the front end left an unreadable value for `key` inside the call at `loc`.
  bool unreadable_in(const Location& loc, std::string_view key) const {
    for (const auto& u : p_.unreadable) {
      if (u.key.rfind(key, 0) != 0 || u.loc.file != loc.file) continue;
      uint32_t l = u.loc.span.begin.line;
      if (l >= loc.span.begin.line && l <= std::max(loc.span.end.line, loc.span.begin.line)) return true;
    }
    return false;
  }

  // Python: Trainer-level checkpointing (TrainingArguments / TRL configs), model-level enabling
  // calls, Unsloth.
  void code_mechanisms() {
    Origin hf_o;
    if (p_.gradient_checkpointing) {
      trainer_gc_ = p_.gradient_checkpointing->value;
      hf_o = key_origin(*p_.gradient_checkpointing);
    } else if (trl_) {
      const DefaultRow* r = pick_row(sc_, {"trl.gradient_checkpointing", "trl.gradient_checkpointing.old"});
      trainer_gc_ = r && row_bool(*r);
      hf_o = row_origin(*r);
    } else if (!code_->trainers.empty()) {
      hf_o = row_origin(row("hf.gradient_checkpointing"));
    } else {
      hf_o = derived("the script builds no TrainingArguments");
    }
    const CodeCall* model_call = nullptr;
    for (const auto& g : code_->gc_enables) model_call = &g.call;
    for (const auto& k : code_->kbit_prepares)
      if (k.use_gradient_checkpointing.value_or(true) && (!model_call || model_call->loc.span.begin.line < k.call.loc.span.begin.line))
        model_call = &k.call;
    hf_gc_ = trainer_gc_ || model_call != nullptr;
    if (trainer_gc_ || !model_call) {
      s_.hf_gc.set(hf_gc_, hf_o);
    } else {
      s_.hf_gc.set(true, derived(fmt::format("{}(...) enables it on the model", last_name(model_call->callee)),
                                 model_call->loc));
    }
    if (!code_->unsloth_gc.empty()) {
      const CodeCall& u = code_->unsloth_gc.front();
      add(Mechanism::UnslothCheckpointing,
          derived("use_gradient_checkpointing=\"unsloth\"", u.loc));
    }
  }

  static std::string last_name(const std::string& callee) {
    auto dot = callee.rfind('.');
    return dot == std::string::npos ? callee : callee.substr(dot + 1);
  }

  // Whether two expressions name the same model or one a part of the other (`model` and
  // `model.base_model`, `self.model` and `self.model.model`).
  static bool same_object(const std::string& a, const std::string& b) {
    if (a.empty() || b.empty()) return false;
    auto part = [](const std::string& x, const std::string& y) {
      return x.size() > y.size() && x.compare(0, y.size(), y) == 0 && x[y.size()] == '.';
    };
    return a == b || part(a, b) || part(b, a);
  }

  // PEFT's kbit preparation installs the input hook when it enables checkpointing and
  // use_reentrant is not False (peft.kbit.hook).
  static bool kbit_hook(const KbitPrepareFact& k) {
    return k.use_gradient_checkpointing.value_or(true) && k.use_reentrant != std::optional<bool>(false);
  }

  // A model-level enabling call's site with what the call itself decides: a literal
  // use_reentrant, a value known only at run time, or kwargs without it (torch's default).
  // When it passes no kwargs, use_reentrant is left unset for the caller's library default.
  CheckpointSite model_site(CheckpointSite::Kind kind, const char* api, const CodeCall& call, bool has_kwargs,
                            bool empty_kwargs, std::optional<bool> use_reentrant, const Location& use_reentrant_loc,
                            std::optional<bool> preserve, const Location& preserve_loc) {
    CheckpointSite st;
    st.kind = kind;
    st.loc = call.loc;
    st.api = api;
    st.scope = call.scope;
    st.order = call.order;
    st.has_kwargs = has_kwargs;
    if (preserve)
      st.preserve_rng_state.set(*preserve, code_key(preserve_loc, "preserve_rng_state", *preserve ? "True" : "False"));
    else
      st.preserve_rng_state.set(true, row_origin(row("torch.preserve_rng_state")));
    if (use_reentrant) {
      st.use_reentrant.set(*use_reentrant, code_key(use_reentrant_loc, "use_reentrant", *use_reentrant ? "True" : "False"));
      st.stated_by = "user";
    } else if (use_reentrant_loc.known() || unreadable_in(call.loc, "gradient_checkpointing_kwargs")) {
      st.use_reentrant.why.push_back(unknown("gradient_checkpointing_kwargs is known only at run time", call.loc));
      st.stated_by = "user";
    } else if (has_kwargs) {
      st.use_reentrant.set(true, row_origin(row("torch.use_reentrant")));
      st.use_reentrant.because(derived(empty_kwargs ? "gradient_checkpointing_kwargs={} reaches torch as is"
                                                    : "gradient_checkpointing_kwargs without use_reentrant reaches torch as is",
                                       call.loc));
      st.stated_by = "torch";
    }
    return st;
  }

  // A model whose config class defaults to dropout 0.1 inside its blocks.
  static bool classic_dropout_model(const std::string& name) {
    std::string n = lower(name);
    if (contains(n, "modernbert")) return false;  // 0 everywhere
    return contains(n, "gpt2") || contains(n, "bert") || contains(n, "bart") ||
           contains(n, "wav2vec2") || contains(n, "/opt-") || n.rfind("opt-", 0) == 0 ||
           contains(n, "t5-") || contains(n, "t5_") ||
           (n.size() >= 2 && n.compare(n.size() - 2, 2, "t5") == 0);
  }

  // The model family, when the script names a model that adds trained (learned, absolute)
  // position embeddings to the token embeddings before its first block and the script freezes
  // the token embeddings alone (and maybe some layers; not the position embeddings, not a
  // whole embeddings module, not the whole model). Rotary, ALiBi and relative-bias models
  // (Llama, Qwen, Mistral, BLOOM, T5, DeBERTa, ModernBERT, GPT-NeoX) have nothing trained there.
  const char* learned_positions_family() const {
    if (!code_ || !p_.model_name) return nullptr;
    std::string n = lower(p_.model_name->value);
    const char* family = nullptr;
    if (contains(n, "gpt2")) family = "GPT-2";
    else if (contains(n, "gpt-neo") && !contains(n, "neox")) family = "GPT-Neo";
    else if (contains(n, "/opt-") || n.rfind("opt-", 0) == 0) family = "OPT";
    else if (contains(n, "bart")) family = "BART";
    else if (contains(n, "electra")) family = "ELECTRA";
    else if (contains(n, "bert") && !contains(n, "deberta") && !contains(n, "modernbert")) family = "BERT";
    if (!family) return nullptr;
    bool token_embeddings = false;
    for (const auto& z : code_->freezes) {
      std::string t = lower(z.target);
      if (z.whole_model || contains(t, "position") || contains(t, "wpe")) return nullptr;
      if (!z.embeddings) continue;  // some layers: their input still comes from wpe
      bool token_only = contains(t, "get_input_embeddings") || contains(t, "wte") ||
                        contains(t, "word_embeddings") || contains(t, "embed_tokens");
      if (!token_only) return nullptr;
      token_embeddings = true;
    }
    return token_embeddings ? family : nullptr;
  }

  // Every place in code that checkpoints on its own, each with its effective use_reentrant.
  void sites() {
    if (!code_) return;
    for (const auto& c : code_->checkpoint_calls) {
      CheckpointSite st;
      bool wrapper = c.api == CheckpointCallFact::Api::CheckpointWrapper ||
                     c.api == CheckpointCallFact::Api::ApplyActivationCheckpointing;
      st.kind = wrapper ? CheckpointSite::Kind::Wrapper : CheckpointSite::Kind::TorchCall;
      st.loc = c.call.loc;
      st.api = c.call.callee;
      st.scope = c.call.scope;
      st.order = c.call.order;
      if (c.use_reentrant) {
        st.use_reentrant.set(*c.use_reentrant,
                             code_key(c.use_reentrant_loc, wrapper ? "checkpoint_impl" : "use_reentrant",
                                      wrapper ? (*c.use_reentrant ? "CheckpointImpl.REENTRANT" : "CheckpointImpl.NO_REENTRANT")
                                              : (*c.use_reentrant ? "True" : "False")));
        st.stated_by = "user";
      } else if (c.use_reentrant_given || unreadable_in(c.call.loc, "use_reentrant") ||
                 unreadable_in(c.call.loc, "checkpoint_impl") ||
                 unreadable_in(c.call.loc, "checkpoint_wrapper_fn")) {
        st.use_reentrant.why.push_back(unknown("use_reentrant is given as a value known only at run time", c.call.loc));
        st.stated_by = "user";
      } else if (wrapper) {
        const DefaultRow* r = pick_row(sc_, {"torch.checkpoint_wrapper.reentrant",
                                             "torch.checkpoint_wrapper.no_reentrant"});
        st.use_reentrant.set(r->value == std::string_view("REENTRANT"), row_origin(*r));
        st.use_reentrant.because(derived(fmt::format("{}(...) without checkpoint_impl", last_name(c.call.callee)), c.call.loc));
        st.stated_by = "torch";
      } else {
        st.use_reentrant.set(true, row_origin(row("torch.use_reentrant")));
        st.use_reentrant.because(derived(fmt::format("{}(...) without use_reentrant", last_name(c.call.callee)), c.call.loc));
        st.stated_by = "torch";
      }
      if (c.preserve_rng_state) {
        st.preserve_rng_state.set(*c.preserve_rng_state,
                                  code_key(c.preserve_rng_state_loc, "preserve_rng_state", *c.preserve_rng_state ? "True" : "False"));
      } else {
        st.preserve_rng_state.set(true, row_origin(row("torch.preserve_rng_state")));
      }
      st.keyword_tensors = c.keyword_tensors;
      st.keyword_loc = c.keyword_tensors_loc.known() ? c.keyword_tensors_loc : c.call.loc;
      if (c.context_fn) st.context_fn = c.context_fn_loc;
      if (c.debug && *c.debug) st.debug = c.call.loc;
      if (c.early_stop) st.early_stop = c.early_stop_loc.known() ? c.early_stop_loc : c.call.loc;
      if (c.determinism_check) st.determinism_check = std::make_pair(*c.determinism_check, c.determinism_check_loc);
      if (c.in_save_on_cpu) st.save_on_cpu = c.save_on_cpu_loc;
      s_.sites.push_back(std::move(st));
    }
    bool quantized = p_.quant_bits && p_.quant_bits->value > 0;
    for (const auto& g : code_->gc_enables) {
      CheckpointSite st = model_site(CheckpointSite::Kind::HfEnable, "gradient_checkpointing_enable", g.call,
                                     g.has_kwargs, g.empty_kwargs, g.use_reentrant, g.use_reentrant_loc,
                                     g.preserve_rng_state, g.preserve_rng_state_loc);
      st.via = g.via;
      if (!st.use_reentrant.known() && st.stated_by.empty()) {
        bool torch_default = false;
        const DefaultRow* r = hf_no_kwargs_row(torch_default);
        st.use_reentrant.set(row_bool(*r), row_origin(*r));
        if (torch_default) st.use_reentrant.because(row_origin(row("torch.use_reentrant")));
        st.use_reentrant.because(derived(
            g.via.empty() ? std::string("gradient_checkpointing_enable() without gradient_checkpointing_kwargs")
                          : g.via + ": the model's post_init calls gradient_checkpointing_enable() without arguments",
            g.call.loc));
        st.stated_by = torch_default ? "torch" : "stack";
      }
      // get_peft_model before it in the same function: PEFT installed no hook (GC204); after
      // it: PEFT installs one on an unquantized model (peft.wrap.hook).
      for (const auto& w : code_->peft_wraps) {
        if (w.scope != g.call.scope || !may_run_together(w, g.call)) continue;
        // The same model: enabled on what get_peft_model wrapped or returned.
        bool same = g.call.subject.empty() || (w.subject.empty() && w.bound.empty()) ||
                    same_object(g.call.subject, w.subject) || same_object(g.call.subject, w.bound);
        if (!same) continue;
        if (w.order >= 0 && w.order < g.call.order) {
          st.after_peft_wrap = true;
          st.wrap_loc = w.loc;
        } else if (w.order > g.call.order && !quantized) {
          st.hook_in_scope = true;
          wrap_hook_ = &w;
        }
      }
      for (const auto& h : code_->input_hooks)
        if (h.scope == g.call.scope || h.scope.empty()) st.hook_in_scope = true;
      for (const auto& k : code_->kbit_prepares)
        if (k.call.scope == g.call.scope && kbit_hook(k)) st.hook_in_scope = true;
      s_.sites.push_back(std::move(st));
    }
    for (const auto& k : code_->kbit_prepares) {
      if (!k.use_gradient_checkpointing.value_or(true)) continue;
      CheckpointSite st = model_site(CheckpointSite::Kind::KbitPrepare, "prepare_model_for_kbit_training", k.call,
                                     k.has_kwargs, false, k.use_reentrant, k.use_reentrant_loc,
                                     k.preserve_rng_state, k.preserve_rng_state_loc);
      if (!st.use_reentrant.known() && st.stated_by.empty()) {
        st.use_reentrant.set(true, row_origin(row("torch.use_reentrant")));
        st.use_reentrant.because(row_origin(row("peft.kbit.empty_kwargs")));
        st.use_reentrant.because(derived("prepare_model_for_kbit_training(...) without gradient_checkpointing_kwargs", k.call.loc));
        st.stated_by = "torch";
      }
      st.hook_in_scope = kbit_hook(k);
      s_.sites.push_back(std::move(st));
    }
    // C++: the recompute Functions and their calls.
    std::map<std::string, size_t> fn_index;
    for (const auto& f : code_->recompute_functions) {
      if (!f.forward_no_grad || !f.backward_recomputes) continue;
      CheckpointSite st;
      st.kind = CheckpointSite::Kind::CxxFunction;
      st.loc = f.loc;
      st.api = f.name;
      st.use_reentrant.set(true, derived(fmt::format("{} runs its forward without grad and again in backward: "
                                                     "the reentrant algorithm", f.name), f.loc));
      st.stated_by = "user";
      if (f.saves_rng) st.preserve_rng_state.set(true, derived(fmt::format("{} saves and restores the RNG state", f.name), f.loc));
      else st.preserve_rng_state.set(false, derived(fmt::format("{} does not save and restore the RNG state", f.name), f.loc));
      st.dropout_inside = f.dropout_inside;
      st.dropout_loc = f.dropout_loc;
      st.mutates_state = f.mutates_state;
      st.mutation_loc = f.mutation_loc;
      st.nested = f.nested;
      st.nested_loc = f.nested_loc;
      fn_index[f.name] = s_.sites.size();
      s_.sites.push_back(std::move(st));
    }
    for (const auto& c : code_->recompute_calls) {
      auto it = fn_index.find(c.function);
      if (it == fn_index.end()) continue;
      CheckpointSite st;
      st.kind = CheckpointSite::Kind::CxxCall;
      st.loc = c.call.loc;
      st.api = c.function;
      st.scope = c.call.scope;
      st.order = c.call.order;
      st.use_reentrant = s_.sites[it->second].use_reentrant;
      st.stated_by = "user";
      st.preserve_rng_state = s_.sites[it->second].preserve_rng_state;
      st.inputs_frozen = c.inputs_frozen;
      st.frozen_source = c.frozen_source_loc;
      s_.sites.push_back(std::move(st));
    }
  }

  // Scripts that train several models (a diffusion UNet with adapters and a frozen text encoder):
  // the input-freezing that matters is the checkpointed model's. Only when every enabling call
  // names its model and no Trainer enables checkpointing.
  void relate_models() {
    if (!py_ || trainer_gc_ || code_->gc_enables.empty() || !s_.frozen_embeddings.is(true)) return;
    std::vector<const GcEnableFact*> gcs;
    for (const auto& g : code_->gc_enables) {
      if (g.call.subject.empty()) return;
      gcs.push_back(&g);
    }
    if (!code_->kbit_prepares.empty()) return;
    // Every checkpointed model frozen as a whole: nothing inside its layers trains.
    const FreezeFact* whole = nullptr;
    bool all_whole = true;
    for (const auto* g : gcs) {
      const FreezeFact* hit = nullptr;
      for (const auto& z : code_->freezes)
        if (z.target == g->call.subject && z.scope == g->call.scope) hit = &z;
      if (!hit) all_whole = false;
      else whole = hit;
    }
    if (all_whole && whole) {
      s_.frozen_embeddings.set(false, derived(fmt::format("`{}` is frozen as a whole: nothing inside "
                                                          "its checkpointed layers needs a gradient",
                                                          whole->target), whole->loc));
      return;
    }
    // Adapters on other models than the checkpointed ones.
    if (s_.adapter.is(Adapter::None) || code_->peft_wraps.empty()) return;
    for (const auto& w : code_->peft_wraps) {
      if (w.subject.empty() && w.bound.empty()) return;
      for (const auto* g : gcs)
        if (same_object(g->call.subject, w.subject) || same_object(g->call.subject, w.bound)) return;
    }
    bool emb = false;
    for (const auto& z : code_->freezes) emb |= z.embeddings;
    if (emb) return;
    s_.frozen_embeddings.set(false, derived(fmt::format("the adapters wrap `{}`; checkpointing is enabled on `{}`",
                                                        code_->peft_wraps.front().subject,
                                                        gcs.front()->call.subject),
                                            gcs.front()->call.loc));
  }

  // use_reentrant for code: the Trainer's arguments when they enable checkpointing, else the
  // last model-level enabling call, else the checkpoint calls (a reentrant one first). Returns
  // false when nothing in the code checkpoints.
  bool code_reentrant() {
    if (p_.format == Format::Cpp) {
      for (size_t i = 0; i < s_.sites.size(); ++i) {
        if (s_.sites[i].kind != CheckpointSite::Kind::CxxFunction) continue;
        decide(true, s_.sites[i].use_reentrant.why.front(), Decider::User);
        s_.reentrant_site = static_cast<int>(i);
        return true;
      }
      return false;
    }
    if (!code_->unsloth_gc.empty()) {
      decide(true, row_origin(row("unsloth.use_reentrant"), Origin::Kind::Override), Decider::Stack);
      s_.use_reentrant.because(derived("use_gradient_checkpointing=\"unsloth\"", code_->unsloth_gc.front().loc));
      return true;
    }
    int model_site = -1, call_site = -1;
    for (size_t i = 0; i < s_.sites.size(); ++i) {
      const auto& st = s_.sites[i];
      bool model = st.kind == CheckpointSite::Kind::HfEnable || st.kind == CheckpointSite::Kind::KbitPrepare;
      if (model) {
        if (model_site < 0 || s_.sites[model_site].loc.span.begin.line < st.loc.span.begin.line)
          model_site = static_cast<int>(i);
      } else if (call_site < 0 || (st.use_reentrant.is(true) && !s_.sites[call_site].use_reentrant.is(true))) {
        call_site = static_cast<int>(i);
      }
    }
    if (trainer_gc_) {
      hf_trl_reentrant();
      // The Trainer calls gradient_checkpointing_enable again with its own kwargs.
      if (!code_->trainers.empty()) {
        for (const auto& st : s_.sites) {
          bool model = st.kind == CheckpointSite::Kind::HfEnable || st.kind == CheckpointSite::Kind::KbitPrepare;
          if (!model || !st.has_kwargs) continue;
          s_.trainer_overrides_gc.set(true, derived(fmt::format("{}(...) passes gradient_checkpointing_kwargs", st.api), st.loc));
          s_.trainer_overrides_gc.because(s_.hf_gc.why.front());
          s_.gc_enable_loc = st.loc;
        }
      }
      return true;
    }
    int pick = model_site >= 0 ? model_site : call_site;
    if (pick < 0) return false;
    const CheckpointSite& st = s_.sites[pick];
    s_.use_reentrant = st.use_reentrant;
    decider_ = st.stated_by == "user" ? Decider::User : st.stated_by == "stack" ? Decider::Stack : Decider::Torch;
    s_.reentrant_site = pick;
    if (model_site >= 0 && trl_) {
      bool sft = !s_.trainer.known() || *s_.trainer == "sft";
      trl_force(sft ? "trl.force_reentrant.sft" : "trl.force_reentrant.other");
    }
    return true;
  }

  // The input-require-grads hook in code: enable_input_require_grads(), PEFT's kbit hook, the
  // hook get_peft_model installs on a model with checkpointing already on, TRL's trainers.
  void code_input_hook() {
    bool adapters = !s_.adapter.is(Adapter::None);
    if (!code_->input_hooks.empty()) {
      s_.input_hook.set(true, derived("the script installs an input-require-grads hook",
                                      code_->input_hooks.front().loc));
      return;
    }
    for (const auto& k : code_->kbit_prepares) {
      if (!kbit_hook(k)) continue;
      s_.input_hook.set(true, row_origin(row("peft.kbit.hook")));
      s_.input_hook.because(derived("prepare_model_for_kbit_training(...)", k.call.loc));
      return;
    }
    if (p_.unsloth_gc && p_.unsloth_gc->value != "False") {
      s_.input_hook.set(true, row_origin(row("unsloth.input_hook")));
      s_.input_hook.because(key_origin(*p_.unsloth_gc));
      return;
    }
    if (wrap_hook_) {
      s_.input_hook.set(true, row_origin(row("peft.wrap.hook")));
      s_.input_hook.because(derived("get_peft_model(...) after gradient_checkpointing_enable()", wrap_hook_->loc));
      return;
    }
    if (trl_ && adapters && s_.checkpointing.is(true) && !code_->trainers.empty() && trainer_gc_) {
      s_.input_hook.set(true, row_origin(row("trl.input_hook")));
      return;
    }
    s_.input_hook.set(false, derived("no input-require-grads hook is installed"));
  }

  void code_misc() {
    if (!code_) return;
    auto first = [&](Eff<bool>& e, const std::vector<CodeCall>& calls, const char* what) {
      if (!calls.empty()) e.set(true, derived(what, calls.front().loc));
      else e.set(false, derived(fmt::format("no {}", what)));
    };
    first(s_.nonscalar_backward, code_->nonscalar_backward, "non-scalar backward(gradient=...)");
    first(s_.autograd_grad, code_->autograd_grad, "torch.autograd.grad(...) / backward(inputs=...)");
    first(s_.unsloth_gc, code_->unsloth_gc, "use_gradient_checkpointing=\"unsloth\"");
    if (s_.unsloth_gc.is(true) && p_.unsloth_gc && p_.unsloth_gc->value == "unsloth")
      s_.unsloth_gc.set(true, key_origin(*p_.unsloth_gc));
    bool kw = false;
    for (const auto& st : s_.sites)
      if (st.keyword_tensors && !kw) {
        kw = true;
        s_.keyword_tensors.set(true, derived("tensors reach a checkpointed function by keyword or in a container", st.keyword_loc));
      }
    if (!kw) s_.keyword_tensors.set(false, derived("no tensors by keyword"));
    bool late = false;
    for (const auto& st : s_.sites)
      if (st.after_peft_wrap && !st.hook_in_scope && !late) {
        late = true;
        s_.gc_after_peft_wrap.set(true, derived("gradient_checkpointing_enable() after get_peft_model(...)", st.loc));
        s_.gc_after_peft_wrap.because(derived("get_peft_model(...)", st.wrap_loc));
      }
    // The Trainer enables checkpointing on a model the script wrapped before (not quantized:
    // prepare_model_for_kbit_training's hook; not TRL: its trainers install the hook).
    bool quantized = p_.quant_bits && p_.quant_bits->value > 0;
    if (!late && trainer_gc_ && !code_->peft_wraps.empty() && !quantized && !wrap_hook_ &&
        !s_.input_hook.is(true) && !s_.hf_gc.why.empty() && s_.hf_gc.why.front().kind == Origin::Kind::Key) {
      late = true;
      s_.gc_after_peft_wrap.set(true, s_.hf_gc.why.front());
      s_.gc_after_peft_wrap.because(derived("get_peft_model(...) wraps the model before the Trainer enables checkpointing",
                                            code_->peft_wraps.front().loc));
    }
    if (!late) s_.gc_after_peft_wrap.set(false, derived("checkpointing is not enabled after get_peft_model"));
    if (!s_.trainer_overrides_gc.known()) s_.trainer_overrides_gc.set(false, derived("no Trainer re-enables checkpointing"));
    if (!code_->compiles.empty() && !s_.torch_compile.is(true))
      s_.torch_compile.set(true, derived("torch.compile(...)", code_->compiles.front().loc));
    if (!code_->ddps.empty()) {
      const DdpFact& d = code_->ddps.front();
      if (d.find_unused_parameters) {
        s_.find_unused_parameters.set(*d.find_unused_parameters,
                                      code_key(d.find_unused_loc, "find_unused_parameters",
                                               *d.find_unused_parameters ? "True" : "False"));
      } else if (!p_.ddp_find_unused_parameters) {
        s_.find_unused_parameters.set(false, row_origin(row("torch.ddp.find_unused")));
        s_.find_unused_parameters.because(derived("DistributedDataParallel(...)", d.call.loc));
      }
      s_.ddp.set(true, derived("the script wraps the model in DistributedDataParallel", d.call.loc));
    }
  }

  // Axolotl reads model_config_type from the model's config.json; the YAML names the model.
  const Opt<std::string>* gemma4() const {
    if (p_.model_type) {
      std::string t = lower(p_.model_type->value);
      if (t == "gemma4" || t == "gemma4_unified") return &p_.model_type;
      return nullptr;
    }
    if (p_.model_name) {
      std::string n = lower(p_.model_name->value);
      if (contains(n, "gemma-4") || contains(n, "gemma4")) return &p_.model_name;
    }
    return nullptr;
  }

  // Sets use_reentrant and who decided it.
  void decide(bool v, Origin o, Decider d) {
    s_.use_reentrant.set(v, std::move(o));
    decider_ = d;
  }

  // What gradient_checkpointing_enable() without kwargs passes, by transformers version;
  // torch_default: it passes nothing about use_reentrant, so torch's own default applies.
  const DefaultRow* hf_no_kwargs_row(bool& torch_default) {
    const DefaultRow* r = pick_row(sc_, {"hf.use_reentrant.model_code", "hf.use_reentrant.empty",
                                         "hf.use_reentrant.true", "hf.use_reentrant.false"});
    torch_default = r->id == std::string_view("hf.use_reentrant.model_code") ||
                    r->id == std::string_view("hf.use_reentrant.empty");
    return r;
  }

  // The transformers/torch ladder when nothing above it decides (HF GC on).
  void transformers_ladder(const char* why_no_key) {
    if (p_.gc_kwargs) {
      // A kwargs dict without use_reentrant reaches torch as is: torch's default applies.
      decide(true, row_origin(row("torch.use_reentrant")), Decider::Torch);
      s_.use_reentrant.because(derived(fmt::format(
          "{} is given without use_reentrant and is passed on unchanged", p_.gc_kwargs->key),
          p_.gc_kwargs->key_loc));
      return;
    }
    bool torch_default = false;
    const DefaultRow* r = hf_no_kwargs_row(torch_default);
    decide(row_bool(*r), row_origin(*r), torch_default ? Decider::Torch : Decider::Stack);
    if (torch_default) s_.use_reentrant.because(row_origin(row("torch.use_reentrant")));
    s_.use_reentrant.because(derived(why_no_key));
  }

  void reentrant() {
    if (code_ && code_reentrant()) {
      finish_reentrant();
      return;
    }
    // Non-HF mechanisms fix the value themselves.
    if (!hf_gc_ && !lf_gc_) {
      if (*s_.fsdp && s_.fsdp_ac.is(true)) {
        decide(false, row_origin(row("accelerate.fsdp_ac.use_reentrant")), Decider::Stack);
      } else if (p_.format == Format::Torchtune && s_.checkpointing.is(true)) {
        decide(false, row_origin(row("torchtune.use_reentrant")), Decider::Stack);
      } else if (offload_wrapper_) {
        const DefaultRow* r = pick_row(sc_, {"torch.checkpoint_wrapper.reentrant",
                                             "torch.checkpoint_wrapper.no_reentrant"});
        decide(r->value == std::string_view("REENTRANT"), row_origin(*r), Decider::Stack);
      } else {
        s_.use_reentrant.why.push_back(derived("checkpointing is off"));
      }
      s_.use_reentrant_stated.set(true, derived("fixed by the checkpointing mechanism"));
      return;
    }
    switch (p_.format) {
      case Format::Axolotl: axolotl_reentrant(); break;
      case Format::HfTrl: hf_trl_reentrant(); break;
      case Format::LlamaFactory: lf_reentrant(); break;
      case Format::LlamaFactoryV1:
        decide(false, row_origin(row("lfv1.use_reentrant")), Decider::Stack);
        break;
      default:
        transformers_ladder("use_reentrant is not set");
        break;
    }
    finish_reentrant();
  }

  // Who decided, for GC105 (nobody: torch's default) and GC403 (a stack injected true).
  void finish_reentrant() {
    std::string who = decider_ == Decider::User ? "user" : decider_ == Decider::Stack ? "stack" : "torch";
    s_.use_reentrant_stated.set(decider_ == Decider::User, derived(who));
    stated_by_ = who;
  }

  void axolotl_reentrant() {
    bool rl = s_.rl.is(true);
    if (const auto* g = gemma4()) {
      decide(false, row_origin(row("axolotl.use_reentrant.gemma4"), Origin::Kind::Override), Decider::Stack);
      s_.use_reentrant.because(key_origin(**g));
    } else if (p_.use_reentrant) {
      decide(p_.use_reentrant->value, key_origin(*p_.use_reentrant), Decider::User);
    } else if (p_.gc_kwargs) {
      decide(true, row_origin(row("torch.use_reentrant")), Decider::Torch);
      s_.use_reentrant.because(derived(
          "gradient_checkpointing_kwargs is given without use_reentrant: Axolotl passes it "
          "through unchanged (normalize_config only fills it in when the key is absent)",
          p_.gc_kwargs->key_loc));
    } else if (hidden_states_) {
      decide(false, row_origin(row("axolotl.use_reentrant.hidden_states")), Decider::Stack);
    } else if ((p_.unfrozen_parameters && !p_.unfrozen_parameters->value.empty()) || rl) {
      decide(false, row_origin(row("axolotl.use_reentrant.builder")), Decider::Stack);
      s_.use_reentrant.because(rl ? key_origin(*p_.trainer) : key_origin(*p_.unfrozen_parameters));
    } else {
      decide(true, row_origin(row("axolotl.use_reentrant.injected")), Decider::Stack);
    }
    // EBFT strided + flex_attention: Axolotl's validator writes use_reentrant: true (before
    // normalize_config, whose Gemma-4 rule still wins).
    bool ebft = rl && s_.trainer.is("ebft") && p_.ebft_mode && lower(p_.ebft_mode->value) == "strided" &&
                p_.attn_implementation && lower(p_.attn_implementation->value) == "flex_attention";
    if (ebft && !gemma4() && !s_.use_reentrant.is(true)) {
      if (decider_ == Decider::User) overridden_ = s_.use_reentrant.why.front();
      decide(true, row_origin(row("axolotl.use_reentrant.ebft"), Origin::Kind::Override), Decider::Stack);
      s_.use_reentrant.because(key_origin(*p_.ebft_mode));
      s_.use_reentrant.because(key_origin(*p_.attn_implementation));
    }
    // Axolotl's RL trainers are TRL's: TRL forces reentrant for PEFT + ZeRO-3.
    if (rl) trl_force("trl.force_reentrant.other");
  }

  void hf_trl_reentrant() {
    if (p_.use_reentrant) {
      decide(p_.use_reentrant->value, key_origin(*p_.use_reentrant), Decider::User);
    } else if (trl_ && row_applies(row("trl.use_reentrant"), sc_)) {
      decide(false, row_origin(row("trl.use_reentrant")), Decider::Stack);
    } else {
      transformers_ladder("gradient_checkpointing_kwargs.use_reentrant is not set");
    }
    if (trl_) {
      bool sft = !s_.trainer.known() || *s_.trainer == "sft";
      trl_force(sft ? "trl.force_reentrant.sft" : "trl.force_reentrant.other");
    }
  }

  void trl_force(const char* row_id) {
    if (s_.adapter.is(Adapter::None) || !s_.zero_stage.is(3)) return;
    const DefaultRow& r = row(row_id);
    if (!row_applies(r, sc_)) return;
    bool was = s_.use_reentrant.is(true);
    Origin user = s_.use_reentrant.why.empty() ? derived("") : s_.use_reentrant.why.front();
    bool user_false = decider_ == Decider::User && !was;
    decide(true, row_origin(r, Origin::Kind::Override), Decider::Stack);
    s_.use_reentrant.because(s_.adapter.why.front());
    s_.use_reentrant.because(s_.zero_stage.why.front());
    if (user_false) {
      overridden_ = user;
      s_.use_reentrant.because(derived("overrides " + user.describe()));
    }
  }

  void lf_reentrant() {
    bool fsdp2 = *s_.fsdp && s_.fsdp_version.is(2);
    if (hf_gc_) {
      // gradient_checkpointing: true → Trainer calls LF's patched method with the HF kwargs.
      if (p_.use_reentrant) {
        decide(p_.use_reentrant->value, key_origin(*p_.use_reentrant), Decider::User);
      } else {
        decide(true, row_origin(row("lf.hf_gc.reenable"), Origin::Kind::Override), Decider::Stack);
        s_.use_reentrant.because(key_origin(*p_.gradient_checkpointing));
        if (p_.use_reentrant_gc) {
          overridden_ = key_origin(*p_.use_reentrant_gc);
          s_.use_reentrant.because(derived("overrides " + overridden_->describe()));
        }
      }
      return;
    }
    if (fsdp2) {
      decide(false, row_origin(row("lf.use_reentrant_gc.fsdp2"), Origin::Kind::Override), Decider::Stack);
      s_.use_reentrant.because(s_.fsdp_version.why.front());
    } else if (p_.use_reentrant_gc) {
      decide(p_.use_reentrant_gc->value, key_origin(*p_.use_reentrant_gc), Decider::User);
    } else {
      decide(true, row_origin(row("lf.use_reentrant_gc")), Decider::Stack);
    }
  }

  // ---- RNG and dropout ----------------------------------------------------------------------
  void rng_and_dropout() {
    bool preserve = true;
    Origin o = row_origin(row("torch.preserve_rng_state"));
    if (p_.preserve_rng_state && (hf_gc_ || lf_gc_)) {
      preserve = p_.preserve_rng_state->value;
      o = key_origin(*p_.preserve_rng_state);
    }
    if (*s_.fsdp && s_.fsdp_ac.is(true) && s_.fsdp_version.is(2)) {
      const DefaultRow* r = pick_row(sc_, {"accelerate.fsdp2_ac.preserve_rng_state",
                                           "accelerate.fsdp2_ac.preserve_rng_state.old"});
      if (r) {
        preserve = row_bool(*r);
        o = row_origin(*r);
        o.loc = s_.fsdp_version.why.front().loc;
      }
    }
    if (p_.format == Format::Torchtune && s_.checkpointing.is(true)) {
      if (tt_ac_mode_) {
        preserve = false;
        o = row_origin(row("torchtune.preserve_rng_state.ac_mode"));
        o.loc = p_.ac_mode->key_loc;
      } else {
        o = row_origin(row("torchtune.preserve_rng_state"));
      }
    }
    if (s_.reentrant_site >= 0) s_.preserve_rng_state = s_.sites[s_.reentrant_site].preserve_rng_state;
    else if (s_.checkpointing.is(true)) s_.preserve_rng_state.set(preserve, o);
    else s_.preserve_rng_state.set(true, derived("checkpointing is off"));

    // The largest dropout inside the checkpointed blocks.
    double d = 0;
    Origin dorig = derived("no dropout is set, and the model's own config is not read (Llama-style "
                           "models default to 0)");
    auto consider = [&](const Opt<double>& f) {
      if (f && f->value > d) {
        d = f->value;
        dorig = key_origin(*f);
      }
    };
    if (!s_.adapter.is(Adapter::None)) {
      if (p_.lora_dropout) {
        consider(p_.lora_dropout);
      } else if (py_) {
        dorig = row_origin(row("peft.lora_dropout"));
      } else if (trl_) {
        d = 0.05;
        dorig = row_origin(row("trl.lora_dropout"));
      } else if (p_.format == Format::Axolotl) {
        dorig = row_origin(row("axolotl.lora_dropout"));
      } else if (p_.format == Format::LlamaFactory) {
        dorig = row_origin(row("lf.lora_dropout"));
      }
    }
    consider(p_.attention_dropout);
    consider(p_.hidden_dropout);
    // The model's own dropout, when the files do not set it and its config class has one.
    if (!p_.attention_dropout && !p_.hidden_dropout && p_.model_name &&
        classic_dropout_model(p_.model_name->value) && d < 0.1) {
      d = 0.1;
      dorig = row_origin(row("transformers.model_dropout"));
    }
    bool keep_dropout = false;  // a TRL trainer whose disable_dropout defaults to False
    if (trl_ && d > 0) {
      bool dpo = s_.trainer.is("dpo");
      bool disable = false;
      Origin why;
      if (p_.disable_dropout) {
        disable = p_.disable_dropout->value;
        why = key_origin(*p_.disable_dropout);
      } else if (dpo) {
        disable = true;
        why = row_origin(row("trl.disable_dropout.dpo"));
      } else {
        keep_dropout = true;
      }
      if (disable) {
        d = 0;
        dorig = why;
      }
    }
    s_.dropout.set(d, dorig);
    if (dorig.row == &row("transformers.model_dropout"))
      s_.dropout.because(derived(fmt::format("the model is {}", p_.model_name->value), p_.model_name->loc));
    if (keep_dropout) s_.dropout.because(row_origin(row("trl.disable_dropout.other")));
  }

  // ---- input-require-grads hook ---------------------------------------------------------------
  void input_hook() {
    bool hook = false;
    Origin o = derived("no input-require-grads hook is installed");
    bool adapters = !s_.adapter.is(Adapter::None);
    switch (p_.format) {
      case Format::Axolotl:
        if (adapters) {
          hook = true;
          o = row_origin(row("axolotl.input_hook.adapter"));
        }
        break;
      case Format::HfTrl:
        if (trl_ && adapters && s_.checkpointing.is(true)) {
          hook = true;
          o = row_origin(row("trl.input_hook"));
        }
        break;
      case Format::LlamaFactory:
        if (lf_gc_) {
          hook = true;
          o = row_origin(row("lf.input_hook"));
        }
        break;
      case Format::Python:
        code_input_hook();
        return;
      default:
        break;
    }
    s_.input_hook.set(hook, o);
  }

  // ---- DDP find_unused_parameters ----------------------------------------------------------------
  void find_unused() {
    if (p_.ddp_find_unused_parameters) {
      s_.find_unused_parameters.set(p_.ddp_find_unused_parameters->value,
                                    key_origin(*p_.ddp_find_unused_parameters));
      return;
    }
    bool adapters = !s_.adapter.is(Adapter::None);
    switch (p_.format) {
      case Format::Axolotl:
        if (gemma4()) s_.find_unused_parameters.set(true, row_origin(row("axolotl.ddp_find_unused.gemma4")));
        else s_.find_unused_parameters.set(false, row_origin(row("axolotl.ddp_find_unused")));
        return;
      case Format::LlamaFactory:
        if (adapters) {
          s_.find_unused_parameters.set(false, row_origin(row("lf.ddp_find_unused.lora")));
          return;
        }
        break;
      case Format::HfTrl:
      case Format::LlamaFactoryV1:
        break;
      case Format::Python:
        if (!code_->trainers.empty()) break;
        s_.find_unused_parameters.set(false, derived("no HF Trainer in the script"));
        return;
      default:
        s_.find_unused_parameters.set(false, derived("not an HF Trainer run"));
        return;
    }
    if (adapters) {
      s_.find_unused_parameters.set(true, row_origin(row("hf.ddp_find_unused.peft")));
      s_.find_unused_parameters.because(s_.adapter.why.front());
    } else if (hf_gc_ || lf_gc_) {
      s_.find_unused_parameters.set(false, row_origin(row("hf.ddp_find_unused.gc")));
    } else {
      s_.find_unused_parameters.set(true, row_origin(row("hf.ddp_find_unused.plain")));
    }
  }

  void misc() {
    if (p_.use_cache) s_.use_cache.set(p_.use_cache->value, key_origin(*p_.use_cache));
    else if (p_.format == Format::LlamaFactory && lf_gc_)
      s_.use_cache.set(false, row_origin(row("lf.use_cache")));
    else s_.use_cache.why.push_back(derived("use_cache is left to the model config"));
    if (p_.torch_compile) s_.torch_compile.set(p_.torch_compile->value, key_origin(*p_.torch_compile));
    else if (la_ && la_->torch_compile) s_.torch_compile.set(la_->torch_compile->value, key_origin(*la_->torch_compile));
    else s_.torch_compile.set(false, derived("no compile setting"));
    // Offloaders that patch the reentrant CheckpointFunction.
    bool patch = false;
    Origin po = derived("no CheckpointFunction-patching offloader");
    if (hidden_states_ && s_.use_reentrant.is(true)) {
      patch = true;  // Axolotl's ALST path: only taken with use_reentrant: true
      po = key_origin(*p_.activation_offloading);
    }
    s_.offload_patches_reentrant.set(patch, po);
    if (!s_.activation_offload.known()) {
      bool tt = p_.enable_activation_offloading && p_.enable_activation_offloading->value;
      if (tt) s_.activation_offload.set(true, key_origin(*p_.enable_activation_offloading));
      else if (p_.activation_offloading && lower(p_.activation_offloading->value) != "false")
        s_.activation_offload.set(true, key_origin(*p_.activation_offloading));
      else s_.activation_offload.set(false, derived("no activation offloading"));
    }
    s_.stated_by = stated_by_;
    if (overridden_) s_.overridden = *overridden_;
  }

  const Inputs& in_;
  const Facts& p_;
  const Facts* ds_ = nullptr;
  const Facts* la_ = nullptr;
  Scenario& sc_;
  Setup s_;
  bool trl_ = false;
  bool py_ = false;
  const CodeFacts* code_ = nullptr;
  bool trainer_gc_ = false;             // code: TrainingArguments enable checkpointing
  const CodeCall* wrap_hook_ = nullptr; // code: get_peft_model after enabling installs the hook
  bool hf_gc_ = false;
  bool lf_gc_ = false;
  bool offload_wrapper_ = false;
  bool hidden_states_ = false;
  bool tt_ac_mode_ = false;
  Decider decider_ = Decider::Torch;
  std::string stated_by_;
  std::optional<Origin> overridden_;
};

}  // namespace

Setup resolve(const Inputs& in, Scenario& sc) { return Resolver(in, sc).run(); }

}  // namespace gcheck
