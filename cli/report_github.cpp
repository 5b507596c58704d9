#include <fmt/format.h>

#include "cli/report.h"

namespace gcheck {
namespace {

std::string esc_data(std::string_view s) {
  std::string o;
  for (char c : s) {
    if (c == '%') o += "%25";
    else if (c == '\r') o += "%0D";
    else if (c == '\n') o += "%0A";
    else o.push_back(c);
  }
  return o;
}

std::string esc_prop(std::string_view s) {
  std::string o;
  for (char c : s) {
    if (c == '%') o += "%25";
    else if (c == '\r') o += "%0D";
    else if (c == '\n') o += "%0A";
    else if (c == ':') o += "%3A";
    else if (c == ',') o += "%2C";
    else o.push_back(c);
  }
  return o;
}

}  // namespace

std::string report_github(const LintResult& r) {
  std::string out;
  for (const auto& f : r.findings) {
    const char* level = f.severity == Severity::Error ? "error" : f.severity == Severity::Warning ? "warning" : "notice";
    std::string props = fmt::format("file={}", esc_prop(f.loc.file));
    if (f.loc.span.begin.known()) {
      props += fmt::format(",line={},col={}", f.loc.span.begin.line, f.loc.span.begin.column);
      if (f.loc.span.end.known())
        props += fmt::format(",endLine={},endColumn={}", f.loc.span.end.line, f.loc.span.end.column);
    }
    props += fmt::format(",title={}", esc_prop(fmt::format("gcheck {} {}", f.rule->code, f.rule->name)));
    std::string msg = f.message;
    if (!f.condition.empty()) msg += " (if " + f.condition + ")";
    if (!f.fix.empty()) msg += "\nFix: " + f.fix;
    out += fmt::format("::{} {}::{}\n", level, props, esc_data(msg));
  }
  for (const auto& e : r.errors) {
    std::string props = fmt::format("file={}", esc_prop(e.loc.file));
    if (e.loc.span.begin.known())
      props += fmt::format(",line={},col={}", e.loc.span.begin.line, e.loc.span.begin.column);
    out += fmt::format("::error {},title=gcheck input error::{}\n", props, esc_data(e.message));
  }
  return out;
}

}  // namespace gcheck
