#include "runtime_probe/model.h"

#include <c10/core/GradMode.h>
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <cmath>
#include <regex>

namespace gprobe {

namespace ag = torch::autograd;

namespace {

// DeepSpeed ZeRO-3's pre-backward hook: an identity on a submodule's output whose backward
// gathers the submodule's parameters again before their gradients are computed.
struct Zero3Gather {
  struct Entry {
    at::Tensor param;
    at::Tensor part;  // this rank's partition
    std::vector<int64_t> shape;
    std::string name;
  };
  std::vector<Entry> params;
  const Zero3Partitioner* partitioner = nullptr;  // owned by the model, which outlives the step
  void gather() const {
    for (const auto& e : params) e.param.set_data(partitioner->gather(e.part, e.shape, e.name));
  }
  void release() const {
    for (const auto& e : params) e.param.set_data(at::empty({0}, e.part.options()));
  }
};

struct PreBackwardGather : public ag::Function<PreBackwardGather> {
  static at::Tensor forward(ag::AutogradContext* ctx, const at::Tensor& x,
                            std::shared_ptr<Zero3Gather> g) {
    ctx->saved_data["gather"] = c10::IValue::make_capsule(c10::make_intrusive<Box>(std::move(g)));
    return x.view_as(x);
  }
  static ag::variable_list backward(ag::AutogradContext* ctx, ag::variable_list grads) {
    static_cast<Box*>(ctx->saved_data["gather"].toCapsule().get())->g->gather();
    return {grads[0], at::Tensor()};
  }
  struct Box : torch::CustomClassHolder {
    explicit Box(std::shared_ptr<Zero3Gather> x) : g(std::move(x)) {}
    std::shared_ptr<Zero3Gather> g;
  };
};

at::Tensor rotate_half(const at::Tensor& x) {
  int64_t d = x.size(-1);
  auto x1 = x.narrow(-1, 0, d / 2);
  auto x2 = x.narrow(-1, d / 2, d / 2);
  return at::cat({-x2, x1}, -1);
}

// HF repeat_kv: [B, KV, T, D] -> [B, KV * rep, T, D]
at::Tensor repeat_kv(const at::Tensor& x, int64_t rep) {
  if (rep == 1) return x;
  auto s = x.sizes();
  return x.unsqueeze(2)
      .expand({s[0], s[1], rep, s[2], s[3]})
      .reshape({s[0], s[1] * rep, s[2], s[3]});
}

}  // namespace

// ---- construction ------------------------------------------------------------------------------

Model::Model(const ModelSpec& spec, uint64_t seed, at::Device device, bool second_adapter)
    : spec_(spec), device_(device) {
  zero3_partitioner_.partition = [](const at::Tensor& full) { return full; };
  zero3_partitioner_.gather = [](const at::Tensor& part, at::IntArrayRef shape,
                                 const std::string&) { return part.view(shape); };
  c10::NoGradGuard no_grad;
  spec_.lora_dropout = std::max(0.0, spec_.lora_dropout);  // "not given" is no dropout
  spec_.attention_dropout = std::max(0.0, spec_.attention_dropout);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto randn = [&](std::vector<int64_t> shape, double std) {
    return (at::randn(shape, gen, at::TensorOptions().dtype(at::kFloat)) * std).to(device_);
  };
  const auto& s = spec_.sizes;
  const int64_t hd = s.hidden / s.heads;

  embed_ = add_param(
      "model.embed_tokens.weight", randn({s.vocab, s.hidden}, 1.0),
      !spec_.frozen_embeddings && trainable_by_pattern("model.embed_tokens.weight", true));
  for (int64_t i = 0; i < s.layers; ++i) {
    std::string p = "model.layers." + std::to_string(i) + ".";
    Layer l;
    auto norm = [&](const std::string& n) {
      return add_param(n, (1.0 + randn({s.hidden}, 0.1)), trainable_by_pattern(n, !spec_.lora));
    };
    l.input_norm = norm(p + "input_layernorm.weight");
    auto lin = [&](const std::string& sub, const std::string& shortn, int64_t out, int64_t in) {
      return make_linear(p + sub, shortn, out, in, second_adapter);
    };
    l.q = lin("self_attn.q_proj", "q_proj", s.heads * hd, s.hidden);
    l.k = lin("self_attn.k_proj", "k_proj", s.kv_heads * hd, s.hidden);
    l.v = lin("self_attn.v_proj", "v_proj", s.kv_heads * hd, s.hidden);
    l.o = lin("self_attn.o_proj", "o_proj", s.hidden, s.heads * hd);
    l.post_norm = norm(p + "post_attention_layernorm.weight");
    l.gate = lin("mlp.gate_proj", "gate_proj", s.intermediate, s.hidden);
    l.up = lin("mlp.up_proj", "up_proj", s.intermediate, s.hidden);
    l.down = lin("mlp.down_proj", "down_proj", s.hidden, s.intermediate);
    layers_.push_back(std::move(l));
  }
  bool head_trains = spec_.lora ? spec_.trainable_head : true;
  final_norm_ = add_param("model.norm.weight", 1.0 + randn({s.hidden}, 0.1),
                          trainable_by_pattern("model.norm.weight", head_trains));
  head_ = add_param("lm_head.weight", randn({s.vocab, s.hidden}, 1.0 / std::sqrt(double(s.hidden))),
                    trainable_by_pattern("lm_head.weight", head_trains));

  // Rotary tables, long enough for a cache that a recomputation doubles (or triples, nested).
  int64_t max_pos = 4 * s.seq;
  auto fopts = at::TensorOptions().dtype(at::kFloat);
  auto inv_freq = 1.0 / at::pow(s.rope_theta, at::arange(0, hd, 2, fopts) / double(hd));
  auto t = at::arange(max_pos, fopts);
  auto freqs = at::outer(t, inv_freq);
  auto emb = at::cat({freqs, freqs}, -1);
  cos_ = emb.cos().to(device_);
  sin_ = emb.sin().to(device_);
}

bool Model::trainable_by_pattern(const std::string& name, bool default_trainable) const {
  if (spec_.unfrozen.empty()) return default_trainable;
  for (const auto& re : spec_.unfrozen)
    if (std::regex_search(name, std::regex(re))) return true;
  return false;
}

int Model::add_param(const std::string& name, at::Tensor t, bool trainable) {
  t = t.detach().contiguous();
  t.requires_grad_(trainable);
  params_.push_back(Param{name, t});
  return static_cast<int>(params_.size() - 1);
}

Linear Model::make_linear(const std::string& name, const std::string& short_name, int64_t out,
                          int64_t in, bool second_adapter) {
  c10::NoGradGuard no_grad;
  Linear l;
  l.name = name;
  // Deterministic per-name stream: the same weights whatever the freezing or adapters.
  uint64_t h = std::hash<std::string>{}(name);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(h ^ 0x9e3779b97f4a7c15ULL);
  auto randn = [&](std::vector<int64_t> shape, double std) {
    return (at::randn(shape, gen, at::TensorOptions().dtype(at::kFloat)) * std).to(device_);
  };
  auto w = randn({out, in}, 1.0 / std::sqrt(double(in)));
  if (spec_.quant_bits == 4) {
    l.quant = quantize_nf4(w, spec_.double_quant);
  } else if (spec_.quant_bits == 8) {
    l.quant = quantize_int8(w);
  } else {
    l.dense = add_param(name + ".weight", w, trainable_by_pattern(name + ".weight", !spec_.lora));
  }
  bool targeted = false;
  for (const auto& t : spec_.lora_targets) targeted |= t == short_name;
  if (spec_.lora && targeted) {
    int n = second_adapter ? 2 : 1;
    for (int a = 0; a < n; ++a) {
      std::string sfx = a == 0 ? "" : ".other";
      LoraAdapter ad;
      // B is not zero (as PEFT initializes it) so that both factors get a gradient: the
      // probe compares gradients of a trained adapter.
      ad.a = add_param(name + ".lora_A" + sfx + ".weight",
                       randn({spec_.lora_rank, in}, 1.0 / std::sqrt(double(in))), true);
      ad.b =
          add_param(name + ".lora_B" + sfx + ".weight",
                    randn({out, spec_.lora_rank}, 1.0 / std::sqrt(double(spec_.lora_rank))), true);
      l.adapters.push_back(ad);
    }
  }
  return l;
}

std::vector<at::Tensor> Model::trainable() const {
  std::vector<at::Tensor> out;
  for (const auto& p : params_)
    if (p.trainable()) out.push_back(p.t);
  return out;
}

at::Tensor Model::make_inputs(uint64_t seed) const {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto& s = spec_.sizes;
  return at::randint(s.vocab, {s.batch, s.seq}, gen, at::TensorOptions().dtype(at::kLong))
      .to(device_);
}

std::vector<std::pair<std::string, at::Tensor>> Model::named_tensors() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& p : params_) out.emplace_back(p.name, p.t.detach());
  for (const auto& l : layers_) {
    for (const Linear* lin : {&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down}) {
      if (!lin->quant) continue;
      for (auto& [k, t] : lin->quant->tensors()) out.emplace_back(lin->name + ".quant." + k, t);
    }
  }
  if (spec_.quant_bits == 4)
    out.emplace_back("nf4.levels", at::tensor(at::ArrayRef<float>(kNf4Levels, 16)));
  out.emplace_back("rope.cos", cos_);
  out.emplace_back("rope.sin", sin_);
  return out;
}

