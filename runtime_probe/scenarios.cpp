// The scenarios: each runs the no-checkpoint reference and the variants that matter on the
// same weights, data and seed, compares every trainable parameter's gradient, and turns what
// it measured into CONFIRMED (the hazard shows), REFUTED (every mode matches) or ERROR.
#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/serialize.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "runtime_probe/checkpoint.h"
#include "runtime_probe/compare.h"
#include "runtime_probe/ddp.h"
#include "runtime_probe/device.h"
#include "runtime_probe/model.h"
#include "runtime_probe/probe.h"
#include "runtime_probe/torch_compat.h"

namespace gprobe {

std::string first_line(const std::string& s) {
  auto nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

bool is_out_of_memory(const std::string& msg) {
  return msg.find("out of memory") != std::string::npos ||
         msg.find("Out of memory") != std::string::npos ||
         msg.find("DefaultCPUAllocator: can't allocate memory") != std::string::npos;
}

// "torch.Size([2, 4, 16, 16])" after `key` in a CheckpointError, as "[2, 4, 16, 16]".
static std::string shape_after(const std::string& s, const std::string& key, size_t from) {
  auto k = s.find(key, from);
  if (k == std::string::npos) return "";
  auto b = s.find("torch.Size(", k);
  auto e = s.find(')', b);
  if (b == std::string::npos || e == std::string::npos) return "";
  return s.substr(b + 11, e - b - 11);
}

// The error as a finding: its first line, cut after the first sentence when long; for the
// metadata CheckpointError, the first mismatch in short.
std::string short_error(const std::string& s) {
  auto pos = s.find("tensor at position ");
  if (pos != std::string::npos) {
    auto nl = s.find(':', pos);
    std::string saved = shape_after(s, "saved metadata:", pos);
    std::string recomputed = shape_after(s, "recomputed metadata:", pos);
    size_t n = 0;
    for (size_t p = s.find("tensor at position "); p != std::string::npos;
         p = s.find("tensor at position ", p + 1))
      ++n;
    return first_line(s) + " (" + s.substr(pos, nl - pos) + ": saved shape " + saved +
           ", recomputed " + recomputed +
           (n > 1 ? "; " + std::to_string(n) + " tensors differ" : "") + ")";
  }
  std::string line = first_line(s);
  if (line.size() <= 160) return line;
  auto dot = line.find(". ");
  return dot != std::string::npos && dot < 200 ? line.substr(0, dot + 1) + " ..."
                                               : line.substr(0, 160) + " ...";
}

std::string fmt_num(double v, int prec) {
  std::ostringstream o;
  if (std::isinf(v)) return "inf";
  o.precision(prec);
  o << v;
  return o.str();
}

ModeResult compare_step(const std::string& name, const std::string& description, const Step& ref,
                        const Step& run, double tolerance) {
  ModeResult mr;
  mr.name = name;
  mr.description = description;
  mr.error = run.error;
  mr.warnings = run.warnings;
  if (!run.layer_calls.empty()) {
    int64_t mx = *std::max_element(run.layer_calls.begin(), run.layer_calls.end());
    mr.metrics["forward_calls_per_layer"] = static_cast<double>(mx);
    for (size_t i = 0; i < run.layer_calls.size(); ++i)
      mr.metrics["forward_calls_layer_" + std::to_string(i)] =
          static_cast<double>(run.layer_calls[i]);
  }
  if (run.error) {
    mr.hazard = true;
    mr.finding = "raised: " + short_error(*run.error);
    return mr;
  }
  for (const auto& [pname, rg] : ref.grads) {
    ParamStat ps;
    ps.name = pname;
    auto it = run.grads.find(pname);
    at::Tensor g = it == run.grads.end() ? at::Tensor() : it->second;
    ps.ref_has_grad = rg.defined();
    ps.has_grad = g.defined();
    auto rd = rg.defined() ? rg.to(at::kDouble) : at::Tensor();
    auto gd = g.defined() ? g.to(at::kDouble) : at::Tensor();
    ps.ref_norm = rd.defined() ? rd.norm().item<double>() : 0.0;
    ps.norm = gd.defined() ? gd.norm().item<double>() : 0.0;
    ps.all_zero = !gd.defined() || ps.norm == 0.0;
    if (rd.defined() && gd.defined()) {
      double diff = (gd - rd).norm().item<double>();
      ps.rel_err = ps.ref_norm > 0 ? diff / ps.ref_norm : (diff > 0 ? INFINITY : 0.0);
      double denom = ps.ref_norm * ps.norm;
      ps.cosine = denom > 0 ? (gd * rd).sum().item<double>() / denom : (diff == 0 ? 1.0 : 0.0);
    } else if (rd.defined() || gd.defined()) {
      double n = rd.defined() ? ps.ref_norm : ps.norm;
      ps.rel_err = n > 0 ? (rd.defined() ? 1.0 : INFINITY) : 0.0;
      ps.cosine = n > 0 ? 0.0 : 1.0;
    }
    bool ref_nonzero = ps.ref_norm > 0;
    ps.differs = ps.rel_err > tolerance || (ref_nonzero && ps.all_zero);
    if (ref_nonzero && ps.all_zero) mr.missing++;
    if (ps.differs) mr.differing++;
    if (std::isfinite(ps.rel_err))
      mr.max_rel_err = std::max(mr.max_rel_err, ps.rel_err);
    else
      mr.max_rel_err = INFINITY;
    mr.min_cosine = std::min(mr.min_cosine, ps.cosine);
    mr.params.push_back(ps);
  }
  size_t n = mr.params.size();
  if (mr.differing > 0) {
    mr.hazard = true;
    std::ostringstream f;
    if (mr.missing > 0) {
      double missing_norm = 0;
      for (const auto& p : mr.params)
        if (p.ref_norm > 0 && p.all_zero) missing_norm += p.ref_norm * p.ref_norm;
      f << mr.missing << "/" << n << " trainable gradients missing or zero (reference norm "
        << fmt_num(std::sqrt(missing_norm)) << ")";
      if (mr.differing > mr.missing) f << ", ";
    }
    if (mr.differing > mr.missing) f << (mr.differing - mr.missing) << "/" << n << " differ";
    f << " (max rel err " << fmt_num(mr.max_rel_err) << ", min cosine " << fmt_num(mr.min_cosine)
      << ")";
    mr.finding = f.str();
  } else {
    mr.finding = "matches the reference (" + std::to_string(n) + " gradients, max rel err " +
                 fmt_num(mr.max_rel_err) + ")";
  }
  return mr;
}

// The usual verdict: CONFIRMED when some mode departs from the reference.
void verdict_from_modes(ScenarioResult& res) {
  if (res.verdict == "ERROR") return;
  std::vector<std::string> bad, good;
  double max_err = 0;
  for (const auto& m : res.modes) {
    if (m.hazard)
      bad.push_back(m.name + ": " + m.finding);
    else {
      good.push_back(m.name);
      max_err = std::max(max_err, m.max_rel_err);
    }
  }
  std::string s;
  for (const auto& b : bad) s += (s.empty() ? "" : "; ") + b;
  if (!bad.empty()) {
    res.verdict = "CONFIRMED";
    if (!good.empty()) {
      s += "; matching the reference: ";
      for (size_t i = 0; i < good.size(); ++i) s += (i ? ", " : "") + good[i];
    }
  } else {
    res.verdict = "REFUTED";
    s = "every mode matches the no-checkpoint reference (" + std::to_string(good.size()) +
        " modes, max rel err " + fmt_num(max_err) + ")";
  }
  res.summary = s;
}

namespace {

namespace ag = torch::autograd;

enum class GradMode { Backward, AutogradGrad, BackwardInputs };

const char* grad_mode_name(GradMode g) {
  switch (g) {
    case GradMode::Backward:
      return "backward";
    case GradMode::AutogradGrad:
      return "grad";
    case GradMode::BackwardInputs:
      return "backward_inputs";
  }
  return "?";
}

// What one run did, for the parity dump.
struct RunRecord {
  std::string mode;
  StepConfig cfg;
  GradMode grad_mode = GradMode::Backward;
  int ddp_find_unused = -1;  // -1: no DDP
  Step step;
};

std::string mib(double bytes) {
  return fmt_num(bytes / (1024.0 * 1024.0), 3) + " MiB";
}

class Probe {
 public:
  Probe(const ProbeOptions& o, const DeviceInfo& d, ScenarioResult& r)
      : opts(o), dev(d), res(r), device(d.cuda ? at::Device(at::kCUDA, 0) : at::Device(at::kCPU)) {}

  const ProbeOptions& opts;
  const DeviceInfo& dev;
  ScenarioResult& res;
  at::Device device;

  // --- running ------------------------------------------------------------------------------

  Step step(Model& m, const at::Tensor& ids, const StepConfig& cfg,
            GradMode gm = GradMode::Backward, int ddp_find_unused = -1) {
    Step out;
    for (auto& p : m.params()) p.t.mutable_grad() = at::Tensor();
    at::manual_seed(opts.seed + 1000);  // dropout draws: identical across modes
    StepState st;
    WarningCapture warnings;
    if (cfg.zero3) m.zero3_partition_all();
    try {
      auto trainable = m.trainable();
      std::vector<at::Tensor> returned;
      if (ddp_find_unused >= 0) {
        if (auto why = ddp_unavailable()) throw std::runtime_error(*why);
        ddp_step(trainable, ddp_find_unused == 1, [&] {
          auto l = m.loss(ids, cfg, st);
          out.loss = l.item<double>();
          return l;
        });
      } else {
        auto loss = m.loss(ids, cfg, st);
        out.loss = loss.item<double>();
        switch (gm) {
          case GradMode::Backward:
            ag::backward({loss});
            break;
          case GradMode::AutogradGrad:
            returned = ag::grad({loss}, trainable);
            break;
          case GradMode::BackwardInputs:
            ag::backward({loss}, {}, false, false, trainable);
            break;
        }
      }
      size_t k = 0;
      for (auto& p : m.params()) {
        if (!p.trainable()) continue;
        at::Tensor g = gm == GradMode::AutogradGrad ? returned[k] : p.t.grad();
        out.grads[p.name] = g.defined() ? g.detach().clone() : at::Tensor();
        ++k;
      }
    } catch (const std::bad_alloc&) {
      if (cfg.zero3) m.zero3_restore_all();
      throw;  // out of memory is the probe's failure, not a hazard: the scenario is ERROR
    } catch (const std::exception& e) {
      out.error = error_text(e);
    }
    if (cfg.zero3) m.zero3_restore_all();
    if (out.error && is_out_of_memory(*out.error)) throw std::runtime_error(*out.error);
    device::synchronize();
    std::set<std::string> seen;
    for (auto& w : warnings.messages)
      if (seen.insert(w).second) out.warnings.push_back(w);
    out.layer_calls = st.layer_calls;
    return out;
  }

  // --- comparing ------------------------------------------------------------------------------

  ModeResult compare(const std::string& name, const std::string& description, const Step& ref,
                     const Step& run) {
    return compare_step(name, description, ref, run, opts.tolerance);
  }

  // --- parity dump ------------------------------------------------------------------------------

  // What the dump needs of a model, copied: the scenario's models are gone when it is written.
  struct Variant {
    std::string name;
    ModelSpec spec;
    std::vector<std::pair<std::string, at::Tensor>> tensors;
    std::vector<std::string> trainable;
    bool second_adapter = false;
    at::Tensor ids;
    std::vector<RunRecord> runs;
  };
  std::vector<Variant> variants;

  void record(Variant& v, const std::string& mode, const StepConfig& cfg, GradMode gm, int ddp,
              const Step& s) {
    if (opts.dump_dir.empty()) return;
    v.runs.push_back(RunRecord{mode, cfg, gm, ddp, s});
  }

  void write_dump() {
    if (opts.dump_dir.empty()) return;
    using Dict = c10::impl::GenericDict;
    auto dict = [] { return Dict(c10::StringType::get(), c10::AnyType::get()); };
    auto strlist = [](const std::vector<std::string>& v) {
      c10::List<std::string> l;
      for (const auto& s : v) l.push_back(s);
      return l;
    };
    auto cpu = [](const at::Tensor& t) { return t.detach().to(at::kCPU).contiguous(); };
    Dict root = dict();
    root.insert("scenario", res.name);
    root.insert("torch_version", dev.torch_version);
    c10::impl::GenericList vl(c10::AnyType::get());
    for (auto& v : variants) {
      const auto& sp = v.spec;
      const auto& sz = sp.sizes;
      Dict spec = dict();
      spec.insert("layers", sz.layers);
      spec.insert("hidden", sz.hidden);
      spec.insert("heads", sz.heads);
      spec.insert("kv_heads", sz.kv_heads);
      spec.insert("intermediate", sz.intermediate);
      spec.insert("vocab", sz.vocab);
      spec.insert("seq", sz.seq);
      spec.insert("batch", sz.batch);
      spec.insert("rms_eps", sz.rms_eps);
      spec.insert("quant_bits", static_cast<int64_t>(sp.quant_bits));
      spec.insert("double_quant", sp.double_quant);
      spec.insert("lora", sp.lora);
      spec.insert("lora_rank", sp.lora_rank);
      spec.insert("lora_alpha", sp.lora_alpha);
      spec.insert("lora_dropout", sp.lora_dropout);
      spec.insert("lora_targets", strlist(sp.lora_targets));
      spec.insert("attention_dropout", sp.attention_dropout);
      spec.insert("second_adapter", v.second_adapter);
      Dict tensors = dict();
      for (auto& [k, t] : v.tensors) tensors.insert(k, cpu(t));
      Dict vd = dict();
      vd.insert("name", v.name);
      vd.insert("spec", spec);
      vd.insert("tensors", tensors);
      vd.insert("trainable", strlist(v.trainable));
      vd.insert("ids", cpu(v.ids));
      vd.insert("step_seed", static_cast<int64_t>(opts.seed + 1000));
      c10::impl::GenericList runs(c10::AnyType::get());
      for (auto& r : v.runs) {
        Dict rd = dict();
        std::vector<std::string> wrap;
        for (auto m : r.cfg.wrap) wrap.push_back(mode_name(m));
        rd.insert("mode", r.mode);
        rd.insert("wrap", strlist(wrap));
        rd.insert("preserve_rng_state", r.cfg.ckpt.preserve_rng_state);
        rd.insert("early_stop", r.cfg.ckpt.early_stop);
        rd.insert("input_hook", r.cfg.input_hook);
        rd.insert("use_cache", r.cfg.use_cache);
        rd.insert("zero3", r.cfg.zero3);
        rd.insert("share_kv", r.cfg.share_kv);
        rd.insert("switch_adapter", r.cfg.switch_adapter);
        rd.insert("grad_mode", std::string(grad_mode_name(r.grad_mode)));
        rd.insert("ddp_find_unused", static_cast<int64_t>(r.ddp_find_unused));
        rd.insert("error", r.step.error ? c10::IValue(*r.step.error) : c10::IValue());
        rd.insert("warnings", strlist(r.step.warnings));
        rd.insert("loss", r.step.loss);
        Dict grads = dict();
        for (auto& [k, g] : r.step.grads)
          grads.insert(k, g.defined() ? c10::IValue(cpu(g)) : c10::IValue());
        rd.insert("grads", grads);
        c10::List<int64_t> calls;
        for (auto c : r.step.layer_calls) calls.push_back(c);
        rd.insert("layer_calls", calls);
        runs.push_back(rd);
      }
      vd.insert("runs", runs);
      vl.push_back(vd);
    }
    root.insert("variants", vl);
    auto bytes = torch::pickle_save(root);
    std::string path = opts.dump_dir + "/" + res.name + ".pt";
    std::ofstream f(path, std::ios::binary);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!f) throw std::runtime_error("cannot write " + path);
  }

  // --- a variant: a model, its reference, and modes compared with it -------------------------

  struct RunSpec {
    std::string mode;
    std::string description;
    StepConfig cfg;
    GradMode grad_mode = GradMode::Backward;
    int ddp = -1;
  };

  // Runs the reference and every mode on one model; appends the modes to the result.
  // Returns false (and sets ERROR) when the reference itself fails.
  bool run_variant(const std::string& vname, Model& m, const StepConfig& ref_cfg,
                   const std::vector<RunSpec>& specs, bool second_adapter = false, int ref_ddp = -1,
                   const std::string& prefix = "") {
    variants.push_back(
        Variant{vname, m.spec(), {}, {}, second_adapter, m.make_inputs(opts.seed + 7), {}});
    Variant& v = variants.back();
    if (!opts.dump_dir.empty()) {
      for (auto& [k, t] : m.named_tensors()) v.tensors.emplace_back(k, t.detach().clone());
      for (const auto& prm : m.params())
        if (prm.trainable()) v.trainable.push_back(prm.name);
    }
    Step ref = step(m, v.ids, ref_cfg, GradMode::Backward, ref_ddp);
    record(v, "reference", ref_cfg, GradMode::Backward, ref_ddp, ref);
    if (ref.error) {
      res.verdict = "ERROR";
      res.summary = "the no-checkpoint reference step failed: " + first_line(*ref.error);
      return false;
    }
    for (const auto& s : specs) {
      Step run = step(m, v.ids, s.cfg, s.grad_mode, s.ddp);
      record(v, s.mode, s.cfg, s.grad_mode, s.ddp, run);
      res.modes.push_back(compare(prefix + s.mode, s.description, ref, run));
    }
    return true;
  }

  void verdict_from_modes() { gprobe::verdict_from_modes(res); }

  ModelSpec base_spec() const { return opts.model; }
};

StepConfig wrap(std::vector<CkptMode> w, bool hook = false) {
  StepConfig c;
  c.wrap = std::move(w);
  c.input_hook = hook;
  return c;
}

using R = CkptMode;

// ---- the scenarios ---------------------------------------------------------------------------

void frozen_inputs(Probe& p) {
  ModelSpec spec = p.base_spec();
  spec.lora = true;  // the LoRA variant; the partial-freeze variant below is a full fine-tune
  std::vector<std::string> unfrozen = spec.unfrozen;
  spec.unfrozen.clear();
  Model m(spec, p.opts.seed, p.device);
  if (!p.run_variant("lora", m, StepConfig{},
                     {{"reentrant", "LoRA on a quantized base, frozen embeddings, reentrant",
                       wrap({R::Reentrant})},
                      {"reentrant+input-hook", "same, with enable_input_require_grads()",
                       wrap({R::Reentrant}, true)},
                      {"non-reentrant", "same, non-reentrant", wrap({R::NonReentrant})}},
                     false, -1, "lora/"))
    return;
  // Partial freezing (Axolotl unfrozen_parameters): a dense model whose embeddings and first
  // layer are frozen; the later layers, the final norm and the head train.
  ModelSpec pf = spec;
  pf.lora = false;
  pf.quant_bits = 0;
  pf.unfrozen = unfrozen;
  if (pf.unfrozen.empty()) {
    for (int64_t i = 1; i < pf.sizes.layers; ++i)
      pf.unfrozen.push_back("^model\\.layers\\." + std::to_string(i) + "\\.");
    pf.unfrozen.push_back("^model\\.norm\\.");
    pf.unfrozen.push_back("^lm_head\\.");
  }
  if (!pf.frozen_embeddings) pf.unfrozen.push_back("^model\\.embed_tokens\\.");
  Model m2(pf, p.opts.seed, p.device);
  p.run_variant("partial-freeze", m2, StepConfig{},
                {{"reentrant", "embeddings and layer 0 frozen, reentrant", wrap({R::Reentrant})},
                 {"non-reentrant", "same, non-reentrant", wrap({R::NonReentrant})}},
                false, -1, "partial-freeze/");
}

void keyword_tensors(Probe& p) {
  ModelSpec spec = p.base_spec();
  if (spec.sizes.layers < 2) spec.sizes.layers = 2;
  Model m(spec, p.opts.seed, p.device);
  auto cfg = [](std::vector<CkptMode> w) {
    StepConfig c = wrap(std::move(w), true);
    c.share_kv = true;
    return c;
  };
  StepConfig ref;
  ref.share_kv = true;
  ref.input_hook = true;
  p.run_variant("shared-kv", m, ref,
                {{"reentrant", "the last layer reads layer 0's K/V from a keyword dict, reentrant",
                  cfg({R::Reentrant})},
                 {"non-reentrant", "same, non-reentrant", cfg({R::NonReentrant})}});
}

void autograd_grad(Probe& p) {
  // The embeddings train too, so that the gradients asked for lie upstream of the
  // checkpointed layers, as they do for a gradient penalty on a full model.
  ModelSpec spec = p.base_spec();
  spec.frozen_embeddings = false;
  Model m(spec, p.opts.seed, p.device);
  p.run_variant("lora", m, StepConfig{},
                {{"reentrant/autograd.grad", "torch.autograd.grad(loss, params), reentrant",
                  wrap({R::Reentrant}, true), GradMode::AutogradGrad},
                 {"reentrant/backward(inputs=)", "loss.backward(inputs=params), reentrant",
                  wrap({R::Reentrant}, true), GradMode::BackwardInputs},
                 {"non-reentrant/autograd.grad", "torch.autograd.grad(loss, params), non-reentrant",
                  wrap({R::NonReentrant}), GradMode::AutogradGrad}});
}

void dropout_rng(Probe& p) {
  ModelSpec spec = p.base_spec();
  // Dropout that the user did not give: 0.1, a common lora_dropout.
  if (spec.lora_dropout < 0) spec.lora_dropout = 0.1;
  if (spec.attention_dropout < 0) spec.attention_dropout = 0.1;
  Model m(spec, p.opts.seed, p.device);
  auto cfg = [](CkptMode mode, bool preserve) {
    StepConfig c = wrap({mode}, true);
    c.ckpt.preserve_rng_state = preserve;
    return c;
  };
  p.run_variant("dropout", m, StepConfig{},
                {{"reentrant/preserve_rng_state=True", "", cfg(R::Reentrant, true)},
                 {"reentrant/preserve_rng_state=False", "", cfg(R::Reentrant, false)},
                 {"non-reentrant/preserve_rng_state=True", "", cfg(R::NonReentrant, true)},
                 {"non-reentrant/preserve_rng_state=False", "", cfg(R::NonReentrant, false)}});
}

void stateful_recompute(Probe& p) {
  ModelSpec spec = p.base_spec();
  spec.lora = true;  // the state that changes is the active adapter: adapters are needed
  Model m(spec, p.opts.seed, p.device, /*second_adapter=*/true);
  auto cfg = [](std::vector<CkptMode> w) {
    StepConfig c = wrap(std::move(w), true);
    c.switch_adapter = true;
    return c;
  };
  StepConfig ref;
  ref.switch_adapter = true;
  p.run_variant(
      "adapter-switch", m, ref,
      {{"reentrant", "each layer call switches the active adapter, reentrant", cfg({R::Reentrant})},
       {"non-reentrant", "same, non-reentrant", cfg({R::NonReentrant})}},
      true);
}

void kv_cache(Probe& p) {
  Model m(p.base_spec(), p.opts.seed, p.device);
  auto cfg = [](std::vector<CkptMode> w) {
    StepConfig c = wrap(std::move(w), true);
    c.use_cache = true;
    return c;
  };
  StepConfig ref;
  ref.use_cache = true;
  p.run_variant("use_cache", m, ref,
                {{"reentrant", "use_cache=True, each layer appends to its cache, reentrant",
                  cfg({R::Reentrant})},
                 {"non-reentrant", "same, non-reentrant (FSDP activation checkpointing)",
                  cfg({R::NonReentrant})}});
}

void zero3_partition(Probe& p) {
  Model m(p.base_spec(), p.opts.seed, p.device);
  auto cfg = [](std::vector<CkptMode> w) {
    StepConfig c = wrap(std::move(w), true);
    c.zero3 = true;
    return c;
  };
  StepConfig ref;
  ref.zero3 = true;
  p.run_variant("zero3", m, ref,
                {{"reentrant", "frozen parameters released after use, gathered on demand",
                  cfg({R::Reentrant})},
                 {"non-reentrant", "same, non-reentrant", cfg({R::NonReentrant})}});
}

void ddp_unused(Probe& p) {
  if (auto why = ddp_unavailable()) {
    p.res.verdict = "ERROR";
    p.res.summary = *why;
    return;
  }
  Model m(p.base_spec(), p.opts.seed, p.device);
  p.run_variant("ddp", m, StepConfig{},
                {{"reentrant/find_unused_parameters=True", "", wrap({R::Reentrant}, true),
                  GradMode::Backward, 1},
                 {"reentrant/find_unused_parameters=False", "", wrap({R::Reentrant}, true),
                  GradMode::Backward, 0},
                 {"non-reentrant/find_unused_parameters=True", "", wrap({R::NonReentrant}),
                  GradMode::Backward, 1},
                 {"non-reentrant/find_unused_parameters=False", "", wrap({R::NonReentrant}),
                  GradMode::Backward, 0}},
                false, /*ref_ddp=*/1);
}

StepConfig no_early_stop(StepConfig c) {
  c.ckpt.early_stop = false;
  return c;
}

void nested(Probe& p) {
  Model m(p.base_spec(), p.opts.seed, p.device);
  StepConfig no_ckpt;
  if (!p.run_variant("nesting", m, no_ckpt,
                     {{"reentrant", "one wrapper", wrap({R::Reentrant}, true)},
                      {"non-reentrant", "one wrapper", wrap({R::NonReentrant})},
                      {"reentrant-in-reentrant", "two reentrant wrappers",
                       wrap({R::Reentrant, R::Reentrant}, true)},
                      {"reentrant-in-non-reentrant",
                       "HF reentrant checkpointing inside FSDP activation checkpointing",
                       wrap({R::NonReentrant, R::Reentrant}, true)},
                      {"non-reentrant-in-non-reentrant", "two non-reentrant wrappers",
                       wrap({R::NonReentrant, R::NonReentrant})},
                      {"non-reentrant-in-non-reentrant/early_stop=False",
                       "two non-reentrant wrappers, set_checkpoint_early_stop(False)",
                       no_early_stop(wrap({R::NonReentrant, R::NonReentrant}))}}))
    return;
  // A double wrapper shows the hazard when a layer runs forward more than twice per step.
  for (auto& mr : p.res.modes) {
    double calls =
        mr.metrics.count("forward_calls_per_layer") ? mr.metrics["forward_calls_per_layer"] : 0;
    if (!mr.error && mr.differing == 0 && calls > 2) {
      mr.hazard = true;
      mr.finding = fmt_num(calls) + " forward calls per layer per step (one checkpoint: 2): " +
                   "every backward recomputes " + fmt_num(calls - 1) + " times";
    } else if (!mr.error && mr.differing == 0) {
      mr.finding = fmt_num(calls) + " forward calls per layer per step, gradients match";
    }
  }
}

void memory(Probe& p) {
  ModelSpec spec = p.base_spec();
  // A size where activations dominate the step's memory.
  Sizes& s = spec.sizes;
  if (p.dev.cuda) {
    s.layers = 2;
    s.hidden = 1024;
    s.heads = 16;
    s.kv_heads = 4;
    s.intermediate = 2816;
    s.vocab = 4096;
    s.seq = 512;
    s.batch = 2;
  } else {
    s.layers = 4;
    s.hidden = 128;
    s.heads = 4;
    s.kv_heads = 2;
    s.intermediate = 256;
    s.vocab = 256;
    s.seq = 128;
    s.batch = 2;
  }
  spec.lora_dropout = 0;
  spec.attention_dropout = 0;
  Model m(spec, p.opts.seed, p.device);
  auto ids = m.make_inputs(p.opts.seed + 7);
  std::vector<at::Tensor> model_tensors;
  for (auto& [k, t] : m.named_tensors()) model_tensors.push_back(t);
  struct M {
    std::string name;
    StepConfig cfg;
  };
  std::vector<M> modes{{"none", StepConfig{}},
                       {"reentrant", wrap({R::Reentrant}, true)},
                       {"non-reentrant", wrap({R::NonReentrant})}};
  int dev_index = p.dev.cuda ? 0 : -1;
  std::vector<ModeResult> results(modes.size());
  std::vector<StepState> states(modes.size());
  std::vector<std::vector<double>> times(modes.size());
  auto step = [&](size_t k) {
    for (auto& prm : m.params()) prm.t.mutable_grad() = at::Tensor();
    auto loss = m.loss(ids, modes[k].cfg, states[k]);
    ag::backward({loss});
  };
  // 1. Memory, one step per mode: the bytes saved for backward at the end of the forward
  //    (counting hooks pass the same tensors through, so they change no allocation) and, on
  //    CUDA, the allocator's peak above what the model holds. It also warms each mode up.
  //    (Two layers at sequence 512 keep activations 15 times the model's own bytes.)
  for (size_t k = 0; k < modes.size(); ++k) {
    ModeResult& mr = results[k];
    mr.name = modes[k].name;
    try {
      for (auto& prm : m.params()) prm.t.mutable_grad() = at::Tensor();
      device::synchronize();
      int64_t before = dev_index >= 0 ? device::allocated_bytes(dev_index) : 0;
      if (dev_index >= 0) device::reset_peak(dev_index);
      CountSavedBytes count(model_tensors);
      auto loss = m.loss(ids, modes[k].cfg, states[k]);
      mr.metrics["saved_activation_bytes"] = static_cast<double>(count.bytes());
      ag::backward({loss});
      device::synchronize();
      if (dev_index >= 0)
        mr.metrics["peak_step_bytes"] = static_cast<double>(device::peak_bytes(dev_index) - before);
    } catch (const std::exception& e) {
      mr.error = error_text(e);
      mr.finding = "raised: " + short_error(*mr.error);
    }
  }
  // 2. Step time: the modes take turns, round after round, so clock ramp-up and other load
  //    fall on all of them alike; the median of each mode's rounds.
  const int kRounds = p.dev.cuda ? 5 : 3;
  for (int r = 0; r < kRounds; ++r) {
    for (size_t k = 0; k < modes.size(); ++k) {
      if (results[k].error) continue;
      try {
        device::synchronize();
        auto t0 = std::chrono::steady_clock::now();
        step(k);
        device::synchronize();
        times[k].push_back(
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                .count());
      } catch (const std::exception& e) {
        results[k].error = error_text(e);
        results[k].finding = "raised: " + short_error(*results[k].error);
      }
    }
  }
  double base_saved = 0, base_ms = 0, base_peak = 0, best_saving = 0;
  std::string summary;
  for (size_t k = 0; k < modes.size(); ++k) {
    ModeResult& mr = results[k];
    if (!mr.error) {
      std::sort(times[k].begin(), times[k].end());
      double t = times[k][times[k].size() / 2];
      double saved = mr.metrics["saved_activation_bytes"];
      double peak = dev_index >= 0 ? mr.metrics["peak_step_bytes"] : 0;
      mr.metrics["step_ms"] = t;
      mr.metrics["forward_calls_per_layer"] =
          static_cast<double>(states[k].layer_calls.empty() ? 0 : states[k].layer_calls[0]);
      if (modes[k].name == "none") {
        base_saved = saved;
        base_ms = t;
        base_peak = peak;
        mr.finding =
            "saves " + mib(static_cast<int64_t>(saved)) + " for backward, step " + fmt_num(t) +
            " ms" +
            (dev_index >= 0 ? ", peak " + mib(static_cast<int64_t>(peak)) + " above the model"
                            : "");
      } else {
        double saving = base_saved > 0 ? 1.0 - saved / base_saved : 0;
        double overhead = base_ms > 0 ? t / base_ms - 1.0 : 0;
        mr.metrics["activation_saving"] = saving;
        mr.metrics["time_overhead"] = overhead;
        if (dev_index >= 0 && base_peak > 0) mr.metrics["peak_saving"] = 1.0 - peak / base_peak;
        best_saving = std::max(best_saving, saving);
        mr.finding = "saves " + mib(static_cast<int64_t>(saved)) + " (" + fmt_num(100 * saving, 3) +
                     "% less), step " + fmt_num(t) + " ms (" + (overhead >= 0 ? "+" : "") +
                     fmt_num(100 * overhead, 3) + "%)" +
                     (dev_index >= 0 ? ", peak " + mib(static_cast<int64_t>(peak)) + " (" +
                                           fmt_num(100 * mr.metrics["peak_saving"], 3) + "% less)"
                                     : "");
      }
    }
    summary += (summary.empty() ? "" : "; ") + mr.name + ": " + mr.finding;
    p.res.modes.push_back(mr);
  }
  for (const auto& mr : p.res.modes) {
    if (mr.error) {
      p.res.verdict = "ERROR";
      p.res.summary = mr.name + " " + mr.finding;
      return;
    }
  }
  if (!p.dev.cuda)
    p.res.notes.push_back(
        "on CPU the peak device memory is not measured: the numbers are the bytes autograd "
        "keeps for backward at the end of the forward, and CPU step times");
  // GC203: activation memory dominates and checkpointing would save it.
  p.res.verdict = best_saving >= 0.25 ? "CONFIRMED" : "REFUTED";
  p.res.summary = summary;
}

struct ScenarioDef {
  const char* name;
  const char* rules;
  const char* title;
  void (*run)(Probe&);
};

const ScenarioDef kScenarios[] = {
    {"frozen-inputs", "GC101, GC204, GC205",
     "reentrant checkpointing with inputs that do not require grad", frozen_inputs},
    {"keyword-tensors", "GC102", "grad-carrying tensors passed by keyword under reentrant",
     keyword_tensors},
    {"autograd-grad", "GC103", "reentrant checkpointing with autograd.grad / backward(inputs=)",
     autograd_grad},
    {"dropout-rng", "GC106", "dropout without RNG state restoration", dropout_rng},
    {"stateful-recompute", "GC107", "state that changes between forward and recomputation",
     stateful_recompute},
    {"kv-cache", "GC201", "a KV cache that the recomputation appends to again", kv_cache},
    {"zero3-partition", "GC302", "ZeRO-3 partitions frozen parameters during recomputation",
     zero3_partition},
    {"ddp-unused", "GC301", "DDP find_unused_parameters with reentrant checkpointing", ddp_unused},
    {"nested", "GC109, GC304", "two checkpoint wrappers around the same layers", nested},
    {"memory", "GC203", "activation memory and step time per checkpoint mode", memory},
};

const ScenarioDef* find_def(const std::string& name) {
  for (const auto& d : kScenarios)
    if (name == d.name) return &d;
  return nullptr;
}

}  // namespace

const std::vector<std::string>& scenario_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const auto& d : kScenarios) v.emplace_back(d.name);
    return v;
  }();
  return names;
}

