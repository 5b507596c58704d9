#include <nlohmann/json.hpp>

#include "analyzer/defaults_table.h"

#include "cli/report.h"

namespace gcheck {

namespace {
nlohmann::json origin_json(const Origin& o) {
  static const char* kinds[] = {"key", "default", "override", "derived", "unknown"};
  nlohmann::json j;
  j["kind"] = kinds[static_cast<int>(o.kind)];
  if (o.loc.known()) {
    j["file"] = o.loc.file;
    if (o.loc.span.begin.known()) {
      j["line"] = o.loc.span.begin.line;
      j["column"] = o.loc.span.begin.column;
    }
  }
  if (!o.key.empty()) j["key"] = o.key;
  j["text"] = o.text;
  if (o.row) {
    j["row"] = o.row->id;
    j["source"] = o.row->source;
  }
  return j;
}

nlohmann::json opt_num(uint32_t v) { return v ? nlohmann::json(v) : nlohmann::json(nullptr); }
}  // namespace

std::string report_json(const LintResult& r) {
  nlohmann::json j;
  j["version"] = GCHECK_VERSION;
  j["files_checked"] = r.files_checked;
  j["findings"] = nlohmann::json::array();
  for (const auto& f : r.findings) {
    nlohmann::json e;
    e["rule"] = f.rule->code;
    e["name"] = f.rule->name;
    e["severity"] = severity_name(f.severity);
    e["file"] = f.loc.file;
    e["line"] = opt_num(f.loc.span.begin.line);
    e["column"] = opt_num(f.loc.span.begin.column);
    e["end_line"] = opt_num(f.loc.span.end.line);
    e["end_column"] = opt_num(f.loc.span.end.column);
    e["message"] = f.message;
    e["condition"] = f.condition.empty() ? nlohmann::json(nullptr) : nlohmann::json(f.condition);
    e["fix"] = f.fix;
    e["probe"] = f.probe.empty() ? nlohmann::json(nullptr) : nlohmann::json(f.probe);
    if (!f.verdict.empty()) e["verdict"] = f.verdict;
    e["provenance"] = nlohmann::json::array();
    for (const auto& o : f.provenance) {
      if (o.kind == Origin::Kind::Derived && o.text.empty()) continue;
      e["provenance"].push_back(origin_json(o));
    }
    j["findings"].push_back(std::move(e));
  }
  j["errors"] = nlohmann::json::array();
  for (const auto& er : r.errors) {
    nlohmann::json e;
    e["file"] = er.loc.file;
    e["line"] = opt_num(er.loc.span.begin.line);
    e["column"] = opt_num(er.loc.span.begin.column);
    e["message"] = er.message;
    j["errors"].push_back(std::move(e));
  }
  return j.dump(2) + "\n";
}

}  // namespace gcheck
