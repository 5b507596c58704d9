#include "runtime_probe/report.h"

#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace gprobe {

namespace {
nlohmann::json num(double v) {
  if (std::isnan(v)) return nullptr;
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return v;
}
}  // namespace

std::string report_text(const Report& r, bool verbose) {
  std::string out;
  out += fmt::format("gcheck-probe {} (LibTorch {})\n{}\n", r.version, r.device.torch_version,
                     r.device.line);
  if (!r.distributed_line.empty()) out += r.distributed_line + "\n";
  if (r.with_config) {
    out += fmt::format("config: {}\n", r.config_file);
    for (const auto& n : r.config_notes) out += "  " + n + "\n";
  }
  for (const auto& s : r.scenarios) {
    out += fmt::format("\n{} ({}): {}  [{:.2f} s]\n", s.name, s.rules, s.verdict, s.seconds);
    out += "  " + s.summary + "\n";
    for (const auto& m : s.modes) {
      out += fmt::format("  - {}: {}\n", m.name, m.finding);
      if (m.error && verbose) out += "      error: " + *m.error + "\n";
      for (const auto& w : m.warnings) out += "      warning: " + w + "\n";
      if (verbose) {
        for (const auto& p : m.params) {
          out += fmt::format(
              "      {:<52} {:<7} ref |g| {:<10.4g} |g| {:<10.4g} rel err {:<10.3g} cos {:.6f}{}\n",
              p.name, p.has_grad ? (p.all_zero ? "zero" : "grad") : "none", p.ref_norm, p.norm,
              p.rel_err, p.cosine, p.differs ? "  DIFFERS" : "");
        }
      }
    }
    for (const auto& n : s.notes) out += "  note: " + n + "\n";
  }
  if (r.with_config) {
    out += "\nfindings:\n";
    if (r.findings.empty()) out += "  none of the findings can be confirmed by the probe\n";
    for (const auto& f : r.findings) {
      out += fmt::format("  {}:{}:{}: {} {} [{}]: {}\n", f.file, f.line, f.column, f.code, f.name,
                         f.severity, f.message);
      out += fmt::format("    probe {}: {}: {}\n", f.probe, f.verdict, f.summary);
      if (!f.effective_mode.empty() && !f.effective_finding.empty())
        out += fmt::format("    your effective mode ({}): {}\n", f.effective_mode,
                           f.effective_finding);
    }
  }
  int confirmed = 0, refuted = 0, errors = 0;
  for (const auto& s : r.scenarios) {
    if (s.verdict == "CONFIRMED")
      ++confirmed;
    else if (s.verdict == "REFUTED")
      ++refuted;
    else
      ++errors;
  }
  out += fmt::format("\n{} scenario{}: {} CONFIRMED, {} REFUTED, {} ERROR\n", r.scenarios.size(),
                     r.scenarios.size() == 1 ? "" : "s", confirmed, refuted, errors);
  return out;
}

std::string report_json(const Report& r) {
  nlohmann::json j;
  j["version"] = r.version;
  j["device"] = r.device.device;
  j["warmup_seconds"] = r.warmup_seconds;
  j["device_line"] = r.device.line;
  j["torch_version"] = r.device.torch_version;
  if (!r.distributed_line.empty())
    j["distributed"] = {
        {"world_size", r.world_size}, {"backend", r.backend}, {"line", r.distributed_line}};
  j["scenarios"] = nlohmann::json::array();
  for (const auto& s : r.scenarios) {
    nlohmann::json js{{"name", s.name},   {"verdict", s.verdict}, {"summary", s.summary},
                      {"rules", s.rules}, {"seconds", s.seconds}, {"notes", s.notes}};
    js["modes"] = nlohmann::json::array();
    for (const auto& m : s.modes) {
      nlohmann::json jm{{"name", m.name},
                        {"description", m.description},
                        {"error", m.error ? nlohmann::json(*m.error) : nlohmann::json(nullptr)},
                        {"warnings", m.warnings},
                        {"hazard", m.hazard},
                        {"finding", m.finding},
                        {"differing", m.differing},
                        {"missing", m.missing},
                        {"max_rel_err", num(m.max_rel_err)},
                        {"min_cosine", num(m.min_cosine)}};
      nlohmann::json metrics = nlohmann::json::object();
      for (const auto& [k, v] : m.metrics) metrics[k] = num(v);
      jm["metrics"] = metrics;
      jm["params"] = nlohmann::json::array();
      for (const auto& p : m.params)
        jm["params"].push_back({{"name", p.name},
                                {"ref_has_grad", p.ref_has_grad},
                                {"has_grad", p.has_grad},
                                {"all_zero", p.all_zero},
                                {"ref_norm", num(p.ref_norm)},
                                {"norm", num(p.norm)},
                                {"rel_err", num(p.rel_err)},
                                {"cosine", num(p.cosine)},
                                {"differs", p.differs}});
      js["modes"].push_back(jm);
    }
    j["scenarios"].push_back(js);
  }
  if (r.with_config) {
    j["config"] = r.config_file;
    j["config_notes"] = r.config_notes;
    j["findings"] = nlohmann::json::array();
    for (const auto& f : r.findings)
      j["findings"].push_back({{"code", f.code},
                               {"name", f.name},
                               {"severity", f.severity},
                               {"file", f.file},
                               {"line", f.line},
                               {"column", f.column},
                               {"message", f.message},
                               {"probe", f.probe},
                               {"verdict", f.verdict},
                               {"summary", f.summary},
                               {"effective_mode", f.effective_mode},
                               {"effective_finding", f.effective_finding}});
  }
  return j.dump(2) + "\n";
}

}  // namespace gprobe
