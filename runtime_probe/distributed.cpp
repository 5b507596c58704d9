// The distributed scenarios: ddp-unused (c10d's Reducer over the real group), zero3-partition
// (ZeRO-3's partitioning emulated on all-gathers across ranks) and rl-qlora (a DPO-style step
// on a QLoRA model under DDP). Each rank trains on its own batch; every rank computes the
// no-checkpoint reference locally, as the average of the gradients over every rank's batch,
// which is what DDP's averaged gradient must equal.
//
// The order of collectives is the same on every rank whatever happens locally: a scenario
// first does its local work (model, batches, reference) and agrees on its status, then runs
// modes whose collectives (inside DDP's backward, ZeRO-3's gathers) are the same on every
// rank; after each mode the ranks exchange their errors before comparing gradients.
#include "runtime_probe/distributed.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <torch/csrc/autograd/autograd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <set>
#include <sstream>
#include <thread>

#include "runtime_probe/checkpoint.h"
#include "runtime_probe/compare.h"
#include "runtime_probe/ddp.h"
#include "runtime_probe/model.h"
#include "runtime_probe/torch_compat.h"

namespace gprobe {

namespace {

namespace ag = torch::autograd;

const char* const kInjectVar = "GCHECK_PROBE_INJECT";
const char* const kFailedKey = "gcheck-probe/failed/";

std::optional<int> parse_int(const char* s) {
  if (s == nullptr || *s == '\0') return std::nullopt;
  char* end = nullptr;
  errno = 0;
  long v = std::strtol(s, &end, 10);
  if (errno != 0 || *end != '\0' || v < 0 || v > 1000000) return std::nullopt;
  return static_cast<int>(v);
}

// A failure injected for the tests (GCHECK_PROBE_INJECT=RANK:SCENARIO:KIND): `error` raises
// in the scenario's local part, `crash` kills the rank (SIGKILL) when the scenario's
// collectives start, `hang` stops it there for twice the timeout.
struct Injection {
  int rank = -1;
  std::string scenario;
  std::string kind;
};

Injection read_injection() {
  Injection inj;
  const char* v = std::getenv(kInjectVar);
  if (v == nullptr) return inj;
  std::string s(v);
  auto a = s.find(':'), b = s.rfind(':');
  if (a == std::string::npos || b == a) return inj;
  auto r = parse_int(s.substr(0, a).c_str());
  if (!r) return inj;
  inj.rank = *r;
  inj.scenario = s.substr(a + 1, b - a - 1);
  inj.kind = s.substr(b + 1);
  return inj;
}

struct DistScenarioDef {
  const char* name;
  const char* rules;
  const char* title;
};

const DistScenarioDef kDistScenarios[] = {
    {"ddp-unused", "GC301",
     "DDP find_unused_parameters with reentrant checkpointing, c10d Reducer across ranks"},
    {"zero3-partition", "GC302",
     "ZeRO-3 partitions frozen parameters during recomputation (emulated on c10d all-gathers)"},
    {"rl-qlora", "GC303",
     "an RL (DPO-style) step on a QLoRA model under DDP: policy passes and an adapter-free "
     "reference"},
};

const DistScenarioDef* find_dist_def(const std::string& name) {
  for (const auto& d : kDistScenarios)
    if (name == d.name) return &d;
  return nullptr;
}

// A scenario on every rank: the group, this rank's result, and the steps every rank takes.
class Dist {
 public:
  Dist(Group& g, const ProbeOptions& o, const DistributedOptions& d, at::Device dev,
       ScenarioResult& r, const Injection& inj)
      : g(g), opts(o), dopts(d), device(dev), res(r), inj_(inj) {}

  Group& g;
  const ProbeOptions& opts;
  const DistributedOptions& dopts;
  at::Device device;
  ScenarioResult& res;

  int rank() const { return g.rank(); }
  int size() const { return g.size(); }

