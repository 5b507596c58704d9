// transformers, TRL and accelerate calls: TrainingArguments / Seq2SeqTrainingArguments and the
// TRL configs (into the ordinary Facts fields), the trainers, gradient_checkpointing_enable,
// from_pretrained, quantization configs, model.config.use_cache, HfArgumentParser / TrlParser,
// accelerate's DistributedDataParallelKwargs.
#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include "analyzer/project.h"
#include "analyzer/python/extractor.h"

namespace gcheck::py {

namespace {

struct TrlClass {
  std::string_view config, trainer, kind;
};
constexpr TrlClass kTrl[] = {
    {"SFTConfig", "SFTTrainer", "sft"},
    {"DPOConfig", "DPOTrainer", "dpo"},
    {"GRPOConfig", "GRPOTrainer", "grpo"},
    {"KTOConfig", "KTOTrainer", "kto"},
    {"ORPOConfig", "ORPOTrainer", "orpo"},
    {"RewardConfig", "RewardTrainer", "reward"},
    {"PPOConfig", "PPOTrainer", "ppo"},
    {"RLOOConfig", "RLOOTrainer", "rloo"},
    {"CPOConfig", "CPOTrainer", "cpo"},
    {"GKDConfig", "GKDTrainer", "gkd"},
    {"OnlineDPOConfig", "OnlineDPOTrainer", "online_dpo"},
    {"BCOConfig", "BCOTrainer", "bco"},
    {"XPOConfig", "XPOTrainer", "xpo"},
    {"NashMDConfig", "NashMDTrainer", "nash_md"},
    {"IterativeSFTConfig", "IterativeSFTTrainer", "sft"},
};

// A JSON string (TrainingArguments accepts gradient_checkpointing_kwargs as one) as a Value
// located at the string.
Value from_json(const nlohmann::json& j, TSNode at) {
  Value v;
  v.node = at;
  if (j.is_boolean()) {
    v.kind = Value::Kind::Bool;
    v.b = j.get<bool>();
  } else if (j.is_number_integer()) {
    v.kind = Value::Kind::Int;
    v.i = j.get<int64_t>();
  } else if (j.is_number()) {
    v.kind = Value::Kind::Float;
    v.d = j.get<double>();
  } else if (j.is_string()) {
    v.kind = Value::Kind::Str;
    v.s = j.get<std::string>();
  } else if (j.is_null()) {
    v.kind = Value::Kind::None;
  } else if (j.is_object()) {
    v.kind = Value::Kind::Dict;
    for (const auto& [k, e] : j.items()) {
      Value key;
      key.kind = Value::Kind::Str;
      key.s = k;
      key.node = at;
      v.keys.push_back(key);
      v.key_nodes.push_back(at);
      v.items.push_back(from_json(e, at));
    }
  } else {
    v.why = "a JSON value gcheck cannot read here";
  }
  return v;
}

// load_in_4bit=True / load_in_8bit=True: the bits they mean.
struct LoadIn {
  ReadKeyword kw;
  int64_t bits;
};
constexpr LoadIn kLoadIn[] = {{"load_in_4bit", 4}, {"load_in_8bit", 8}};

bool is_model_class(std::string_view recv) {
  if (recv.find("Tokenizer") != std::string_view::npos ||
      recv.find("Processor") != std::string_view::npos ||
      recv.find("Config") != std::string_view::npos ||
      recv.find("FeatureExtractor") != std::string_view::npos ||
      recv.find("PeftModel") != std::string_view::npos)
    return false;
  return recv.find("Model") != std::string_view::npos || recv.find("For") != std::string_view::npos;
}

}  // namespace

bool Extractor::hf_call(TSNode call, const Callee& c, const Args& a) {
  std::string_view root = root_of(c.qual);
  std::string_view last = last_of(c.qual);
  if (root == "transformers") {
    if (last == "TrainingArguments" || last == "Seq2SeqTrainingArguments") {
      training_args_call(call, c, a, last, false);
    } else if (last == "Trainer" || last == "Seq2SeqTrainer") {
      trainer_call(call, c, a, std::string(last), "", false);
    } else if (last == "BitsAndBytesConfig" || last == "GPTQConfig" || last == "AwqConfig") {
      quantization_call(call, a, last);
    } else if (last == "HfArgumentParser") {
      code_.arg_parsers.push_back(code_call(call, c));
    } else if (last == "check_min_version" || last == "require_version" ||
               last == "require_version_core") {
      version_call(call, c, a, last);
    } else {
      return false;
    }
    return true;
  }
  if (root == "trl") {
    for (const TrlClass& t : kTrl) {
      if (last == t.config) {
        training_args_call(call, c, a, last, true);
        return true;
      }
      if (last == t.trainer) {
        trainer_call(call, c, a, std::string(last), std::string(t.kind), true);
        return true;
      }
    }
    if (last == "ModelConfig") {
      // TRL's model arguments: use_peft, load_in_4bit/8bit, lora_dropout, ...
      Option o = option(a, "use_peft");
      if (o.found && o.value.kind == Value::Kind::Bool)
        sink_.put(f_.use_peft, fact(o.value.b, o.value.node, o.key, "use_peft"));
      else if (o.found)
        sink_.unknown(f_.use_peft, unreadable(o.value, o.key, "use_peft"));
      for (const auto& [kw, bits] : kLoadIn) {
        Option q = option(a, kw);
        if (q.found && q.value.is_bool(true))
          sink_.put(f_.quant_bits, fact(bits, q.value.node, q.key, std::string(kw.name())));
        else if (q.found && !q.value.known())
          sink_.unknown(f_.quant_bits, unreadable(q.value, q.key, std::string(kw.name())));
      }
      Option mn = option(a, "model_name_or_path");
      if (mn.found && mn.value.kind == Value::Kind::Str)
        sink_.put(f_.model_name, fact(mn.value.s, mn.value.node, mn.key, "model_name_or_path"));
      lora_options(a, nullptr);
      return true;
    }
    if (last == "TrlParser") {
      code_.arg_parsers.push_back(code_call(call, c));
      return true;
    }
    return false;
  }
  if (root == "unsloth") {
    if (last == "UnslothTrainingArguments") {
      training_args_call(call, c, a, last, false);
      return true;
    }
    if (last == "UnslothTrainer") {
      trainer_call(call, c, a, std::string(last), "sft", true);
      return true;
    }
    return false;
  }
  if (root == "accelerate" && last == "DistributedDataParallelKwargs") {
    ddp_call(call, c, a);
    return true;
  }
  return false;
}

void Extractor::gc_kwargs_value(const Value& in, TSNode key, std::string_view path) {
  Value v = in;
  if (v.kind == Value::Kind::None) return;  // None: the library's default
  if (v.kind == Value::Kind::Str) {
    auto j = nlohmann::json::parse(v.s, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      sink_.unknown(f_.gc_kwargs, Unreadable{loc(v.node), std::string(path),
                                             "a string that is not a JSON object"});
      return;
    }
    v = from_json(j, in.node);
  }
  if (!v.is_dict()) {
    sink_.unknown(f_.gc_kwargs, unreadable(v, key, std::string(path)));
    return;
  }
  bool non_empty = !v.keys.empty() || v.open;
  sink_.put(f_.gc_kwargs, fact(non_empty, v.node, key, std::string(path)));
  auto entry = [&](std::string_view name) -> std::pair<const Value*, TSNode> {
    TSNode kn{};
    const Value* e = v.get(name, &kn);
    return {e, kn};
  };
  std::string p(path);
  auto rd_bool = [&](std::string_view name, Opt<bool>& out) {
    auto [e, kn] = entry(name);
    if (!e) return;
    if (e->kind == Value::Kind::Bool)
      sink_.put(out, fact(e->b, e->node, kn, p + "." + std::string(name)));
    else
      sink_.unknown(out, unreadable(*e, kn, p + "." + std::string(name)));
  };
  rd_bool("use_reentrant", f_.use_reentrant);
  rd_bool("preserve_rng_state", f_.preserve_rng_state);
  rd_bool("debug", f_.debug);
  rd_bool("early_stop", f_.early_stop);
  rd_bool("offload", f_.offload);
  if (auto [e, kn] = entry("determinism_check"); e) {
    if (e->kind == Value::Kind::Str)
      sink_.put(f_.determinism_check, fact(e->s, e->node, kn, p + ".determinism_check"));
    else
      sink_.unknown(f_.determinism_check, unreadable(*e, kn, p + ".determinism_check"));
  }
  if (auto [e, kn] = entry("context_fn"); e && e->kind != Value::Kind::None) {
    std::string raw = ts_node_is_null(e->node) ? "context_fn" : short_text(m_, e->node);
    sink_.put(f_.context_fn, fact(raw, e->node, kn, p + ".context_fn"));
  }
  if (auto [e, kn] = entry("every_n_layers"); e) {
    if (e->kind == Value::Kind::Int)
      sink_.put(f_.every_n_layers, fact(e->i, e->node, kn, p + ".every_n_layers"));
    else
      sink_.unknown(f_.every_n_layers, unreadable(*e, kn, p + ".every_n_layers"));
  }
  if (v.open && !v.get("use_reentrant")) {
    sink_.unknown(f_.use_reentrant,
                  Unreadable{loc(v.open_node), p + ".use_reentrant",
                             fmt::format("`{}` may set use_reentrant; what it holds is known only "
                                         "at run time",
                                         short_text(m_, v.open_node))});
  }
}

void Extractor::training_args_call(TSNode /*call*/, const Callee& c, const Args& a,
                                   std::string_view cls, bool trl) {
  if (!anchor_config_) anchor_config_ = loc(c.fn);
  if (trl) {
    sink_.put(f_.trl, fact(true, c.fn, c.fn, std::string(cls)));
    for (const TrlClass& t : kTrl)
      if (cls == t.config)
        sink_.put(f_.trainer, fact(std::string(t.kind), c.fn, c.fn, std::string(cls)));
  }
  auto rd_bool = [&](ReadKeyword kw, Opt<bool>& out) {
    Option o = option(a, kw);
    if (!o.found || o.value.kind == Value::Kind::None) return;
    if (o.value.kind == Value::Kind::Bool)
      sink_.put(out, fact(o.value.b, o.value.node, o.key, std::string(kw.name())));
    else
      sink_.unknown(out, unreadable(o.value, o.key, std::string(kw.name())));
  };
  rd_bool("gradient_checkpointing", f_.gradient_checkpointing);
  rd_bool("ddp_find_unused_parameters", f_.ddp_find_unused_parameters);
  rd_bool("ddp_static_graph", f_.ddp_static_graph);
  rd_bool("torch_compile", f_.torch_compile);
  rd_bool("use_cache", f_.use_cache);
  rd_bool("disable_dropout", f_.disable_dropout);
  if (Option o = option(a, "gradient_checkpointing_kwargs"); o.found) {
    gc_kwargs_value(o.value, o.key, "gradient_checkpointing_kwargs");
  }
  if (Option o = option(a, "deepspeed"); o.found && o.value.kind != Value::Kind::None) {
    if (o.value.kind == Value::Kind::Str) {
      sink_.put(f_.deepspeed_path, fact(o.value.s, o.value.node, o.key, "deepspeed"));
    } else if (o.value.is_dict()) {
      TSNode kn{};
      const Value* zo = o.value.get("zero_optimization", &kn);
      if (zo) {
        TSNode sk{};
        const Value* st = zo->get("stage", &sk);
        if (st && st->kind == Value::Kind::Int)
          sink_.put(f_.zero_stage, fact(st->i, st->node, sk, "deepspeed.zero_optimization.stage"));
        else if (st)
          sink_.unknown(f_.zero_stage, unreadable(*st, sk, "deepspeed.zero_optimization.stage"));
      }
      TSNode ak{};
      if (const Value* ac = o.value.get("activation_checkpointing", &ak)) {
        bool non_empty = ac->is_dict() ? !ac->keys.empty() : ac->known();
        sink_.put(f_.ds_activation_checkpointing,
                  fact(non_empty, ac->node, ak, "deepspeed.activation_checkpointing"));
      }
    } else {
      sink_.unknown(f_.deepspeed_path, unreadable(o.value, o.key, "deepspeed"));
    }
  }
  if (Option o = option(a, "fsdp"); o.found && o.value.kind != Value::Kind::None) {
    std::string joined;
    bool ok = o.value.kind == Value::Kind::Str;
    if (ok) joined = o.value.s;
    if (o.value.kind == Value::Kind::List || o.value.kind == Value::Kind::Tuple) {
      ok = true;
      for (const Value& e : o.value.items) {
        if (e.kind != Value::Kind::Str)
          ok = false;
        else
          joined += (joined.empty() ? "" : " ") + e.s;
      }
    }
    if (ok)
      sink_.put(f_.fsdp, fact(joined, o.value.node, o.key, "fsdp"));
    else
      sink_.unknown(f_.fsdp, unreadable(o.value, o.key, "fsdp"));
  }
  if (Option o = option(a, "fsdp_config"); o.found && o.value.kind != Value::Kind::None) {
    if (o.value.kind == Value::Kind::Str) {
      sink_.put(f_.fsdp_config_path, fact(o.value.s, o.value.node, o.key, "fsdp_config"));
    } else if (o.value.is_dict()) {
      for (std::string_view k : {"activation_checkpointing", "fsdp_activation_checkpointing"}) {
        TSNode kn{};
        if (const Value* e = o.value.get(k, &kn)) {
          if (e->kind == Value::Kind::Bool)
            sink_.put(f_.fsdp_ac, fact(e->b, e->node, kn, "fsdp_config." + std::string(k)));
          else
            sink_.unknown(f_.fsdp_ac, unreadable(*e, kn, "fsdp_config." + std::string(k)));
        }
      }
      for (std::string_view k : {"version", "fsdp_version"}) {
        TSNode kn{};
        if (const Value* e = o.value.get(k, &kn)) {
          if (e->kind == Value::Kind::Int)
            sink_.put(f_.fsdp_version, fact(e->i, e->node, kn, "fsdp_config." + std::string(k)));
        }
      }
    } else {
      sink_.unknown(f_.fsdp_ac, unreadable(o.value, o.key, "fsdp_config"));
    }
  }
  if (Option o = option(a, "model_init_kwargs"); o.found && o.value.is_dict()) {
    TSNode kn{};
    if (const Value* e = o.value.get("use_cache", &kn)) {
      if (e->kind == Value::Kind::Bool)
        sink_.put(f_.use_cache, fact(e->b, e->node, kn, "model_init_kwargs.use_cache"));
    }
  }
  if (TSNode s = opaque_splat(a); !ts_node_is_null(s)) {
    sink_.unreadable(
        Unreadable{loc(s), std::string(cls),
                   fmt::format("`{}` passes settings known only at run time; any of "
                               "gradient_checkpointing, gradient_checkpointing_kwargs, "
                               "ddp_find_unused_parameters, ... may come from it",
                               short_text(m_, s))});
  }
}

void Extractor::trainer_call(TSNode call, const Callee& c, const Args& a, std::string cls,
                             std::string kind, bool trl) {
  if (!anchor_trainer_) anchor_trainer_ = loc(c.fn);
  TrainerFact t;
  t.call = code_call(call, c);
  t.cls = cls;
  t.kind = kind;
  if (!kind.empty()) sink_.put(f_.trainer, fact(kind, c.fn, c.fn, cls));
  if (trl) sink_.put(f_.trl, fact(true, c.fn, c.fn, cls));
  if (Option o = option(a, "peft_config"); o.found && o.value.kind != Value::Kind::None) {
    // PEFT is on only where the config is one the file spells out: `peft_config=get_peft_config(
    // model_args)` may well be None at run time.
    TSNode expr = field(ts_node_parent(o.key), sym().f_value);
    if (auto ad = adapter_of(expr)) {
      sink_.put(f_.use_peft, fact(true, expr, o.key, "peft_config"));
      sink_.put(f_.adapter, fact(ad->first, ad->second, o.key, "peft_config"));
      f_.adapter->raw = short_text(m_, ad->second);
    } else {
      Unreadable u{loc(ts_node_is_null(expr) ? o.key : expr), "peft_config",
                   fmt::format("`{}` is known only at run time (it may be None, or any adapter)",
                               short_text(m_, expr))};
      sink_.unknown(f_.use_peft, u);
    }
  }
  if (Option o = option(a, "model"); o.found && o.value.kind == Value::Kind::Str) {
    sink_.put(f_.model_name, fact(o.value.s, o.value.node, o.key, "model"));
  }
  code_.trainers.push_back(std::move(t));
}

std::optional<std::pair<std::string, bool>> Extractor::local_trainer(TSNode cls,
                                                                     uint32_t depth) const {
  const Symbols& y = sym();
  if (depth > 8) return std::nullopt;
  TSNode bases = field(cls, y.f_superclasses);
  if (ts_node_is_null(bases)) return std::nullopt;
  int outer = scopes_.scope_of(cls);
  outer = outer >= 0 ? scopes_.at(outer).parent : Scopes::kModule;
  uint32_t n = ts_node_named_child_count(bases);
  for (uint32_t i = 0; i < n; ++i) {
    TSNode b = ts_node_named_child(bases, i);
    std::string q = scopes_.qualify(b, outer);
    std::string_view root = root_of(q), last = last_of(q);
    if (root == "transformers" && (last == "Trainer" || last == "Seq2SeqTrainer"))
      return std::pair{std::string(), false};
    if (root == "unsloth" && last == "UnslothTrainer") return std::pair{std::string("sft"), true};
    if (root == "trl") {
      for (const TrlClass& t : kTrl)
        if (last == t.trainer) return std::pair{std::string(t.kind), true};
    }
    if (q.empty() && is(b, y.identifier)) {
      Scopes::Found f = scopes_.lookup(m_.text(b), outer);
      if (f.bindings && f.bindings->size() == 1 && f.bindings->front().kind == Binding::Kind::Def &&
          is(f.bindings->front().value, y.class_definition)) {
        if (auto r = local_trainer(f.bindings->front().value, depth + 1)) return r;
      }
    }
  }
  return std::nullopt;
}

void Extractor::read_gc_kwargs(const Value& kwargs, std::optional<bool>& use_reentrant,
                               Location& use_reentrant_at, std::optional<bool>& preserve,
                               Location& preserve_at) {
  auto read = [&](std::string_view key, std::optional<bool>& out, Location& at) {
    TSNode kn{};
    const Value* e = kwargs.get(key, &kn);
    if (!e) return false;
    at = loc(kn);
    if (e->kind == Value::Kind::Bool)
      out = e->b;
    else
      sink_.unreadable(
          unreadable(*e, kn, "gradient_checkpointing_kwargs." + std::string(key)));
    return true;
  };
  read("preserve_rng_state", preserve, preserve_at);
  if (!read("use_reentrant", use_reentrant, use_reentrant_at) && kwargs.open)
    sink_.unreadable(Unreadable{
        loc(kwargs.open_node), "gradient_checkpointing_kwargs.use_reentrant",
        fmt::format("`{}` may set use_reentrant; what it holds is known only at run time",
                    short_text(m_, kwargs.open_node))});
}

// transformers.utils.check_min_version("4.57.0.dev0") raises unless the installed transformers
// is at least that version; transformers.utils.versions.require_version("peft>=0.10.0", ...)
// (and require_version_core) raise unless the named library satisfies the requirement. Only
// transformers' own functions are read (diffusers' check_min_version checks diffusers), only
// literal arguments (or names bound to one), and only calls that run on every path through
// their function: one under an `if` constrains some runs only (`if __name__ == "__main__":`
// is every run of a script).
void Extractor::version_call(TSNode call, const Callee& c, const Args& a, std::string_view fn) {
  if (a.positional.empty()) return;
  CodeCall cc = code_call(call, c);
  for (const auto& g : cc.guards)
    if (g != "__name__ == \"__main__\"" && g != "__name__ == '__main__'") return;
  Value v = ev_.eval(a.positional[0], scope_);
  if (v.kind != Value::Kind::Str) return;
  VersionDeclFact d;
  d.loc = cc.loc;
  d.via = std::string(fn);
  if (fn == "check_min_version") {
    // The bound is kept as written, dev releases included: Version orders 4.57.0.dev0 before
    // 4.57.0rc1 and 4.57.0, as transformers' own packaging.version comparison does, so
    // check_min_version("4.57.0.dev0") decides every gate below 4.57 and leaves a gate at
    // 4.57.0 itself open (a dev build of the 4.57 line may predate the change).
    auto ver = Version::parse(v.s);
    if (!ver) return;
    d.library = "transformers";
    d.spec = ">=" + ver->text;
    d.range.lo = Bound{*ver, true};
  } else {
    auto req = parse_requirement(v.s);
    if (!req) return;  // a library gcheck has no gates for, or no version in it
    d.library = req->first;
    d.range = req->second;
    d.spec = v.s;
  }
  code_.version_decls.push_back(std::move(d));
}

void Extractor::gc_enable_call(TSNode call, const Callee& c, const Args& a) {
  GcEnableFact g;
  g.call = code_call(call, c);
  g.receiver = short_text(m_, c.receiver);
  Option o = option(a, "gradient_checkpointing_kwargs");
  if (!o.found && !a.positional.empty()) {
    o.found = true;
    o.key = a.positional[0];
    o.value = ev_.eval(a.positional[0], scope_);
  }
  if (o.found && o.value.kind != Value::Kind::None) {
    g.has_kwargs = true;
    if (o.value.is_dict()) {
      g.empty_kwargs = o.value.keys.empty() && !o.value.open;
      read_gc_kwargs(o.value, g.use_reentrant, g.use_reentrant_loc, g.preserve_rng_state,
                     g.preserve_rng_state_loc);
    } else {
      sink_.unreadable(unreadable(o.value, o.key, "gradient_checkpointing_kwargs"));
    }
  }
  code_.gc_enables.push_back(std::move(g));
  if (!anchor_other_) anchor_other_ = loc(call);
}

void Extractor::quantization_call(TSNode call, const Args& a, std::string_view cls) {
  (void)call;
  if (cls == "BitsAndBytesConfig") {
    for (const auto& [kw, bits] : kLoadIn) {
      Option q = option(a, kw);
      if (!q.found) continue;
      if (q.value.is_bool(true))
        sink_.put(f_.quant_bits,
                  fact(bits, q.value.node, q.key, "BitsAndBytesConfig." + std::string(kw.name())));
      else if (!q.value.known())
        sink_.unknown(f_.quant_bits,
                      unreadable(q.value, q.key, "BitsAndBytesConfig." + std::string(kw.name())));
    }
    return;
  }
  Option b = option(a, "bits");
  if (!b.found) return;
  std::string key = std::string(cls) + ".bits";
  if (b.value.kind == Value::Kind::Int)
    sink_.put(f_.quant_bits, fact(b.value.i, b.value.node, b.key, key));
  else
    sink_.unknown(f_.quant_bits, unreadable(b.value, b.key, key));
}

void Extractor::from_pretrained_call(TSNode call, const Callee& c, const Args& a) {
  const Symbols& y = sym();
  std::string_view recv = m_.text(c.receiver);
  std::string recv_q = scopes_.qualify(c.receiver, scope_);
  std::string_view recv_last = recv_q.empty() ? recv : last_of(recv_q);
  if (recv_last == "PeftModel" || recv_last.rfind("AutoPeftModel", 0) == 0) {
    peft_wrap(call, c, TSNode{}, "");
    return;
  }
  unsloth_option(call, c, a);
  if (!is_model_class(recv)) return;
  Option name = option(a, "pretrained_model_name_or_path");
  if (!name.found) name = option(a, "model_name");
  if (!name.found && !a.positional.empty()) {
    name.found = true;
    name.key = a.positional[0];
    name.value = ev_.eval(a.positional[0], scope_);
  }
  if (name.found) {
    if (name.value.kind == Value::Kind::Str)
      sink_.put(f_.model_name,
                fact(name.value.s, name.value.node, name.key, "pretrained_model_name_or_path"));
    else
      sink_.unknown(f_.model_name,
                    unreadable(name.value, name.key, "pretrained_model_name_or_path"));
  }
  for (const auto& [kw, bits] : kLoadIn) {
    Option q = option(a, kw);
    if (!q.found) continue;
    if (q.value.is_bool(true))
      sink_.put(f_.quant_bits, fact(bits, q.value.node, q.key, std::string(kw.name())));
    else if (!q.value.known())
      sink_.unknown(f_.quant_bits, unreadable(q.value, q.key, std::string(kw.name())));
  }
  if (Option q = option(a, "quantization_config"); q.found && q.value.kind != Value::Kind::None) {
    TSNode expr = field(ts_node_parent(q.key), y.f_value);
    bool call_site = is(expr, y.call);  // the config's own call is read where it is
    if (!call_site && is(expr, y.identifier)) {
      Scopes::Found f = scopes_.lookup(m_.text(expr), scope_);
      call_site = f.bindings && f.bindings->size() == 1 &&
                  f.bindings->front().kind == Binding::Kind::Assign &&
                  is(f.bindings->front().value, y.call);
    }
    if (q.value.is_dict()) {
      for (auto [kw, bits] :
           {std::pair<std::string_view, int64_t>{"load_in_4bit", 4}, {"load_in_8bit", 8}}) {
        TSNode kn{};
        const Value* e = q.value.get(kw, &kn);
        if (e && e->is_bool(true))
          sink_.put(f_.quant_bits,
                    fact(bits, e->node, kn, "quantization_config." + std::string(kw)));
      }
    } else if (!call_site) {
      sink_.unknown(f_.quant_bits, unreadable(q.value, q.key, "quantization_config"));
    }
  }
  if (Option u = option(a, "use_cache"); u.found) {
    if (u.value.kind == Value::Kind::Bool)
      sink_.put(f_.use_cache, fact(u.value.b, u.value.node, u.key, "use_cache"));
    else
      sink_.unknown(f_.use_cache, unreadable(u.value, u.key, "use_cache"));
  }
  // The legacy switch: a config attribute gradient_checkpointing=True, which the model's
  // post_init (_backward_compatibility_gradient_checkpointing) turns into
  // gradient_checkpointing_enable() with no arguments.
  if (Option g = option(a, "gradient_checkpointing"); g.found) {
    if (g.value.is_bool(true)) {
      GcEnableFact e;
      e.call = code_call(call, c);
      e.call.loc = loc(g.key);
      e.call.subject = e.call.bound;  // the model it makes: `model = X.from_pretrained(...)`
      e.receiver = e.call.bound;
      e.via = "from_pretrained(..., gradient_checkpointing=True)";
      code_.gc_enables.push_back(std::move(e));
      if (!anchor_other_) anchor_other_ = loc(call);
    } else if (!g.value.known()) {
      sink_.unreadable(unreadable(g.value, g.key, "from_pretrained gradient_checkpointing"));
    }
  }
  if (Option t = option(a, "trust_remote_code"); t.found) {
    if (t.value.kind == Value::Kind::Bool)
      sink_.put(f_.trust_remote_code, fact(t.value.b, t.value.node, t.key, "trust_remote_code"));
    else
      sink_.unknown(f_.trust_remote_code, unreadable(t.value, t.key, "trust_remote_code"));
  }
}

void Extractor::use_cache_assignment(TSNode target, TSNode value) {
  const Symbols& y = sym();
  // model.config.use_cache = ... (the model's config; not generation_config, not args).
  TSNode obj = field(target, y.f_object);
  if (!is(obj, y.attribute) || m_.text(field(obj, y.f_attribute)) != "config") return;
  Value v = ev_.eval(value, scope_);
  if (v.kind == Value::Kind::Bool)
    sink_.put(f_.use_cache, fact(v.b, value, field(target, y.f_attribute), "config.use_cache"));
  else
    sink_.unknown(f_.use_cache, unreadable(v, value, "config.use_cache"));
}

}  // namespace gcheck::py
