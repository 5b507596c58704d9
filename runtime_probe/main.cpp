// gcheck-probe: runs the probe scenarios and prints CONFIRMED / REFUTED / ERROR per scenario
// (and per finding with --config). Exit codes as for `gcheck lint`: 0 nothing confirmed,
// 1 something CONFIRMED, 2 usage or input error, or a scenario ended in ERROR.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "cli/engine.h"
#include "runtime_probe/distributed.h"
#include "runtime_probe/probe.h"
#include "runtime_probe/report.h"

namespace {

using namespace gprobe;

int usage_error(const std::string& msg) {
  std::fprintf(stderr, "gcheck-probe: error: %s\n", msg.c_str());
  return 2;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

bool make_dirs(const std::string& path) {
  std::string cur;
  for (size_t i = 0; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') {
      if (!cur.empty() && ::mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST) return false;
    }
    if (i < path.size()) cur += path[i];
  }
  return true;
}

// --config: the lint findings that name a probe scenario, and the model their Setup implies.
struct ConfigPlan {
  std::vector<FindingReport> findings;
  std::vector<std::string> scenarios;
  std::vector<std::string> notes;
  std::string effective_mode;
  std::vector<std::string> mode_candidates;  // mode names that stand for the config, best first
};

std::optional<std::string> plan_from_config(const std::string& file, ModelSpec& spec,
                                            ConfigPlan& plan) {
  gcheck::LintOptions lo;
  lo.paths = {file};
  gcheck::LintResult lr = gcheck::run_lint(lo);
  if (!lr.errors.empty()) {
    const auto& e = lr.errors.front();
    std::string where = e.loc.file.empty() ? file : e.loc.file;
    if (e.loc.span.begin.known())
      where += fmt::format(":{}:{}", e.loc.span.begin.line, e.loc.span.begin.column);
    return where + ": " + e.message;
  }
  if (lr.files_checked == 0) return file + ": not a config gcheck can read";
  gcheck::ExplainResult er = gcheck::run_explain(file, lo);
  if (er.error) return file + ": " + er.error->message;
  if (!er.paths.empty()) {
    const gcheck::Setup& s = er.paths.front().setup;
    auto note = [&](const std::string& n) { plan.notes.push_back(n); };
    if (s.adapter.known()) {
      spec.lora = *s.adapter == gcheck::Adapter::Lora || *s.adapter == gcheck::Adapter::Qlora ||
                  *s.adapter == gcheck::Adapter::Other;
      note(std::string("adapter: ") + std::string(gcheck::adapter_name(*s.adapter)) +
           (spec.lora ? " (LoRA adapters on every projection)" : " (full fine-tune)"));
    }
    if (s.quant_bits.known()) {
      spec.quant_bits = static_cast<int>(*s.quant_bits);
      note("quantization: " +
           (spec.quant_bits ? std::to_string(spec.quant_bits) + "-bit base" : std::string("none")));
    } else if (s.adapter.is(gcheck::Adapter::Qlora)) {
      spec.quant_bits = 4;
      note("quantization: 4-bit (QLoRA)");
    } else if (!spec.lora) {
      spec.quant_bits = 0;
    }
    if (!spec.lora) spec.quant_bits = 0;
    if (s.frozen_embeddings.known()) {
      spec.frozen_embeddings = *s.frozen_embeddings;
      note(std::string("embeddings: ") + (spec.frozen_embeddings ? "frozen" : "trainable"));
    }
    if (s.partial_freeze.is(true)) {
      spec.lora = false;
      spec.quant_bits = 0;
      if (s.facts && s.facts->unfrozen_parameters && !s.facts->unfrozen_parameters->value.empty()) {
        spec.unfrozen = s.facts->unfrozen_parameters->value;
        std::string list;
        for (const auto& u : spec.unfrozen) list += (list.empty() ? "" : ", ") + u;
        note("partial freeze: only parameters matching " + list + " train (unfrozen_parameters)");
      } else {
        note("partial freeze: embeddings and layer 0 frozen, later layers and head train");
        for (int64_t i = 1; i < spec.sizes.layers; ++i)
          spec.unfrozen.push_back("^model\\.layers\\." + std::to_string(i) + "\\.");
        spec.unfrozen.push_back("^model\\.norm\\.");
        spec.unfrozen.push_back("^lm_head\\.");
      }
    }
    if (s.dropout.known()) {
      spec.lora_dropout = std::min(*s.dropout, 0.9);
      spec.attention_dropout = std::min(*s.dropout, 0.9);
      note("dropout: " + fmt::format("{}", *s.dropout));
    }
    if (s.use_reentrant.known()) {
      plan.effective_mode = *s.use_reentrant ? "reentrant" : "non-reentrant";
      bool hook = *s.use_reentrant && s.input_hook.is(true);
      note("effective checkpointing: " + plan.effective_mode +
           (hook ? " with an input-require-grads hook" : ""));
      std::string variant = spec.lora ? "lora/" : (spec.unfrozen.empty() ? "" : "partial-freeze/");
      if (hook) {
        plan.mode_candidates.push_back(variant + "reentrant+input-hook");
        plan.mode_candidates.push_back("reentrant+input-hook");
      }
      plan.mode_candidates.push_back(variant + plan.effective_mode);
      plan.mode_candidates.push_back(plan.effective_mode);
    }
    if (s.zero_stage.known()) note("ZeRO stage: " + std::to_string(*s.zero_stage));
    if (s.ddp.is(true))
      note(std::string("DDP, find_unused_parameters: ") +
           (s.find_unused_parameters.known() ? (*s.find_unused_parameters ? "true" : "false")
                                             : "unknown"));
  }
  std::set<std::string> wanted;
  for (const auto& f : lr.findings) {
    if (f.probe.empty()) continue;
    FindingReport fr;
    fr.code = std::string(f.rule->code);
    fr.name = std::string(f.rule->name);
    fr.severity = std::string(gcheck::severity_name(f.severity));
    fr.file = f.loc.file;
    fr.line = f.loc.span.begin.line;
    fr.column = f.loc.span.begin.column;
    fr.message = f.message;
    fr.probe = f.probe;
    fr.effective_mode = plan.effective_mode;
    plan.findings.push_back(fr);
    if (wanted.insert(f.probe).second) plan.scenarios.push_back(f.probe);
  }
  return std::nullopt;
}

// "0.19.3" -> {0, 19, 3}; nullopt when it is not a dotted version of up to four numbers.
std::optional<std::vector<int>> parse_version(const std::string& text) {
  std::vector<int> out;
  for (const auto& part : [&] {
         std::vector<std::string> v;
         std::stringstream ss(text);
         std::string item;
         while (std::getline(ss, item, '.')) v.push_back(item);
         return v;
       }()) {
    if (part.empty() || part.size() > 6 ||
        part.find_first_not_of("0123456789") != std::string::npos)
      return std::nullopt;
    out.push_back(std::stoi(part));
  }
  if (out.empty() || out.size() > 4 || text.back() == '.') return std::nullopt;
  while (out.size() < 3) out.push_back(0);
  return out;
}

// A rank that cannot go on: says why and exits 2 at once. std::_Exit, because the process
// group's destructor would wait for a collective that a dead peer never finishes.
[[noreturn]] void distributed_fatal(int rank, int world, const std::string& msg) {
  std::fprintf(stderr, "gcheck-probe: error: rank %d of %d: %s\n", rank, world, msg.c_str());
  std::fflush(stdout);
  std::fflush(stderr);
  std::_Exit(2);
}

// --distributed: every rank runs every scenario; rank 0 prints the report; every rank exits
// with the same code.
int run_distributed(const std::vector<std::string>& scenarios, const ProbeOptions& opts,
                    const std::string& device, const DistributedOptions& dopts,
                    const std::string& format, bool quiet, bool verbose,
                    const std::string& signature) {
  DistributedEnv env;
  if (auto e = read_distributed_env(env)) return usage_error(*e);
  DeviceInfo dev = select_device(device);
  std::string error;
  auto session = DistributedSession::join(env, dopts, dev, error);
  if (!session) {
    std::fprintf(stderr, "gcheck-probe: error: %s\n", error.c_str());
    return 2;
  }
  const bool lead = env.rank == 0;
  const int world = env.world_size;
  if (lead && !quiet) std::fprintf(stderr, "%s\n%s\n", dev.line.c_str(), session->line().c_str());
  std::string mismatch;
  if (auto f = session->agree_options(signature, mismatch)) distributed_fatal(env.rank, world, *f);
  if (!mismatch.empty()) {
    std::fprintf(stderr, "gcheck-probe: error: rank %d of %d: %s\n", env.rank, world,
                 mismatch.c_str());
    return 2;
  }
  Report report;
  report.version = GCHECK_VERSION;
  report.device = dev;
  report.distributed_line = session->line();
  report.world_size = world;
  report.backend = session->backend();
  size_t i = 0;
  for (const auto& name : scenarios) {
    ++i;
    if (lead && !quiet)
      std::fprintf(stderr, "[%zu/%zu] %s ...\n", i, scenarios.size(), name.c_str());
    ScenarioResult r;
    if (auto f = session->run_scenario(name, opts, r)) distributed_fatal(env.rank, world, *f);
    if (lead && !quiet)
      std::fprintf(stderr, "[%zu/%zu] %s: %s (%.2f s)\n", i, scenarios.size(), name.c_str(),
                   r.verdict.c_str(), r.seconds);
    report.scenarios.push_back(std::move(r));
  }
  bool any_error = false, any_confirmed = false;
  for (const auto& s : report.scenarios) {
    any_error |= s.verdict == "ERROR";
    any_confirmed |= s.verdict == "CONFIRMED";
  }
  int code = any_error ? 2 : (any_confirmed ? 1 : 0), agreed = code;
  if (auto f = session->agree_exit_code(code, agreed)) distributed_fatal(env.rank, world, *f);
  if (lead) {
    std::string out = format == "json" ? report_json(report) : report_text(report, verbose);
    std::fputs(out.c_str(), stdout);
    std::fflush(stdout);
  }
  return agreed;
}

int run(int argc, char** argv) {
  CLI::App app{
      "gcheck-probe: confirm checkpointing hazards on a real run of a small quantized model"};
  std::string scenarios_arg, config, device = "auto", format = "text", model_config, dump;
  std::string bench_dequant_arg;
  bool quiet = false, verbose = false, list = false, trainable_head = false,
       no_double_quant = false;
  ProbeOptions opts;
  ModelSpec& spec = opts.model;
  Sizes& sz = spec.sizes;
  int64_t layers_opt = -1;
  app.add_option("--scenario,-s", scenarios_arg,
                 "Scenarios to run, comma-separated (default: all)");
  app.add_option("--config,-c", config,
                 "Lint FILE, derive the model from its effective setup and run the scenarios its "
                 "findings name");
  app.add_option("--device", device, "cuda, cpu or auto (default: CUDA when present)")
      ->check(CLI::IsMember({"auto", "cuda", "cpu"}));
  app.add_option("--format", format, "text or json")->check(CLI::IsMember({"text", "json"}));
  app.add_flag("--quiet,-q", quiet, "No progress lines");
  app.add_flag("--verbose,-v", verbose, "Per-parameter gradient statistics and full error texts");
  app.add_flag("--list", list, "List the scenarios and the rules they confirm");
  app.add_option("--seed", opts.seed, "Seed of weights, data and dropout (default 0)");
  app.add_option("--tolerance", opts.tolerance,
                 "Relative L2 error above which a gradient differs (default 1e-4)");
  app.add_option("--layers", layers_opt,
                 "Decoder layers (default 2; with --model-config: keep the first N)");
  app.add_option("--hidden", sz.hidden, "Hidden size (default 64)");
  app.add_option("--heads", sz.heads, "Attention heads (default 4)");
  app.add_option("--kv-heads", sz.kv_heads, "Key/value heads, grouped-query attention (default 2)");
  app.add_option("--intermediate", sz.intermediate, "MLP size (default 128)");
  app.add_option("--vocab", sz.vocab, "Vocabulary (default 128)");
  app.add_option("--seq", sz.seq, "Sequence length (default 16)");
  app.add_option("--batch", sz.batch, "Batch size (default 2)");
  app.add_option("--model-config", model_config, "Shape the model from a Hugging Face config.json");
  app.add_option("--quant", spec.quant_bits,
                 "Frozen base: 4 (NF4), 8 (int8) or 0 (float) (default 4)");
  app.add_flag("--no-double-quant", no_double_quant,
               "NF4 without double quantization of the scales");
  app.add_option("--lora-rank", spec.lora_rank, "LoRA rank (default 8)");
  app.add_option("--lora-alpha", spec.lora_alpha, "LoRA alpha (default 16)");
  app.add_option("--lora-dropout", spec.lora_dropout,
                 "LoRA dropout (default 0; dropout-rng uses 0.1 when 0)");
  app.add_option("--attention-dropout", spec.attention_dropout, "Attention dropout (default 0)");
  app.add_flag("--trainable-head", trainable_head, "The LM head and final norm train too");
  bool trainable_embeddings = false, full = false;
  app.add_flag("--trainable-embeddings", trainable_embeddings,
               "The input embeddings train (modules_to_save)");
  app.add_flag("--full", full,
               "No adapters: a full fine-tune of a float model (implies --quant 0)");
  app.add_option("--lora-targets", spec.lora_targets,
                 "Projections with LoRA, comma-separated (default: all seven)")
      ->delimiter(',');
  app.add_option(
      "--unfrozen", spec.unfrozen,
      "Only parameters matching these regexes train (Axolotl unfrozen_parameters; repeatable)");
  app.add_option("--dump", dump,
                 "Write weights, inputs and gradients of each scenario to DIR (parity test)");
  app.add_option("--bench-dequant", bench_dequant_arg,
                 "Time NF4 dequantization of a ROWSxCOLS weight against a device copy");
  int jobs = 4;
  app.add_option("--jobs,-j", jobs,
                 "On CUDA, how many scenarios may run at the same time on their own host threads "
                 "(default 4; 1: one after another). memory, dropout-rng and ddp-unused always "
                 "run alone")
      ->check(CLI::Range(1, 64));
  bool distributed = false;
  double timeout_s = 60;
  std::string deepspeed;
  auto* dist_flag = app.add_flag(
      "--distributed", distributed,
      "Run the distributed scenarios across the ranks a launcher started (torchrun, or RANK, "
      "WORLD_SIZE, MASTER_ADDR, MASTER_PORT set by hand); rank 0 reports");
  app.add_option("--timeout", timeout_s,
                 "With --distributed: seconds the rendezvous and each collective wait for the "
                 "other ranks (default 60)")
      ->check(CLI::Range(0.1, 86400.0))
      ->needs(dist_flag);
  app.add_option("--deepspeed", deepspeed,
                 "With --distributed: the DeepSpeed version whose ZeRO-3 rule zero3-partition "
                 "emulates (< 0.19.3 or >= 0.19.3; default: both)")
      ->needs(dist_flag);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return usage_error(e.what());
  }
  spec.trainable_head = trainable_head;
  if (trainable_embeddings) spec.frozen_embeddings = false;
  if (full) {
    spec.lora = false;
    spec.quant_bits = 0;
  }
  spec.double_quant = !no_double_quant;