  // Collectives take tensors on the backend's device (CPU for Gloo, this rank's GPU for NCCL).
  at::Device comm_device() const { return g.backend() == "nccl" ? device : at::Device(at::kCPU); }

  // Every rank's string, in rank order; `subject` names the collective in errors.
  std::vector<std::string> all_gather_strings(const std::string& s, const std::string& subject) {
    auto lopts = at::TensorOptions().dtype(at::kLong).device(comm_device());
    auto len = at::full({1}, static_cast<int64_t>(s.size()), lopts);
    auto lens = g.all_gather(len, "all_gather (" + subject + ": lengths)").to(at::kCPU);
    int64_t longest = std::max<int64_t>(1, lens.max().item<int64_t>());
    auto buf = at::zeros({longest}, at::TensorOptions().dtype(at::kByte));
    if (!s.empty()) std::memcpy(buf.data_ptr<uint8_t>(), s.data(), s.size());
    auto all = g.all_gather(buf.to(comm_device()), "all_gather (" + subject + ")")
                   .to(at::kCPU)
                   .contiguous();
    std::vector<std::string> out;
    for (int r = 0; r < size(); ++r) {
      const auto* p = all[r].data_ptr<uint8_t>();
      out.emplace_back(reinterpret_cast<const char*>(p),
                       static_cast<size_t>(lens[r].item<int64_t>()));
    }
    return out;
  }

  // Every rank's error ("" for none) agreed: the first failing rank's text, with its rank.
  std::optional<std::string> agree(const std::optional<std::string>& local,
                                   const std::string& subject) {
    auto all = all_gather_strings(local.value_or(""), subject);
    for (int r = 0; r < size(); ++r)
      if (!all[r].empty()) return "rank " + std::to_string(r) + ": " + all[r];
    return std::nullopt;
  }

  // The scenario's local part (no collectives), then its status agreed across ranks. False
  // (and the scenario in ERROR on every rank) when some rank failed.
  bool local_part(const std::function<void()>& f) {
    std::optional<std::string> err;
    try {
      f();
      if (inj_.rank == rank() && inj_.scenario == res.name && inj_.kind == "error")
        throw std::runtime_error(std::string("failure injected by ") + kInjectVar);
    } catch (const CollectiveError&) {
      throw;
    } catch (const std::exception& e) {
      err = first_line(error_text(e));
    }
    auto agreed = agree(err, "status of " + res.name + " before its collectives");
    if (agreed) {
      res.verdict = "ERROR";
      res.summary = "the scenario could not run on every rank: " + *agreed;
      return false;
    }
    if (inj_.rank == rank() && inj_.scenario == res.name) {
      if (inj_.kind == "crash") std::raise(SIGKILL);
      if (inj_.kind == "hang")
        std::this_thread::sleep_for(2 * g.timeout() + std::chrono::seconds(1));
    }
    return true;
  }

  uint64_t batch_seed(int r, int k) const {
    return opts.seed + 7 + 1000003ULL * static_cast<uint64_t>(2 * r + k);
  }

  static void clear_grads(Model& m) {
    for (auto& p : m.params()) p.t.mutable_grad() = at::Tensor();
  }

  static std::map<std::string, at::Tensor> grads_of(Model& m) {
    std::map<std::string, at::Tensor> out;
    for (auto& p : m.params()) {
      if (!p.trainable()) continue;
      at::Tensor gr = p.t.grad();
      out[p.name] = gr.defined() ? gr.detach().clone() : at::Tensor();
    }
    return out;
  }

  // The no-checkpoint gradients of `loss_of(r)` averaged over every rank's batch r: computed
  // here, without communication.
  Step reference(Model& m, const std::function<at::Tensor(int, StepState&)>& loss_of) {
    Step ref;
    for (int r = 0; r < size(); ++r) {
      clear_grads(m);
      at::manual_seed(opts.seed + 1000);
      StepState st;
      auto loss = loss_of(r, st);
      ref.loss += loss.item<double>() / size();
      ag::backward({loss});
      for (auto& [name, gr] : grads_of(m)) {
        auto& acc = ref.grads[name];
        if (!gr.defined()) continue;
        acc = acc.defined() ? acc + gr / size() : gr / size();
      }
    }
    clear_grads(m);
    return ref;
  }

