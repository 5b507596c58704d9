#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "analyzer/project.h"
#include "cli/report.h"

namespace gcheck {

std::string repo_relative(const std::string& display_path) {
  std::string abs = absolute_path(display_path);
  std::string root = repo_root(absolute_path("."));
  if (root.empty()) root = absolute_path(".");
  if (abs.rfind(root + "/", 0) == 0) return abs.substr(root.size() + 1);
  return abs;
}

namespace {

const char* level(Severity s) {
  return s == Severity::Error ? "error" : s == Severity::Warning ? "warning" : "note";
}

// The "What it does" paragraph of a rule's doc, for fullDescription.
std::string what_paragraph(std::string_view doc) {
  auto p = doc.find("## What it does");
  if (p == std::string_view::npos) return "";
  p = doc.find('\n', p);
  auto e = doc.find("\n## ", p);
  std::string s(doc.substr(p + 1, e == std::string_view::npos ? std::string_view::npos : e - p - 1));
  std::string out;
  bool space = false;
  for (char c : s) {
    if (c == '\n' || c == ' ') {
      space = !out.empty();
    } else {
      if (space) out.push_back(' ');
      space = false;
      out.push_back(c);
    }
  }
  if (out.size() > 1000) out = out.substr(0, 997) + "...";
  return out;
}

uint64_t fnv1a(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace

std::string report_sarif(const LintResult& r) {
  using json = nlohmann::json;
  json rules = json::array();
  std::map<std::string_view, size_t> index;
  for (const auto& e : all_rules()) {
    index[e.rule->code] = rules.size();
    json rule;
    rule["id"] = e.rule->code;
    rule["name"] = e.rule->name;
    rule["shortDescription"] = {{"text", e.rule->summary}};
    std::string full = what_paragraph(e.doc);
    rule["fullDescription"] = {{"text", full.empty() ? std::string(e.rule->summary) : full}};
    rule["help"] = {{"text", std::string(e.doc)}, {"markdown", std::string(e.doc)}};
    rule["defaultConfiguration"] = {{"level", level(e.rule->severity)}};
    rule["properties"] = {{"tags", json::array({"gradient-checkpointing", "correctness"})},
                          {"precision", "high"},
                          {"problem.severity", e.rule->severity == Severity::Info ? "recommendation"
                                               : e.rule->severity == Severity::Warning ? "warning"
                                                                                         : "error"}};
    rules.push_back(std::move(rule));
  }
  json results = json::array();
  std::map<std::string, int> occurrences;
  for (const auto& f : r.findings) {
    json res;
    res["ruleId"] = f.rule->code;
    res["ruleIndex"] = index[f.rule->code];
    res["level"] = level(f.severity);
    std::string msg = f.message;
    if (!f.condition.empty()) msg += " (if " + f.condition + ")";
    if (!f.fix.empty()) msg += ". Fix: " + f.fix;
    res["message"] = {{"text", msg}};
    std::string uri = repo_relative(f.loc.file);
    json region;
    region["startLine"] = f.loc.span.begin.line ? f.loc.span.begin.line : 1;
    region["startColumn"] = f.loc.span.begin.column ? f.loc.span.begin.column : 1;
    if (f.loc.span.end.known()) {
      region["endLine"] = f.loc.span.end.line;
      region["endColumn"] = f.loc.span.end.column;
    }
    res["locations"] = json::array({{{"physicalLocation",
                                      {{"artifactLocation", {{"uri", uri}, {"uriBaseId", "SRCROOT"}}},
                                       {"region", region}}}}});
    // A fingerprint that survives line moves: rule, file and the line's text.
    std::string text;
    if (auto it = r.sources.find(f.loc.file); it != r.sources.end()) {
      for (char c : it->second->line(f.loc.span.begin.line))
        if (c != ' ' && c != '\t') text.push_back(c);
    }
    std::string base = fmt::format("{:016x}", fnv1a(std::string(f.rule->code) + "\n" + uri + "\n" + text));
    int occ = ++occurrences[base];
    res["partialFingerprints"] = {{"primaryLocationLineHash", fmt::format("{}:{}", base, occ)}};
    json related = json::array();
    int id = 0;
    for (const auto& o : f.provenance) {
      if (!o.loc.known() || !o.loc.span.begin.known()) continue;
      related.push_back({{"id", id++},
                         {"physicalLocation",
                          {{"artifactLocation", {{"uri", repo_relative(o.loc.file)}, {"uriBaseId", "SRCROOT"}}},
                           {"region", {{"startLine", o.loc.span.begin.line}, {"startColumn", o.loc.span.begin.column}}}}},
                         {"message", {{"text", o.text}}}});
      if (id >= 8) break;
    }
    if (!related.empty()) res["relatedLocations"] = related;
    results.push_back(std::move(res));
  }
  json notifications = json::array();
  for (const auto& e : r.errors) {
    json n;
    n["level"] = "error";
    n["message"] = {{"text", e.message}};
    if (!e.loc.file.empty()) {
      json pl = {{"artifactLocation", {{"uri", repo_relative(e.loc.file)}, {"uriBaseId", "SRCROOT"}}}};
      if (e.loc.span.begin.known())
        pl["region"] = {{"startLine", e.loc.span.begin.line}, {"startColumn", e.loc.span.begin.column}};
      n["locations"] = json::array({{{"physicalLocation", pl}}});
    }
    notifications.push_back(std::move(n));
  }
  std::string root = repo_root(absolute_path("."));
  if (root.empty()) root = absolute_path(".");
  json run;
  run["tool"] = {{"driver",
                  {{"name", "gcheck"},
                   {"version", GCHECK_VERSION},
                   {"semanticVersion", GCHECK_VERSION},
                   {"rules", rules}}}};
  run["automationDetails"] = {{"id", "gcheck/"}};
  run["originalUriBaseIds"] = {{"SRCROOT", {{"uri", "file://" + root + "/"}}}};
  run["results"] = results;
  run["invocations"] = json::array({{{"executionSuccessful", r.errors.empty()},
                                     {"toolExecutionNotifications", notifications}}});
  json doc;
  doc["$schema"] = "https://json.schemastore.org/sarif-2.1.0.json";
  doc["version"] = "2.1.0";
  doc["runs"] = json::array({run});
  return doc.dump(2) + "\n";
}

}  // namespace gcheck