  if (list) {
    if (distributed) {
      for (const auto& n : distributed_scenario_names())
        std::printf("%-20s %-16s %s\n", n.c_str(), distributed_scenario_rules(n).c_str(),
                    distributed_scenario_title(n).c_str());
      return 0;
    }
    for (const auto& n : scenario_names())
      std::printf("%-20s %-16s %s\n", n.c_str(), scenario_rules(n).c_str(),
                  scenario_title(n).c_str());
    return 0;
  }

  if (!model_config.empty()) {
    if (auto e = sizes_from_hf_config(model_config, layers_opt > 0 ? layers_opt : 2, sz))
      return usage_error(*e);
  } else if (layers_opt != -1) {
    sz.layers = layers_opt;
  }

  std::vector<std::string> scenarios;
  for (const auto& s : split(scenarios_arg))
    if (std::find(scenarios.begin(), scenarios.end(), s) == scenarios.end()) scenarios.push_back(s);
  const auto& known_names = distributed ? distributed_scenario_names() : scenario_names();
  for (const auto& s : scenarios) {
    bool known = false;
    for (const auto& n : known_names) known |= n == s;
    if (!known) {
      std::string all;
      for (const auto& n : known_names) all += (all.empty() ? "" : ", ") + n;
      return usage_error("unknown scenario '" + s + "'" +
                         (distributed ? " for --distributed" : "") + " (known: " + all + ")");
    }
  }