  // One step on this rank. `ddp` >= 0: under c10d's Reducer (find_unused_parameters = ddp);
  // else plain backward (ZeRO-3, whose gradients are averaged after the errors are agreed).
  Step run(Model& m, int ddp, bool zero3, const std::function<at::Tensor(StepState&)>& loss_fn) {
    Step out;
    clear_grads(m);
    at::manual_seed(opts.seed + 1000);
    StepState st;
    WarningCapture warnings;
    if (zero3) m.zero3_partition_all();
    try {
      if (ddp >= 0) {
        g.ddp_step(m.trainable(), ddp == 1, [&] {
          auto l = loss_fn(st);
          out.loss = l.item<double>();
          return l;
        });
      } else {
        auto l = loss_fn(st);
        out.loss = l.item<double>();
        ag::backward({l});
      }
      out.grads = grads_of(m);
    } catch (const CollectiveError&) {
      if (zero3) m.zero3_restore_all();
      throw;
    } catch (const std::exception& e) {
      out.error = error_text(e);
    }
    if (zero3) m.zero3_restore_all();
    // A collective that failed inside autograd may come back as another exception type.
    if (g.failure()) throw CollectiveError(*g.failure());
    std::set<std::string> seen;
    for (auto& w : warnings.messages)
      if (seen.insert(w).second) out.warnings.push_back(w);
    out.layer_calls = st.layer_calls;
    return out;
  }

  // The trainable gradients in name order, flattened (a missing one as zeros).
  at::Tensor flatten(const Step& s, const Step& ref) const {
    std::vector<at::Tensor> parts;
    for (const auto& [name, rg] : ref.grads) {
      auto it = s.grads.find(name);
      at::Tensor gr = it == s.grads.end() ? at::Tensor() : it->second;
      if (gr.defined())
        parts.push_back(gr.reshape({-1}).to(at::kFloat));
      else if (rg.defined())
        parts.push_back(at::zeros({rg.numel()}, rg.options().dtype(at::kFloat)));
    }
    if (parts.empty()) return at::zeros({1}, at::TensorOptions().dtype(at::kFloat));
    return at::cat(parts).to(at::kCPU);
  }

  void unflatten(Step& s, const Step& ref, const at::Tensor& flat) const {
    int64_t off = 0;
    for (const auto& [name, rg] : ref.grads) {
      auto it = s.grads.find(name);
      at::Tensor gr = it == s.grads.end() ? at::Tensor() : it->second;
      at::Tensor like = gr.defined() ? gr : rg;
      if (!like.defined()) continue;
      s.grads[name] =
          flat.narrow(0, off, like.numel()).view(like.sizes()).to(like.options()).clone();
      off += like.numel();
    }
  }

