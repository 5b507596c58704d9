#include "cli/explain.h"

#include <functional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "analyzer/defaults_table.h"

namespace gcheck {
namespace {

struct Shown {
  std::string value;
  const std::vector<Origin>* why;
};

std::string b(const Eff<bool>& e) { return e.known() ? (*e ? "True" : "False") : "unknown"; }
template <class T>
std::string n(const Eff<T>& e) {
  return e.known() ? fmt::format("{}", *e) : "unknown";
}

// Every effective value explain shows, with the name rules use in their `reads` list.
struct Item {
  const char* name;
  std::function<Shown(const Setup&)> get;
};

const std::vector<Item>& items() {
  static const std::vector<Item> kItems = {
      {"stack", [](const Setup& s) { return Shown{n(s.stack), &s.stack.why}; }},
      {"trainer", [](const Setup& s) { return Shown{s.trainer.known() ? *s.trainer : "unknown", &s.trainer.why}; }},
      {"checkpointing",
       [](const Setup& s) {
         std::string v = b(s.checkpointing);
         if (!s.mechanisms.empty()) {
           v += " (";
           for (size_t i = 0; i < s.mechanisms.size(); ++i)
             v += (i ? " + " : "") + std::string(mechanism_name(s.mechanisms[i].mechanism));
           v += ")";
         }
         return Shown{v, &s.checkpointing.why};
       }},
      {"use_reentrant",
       [](const Setup& s) {
         std::string v = b(s.use_reentrant);
         if (!s.stated_by.empty()) v += fmt::format(" (decided by: {})", s.stated_by);
         return Shown{v, &s.use_reentrant.why};
       }},
      {"preserve_rng_state", [](const Setup& s) { return Shown{b(s.preserve_rng_state), &s.preserve_rng_state.why}; }},
      {"input_hook", [](const Setup& s) { return Shown{b(s.input_hook), &s.input_hook.why}; }},
      {"adapter", [](const Setup& s) { return Shown{s.adapter.known() ? std::string(adapter_name(*s.adapter)) : "unknown", &s.adapter.why}; }},
      {"quant_bits", [](const Setup& s) { return Shown{n(s.quant_bits), &s.quant_bits.why}; }},
      {"frozen_embeddings", [](const Setup& s) { return Shown{b(s.frozen_embeddings), &s.frozen_embeddings.why}; }},
      {"frozen_params", [](const Setup& s) { return Shown{b(s.frozen_params), &s.frozen_params.why}; }},
      {"partial_freeze", [](const Setup& s) { return Shown{b(s.partial_freeze), &s.partial_freeze.why}; }},
      {"frozen_tower", [](const Setup& s) { return Shown{b(s.frozen_tower), &s.frozen_tower.why}; }},
      {"dropout", [](const Setup& s) { return Shown{n(s.dropout), &s.dropout.why}; }},
      {"zero_stage", [](const Setup& s) { return Shown{n(s.zero_stage), &s.zero_stage.why}; }},
      {"fsdp", [](const Setup& s) { return Shown{b(s.fsdp), &s.fsdp.why}; }},
      {"fsdp_version", [](const Setup& s) { return Shown{n(s.fsdp_version), &s.fsdp_version.why}; }},
      {"fsdp_ac", [](const Setup& s) { return Shown{b(s.fsdp_ac), &s.fsdp_ac.why}; }},
      {"fsdp_full_shard", [](const Setup& s) { return Shown{b(s.fsdp_full_shard), &s.fsdp_full_shard.why}; }},
      {"multi_process", [](const Setup& s) { return Shown{b(s.multi_process), &s.multi_process.why}; }},
      {"ddp", [](const Setup& s) { return Shown{b(s.ddp), &s.ddp.why}; }},
      {"find_unused_parameters", [](const Setup& s) { return Shown{b(s.find_unused_parameters), &s.find_unused_parameters.why}; }},
      {"rl", [](const Setup& s) { return Shown{b(s.rl), &s.rl.why}; }},
      {"use_cache", [](const Setup& s) { return Shown{b(s.use_cache), &s.use_cache.why}; }},
      {"torch_compile", [](const Setup& s) { return Shown{b(s.torch_compile), &s.torch_compile.why}; }},
      {"offload_patches_reentrant", [](const Setup& s) { return Shown{b(s.offload_patches_reentrant), &s.offload_patches_reentrant.why}; }},
  };
  return kItems;
}

std::string readers(std::string_view name) {
  std::string out;
  for (const auto& e : all_rules()) {
    std::string_view reads = e.rule->reads;
    size_t pos = 0;
    while (pos <= reads.size()) {
      size_t comma = reads.find(',', pos);
      std::string_view item = reads.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
      while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
      while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
      if (item == name) {
        out += (out.empty() ? "" : ", ") + std::string(e.rule->code);
        break;
      }
      if (comma == std::string_view::npos) break;
      pos = comma + 1;
    }
  }
  return out;
}

std::string site_kind(const CheckpointSite& st) {
  switch (st.kind) {
    case CheckpointSite::Kind::TorchCall: return st.api + "(...)";
    case CheckpointSite::Kind::Wrapper: return st.api + "(...)";
    case CheckpointSite::Kind::HfEnable: return "gradient_checkpointing_enable(...)";
    case CheckpointSite::Kind::KbitPrepare: return "prepare_model_for_kbit_training(...)";
    case CheckpointSite::Kind::CxxFunction: return "recompute Function " + st.api;
    case CheckpointSite::Kind::CxxCall: return st.api + "::apply(...)";
  }
  return st.api;
}

std::string version_line(const ExplainResult& er) {
  std::string out;
  for (auto lib : kLibraries) {
    auto it = er.versions.find(lib);
    if (it == er.versions.end()) continue;
    const VersionInfo& vi = it->second;
    std::string where = vi.where.known() && vi.where.span.begin.known()
                            ? fmt::format("{}:{}", vi.where.file, vi.where.span.begin.line)
                            : vi.source;
    // A pin file names itself; a script's declaration says what it is (check_min_version(...)).
    if (vi.where.known() && !vi.source.empty() && vi.source != vi.where.file &&
        vi.source != relative_to_cwd(vi.where.file))
      where += " " + vi.source;
    out += fmt::format("    {} ({})\n", it->second.range.describe(lib), where);
  }
  if (out.empty()) out = "    none known: version-gated values are explored for every version\n";
  return out;
}

}  // namespace

std::string explain_text(const ExplainResult& er, bool color) {
  const char* bold = color ? "\033[1m" : "";
  const char* dim = color ? "\033[2m" : "";
  const char* reset = color ? "\033[0m" : "";
  std::string out;
  const Facts& f = *er.facts;
  bool code = f.format == Format::Python || f.format == Format::Cpp;
  out += fmt::format("{}{}{}: {} {} ({})\n", bold, f.source->display(), reset,
                     f.format == Format::Cpp ? "LibTorch C++" : format_title(f.format),
                     f.format == Format::Python ? "script" : code ? "source" : "config", f.format_reason);
  if (er.inputs.deepspeed) out += fmt::format("  DeepSpeed: {}\n", er.inputs.deepspeed_link.describe());
  if (er.inputs.launcher) out += fmt::format("  launcher:  {}\n", er.inputs.launcher_link.describe());
  for (const auto& u : er.inputs.unresolved)
    out += fmt::format("  unresolved: {} {}\n", u.key, u.why);
  out += "  library versions:\n" + version_line(er);
  if (er.paths.size() > 1) {
    out += fmt::format("  unknowns explored: {} paths\n", er.paths.size());
    for (size_t i = 0; i < er.paths.size(); ++i)
      out += fmt::format("    [{}] {}\n", i + 1, er.paths[i].condition.describe());
  }
  out += "\nEffective setup:\n";
  for (const auto& it : items()) {
    std::vector<Shown> per;
    for (const auto& p : er.paths) per.push_back(it.get(p.setup));
    bool same = true;
    for (const auto& s : per) same &= s.value == per.front().value;
    std::string reads = readers(it.name);
    auto print_one = [&](const Shown& s, const std::string& prefix) {
      out += fmt::format("  {}{:<26}{} {}{}\n", bold, prefix, reset, s.value,
                         reads.empty() ? "" : fmt::format("   {}[read by {}]{}", dim, reads, reset));
      for (const auto& o : *s.why) {
        if (o.kind == Origin::Kind::Derived && o.text.empty()) continue;
        out += fmt::format("  {:<26}   <- {}\n", "", o.describe());
      }
    };
    if (same) {
      print_one(per.front(), it.name);
    } else {
      for (size_t i = 0; i < per.size(); ++i)
        print_one(per[i], fmt::format("{} [{}]", it.name, i + 1));
    }
  }
  if (!er.paths.empty() && !er.paths.front().setup.sites.empty()) {
    out += "\nCheckpointing in code (each place with its own use_reentrant):\n";
    const auto& sites0 = er.paths.front().setup.sites;
    for (size_t i = 0; i < sites0.size(); ++i) {
      const auto& st = sites0[i];
      std::string values;
      for (size_t p = 0; p < er.paths.size(); ++p) {
        const auto& sp = er.paths[p].setup.sites;
        if (i >= sp.size()) continue;
        std::string v = b(sp[i].use_reentrant) + " (" + sp[i].stated_by + ")";
        if (er.paths.size() > 1) v = fmt::format("[{}] {}", p + 1, v);
        if (values.find(v) == std::string::npos) values += (values.empty() ? "" : ", ") + v;
      }
      out += fmt::format("  {}:{}:{} {}{}{}  use_reentrant={}\n", st.loc.file, st.loc.span.begin.line,
                         st.loc.span.begin.column, bold, site_kind(st), reset, values);
      for (const auto& o : st.use_reentrant.why) out += fmt::format("      <- {}\n", o.describe());
    }
  }
  if (!er.inputs.primary->unreadable.empty()) {
    out += "\nNot readable:\n";
    for (const auto& u : er.inputs.primary->unreadable)
      out += fmt::format("  {}:{}:{} {} {}\n", u.loc.file, u.loc.span.begin.line, u.loc.span.begin.column, u.key, u.why);
  }
  return out;
}

std::string explain_json(const ExplainResult& er) {
  using json = nlohmann::json;
  json j;
  j["file"] = er.facts->source->display();
  j["format"] = format_name(er.facts->format);
  j["detected_by"] = er.facts->format_reason;
  if (er.inputs.deepspeed) j["deepspeed"] = er.inputs.deepspeed->source->display();
  if (er.inputs.launcher) j["launcher"] = er.inputs.launcher->source->display();
  j["versions"] = json::object();
  for (const auto& [lib, vi] : er.versions) j["versions"][lib] = vi.range.describe(lib);
  j["paths"] = json::array();
  for (const auto& p : er.paths) {
    json pj;
    pj["condition"] = p.condition.describe();
    pj["values"] = json::object();
    for (const auto& it : items()) {
      Shown s = it.get(p.setup);
      json v;
      v["value"] = s.value;
      v["provenance"] = json::array();
      for (const auto& o : *s.why)
        if (!(o.kind == Origin::Kind::Derived && o.text.empty())) v["provenance"].push_back(o.describe());
      std::string r = readers(it.name);
      v["read_by"] = r;
      pj["values"][it.name] = v;
    }
    pj["sites"] = json::array();
    for (const auto& st : p.setup.sites) {
      json sj;
      sj["what"] = site_kind(st);
      sj["file"] = st.loc.file;
      sj["line"] = st.loc.span.begin.line;
      sj["column"] = st.loc.span.begin.column;
      sj["use_reentrant"] = b(st.use_reentrant);
      sj["decided_by"] = st.stated_by;
      sj["provenance"] = json::array();
      for (const auto& o : st.use_reentrant.why) sj["provenance"].push_back(o.describe());
      pj["sites"].push_back(sj);
    }
    j["paths"].push_back(pj);
  }
  return j.dump(2) + "\n";
}

}  // namespace gcheck