  if (distributed) {
    for (const auto& [given, name] :
         {std::pair{!config.empty(), "--config"}, std::pair{!dump.empty(), "--dump"},
          std::pair{!bench_dequant_arg.empty(), "--bench-dequant"}})
      if (given) return usage_error(std::string(name) + " is not available with --distributed");
    if (auto e = validate(spec)) return usage_error(*e);
    DistributedOptions dopts;
    dopts.timeout_s = timeout_s;
    if (!deepspeed.empty()) {
      auto v = parse_version(deepspeed);
      if (!v)
        return usage_error("--deepspeed wants a version such as 0.19.3, got '" + deepspeed + "'");
      dopts.zero3 = *v < std::vector<int>{0, 19, 3} ? Zero3Rules::Old : Zero3Rules::Fixed;
    }
    // What every rank must agree on: the command line less the options that only shape this
    // rank's own output (rank 0 reports; the others may be quiet).
    std::string signature;
    for (int k = 1; k < argc; ++k) {
      std::string a = argv[k];
      if (a == "--quiet" || a == "-q" || a == "--verbose" || a == "-v" ||
          a.rfind("--format=", 0) == 0)
        continue;
      if (a == "--format") {
        ++k;
        continue;
      }
      signature += a + '\x1f';
    }
    return run_distributed(scenarios.empty() ? distributed_scenario_names() : scenarios, opts,
                           device, dopts, format, quiet, verbose, signature);
  }