  // After a mode: the ranks' errors agreed; without errors, ZeRO-3's gradients averaged
  // (`average`), every rank's gradients compared with rank 0's and with the reference.
  ModeResult settle(const std::string& name, const std::string& description, const Step& ref,
                    Step run, bool average) {
    const std::string tag = res.name + ", " + name;
    auto errs = all_gather_strings(run.error.value_or(""), "errors of " + tag);
    bool any = false, same = true;
    for (const auto& e : errs) {
      any |= !e.empty();
      same &= e == errs[0];
    }
    if (any && !same) {
      std::string all;
      for (int r = 0; r < size(); ++r)
        all += (r ? "; rank " : "rank ") + std::to_string(r) + ": " +
               (errs[r].empty() ? "no error" : short_error(errs[r]));
      disagreement_ = name + ": the ranks disagree (" + all + ")";
      ModeResult mr;
      mr.name = name;
      mr.description = description;
      mr.error = run.error ? run.error : std::optional<std::string>("another rank raised");
      mr.hazard = true;
      mr.finding = "the ranks disagree: " + all;
      return mr;
    }
    if (!any && average) {
      auto flat = flatten(run, ref).to(comm_device());
      auto sum = g.all_reduce_sum(flat, "allreduce (gradients of " + tag + ")").to(at::kCPU);
      unflatten(run, ref, sum / size());
    }
    ModeResult mr = compare_step(name, description, ref, run, opts.tolerance);
    mr.metrics["ranks"] = size();
    if (any) return mr;  // the same error on every rank
    auto flat = flatten(run, ref);
    auto all = g.all_gather(flat.to(comm_device()), "all_gather (gradients of " + tag + ")")
                   .to(at::kCPU)
                   .to(at::kDouble);
    double base = all[0].norm().item<double>(), worst = 0;
    for (int r = 1; r < size(); ++r) {
      double d = (all[r] - all[0]).norm().item<double>();
      worst = std::max(worst, base > 0 ? d / base : d);
    }
    mr.metrics["cross_rank_max_rel_diff"] = worst;
    if (worst > opts.tolerance) {
      mr.hazard = true;
      mr.finding = "gradients differ across ranks (max rel diff " + fmt_num(worst) + " from rank " +
                   "0's); " + mr.finding;
    } else {
      const std::string all =
          size() == 2 ? "both ranks" : "all " + std::to_string(size()) + " ranks";
      mr.finding += worst == 0 ? "; identical on " + all
                               : "; equal on " + all + " (max rel diff " + fmt_num(worst) + ")";
    }
    return mr;
  }

  // The verdict: as in a single process, and ERROR when the ranks disagreed.
  void finish() {
    if (res.verdict == "ERROR") return;
    if (!disagreement_.empty()) {
      res.verdict = "ERROR";
      res.summary = disagreement_;
      return;
    }
    verdict_from_modes(res);
  }

  ModelSpec base_spec() const { return opts.model; }

