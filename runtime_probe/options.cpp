// Checks on the model options and the Hugging Face config.json reader (no LibTorch here).
#include <fstream>
#include <regex>
#include <sstream>

#include <nlohmann/json.hpp>

#include "runtime_probe/probe.h"

namespace gprobe {

std::optional<std::string> validate(const ModelSpec& spec) {
  const Sizes& s = spec.sizes;
  auto bad = [](const std::string& m) { return std::optional<std::string>(m); };
  if (s.layers < 1 || s.layers > 4096) return bad("--layers must be between 1 and 4096");
  if (s.hidden < 2) return bad("--hidden must be at least 2");
  if (s.heads < 1) return bad("--heads must be at least 1");
  if (s.hidden % s.heads != 0)
    return bad("--hidden (" + std::to_string(s.hidden) + ") must be a multiple of --heads (" +
               std::to_string(s.heads) + ")");
  if ((s.hidden / s.heads) % 2 != 0)
    return bad("the head dimension (hidden / heads = " + std::to_string(s.hidden / s.heads) +
               ") must be even for rotary embeddings");
  if (s.kv_heads < 1 || s.heads % s.kv_heads != 0)
    return bad("--kv-heads (" + std::to_string(s.kv_heads) + ") must divide --heads (" +
               std::to_string(s.heads) + ")");
  if (s.intermediate < 1) return bad("--intermediate must be at least 1");
  if (s.vocab < 2) return bad("--vocab must be at least 2");
  if (s.seq < 2) return bad("--seq must be at least 2 (the loss predicts the next token)");
  if (s.batch < 1) return bad("--batch must be at least 1");
  if (spec.quant_bits != 0 && spec.quant_bits != 4 && spec.quant_bits != 8)
    return bad("--quant must be 0, 4 or 8");
  if (spec.quant_bits != 0 && !spec.lora)
    return bad("a quantized base cannot be fine-tuned in full: keep LoRA or use --quant 0");
  if (spec.lora && spec.lora_rank < 1) return bad("--lora-rank must be at least 1");
  for (const auto& t : spec.lora_targets) {
    static const char* known[] = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                                  "gate_proj", "up_proj", "down_proj"};
    bool ok = false;
    for (const char* k : known) ok |= t == k;
    if (!ok)
      return bad("unknown LoRA target '" + t +
                 "' (q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj)");
  }
  for (const auto& re : spec.unfrozen) {
    try {
      std::regex r(re);
    } catch (const std::regex_error&) {
      return bad("--unfrozen: not a regular expression: " + re);
    }
  }
  if (spec.lora_dropout >= 1) return bad("--lora-dropout must be in [0, 1)");
  if (spec.attention_dropout >= 1) return bad("--attention-dropout must be in [0, 1)");
  // A model that cannot fit any machine is an input error, not an out-of-memory crash.
  double bytes = estimate_step_bytes(spec);
  if (bytes > 512.0 * (1ull << 30))
    return bad("these sizes need about " +
               std::to_string(static_cast<long long>(bytes / (1ull << 30))) +
               " GiB for one step: impossible sizes (lower --layers, --hidden, --seq or --batch)");
  return std::nullopt;
}

double estimate_step_bytes(const ModelSpec& spec) {
  const Sizes& s = spec.sizes;
  double h = double(s.hidden), l = double(s.layers), bs = double(s.batch) * double(s.seq);
  double weights = 2 * double(s.vocab) * h + l * (4 * h * h + 3 * h * double(s.intermediate));
  double acts = l * bs * (12 * h + 4 * double(s.intermediate)) +
                l * double(s.batch) * double(s.heads) * double(s.seq) * double(s.seq) * 3 +
                bs * double(s.vocab) * 2;
  return 4 * (2 * weights + acts);
}

std::optional<std::string> sizes_from_hf_config(const std::string& path, int64_t layers,
                                                Sizes& out) {
  std::ifstream f(path);
  if (!f) return path + ": cannot read the file";
  std::stringstream ss;
  ss << f.rdbuf();
  auto j = nlohmann::json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return path + ": not a JSON object";
  if (j.contains("text_config") && j["text_config"].is_object()) j = j["text_config"];
  auto get = [&](const char* key, bool required, int64_t fallback,
                 int64_t& dst) -> std::optional<std::string> {
    if (!j.contains(key) || j[key].is_null()) {
      if (required) return path + ": missing \"" + key + "\"";
      dst = fallback;
      return std::nullopt;
    }
    if (!j[key].is_number_integer()) return path + ": \"" + key + "\" must be an integer";
    int64_t v = j[key].get<int64_t>();
    if (v < 1 || v > (int64_t{1} << 24))
      return path + ": \"" + key + "\" = " + std::to_string(v) + " is absurd";
    dst = v;
    return std::nullopt;
  };
  Sizes s = out;
  int64_t total_layers = 0;
  if (auto e = get("hidden_size", true, 0, s.hidden)) return e;
  if (auto e = get("num_attention_heads", true, 0, s.heads)) return e;
  if (auto e = get("num_key_value_heads", false, s.heads, s.kv_heads)) return e;
  if (auto e = get("intermediate_size", true, 0, s.intermediate)) return e;
  if (auto e = get("vocab_size", true, 0, s.vocab)) return e;
  if (auto e = get("num_hidden_layers", true, 0, total_layers)) return e;
  if (j.contains("rope_theta") && j["rope_theta"].is_number())
    s.rope_theta = j["rope_theta"].get<double>();
  if (j.contains("rms_norm_eps") && j["rms_norm_eps"].is_number())
    s.rms_eps = j["rms_norm_eps"].get<double>();
  if (s.rope_theta <= 0) return path + ": \"rope_theta\" must be positive";
  if (s.rms_eps <= 0 || s.rms_eps >= 1) return path + ": \"rms_norm_eps\" is absurd";
  if (s.hidden % s.heads != 0)
    return path + ": hidden_size " + std::to_string(s.hidden) +
           " is not a multiple of num_attention_heads " + std::to_string(s.heads);
  if (s.heads % s.kv_heads != 0)
    return path + ": num_key_value_heads " + std::to_string(s.kv_heads) +
           " does not divide num_attention_heads " + std::to_string(s.heads);
  s.layers = std::min(layers, total_layers);
  out = s;
  return std::nullopt;
}

}  // namespace gprobe