// ---- ZeRO-3 emulation
// ------------------------------------------------------------------------------

void Model::zero3_partition_all() {
  zero3_forward_done_ = false;
  for (auto& p : params_) {
    if (p.trainable()) continue;  // trainable parameters are saved detached: immune (see README)
    auto full = p.t.detach().clone();
    zero3_parts_[p.t.unsafeGetTensorImpl()] =
        Zero3Part{full, zero3_partitioner_.partition(full), p.name};
    p.t.set_data(at::empty({0}, full.options()));
  }
}

void Model::zero3_restore_all() {
  for (auto& p : params_) {
    auto it = zero3_parts_.find(p.t.unsafeGetTensorImpl());
    if (it != zero3_parts_.end()) p.t.set_data(it->second.full);
  }
  zero3_parts_.clear();
  zero3_forward_done_ = false;
}

at::Tensor Model::zero3_scope(const std::vector<int>& ps, const std::function<at::Tensor()>& f,
                              const StepConfig& cfg) {
  if (!cfg.zero3) return f();
  auto g = std::make_shared<Zero3Gather>();
  g->partitioner = &zero3_partitioner_;
  for (int i : ps) {
    auto it = zero3_parts_.find(params_[i].t.unsafeGetTensorImpl());
    if (it != zero3_parts_.end())
      g->params.push_back(Zero3Gather::Entry{params_[i].t, it->second.part,
                                             it->second.full.sizes().vec(), it->second.name});
  }
  if (g->params.empty()) return f();
  g->gather();  // pre-forward hook: all-gather
  at::Tensor y = f();
  // post-forward hook: partition again (param.data = empty(0)); DeepSpeed >= 0.19.3 keeps
  // frozen parameters gathered while a checkpoint recomputes (the forward has ended then).
  if (!(cfg.zero3_keep_frozen_in_recompute && zero3_forward_done_)) g->release();
  if (y.requires_grad()) y = PreBackwardGather::apply(y, g);
  return y;
}