 private:
  Injection inj_;
  std::string disagreement_;
};

StepConfig wrap(std::vector<CkptMode> w, bool hook = false) {
  StepConfig c;
  c.wrap = std::move(w);
  c.input_hook = hook;
  return c;
}

using R = CkptMode;

std::string ranks_note(const Dist& d) {
  return "each of the " + std::to_string(d.size()) +
         " ranks trained on its own batch; the reference is the average of the no-checkpoint "
         "gradients over all " +
         std::to_string(d.size()) + " batches, computed on every rank without communication";
}

// ---- ddp-unused ----------------------------------------------------------------------------

void d_ddp_unused(Dist& d) {
  auto m = std::make_unique<Model>(d.base_spec(), d.opts.seed, d.device);
  std::vector<at::Tensor> ids;
  Step ref;
  if (!d.local_part([&] {
        for (int r = 0; r < d.size(); ++r) ids.push_back(m->make_inputs(d.batch_seed(r, 0)));
        ref = d.reference(*m,
                          [&](int r, StepState& st) { return m->loss(ids[r], StepConfig{}, st); });
      }))
    return;
  struct Mode {
    const char* name;
    StepConfig cfg;
    int find_unused;
  };
  const Mode modes[] = {
      {"reentrant/find_unused_parameters=True", wrap({R::Reentrant}, true), 1},
      {"reentrant/find_unused_parameters=False", wrap({R::Reentrant}, true), 0},
      {"non-reentrant/find_unused_parameters=True", wrap({R::NonReentrant}), 1},
      {"non-reentrant/find_unused_parameters=False", wrap({R::NonReentrant}), 0},
  };
  const at::Tensor& mine = ids[static_cast<size_t>(d.rank())];
  for (const auto& md : modes) {
    Step run =
        d.run(*m, md.find_unused, false, [&](StepState& st) { return m->loss(mine, md.cfg, st); });
    d.res.modes.push_back(d.settle(md.name, "c10d Reducer over the " + d.g.backend() + " group",
                                   ref, std::move(run), false));
  }
  d.res.notes.push_back(ranks_note(d));
}

// ---- zero3-partition -----------------------------------------------------------------------

void d_zero3(Dist& d) {
  auto m = std::make_unique<Model>(d.base_spec(), d.opts.seed, d.device);
  const int64_t world = d.size(), me = d.rank();
  Group& g = d.g;
  Zero3Partitioner zp;
  // DeepSpeed's partitioning: the flattened data padded to a multiple of the world size, one
  // equal slice per rank.
  zp.partition = [world, me](const at::Tensor& full) {
    auto flat = full.reshape({-1});
    int64_t per = (flat.numel() + world - 1) / world;
    auto padded = at::zeros({per * world}, flat.options());
    padded.narrow(0, 0, flat.numel()).copy_(flat);
    return padded.narrow(0, me * per, per).clone();
  };
  zp.gather = [&d, &g](const at::Tensor& part, at::IntArrayRef shape, const std::string& name) {
    int64_t n = 1;
    for (auto s : shape) n *= s;
    auto all = g.all_gather(part.to(d.comm_device()),
                            "all_gather (ZeRO-3 partition of " + name + ", " + d.res.name + ")");
    return all.reshape({-1}).narrow(0, 0, n).view(shape).to(part.device());
  };
  m->set_zero3_partitioner(zp);
  at::Tensor mine;
  std::vector<at::Tensor> ids;
  Step ref;
  if (!d.local_part([&] {
        for (int r = 0; r < d.size(); ++r) ids.push_back(m->make_inputs(d.batch_seed(r, 0)));
        mine = ids[static_cast<size_t>(d.rank())];
        ref = d.reference(*m,
                          [&](int r, StepState& st) { return m->loss(ids[r], StepConfig{}, st); });
      }))
    return;
  auto cfg = [](CkptMode mode, bool fixed) {
    StepConfig c = wrap({mode}, true);
    c.zero3 = true;
    c.zero3_keep_frozen_in_recompute = fixed;
    return c;
  };
  struct Mode {
    std::string name;
    std::string description;
    StepConfig cfg;
  };
  std::vector<Mode> modes;
  if (d.dopts.zero3 != Zero3Rules::Fixed) {
    modes.push_back({"reentrant/deepspeed<0.19.3",
                     "frozen parameters partitioned, released after each submodule, gathered on "
                     "demand (also while recomputing)",
                     cfg(R::Reentrant, false)});
    modes.push_back(
        {"non-reentrant/deepspeed<0.19.3", "same, non-reentrant", cfg(R::NonReentrant, false)});
  }
  if (d.dopts.zero3 != Zero3Rules::Old) {
    modes.push_back({"reentrant/deepspeed>=0.19.3",
                     "frozen parameters stay gathered while a checkpoint recomputes",
                     cfg(R::Reentrant, true)});
    modes.push_back(
        {"non-reentrant/deepspeed>=0.19.3", "same, non-reentrant", cfg(R::NonReentrant, true)});
  }
  for (const auto& md : modes) {
    Step run = d.run(*m, -1, true, [&](StepState& st) { return m->loss(mine, md.cfg, st); });
    d.res.modes.push_back(d.settle(md.name, md.description, ref, std::move(run), true));
  }
  d.res.notes.push_back(
      "DeepSpeed is Python-only: ZeRO-3 is emulated on c10d collectives. Every frozen parameter "
      "is split into " +
      std::to_string(world) +
      " equal slices of its flattened, padded data, one per rank (whatever its size: "
      "stage3_param_persistence_threshold 0), all-gathered before each submodule's forward and "
      "again before its backward, and released after the forward; the LoRA parameters stay on "
      "every rank and their gradients are averaged with an all-reduce (DeepSpeed "
      "reduce-scatters them into partitions: the same average)");
  d.res.notes.push_back(ranks_note(d));
}

// ---- rl-qlora ------------------------------------------------------------------------------

struct Pair {
  at::Tensor chosen, rejected;
};

// DPO's loss on length-normalized sequence log-probabilities. The reference model is the
// policy with its adapters disabled (PEFT's disable_adapter(), as TRL does for a PEFT model),
// run under no_grad; the policy runs either once on chosen and rejected concatenated, or in
// two passes (one per batch).
at::Tensor dpo_loss(Model& m, const Pair& p, const StepConfig& policy, bool concatenated,
                    StepState& st) {
  const double beta = 0.1;
  StepConfig ref_cfg;
  ref_cfg.disable_adapters = true;
  at::Tensor ref_c, ref_r;
  {
    c10::NoGradGuard no_grad;
    StepState rs;
    ref_c = m.sequence_logps(p.chosen, ref_cfg, rs);
    ref_r = m.sequence_logps(p.rejected, ref_cfg, rs);
  }
  at::Tensor pol_c, pol_r;
  if (concatenated) {
    auto both = m.sequence_logps(at::cat({p.chosen, p.rejected}, 0), policy, st);
    int64_t b = p.chosen.size(0);
    pol_c = both.narrow(0, 0, b);
    pol_r = both.narrow(0, b, b);
  } else {
    pol_c = m.sequence_logps(p.chosen, policy, st);
    pol_r = m.sequence_logps(p.rejected, policy, st);
  }
  auto logits = beta * ((pol_c - ref_c) - (pol_r - ref_r));
  return -at::log_sigmoid(logits).mean();
}

void d_rl_qlora(Dist& d) {
  ModelSpec spec = d.base_spec();
  spec.lora = true;  // QLoRA: a 4-bit base (unless --quant says otherwise) and adapters
  if (spec.quant_bits == 0) spec.quant_bits = 4;
  spec.unfrozen.clear();
  auto m = std::make_unique<Model>(spec, d.opts.seed, d.device);
  std::vector<Pair> pairs;
  Step ref;
  if (!d.local_part([&] {
        for (int r = 0; r < d.size(); ++r)
          pairs.push_back({m->make_inputs(d.batch_seed(r, 0)), m->make_inputs(d.batch_seed(r, 1))});
        ref = d.reference(*m, [&](int r, StepState& st) {
          return dpo_loss(*m, pairs[static_cast<size_t>(r)], StepConfig{}, false, st);
        });
      }))
    return;
  struct Mode {
    const char* name;
    const char* description;
    StepConfig cfg;
    bool concatenated;
    int find_unused;
  };
  const Mode modes[] = {
      {"reentrant/two-policy-passes",
       "reentrant (input hook on), the policy run on chosen and rejected in two passes, "
       "find_unused_parameters=False",
       wrap({R::Reentrant}, true), false, 0},
      {"reentrant/two-policy-passes/find_unused_parameters=True",
       "same, find_unused_parameters=True", wrap({R::Reentrant}, true), false, 1},
      {"reentrant/concatenated", "reentrant, chosen and rejected concatenated into one policy pass",
       wrap({R::Reentrant}, true), true, 0},
      {"non-reentrant/two-policy-passes", "non-reentrant, two policy passes",
       wrap({R::NonReentrant}), false, 0},
  };
  const Pair& mine = pairs[static_cast<size_t>(d.rank())];
  for (const auto& md : modes) {
    Step run = d.run(*m, md.find_unused, false, [&](StepState& st) {
      return dpo_loss(*m, mine, md.cfg, md.concatenated, st);
    });
    d.res.modes.push_back(d.settle(md.name, md.description, ref, std::move(run), false));
  }
  d.res.notes.push_back(
      "policy: the QLoRA model (" + std::string(spec.quant_bits == 4 ? "NF4" : "int8") +
      " frozen base + LoRA); reference: the same model with its adapters disabled, under "
      "no_grad; loss: DPO's -log sigmoid(0.1 * ((pi_c - ref_c) - (pi_r - ref_r))) on "
      "length-normalized sequence log-probabilities; DDP's Reducer over the " +
      d.g.backend() + " group");
  d.res.notes.push_back(ranks_note(d));
}

void run_dist_scenario(Dist& d) {
  if (d.res.name == "ddp-unused")
    d_ddp_unused(d);
  else if (d.res.name == "zero3-partition")
    d_zero3(d);
  else if (d.res.name == "rl-qlora")
    d_rl_qlora(d);
  d.finish();
}

}  // namespace

std::optional<std::string> read_distributed_env(DistributedEnv& out) {
  std::vector<std::string> missing;
  for (const char* v : {"RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"})
    if (std::getenv(v) == nullptr || *std::getenv(v) == '\0') missing.emplace_back(v);
  if (!missing.empty()) {
    std::string list;
    for (const auto& v : missing) list += (list.empty() ? "" : ", ") + v;
    return "--distributed needs the variables a launcher sets (torchrun, or by hand: RANK, "
           "WORLD_SIZE, MASTER_ADDR, MASTER_PORT, LOCAL_RANK); missing: " +
           list;
  }
  auto rank = parse_int(std::getenv("RANK"));
  auto world = parse_int(std::getenv("WORLD_SIZE"));
  auto port = parse_int(std::getenv("MASTER_PORT"));
  if (!world || *world < 1) return "WORLD_SIZE must be a positive integer";
  if (!rank || *rank >= *world)
    return "RANK must be an integer from 0 to WORLD_SIZE - 1 (" + std::to_string(*world - 1) + ")";
  if (!port || *port < 1 || *port > 65535) return "MASTER_PORT must be a port number (1-65535)";
  out.rank = *rank;
  out.world_size = *world;
  out.master_addr = std::getenv("MASTER_ADDR");
  out.master_port = *port;
  out.local_rank = *rank;
  if (const char* lr = std::getenv("LOCAL_RANK"); lr != nullptr && *lr) {
    auto l = parse_int(lr);
    if (!l) return "LOCAL_RANK must be a non-negative integer";
    out.local_rank = *l;
  }
  return std::nullopt;
}

const std::vector<std::string>& distributed_scenario_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const auto& d : kDistScenarios) v.emplace_back(d.name);
    return v;
  }();
  return names;
}