std::string scenario_rules(const std::string& name) {
  const auto* d = find_def(name);
  return d ? d->rules : "";
}

std::string scenario_title(const std::string& name) {
  const auto* d = find_def(name);
  return d ? d->title : "";
}

ScenarioResult run_scenario(const std::string& name, const ProbeOptions& opts,
                            const DeviceInfo& dev, bool shared) {
  install_engine();
  ScenarioResult res;
  res.name = name;
  res.rules = scenario_rules(name);
  auto t0 = std::chrono::steady_clock::now();
  const auto* def = find_def(name);
  if (def == nullptr) {
    res.verdict = "ERROR";
    res.summary = "unknown scenario";
  } else {
    Probe probe(opts, dev, res);
    try {
      def->run(probe);
      if (res.verdict.empty()) probe.verdict_from_modes();
      probe.write_dump();
    } catch (const std::exception& e) {
      std::string msg = error_text(e);
      res.verdict = "ERROR";
      bool oom = is_out_of_memory(msg) || dynamic_cast<const std::bad_alloc*>(&e) != nullptr;
      res.summary = oom ? "out of memory: " + first_line(msg) +
                              " (try smaller sizes: --layers/--hidden/--seq/--batch)"
                        : first_line(msg);
    }
    if (dev.cuda && !shared) device::empty_cache();
  }
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return res;
}