// ---- forward
// ---------------------------------------------------------------------------------------

at::Tensor Model::rmsnorm(int w, const at::Tensor& x, const StepConfig& cfg) {
  return zero3_scope(
      {w},
      [&] {
        auto var = x.pow(2).mean(-1, /*keepdim=*/true);
        auto h = x * at::rsqrt(var + spec_.sizes.rms_eps);
        return params_[w].t * h;
      },
      cfg);
}

at::Tensor Model::linear(const Linear& l, const at::Tensor& x, int adapter, const StepConfig& cfg) {
  at::Tensor y;
  if (l.quant) {
    y = at::linear(x, l.quant->dequantize(x.scalar_type()));
  } else {
    y = zero3_scope(
        {l.dense}, [&] { return at::linear(x, params_[l.dense].t); }, cfg);
  }
  if (l.adapters.empty() || cfg.disable_adapters) return y;
  const auto& ad = l.adapters[static_cast<size_t>(adapter) % l.adapters.size()];
  double p = spec_.lora_dropout;
  auto xd = (p > 0 && cfg.train) ? at::dropout(x, p, true) : x;
  double scaling = spec_.lora_alpha / double(spec_.lora_rank);
  return y + at::linear(at::linear(xd, params_[ad.a].t), params_[ad.b].t) * scaling;
}