std::string distributed_scenario_rules(const std::string& name) {
  const auto* d = find_dist_def(name);
  return d ? d->rules : "";
}

std::string distributed_scenario_title(const std::string& name) {
  const auto* d = find_dist_def(name);
  return d ? d->title : "";
}

struct DistributedSession::Impl {
  std::unique_ptr<Group> group;
  DistributedEnv env;
  DistributedOptions opts;
  at::Device device{at::kCPU};
  Injection inj;

  // A failed collective, with what the other ranks left in the store.
  std::string fatal(const std::string& text) {
    std::string out = text;
    std::string others;
    for (int r = 0; r < env.world_size; ++r) {
      if (r == env.rank) continue;
      if (auto why = group->store_peek(kFailedKey + std::to_string(r)))
        others += "; rank " + std::to_string(r) + " reported: " + *why;
    }
    out += others.empty() ? "; another rank died, stopped or left (see its output)" : others;
    group->store_set(kFailedKey + std::to_string(env.rank), text);
    return out;
  }
};

DistributedSession::DistributedSession(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DistributedSession::~DistributedSession() = default;

std::unique_ptr<DistributedSession> DistributedSession::join(const DistributedEnv& env,
                                                             const DistributedOptions& opts,
                                                             DeviceInfo& dev, std::string& error) {
  if (auto why = ddp_unavailable()) {
    error = *why;
    return nullptr;
  }
  auto impl = std::make_unique<Impl>();
  impl->env = env;
  impl->opts = opts;
  impl->inj = read_injection();
  GroupOptions go;
  go.rank = env.rank;
  go.world_size = env.world_size;
  go.local_rank = env.local_rank;
  go.master_addr = env.master_addr;
  go.master_port = env.master_port;
  go.timeout = std::chrono::milliseconds(static_cast<int64_t>(opts.timeout_s * 1000));
  if (dev.cuda && nccl_available()) {
    go.cuda = true;
    impl->device = at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(env.local_rank));
    dev.device = "cuda:" + std::to_string(env.local_rank);
    dev.line = "device: " + dev.device + " (LOCAL_RANK " + std::to_string(env.local_rank) + ")";
  } else if (dev.cuda) {
    dev.cuda = false;
    dev.device = "cpu";
    dev.line =
        "device: cpu (this gcheck-probe was built without NCCL, so the distributed probe runs "
        "on CPU with Gloo)";
  }
  impl->group = connect_group(go, error);
  if (!impl->group) return nullptr;
  return std::unique_ptr<DistributedSession>(new DistributedSession(std::move(impl)));
}