bool may_share_device(const std::string& name, const ProbeOptions& opts, const DeviceInfo& dev) {
#if GPROBE_TORCH_AT_LEAST(2, 0)
  if (!dev.cuda) return false;
  if (opts.model.lora_dropout > 0 || opts.model.attention_dropout > 0) return false;
  return name != "memory" && name != "dropout-rng" && name != "ddp-unused";
#else
  (void)name, (void)opts, (void)dev;
  return false;  // the warning handler of LibTorch 1.x is one for the whole process
#endif
}

void release_device_cache(const DeviceInfo& dev) {
  if (dev.cuda) device::empty_cache();
}

DeviceInfo select_device(const std::string& requested) {
  DeviceInfo d;
  d.torch_version = TORCH_VERSION;
  bool have = device::cuda_available();
  if (requested == "cpu") {
    d.device = "cpu";
    d.line = "device: cpu (--device cpu)";
  } else if (have) {
    d.cuda = true;
    d.device = "cuda:0 (" + device::cuda_name(0) + ")";
    d.line = "device: " + d.device;
  } else {
    d.device = "cpu";
#ifdef GCHECK_CUDA
    const char* why = "no CUDA device is visible";
#else
    const char* why = "this gcheck-probe was built without CUDA (GCHECK_CUDA=OFF)";
#endif
    d.line = std::string("device: cpu (") + why +
             (requested == "cuda" ? "; --device cuda asked for one" : "") +
             "): running on CPU; memory numbers are not GPU numbers";
  }
  return d;
}

