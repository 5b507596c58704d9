#include <map>

#include <fmt/format.h>

#include "cli/report.h"

namespace gcheck {
namespace {

struct Colors {
  bool on;
  std::string bold() const { return on ? "\033[1m" : ""; }
  std::string reset() const { return on ? "\033[0m" : ""; }
  std::string sev(Severity s) const {
    if (!on) return "";
    return s == Severity::Error ? "\033[1;31m" : s == Severity::Warning ? "\033[1;33m" : "\033[1;36m";
  }
  std::string dim() const { return on ? "\033[2m" : ""; }
  std::string green() const { return on ? "\033[32m" : ""; }
};

std::string loc_text(const Location& l) {
  if (!l.span.begin.known()) return l.file;
  return fmt::format("{}:{}:{}", l.file, l.span.begin.line, l.span.begin.column);
}

void caret(std::string& out, const LintResult& r, const Location& l, const Colors& c) {
  auto it = r.sources.find(l.file);
  if (it == r.sources.end() || !l.span.begin.known()) return;
  std::string_view line = it->second->line(l.span.begin.line);
  if (line.empty() && l.span.begin.line > it->second->line_count()) return;
  std::string num = std::to_string(l.span.begin.line);
  std::string pad(num.size(), ' ');
  out += fmt::format(" {}{} |{} {}\n", c.dim(), num, c.reset(), line);
  size_t col = l.span.begin.column ? l.span.begin.column - 1 : 0;
  size_t len = 1;
  if (l.span.end.known() && l.span.end.line == l.span.begin.line && l.span.end.column > l.span.begin.column)
    len = l.span.end.column - l.span.begin.column;
  std::string marks = "^" + std::string(len > 1 ? len - 1 : 0, '~');
  std::string lead;
  for (size_t i = 0; i < col && i < line.size(); ++i) lead.push_back(line[i] == '\t' ? '\t' : ' ');
  out += fmt::format(" {}{} |{} {}{}{}{}\n", c.dim(), pad, c.reset(), lead, c.green(), marks, c.reset());
}

}  // namespace

std::string report_text(const LintResult& r, const TextStyle& style) {
  Colors c{style.color};
  std::string out;
  for (const auto& f : r.findings) {
    std::string cond = f.condition.empty() ? "" : fmt::format(" (if {})", f.condition);
    out += fmt::format("{}{}:{} {}{}:{} {}{} {}[{} {}]{}\n", c.bold(), loc_text(f.loc), c.reset(),
                       c.sev(f.severity), severity_name(f.severity), c.reset(), f.message, cond,
                       c.dim(), f.rule->code, f.rule->name, c.reset());
    if (style.show_source) caret(out, r, f.loc, c);
    std::string pad = "   ";
    size_t shown = 0;
    for (const auto& o : f.provenance) {
      if (o.kind == Origin::Kind::Derived && o.text.empty()) continue;
      if (++shown > 4 && !style.verbose) break;
      out += fmt::format("{}= because: {}\n", pad, o.describe());
    }
    if (!f.fix.empty()) out += fmt::format("{}= fix: {}\n", pad, f.fix);
    if (!f.probe.empty()) out += fmt::format("{}= confirm: gcheck probe --scenario {}\n", pad, f.probe);
    if (!f.verdict.empty()) out += fmt::format("{}= probe: {}\n", pad, f.verdict);
    out += "\n";
  }
  if (style.statistics) out += report_statistics(r);
  size_t n[3] = {0, 0, 0};
  for (const auto& f : r.findings) n[static_cast<int>(f.severity)]++;
  if (r.findings.empty()) {
    out += fmt::format("{}All checked.{} {} file{} checked, no findings.\n", c.bold(), c.reset(),
                       r.files_checked, r.files_checked == 1 ? "" : "s");
  } else {
    out += fmt::format("Found {} error{}, {} warning{}, {} info in {} file{} checked.\n", n[2],
                       n[2] == 1 ? "" : "s", n[1], n[1] == 1 ? "" : "s", n[0], r.files_checked,
                       r.files_checked == 1 ? "" : "s");
  }
  return out;
}

std::string report_statistics(const LintResult& r) {
  std::map<std::string_view, std::pair<size_t, const Finding*>> counts;
  for (const auto& f : r.findings) {
    auto& e = counts[f.rule->code];
    e.first++;
    e.second = &f;
  }
  std::string out;
  for (const auto& [code, e] : counts)
    out += fmt::format("{:>5}  {}  {:<8} {}\n", e.first, code, severity_name(e.second->rule->severity),
                       e.second->rule->name);
  if (!out.empty()) out += "\n";
  return out;
}

}  // namespace gcheck