int DistributedSession::rank() const {
  return impl_->env.rank;
}
int DistributedSession::world_size() const {
  return impl_->env.world_size;
}
std::string DistributedSession::backend() const {
  return impl_->group->backend();
}

std::string DistributedSession::line() const {
  const auto& e = impl_->env;
  return "distributed: " + std::to_string(e.world_size) + " rank" + (e.world_size == 1 ? "" : "s") +
         ", c10d " + impl_->group->backend() + " group over a TCPStore at " + e.master_addr + ":" +
         std::to_string(e.master_port) + ", timeout " + fmt_num(impl_->opts.timeout_s) +
         " s per collective; rank 0 reports";
}

void DistributedSession::announce_failure(const std::string& message) noexcept {
  impl_->group->store_set(kFailedKey + std::to_string(impl_->env.rank), message);
}

std::optional<std::string> DistributedSession::agree_options(const std::string& signature,
                                                             std::string& mismatch) {
  try {
    ScenarioResult none;
    const ProbeOptions no_probe;
    const Injection no_injection;
    Dist d(*impl_->group, no_probe, impl_->opts, impl_->device, none, no_injection);
    auto all = d.all_gather_strings(signature, "the options of every rank");
    mismatch.clear();
    for (int r = 1; r < static_cast<int>(all.size()); ++r) {
      if (all[r] == all[0]) continue;
      mismatch += (mismatch.empty() ? "" : ", ") + std::to_string(r);
    }
    if (!mismatch.empty())
      mismatch = "every rank must be started with the same options, and rank" +
                 std::string(mismatch.find(',') == std::string::npos ? " " : "s ") + mismatch +
                 " got other options than rank 0";
    return std::nullopt;
  } catch (const std::exception& e) {
    return impl_->fatal(error_text(e));
  }
}