double warm_up(const DeviceInfo& dev) {
  if (!dev.cuda) return 0;
  auto t0 = std::chrono::steady_clock::now();
  install_engine();  // before the first backward: the engine's device threads start once
  at::Device device(at::kCUDA, 0);
  auto opts = at::TensorOptions().dtype(at::kFloat).device(device);
  auto w = at::randn({256, 256}, opts);
  auto q = quantize_nf4(w, /*double_quant=*/true);
  auto x = at::randn({8, 256}, opts).requires_grad_(true);
  auto y = at::matmul(x, q.dequantize(at::kFloat).t());
  y.sum().backward();
  device::synchronize();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string bench_dequant(int64_t rows, int64_t cols, const DeviceInfo& dev, int iters) {
  at::Device device = dev.cuda ? at::Device(at::kCUDA, 0) : at::Device(at::kCPU);
  std::ostringstream out;
  auto w = at::randn({rows, cols}, at::TensorOptions().dtype(at::kFloat).device(device));
  auto q = quantize_nf4(w, /*double_quant=*/false);
  auto absmax = nf4_absmax(q);
  auto time_ms = [&](const std::function<void()>& f) {
    f();
    device::synchronize();
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < iters; ++i) f();
    device::synchronize();
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
               .count() /
           iters;
  };
  at::Tensor out_w;
  double deq_ms = time_ms([&] { out_w = q.dequantize(at::kFloat); });
  auto src = at::empty({rows, cols}, w.options());
  auto dst = at::empty_like(src);
  double copy_ms = time_ms([&] { dst.copy_(src); });
  double n = static_cast<double>(rows * cols);
  double deq_bytes = n * 4 + n / 2 + (n / kNf4Block) * 4;  // write float32, read codes + absmax
  double copy_bytes = 2 * n * 4;                           // read + write float32
  double deq_gbs = deq_bytes / (deq_ms * 1e6), copy_gbs = copy_bytes / (copy_ms * 1e6);
  double err = (out_w - w).abs().max().item<double>();
  // the kernel against the ATen path on the same device: must be identical
  double kernel_vs_aten =
      (out_w - q.dequantize(at::kFloat, /*use_kernel=*/false)).abs().max().item<double>();
  out << "nf4-dequant " << rows << "x" << cols << " on " << dev.device << ": " << fmt_num(deq_ms, 4)
      << " ms, " << fmt_num(deq_gbs, 4)
      << " GB/s; device copy of the float32 output: " << fmt_num(copy_ms, 4) << " ms, "
      << fmt_num(copy_gbs, 4) << " GB/s; ratio " << fmt_num(100 * deq_gbs / copy_gbs, 3)
      << "% (target >= 70%); max abs error vs float " << fmt_num(err, 3)
      << "; kernel vs ATen dequantization: max abs diff " << kernel_vs_aten
      << (kernel_vs_aten == 0 ? " (identical)" : " (DIFFERENT)") << "\n";
  return out.str();
}

}  // namespace gprobe