  Report report;
  report.version = GCHECK_VERSION;
  ConfigPlan plan;
  if (!config.empty()) {
    if (auto e = plan_from_config(config, spec, plan)) return usage_error(*e);
    report.with_config = true;
    report.config_file = config;
    report.config_notes = plan.notes;
    if (scenarios.empty()) scenarios = plan.scenarios;
    if (plan.scenarios.empty())
      report.config_notes.push_back("no finding of this file names a probe scenario");
  } else if (scenarios.empty()) {
    scenarios = scenario_names();
  }
  if (auto e = validate(spec)) return usage_error(*e);
  if (!dump.empty()) {
    if (!make_dirs(dump)) return usage_error("cannot create " + dump + ": " + std::strerror(errno));
    opts.dump_dir = dump;
  }

  DeviceInfo dev = select_device(device);
  report.device = dev;
  if (!dev.cuda) {
    // On CPU an allocation far beyond the RAM is not refused but killed later: refuse it here.
    double ram = double(::sysconf(_SC_PHYS_PAGES)) * double(::sysconf(_SC_PAGE_SIZE));
    double need = estimate_step_bytes(spec);
    if (ram > 0 && need > 0.75 * ram)
      return usage_error(
          fmt::format("these sizes need about {:.1f} GiB for one step and this machine has "
                      "{:.1f} GiB of memory: lower --layers, --hidden, --seq or --batch",
                      need / double(1ull << 30), ram / double(1ull << 30)));
  }
  if (!quiet) std::fprintf(stderr, "%s\n", dev.line.c_str());
  report.warmup_seconds = warm_up(dev);
  if (!quiet && dev.cuda) std::fprintf(stderr, "device ready (%.2f s)\n", report.warmup_seconds);