at::Tensor Model::layer_forward(int64_t i, const at::Tensor& x, const StepConfig& cfg,
                                StepState& st) {
  const auto& s = spec_.sizes;
  const Layer& L = layers_[static_cast<size_t>(i)];
  st.layer_calls[i] += 1;
  int adapter = st.active_adapter[i];
  if (cfg.switch_adapter) st.active_adapter[i] ^= 1;  // set_adapter() inside forward

  const int64_t B = x.size(0), S = x.size(1), H = s.heads, KV = s.kv_heads, D = s.hidden / s.heads;
  auto residual = x;
  auto h = rmsnorm(L.input_norm, x, cfg);

  auto q = linear(L.q, h, adapter, cfg).view({B, S, H, D}).transpose(1, 2);
  bool consumer = cfg.share_kv && s.layers > 1 && i == s.layers - 1;
  at::Tensor k, v;
  int64_t past = 0;
  if (!consumer) {
    k = linear(L.k, h, adapter, cfg).view({B, S, KV, D}).transpose(1, 2);
    v = linear(L.v, h, adapter, cfg).view({B, S, KV, D}).transpose(1, 2);
    if (cfg.use_cache && st.cache[i].first.defined()) past = st.cache[i].first.size(2);
  }
  auto cos = cos_.narrow(0, past, S);
  auto sin = sin_.narrow(0, past, S);
  q = q * cos + rotate_half(q) * sin;
  if (!consumer) {
    k = k * cos + rotate_half(k) * sin;
    if (cfg.use_cache) {
      if (st.cache[i].first.defined()) {
        k = at::cat({st.cache[i].first, k}, 2);
        v = at::cat({st.cache[i].second, v}, 2);
      }
      st.cache[i] = {k, v};  // DynamicCache.update
    }
    if (cfg.share_kv && i == 0) st.shared_kv["0"] = {k, v};
  } else {
    // A KV-sharing layer reads the producer's K/V from a dict passed by keyword.
    k = st.shared_kv.at("0").first;
    v = st.shared_kv.at("0").second;
  }
  int64_t T = k.size(2);
  k = repeat_kv(k, H / KV);
  v = repeat_kv(v, H / KV);
  auto scores = at::matmul(q, k.transpose(2, 3)) * (1.0 / std::sqrt(double(D)));
  // causal: query i (absolute position past + i) sees keys j <= past + i
  auto upper =
      at::ones({S, T}, at::TensorOptions().dtype(at::kBool).device(x.device())).triu(past + 1);
  auto mask = at::zeros({S, T}, x.options().requires_grad(false)).masked_fill(upper, -1e9);
  scores = scores + mask;
  auto probs = at::softmax(scores, -1);
  if (spec_.attention_dropout > 0 && cfg.train)
    probs = at::dropout(probs, spec_.attention_dropout, true);
  auto attn = at::matmul(probs, v).transpose(1, 2).reshape({B, S, H * D});
  auto hs = residual + linear(L.o, attn, adapter, cfg);

  residual = hs;
  h = rmsnorm(L.post_norm, hs, cfg);
  // gate before up: the order of the dropout draws is part of what the parity test checks
  auto gate = at::silu(linear(L.gate, h, adapter, cfg));
  auto up = linear(L.up, h, adapter, cfg);
  auto mlp = linear(L.down, gate * up, adapter, cfg);
  return residual + mlp;
}

at::Tensor Model::logits(const at::Tensor& ids, const StepConfig& cfg, StepState& st) {
  const auto& s = spec_.sizes;
  zero3_forward_done_ = false;
  st.layer_calls.assign(static_cast<size_t>(s.layers), 0);
  st.active_adapter.assign(static_cast<size_t>(s.layers), 0);
  st.cache.assign(static_cast<size_t>(s.layers), {});
  st.shared_kv.clear();

  auto h = zero3_scope(
      {embed_}, [&] { return at::embedding(params_[embed_].t, ids); }, cfg);
  // enable_input_require_grads(): a forward hook on the input embeddings
  if (cfg.input_hook && !h.requires_grad()) h.requires_grad_(true);

  for (int64_t i = 0; i < s.layers; ++i) {
    RunFn fn = [this, i, &cfg, &st](const TensorVec& a) {
      return TensorVec{layer_forward(i, a[0], cfg, st)};
    };
    // Innermost wrapper first: wrap = {outer, ..., inner}.
    for (auto it = cfg.wrap.rbegin(); it != cfg.wrap.rend(); ++it) {
      CkptMode m = *it;
      CkptOptions o = cfg.ckpt;
      fn = [m, inner = fn, o](const TensorVec& a) { return checkpoint(m, inner, a, o); };
    }
    h = fn({h})[0];
  }
  h = rmsnorm(final_norm_, h, cfg);
  auto out = zero3_scope(
      {head_}, [&] { return at::linear(h, params_[head_].t); }, cfg);
  zero3_forward_done_ = true;
  return out;
}

at::Tensor Model::loss(const at::Tensor& ids, const StepConfig& cfg, StepState& st) {
  const auto& s = spec_.sizes;
  auto logits = this->logits(ids, cfg, st);
  auto shift_logits = logits.narrow(1, 0, s.seq - 1).contiguous().view({-1, s.vocab});
  auto shift_labels = ids.narrow(1, 1, s.seq - 1).contiguous().view({-1});
  return at::cross_entropy_loss(shift_logits, shift_labels);
}

at::Tensor Model::sequence_logps(const at::Tensor& ids, const StepConfig& cfg, StepState& st) {
  const auto& s = spec_.sizes;
  auto logits = this->logits(ids, cfg, st);
  auto logp = at::log_softmax(logits.narrow(1, 0, s.seq - 1), -1);
  auto labels = ids.narrow(1, 1, s.seq - 1).unsqueeze(-1);
  return logp.gather(-1, labels).squeeze(-1).mean(-1);
}

}  // namespace gprobe
