#include <algorithm>
#include <cctype>
#include <set>

#include "analyzer/known_keys.h"
#include "rules/rule.h"

namespace gcheck {
namespace {
void check(const Setup& s, Context& cx);
}  // namespace

extern const Rule kGC504 = {
    "GC504", "unknown-checkpointing-key", Severity::Warning,
    "A key its format does not know, a small edit away from a checkpoint-relevant key",
    "", "", "config", &check, /*per_document=*/true};

namespace {

using Targets = std::vector<std::string_view>;

const Targets kHfTargets = {"gradient_checkpointing", "gradient_checkpointing_kwargs",
                            "ddp_find_unused_parameters", "deepspeed", "fsdp", "fsdp_config",
                            "torch_compile", "use_cache", "load_in_4bit", "load_in_8bit",
                            "lora_dropout"};
const Targets kAxolotlExtra = {"activation_offloading", "unfrozen_parameters",
                               "selective_checkpointing", "adapter", "fsdp_version"};
const Targets kTrlExtra = {"use_peft", "disable_dropout"};
const Targets kLfExtra = {"disable_gradient_checkpointing", "use_reentrant_gc", "use_unsloth_gc",
                          "finetuning_type", "quantization_bit", "freeze_vision_tower"};
const Targets kLfV1 = {"enable_activation_checkpointing", "dist_config", "peft_config",
                       "quant_config"};
const Targets kTorchtune = {"enable_activation_checkpointing", "enable_activation_offloading",
                            "ac_mode", "compile"};
const Targets kAccelerate = {"distributed_type", "num_processes", "num_machines",
                             "deepspeed_config", "fsdp_config", "dynamo_config"};
const Targets kAccelFsdp = {"fsdp_activation_checkpointing", "fsdp_version",
                            "fsdp_sharding_strategy", "fsdp_reshard_after_forward"};
const Targets kAccelDs = {"zero_stage", "deepspeed_config_file"};
const Targets kDeepSpeed = {"zero_optimization", "activation_checkpointing"};
const Targets kKwargs = {"use_reentrant", "preserve_rng_state", "determinism_check", "debug",
                         "context_fn", "early_stop", "every_n_layers", "offload"};

std::string norm(std::string_view k) {
  std::string o;
  for (char c : k) o.push_back(c == '-' ? '_' : static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  return o;
}

// Optimal string alignment distance, capped: anything above `cap` returns cap + 1.
size_t osa(std::string_view a, std::string_view b, size_t cap) {
  size_t n = a.size(), m = b.size();
  if ((n > m ? n - m : m - n) > cap) return cap + 1;
  if (m > 63) return cap + 1;
  size_t prev2[64], prev[64], cur[64];
  for (size_t j = 0; j <= m; ++j) prev[j] = j;
  for (size_t i = 1; i <= n; ++i) {
    cur[0] = i;
    size_t best = cur[0];
    for (size_t j = 1; j <= m; ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        cur[j] = std::min(cur[j], prev2[j - 2] + 1);
      best = std::min(best, cur[j]);
    }
    if (best > cap) return cap + 1;
    std::copy(prev, prev + m + 1, prev2);
    std::copy(cur, cur + m + 1, prev);
  }
  return prev[m];
}

size_t threshold(std::string_view target) {
  return target.size() <= 8 ? 1 : target.size() <= 16 ? 2 : 3;
}

struct Scope {
  std::optional<KeyScope> known;  // nullopt: no list (free-form)
  Targets targets;
  std::string path;               // prefix for messages
};

void scan_map(const cfg::Document& d, cfg::NodeId m, const Scope& sc, Format fmt, Context& cx) {
  if (!d.is_map(m)) return;
  for (uint32_t e : d.node(m).entries) {
    const cfg::Entry& en = d.entries[e];
    if (en.from_merge) continue;
    const std::string& key = en.key;
    if (std::find(sc.targets.begin(), sc.targets.end(), key) != sc.targets.end()) continue;
    if (sc.known && known_key(*sc.known, key)) continue;
    std::string nk = norm(key);
    std::string_view best;
    size_t best_d = SIZE_MAX;
    for (auto t : sc.targets) {
      size_t dist = nk == t ? 0 : osa(nk, t, threshold(t));
      if (dist <= threshold(t) && dist < best_d && !d.entry(m, t)) {
        best = t;
        best_d = dist;
      }
    }
    std::string msg;
    if (!best.empty()) {
      msg = fmt::format("'{}{}' is not a {} key; did you mean '{}{}'? The stack does not read it, "
                        "so the setting silently falls back to its default",
                        sc.path, key, format_title(fmt), sc.path, best);
    } else if (sc.path.empty() && fmt != Format::DeepSpeed && fmt != Format::Accelerate &&
               fmt != Format::Torchtune && std::find(kKwargs.begin(), kKwargs.end(), nk) != kKwargs.end()) {
      std::string where = fmt == Format::LlamaFactory && nk == "use_reentrant"
                              ? "use_reentrant_gc (LLaMA-Factory's own key) or "
                                "gradient_checkpointing_kwargs.use_reentrant"
                              : "gradient_checkpointing_kwargs." + nk;
      msg = fmt::format("'{}' at the top level is not read by {}: it belongs under {}, so the "
                        "value written here has no effect",
                        key, format_title(fmt), where);
      best = "x";
    }
    if (best.empty()) continue;
    cx.report(kGC504, d.loc(en.key_span), msg, "rename the key", {});
  }
}

void scan(const Facts* f, Context& cx) {
  if (!f || !f->doc) return;
  const cfg::Document& d = *f->doc;
  cfg::NodeId root = d.root;
  auto with = [](Targets a, const Targets& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  };
  switch (f->format) {
    case Format::Axolotl: scan_map(d, root, {KeyScope::Axolotl, with(kHfTargets, kAxolotlExtra), ""}, f->format, cx); break;
    case Format::HfTrl: scan_map(d, root, {KeyScope::HfTrl, with(kHfTargets, kTrlExtra), ""}, f->format, cx); break;
    case Format::LlamaFactory: scan_map(d, root, {KeyScope::LlamaFactory, with(kHfTargets, kLfExtra), ""}, f->format, cx); break;
    case Format::LlamaFactoryV1: scan_map(d, root, {KeyScope::LlamaFactoryV1, kLfV1, ""}, f->format, cx); break;
    case Format::Torchtune: scan_map(d, root, {std::nullopt, kTorchtune, ""}, f->format, cx); break;
    case Format::Accelerate:
      scan_map(d, root, {KeyScope::Accelerate, kAccelerate, ""}, f->format, cx);
      scan_map(d, d.get(root, "fsdp_config"), {KeyScope::AccelerateFsdp, kAccelFsdp, "fsdp_config."}, f->format, cx);
      scan_map(d, d.get(root, "deepspeed_config"), {KeyScope::AccelerateDeepSpeed, kAccelDs, "deepspeed_config."}, f->format, cx);
      break;
    case Format::DeepSpeed: {
      cfg::NodeId base = f->doc->is_map(root) && f->format_reason == "inline deepspeed mapping"
                             ? d.get(root, "deepspeed") : root;
      if (f->format_reason != "inline deepspeed mapping")
        scan_map(d, base, {KeyScope::DeepSpeed, kDeepSpeed, ""}, f->format, cx);
      scan_map(d, d.get(base, "activation_checkpointing"),
               {KeyScope::DeepSpeedActivationCheckpointing,
                Targets(known_keys(KeyScope::DeepSpeedActivationCheckpointing).begin(),
                        known_keys(KeyScope::DeepSpeedActivationCheckpointing).end()),
                "activation_checkpointing."},
               f->format, cx);
      scan_map(d, d.get(base, "zero_optimization"), {std::nullopt, {"stage"}, "zero_optimization."}, f->format, cx);
      break;
    }
    default: break;
  }
  if (f->format == Format::Axolotl || f->format == Format::HfTrl || f->format == Format::LlamaFactory) {
    cfg::NodeId kw = d.get(root, "gradient_checkpointing_kwargs");
    scan_map(d, kw, {KeyScope::GcKwargs, kKwargs, "gradient_checkpointing_kwargs."}, f->format, cx);
  }
}

void check(const Setup& s, Context& cx) {
  scan(s.facts, cx);
  scan(s.deepspeed, cx);
  scan(s.launcher, cx);
}

}  // namespace
}  // namespace gcheck