  if (!bench_dequant_arg.empty()) {
    int64_t rows = 0, cols = 0;
    if (std::sscanf(bench_dequant_arg.c_str(), "%ldx%ld", &rows, &cols) != 2 || rows < 1 ||
        cols < 1 || (rows * cols) % 64 != 0)
      return usage_error("--bench-dequant wants ROWSxCOLS with ROWS*COLS a multiple of 64");
    std::fputs(bench_dequant(rows, cols, dev, 20).c_str(), stdout);
    return 0;
  }

  // The scenarios that may share the device run first, on up to --jobs host threads (what
  // overlaps is mostly their kernel launches and host-side autograd work); then the others
  // one by one. The report keeps the order asked for.
  const size_t n = scenarios.size();
  std::vector<ScenarioResult> results(n);
  std::vector<size_t> together, alone;
  for (size_t k = 0; k < n; ++k)
    (jobs > 1 && may_share_device(scenarios[k], opts, dev) ? together : alone).push_back(k);
  if (together.size() < 2) {
    alone.insert(alone.end(), together.begin(), together.end());
    std::sort(alone.begin(), alone.end());
    together.clear();
  }
  std::mutex progress;
  auto run_one = [&](size_t k, bool shared) {
    if (!quiet) {
      std::lock_guard<std::mutex> lock(progress);
      std::fprintf(stderr, "[%zu/%zu] %s ...\n", k + 1, n, scenarios[k].c_str());
    }
    ScenarioResult r = run_scenario(scenarios[k], opts, dev, shared);
    if (!quiet) {
      std::lock_guard<std::mutex> lock(progress);
      std::fprintf(stderr, "[%zu/%zu] %s: %s (%.2f s)\n", k + 1, n, scenarios[k].c_str(),
                   r.verdict.c_str(), r.seconds);
    }
    results[k] = std::move(r);
  };
  if (!together.empty()) {
    std::atomic<size_t> next{0};
    std::vector<std::thread> pool;
    size_t threads = std::min(together.size(), static_cast<size_t>(jobs));
    for (size_t t = 0; t < threads; ++t)
      pool.emplace_back([&] {
        for (size_t j; (j = next.fetch_add(1)) < together.size();) run_one(together[j], true);
      });
    for (auto& th : pool) th.join();
    release_device_cache(dev);
  }
  for (size_t k : alone) run_one(k, false);
  for (auto& r : results) report.scenarios.push_back(std::move(r));
  for (auto& f : plan.findings) {
    f.verdict = "ERROR";
    f.summary = "the scenario did not run";
    for (const auto& s : report.scenarios) {
      if (s.name != f.probe) continue;
      f.verdict = s.verdict;
      f.summary = s.summary;
      // the mode that stands for the config's effective checkpointing
      for (const auto& cand : plan.mode_candidates) {
        for (const auto& m : s.modes) {
          if (m.name == cand || m.name.rfind(cand + "/", 0) == 0) {
            f.effective_finding = m.name + ": " + m.finding;
            break;
          }
        }
        if (!f.effective_finding.empty()) break;
      }
    }
  }
  report.findings = plan.findings;

  std::string out = format == "json" ? report_json(report) : report_text(report, verbose);
  std::fputs(out.c_str(), stdout);

  bool any_error = false, any_confirmed = false;
  for (const auto& s : report.scenarios) {
    any_error |= s.verdict == "ERROR";
    any_confirmed |= s.verdict == "CONFIRMED";
  }
  if (any_error) return 2;
  return any_confirmed ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gcheck-probe: internal error: %s\n", e.what());
    return 2;
  }
}
