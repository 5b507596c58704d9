// PEFT and Unsloth calls: prepare_model_for_kbit_training, get_peft_model and
// PeftModel.from_pretrained (the wraps, in statement order), the PEFT configs (LoraConfig's
// lora_dropout, target_modules, modules_to_save), and Unsloth's use_gradient_checkpointing.
#include <fmt/format.h>

#include "analyzer/python/extractor.h"

namespace gcheck::py {

namespace {

struct PeftConfigName {
  std::string_view cls, adapter;
};
constexpr PeftConfigName kPeftConfigs[] = {
    {"LoraConfig", "lora"},
    {"AdaLoraConfig", "adalora"},
    {"LoHaConfig", "loha"},
    {"LoKrConfig", "lokr"},
    {"IA3Config", "ia3"},
    {"OFTConfig", "oft"},
    {"BOFTConfig", "boft"},
    {"VeraConfig", "vera"},
    {"PrefixTuningConfig", "prefix_tuning"},
    {"PromptTuningConfig", "prompt_tuning"},
    {"PromptEncoderConfig", "p_tuning"},
};

std::optional<std::string_view> adapter_for(std::string_view cls) {
  for (const auto& p : kPeftConfigs)
    if (p.cls == cls) return p.adapter;
  return std::nullopt;
}

bool names_tower(std::string_view m) {
  std::string l;
  for (char c : m) l.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  return l.find("vision") != std::string::npos || l.find("visual") != std::string::npos ||
         l.find("audio") != std::string::npos || l.find("image_encoder") != std::string::npos ||
         l.find("vit.") != std::string::npos;
}

}  // namespace

bool Extractor::peft_call(TSNode call, const Callee& c, const Args& a) {
  std::string_view root = root_of(c.qual);
  std::string_view last = last_of(c.qual);
  if (root != "peft" && root != "unsloth") return false;
  if (last == "prepare_model_for_kbit_training" || last == "prepare_model_for_int8_training") {
    kbit_call(call, c, a);
    unsloth_option(call, c, a);
    return true;
  }
  if (last == "get_peft_model") {
    if (root == "unsloth") {
      // FastLanguageModel.get_peft_model(model, r=..., lora_dropout=...,
      // use_gradient_checkpointing=...)
      peft_wrap(call, c, TSNode{}, "lora");
      lora_options(a, &c);
      unsloth_option(call, c, a);
    } else {
      Option o = option(a, "peft_config");
      TSNode cfg = o.found ? field(ts_node_parent(o.key), sym().f_value)
                           : (a.positional.size() > 1 ? a.positional[1] : TSNode{});
      peft_wrap(call, c, cfg, "");
    }
    return true;
  }
  if (last == "from_pretrained") {
    from_pretrained_call(call, c, a);
    return true;
  }
  if (root == "peft" && adapter_for(last)) {
    peft_config_call(call, a, last);
    return true;
  }
  return false;
}

void Extractor::kbit_call(TSNode call, const Callee& c, const Args& a) {
  KbitPrepareFact k;
  k.call = code_call(call, c);
  Option ugc = option(a, "use_gradient_checkpointing");
  if (!ugc.found && a.positional.size() > 1) {
    ugc.found = true;
    ugc.key = a.positional[1];
    ugc.value = ev_.eval(a.positional[1], scope_);
  }
  if (ugc.found) {
    if (ugc.value.kind == Value::Kind::Bool)
      k.use_gradient_checkpointing = ugc.value.b;
    else if (!(ugc.value.kind == Value::Kind::Str && ugc.value.s == "unsloth"))
      sink_.unreadable(unreadable(ugc.value, ugc.key, "use_gradient_checkpointing"));
  }
  Option kw = option(a, "gradient_checkpointing_kwargs");
  if (!kw.found && a.positional.size() > 2) {
    kw.found = true;
    kw.key = a.positional[2];
    kw.value = ev_.eval(a.positional[2], scope_);
  }
  if (kw.found && kw.value.kind != Value::Kind::None) {
    k.has_kwargs = true;
    if (kw.value.is_dict()) {
      read_gc_kwargs(kw.value, k.use_reentrant, k.use_reentrant_loc, k.preserve_rng_state,
                     k.preserve_rng_state_loc);
    } else {
      sink_.unreadable(unreadable(kw.value, kw.key, "gradient_checkpointing_kwargs"));
    }
  }
  code_.kbit_prepares.push_back(std::move(k));
  if (!anchor_other_) anchor_other_ = loc(call);
}

std::optional<std::pair<std::string, TSNode>> Extractor::adapter_of(TSNode config) const {
  const Symbols& y = sym();
  TSNode expr = config;
  int scope = scope_;
  for (int hop = 0; hop < 4 && is(expr, y.identifier); ++hop) {
    Scopes::Found f = scopes_.lookup(m_.text(expr), scope);
    if (!f.bindings || f.bindings->size() != 1 || f.bindings->front().kind != Binding::Kind::Assign)
      return std::nullopt;
    expr = f.bindings->front().value;
    scope = f.scope;
  }
  if (!is(expr, y.call)) return std::nullopt;
  std::string q = scopes_.qualify(field(expr, y.f_function), scope);
  if (root_of(q) != "peft") return std::nullopt;
  if (auto ad = adapter_for(last_of(q))) return std::pair{std::string(*ad), expr};
  return std::nullopt;
}

void Extractor::peft_wrap(TSNode call, const Callee& c, TSNode config,
                          std::string_view unsloth_adapter) {
  CodeCall w = code_call(call, c);
  // get_peft_model(model, config): the model it wraps.
  const Symbols& y = sym();
  TSNode args = field(call, y.f_arguments);
  for (uint32_t i = 0; !ts_node_is_null(args) && i < ts_node_named_child_count(args); ++i) {
    TSNode a = ts_node_named_child(args, i);
    if (is(a, y.keyword_argument)) {
      if (m_.text(field(a, y.f_name)) == "model") w.subject = short_text(m_, field(a, y.f_value));
      continue;
    }
    w.subject = short_text(m_, a);
    break;
  }
  code_.peft_wraps.push_back(std::move(w));
  if (!anchor_other_) anchor_other_ = loc(call);
  if (!unsloth_adapter.empty()) {
    sink_.put(f_.adapter, fact(std::string(unsloth_adapter), c.fn, c.fn, "get_peft_model"));
    return;
  }
  if (ts_node_is_null(config)) {
    sink_.unknown(f_.adapter, Unreadable{loc(call), "adapter",
                                         "the adapter is loaded from a saved adapter; its type is "
                                         "known only at run time"});
    return;
  }
  if (auto ad = adapter_of(config)) {
    sink_.put(f_.adapter, fact(ad->first, ad->second, config, "get_peft_model"));
  } else {
    sink_.unknown(f_.adapter,
                  Unreadable{loc(config), "adapter",
                             fmt::format("`{}`: the adapter type is known only at run time",
                                         short_text(m_, config))});
  }
}

void Extractor::peft_config_call(TSNode call, const Args& a, std::string_view cls) {
  (void)call;
  if (cls == "LoraConfig" || cls == "AdaLoraConfig") lora_options(a, nullptr);
}

void Extractor::lora_options(const Args& a, const Callee* c) {
  if (Option o = option(a, "lora_dropout", c); o.found) {
    double d = 0;
    if (o.value.number(d))
      sink_.put(f_.lora_dropout, fact(d, o.value.node, o.key, "lora_dropout"));
    else
      sink_.unknown(f_.lora_dropout, unreadable(o.value, o.key, "lora_dropout"));
  }
  // Module name lists: "all-linear" or a regex is a single string.
  auto names = [&](const Value& v, std::vector<std::string>& out) {
    if (v.kind == Value::Kind::Str) {
      out.push_back(v.s);
      return true;
    }
    if (v.kind != Value::Kind::List && v.kind != Value::Kind::Tuple && v.kind != Value::Kind::Set)
      return false;
    for (const Value& e : v.items) {
      if (e.kind != Value::Kind::Str) return false;
      out.push_back(e.s);
    }
    return true;
  };
  for (ReadKeyword rk : {ReadKeyword("target_modules"), ReadKeyword("modules_to_save"),
                         ReadKeyword("lora_target_modules"), ReadKeyword("lora_modules_to_save")}) {
    std::string_view kw = rk.name();
    Option o = option(a, rk, c);
    if (!o.found || o.value.kind == Value::Kind::None) continue;
    std::vector<std::string> mods;
    if (!names(o.value, mods)) {
      sink_.unreadable(unreadable(o.value, o.key, std::string(kw)));
      continue;
    }
    bool to_save = kw.find("to_save") != std::string_view::npos;
    for (const auto& m : mods) {
      // A trained (or adapted) embedding makes the checkpointed blocks' inputs require grad.
      if (names_embeddings(m)) {
        sink_.put(f_.embeddings_trainable, fact(true, o.value.node, o.key, std::string(kw)));
        f_.embeddings_trainable->raw = m;
        break;
      }
      if (!to_save && names_tower(m)) {
        sink_.put(f_.vision_lora, fact(true, o.value.node, o.key, std::string(kw)));
        f_.vision_lora->raw = m;
        break;
      }
    }
  }
}

void Extractor::unsloth_option(TSNode call, const Callee& c, const Args& a) {
  Option o = option(a, "use_gradient_checkpointing");
  if (!o.found) return;
  bool unsloth = root_of(c.qual) == "unsloth" ||
                 m_.text(c.receiver).find("FastLanguageModel") != std::string_view::npos ||
                 m_.text(c.receiver).find("FastModel") != std::string_view::npos ||
                 m_.text(c.receiver).find("FastVisionModel") != std::string_view::npos;
  if (o.value.kind == Value::Kind::Str) {
    sink_.put(f_.unsloth_gc, fact(o.value.s, o.value.node, o.key, "use_gradient_checkpointing"));
    if (o.value.s == "unsloth") code_.unsloth_gc.push_back(code_call(call, c));
  } else if (!unsloth) {
    return;  // prepare_model_for_kbit_training's own flag, read there
  } else if (o.value.kind == Value::Kind::Bool) {
    sink_.put(f_.unsloth_gc, fact(std::string(o.value.b ? "True" : "False"), o.value.node, o.key,
                                  "use_gradient_checkpointing"));
  } else {
    sink_.unknown(f_.unsloth_gc, unreadable(o.value, o.key, "use_gradient_checkpointing"));
  }
}

}  // namespace gcheck::py