std::optional<std::string> DistributedSession::run_scenario(const std::string& name,
                                                            const ProbeOptions& opts,
                                                            ScenarioResult& out) {
  install_engine();
  out = ScenarioResult{};
  out.name = name;
  out.rules = distributed_scenario_rules(name);
  auto t0 = std::chrono::steady_clock::now();
  try {
    Dist d(*impl_->group, opts, impl_->opts, impl_->device, out, impl_->inj);
    run_dist_scenario(d);
  } catch (const CollectiveError& e) {
    return impl_->fatal(e.what());
  } catch (const std::exception& e) {
    // Failed outside its agreed parts: the other ranks cannot be told in step; stop them.
    std::string text = "rank " + std::to_string(impl_->env.rank) + " failed in " + name + ": " +
                       first_line(error_text(e));
    announce_failure(text);
    return text;
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return std::nullopt;
}

std::optional<std::string> DistributedSession::agree_exit_code(int local, int& agreed) {
  try {
    auto t = at::full({1}, static_cast<int64_t>(local), at::TensorOptions().dtype(at::kLong));
    if (impl_->group->backend() == "nccl") t = t.to(impl_->device);
    agreed =
        static_cast<int>(impl_->group->all_reduce_max(t, "allreduce (the exit code of every rank)")
                             .to(at::kCPU)
                             .item<int64_t>());
    return std::nullopt;
  } catch (const std::exception& e) {
    return impl_->fatal(error_text(e));
  }
}

}  // namespace gprobe
