// gcheck: static analysis for gradient-checkpointing setups.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "analyzer/defaults_table.h"
#include "cli/engine.h"
#include "cli/explain.h"
#include "cli/report.h"
#include "cli/probe_launch.h"

namespace {

using namespace gcheck;

bool color_for(bool no_color, bool to_file) {
  if (no_color || to_file) return false;
  if (std::getenv("NO_COLOR")) return false;
  if (const char* f = std::getenv("FORCE_COLOR"); f && *f) return true;
  return ::isatty(STDOUT_FILENO) != 0;
}

int write_out(const std::string& text, const std::string& output) {
  if (output.empty() || output == "-") {
    std::fwrite(text.data(), 1, text.size(), stdout);
    return 0;
  }
  // Written whole or not at all: a temporary beside it, then a rename.
  std::string tmp = output + ".gcheck-tmp";
  {
    std::ofstream o(tmp, std::ios::binary);
    if (!o || !o.write(text.data(), static_cast<std::streamsize>(text.size()))) {
      std::fprintf(stderr, "gcheck: error: cannot write %s\n", output.c_str());
      std::remove(tmp.c_str());
      return 2;
    }
  }
  if (std::rename(tmp.c_str(), output.c_str()) != 0) {
    std::fprintf(stderr, "gcheck: error: cannot write %s\n", output.c_str());
    std::remove(tmp.c_str());
    return 2;
  }
  return 0;
}

struct Common {
  std::vector<std::string> assume;
  std::vector<std::string> format_of;
  std::string launcher;
  std::string project_config;
  double max_file_mib = 8;

  void add(CLI::App* app) {
    app->add_option("--assume", assume,
                    "Library version to assume, e.g. transformers=4.46.0 or 'trl>=0.28' "
                    "(repeatable; wins over the project configuration and pins)")
        ->allow_extra_args(false);
    app->add_option("--format-of", format_of,
                    "Treat FILE as KIND: axolotl, hf-trl, llamafactory, llamafactory-v1, torchtune, "
                    "accelerate, deepspeed (FILE=KIND, repeatable)")
        ->allow_extra_args(false);
    app->add_option("--launcher", launcher,
                    "accelerate launcher config the training configs run under");
    app->add_option("--project-config", project_config,
                    "Project configuration (.gcheck.toml, or pyproject.toml with [tool.gcheck]); "
                    "default: the nearest one from the working directory up");
    app->add_option("--max-file-size", max_file_mib, "Largest config file read, in MiB")
        ->capture_default_str()
        ->check(CLI::Range(0.001, 4096.0));
  }

  // Fills the shared options; returns an error message for a malformed one.
  std::optional<std::string> apply(LintOptions& o) const {
    for (const auto& a : assume) {
      auto eq = a.find('=');
      auto op = a.find_first_of("<>=!~");
      if (op == std::string::npos || op == 0)
        return fmt::format("--assume {}: expected NAME=VERSION (or a range such as 'trl>=0.28')", a);
      std::string lib = a.substr(0, op);
      std::string ver = (eq == op && (op + 1 >= a.size() || a[op + 1] != '=')) ? a.substr(op + 1) : a.substr(op);
      std::string name = normalize_library(lib);
      if (!is_known_library(name))
        return fmt::format("--assume {}: unknown library '{}'", a, lib);
      if (!VersionRange::parse_spec(ver) && !VersionRange::parse_spec("==" + ver))
        return fmt::format("--assume {}: '{}' is not a version or range", a, ver);
      o.assume.emplace_back(name, ver);
    }
    for (const auto& f : format_of) {
      auto eq = f.rfind('=');
      if (eq == std::string::npos) return fmt::format("--format-of {}: expected FILE=KIND", f);
      std::string kind = f.substr(eq + 1);
      if (!parse_format_name(kind))
        return fmt::format("--format-of {}: unknown format '{}' (axolotl, hf-trl, llamafactory, "
                           "llamafactory-v1, torchtune, accelerate, deepspeed)", f, kind);
      o.format_of.emplace_back(f.substr(0, eq), kind);
    }
    if (!launcher.empty()) o.launcher = launcher;
    if (!project_config.empty()) o.project_config = project_config;
    o.limits.max_file_bytes = static_cast<size_t>(max_file_mib * 1048576.0);
    return std::nullopt;
  }
};

std::string rules_table(bool json) {
  if (json) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& e : all_rules()) {
      j.push_back({{"code", e.rule->code},
                   {"name", e.rule->name},
                   {"severity", severity_name(e.rule->severity)},
                   {"summary", e.rule->summary},
                   {"probe", e.rule->probe.empty() ? nlohmann::json(nullptr) : nlohmann::json(e.rule->probe)},
                   {"inputs", e.rule->inputs}});
    }
    return j.dump(2) + "\n";
  }
  std::string out = fmt::format("{:<6} {:<40} {:<8} {:<19} {}\n", "code", "name", "severity", "probe", "summary");
  for (const auto& e : all_rules())
    out += fmt::format("{:<6} {:<40} {:<8} {:<19} {}\n", e.rule->code, e.rule->name,
                       severity_name(e.rule->severity), e.rule->probe.empty() ? "-" : e.rule->probe,
                       e.rule->summary);
  return out;
}

std::string defaults_table(bool json) {
  if (json) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& r : default_rows())
      j.push_back({{"id", r.id}, {"stack", r.stack}, {"versions", row_versions(r)}, {"key", r.key},
                   {"value", r.value}, {"when", r.when}, {"source", r.source}});
    return j.dump(2) + "\n";
  }
  std::string out;
  for (const auto& r : default_rows()) {
    std::string gate = row_versions(r);
    out += fmt::format("{}\n  {} {} = {}{}\n  when: {}\n  source: {}\n\n", r.id, r.stack, r.key, r.value,
                       gate.empty() ? "" : "  (" + gate + ")", r.when, r.source);
  }
  return out;
}

int run(int argc, char** argv) {
  CLI::App app{"gcheck: finds gradient-checkpointing setups that drop or corrupt gradients, crash, "
               "or waste memory, and confirms them on a real model run"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("gcheck ") + GCHECK_VERSION);

  // ---- lint
  auto* lint = app.add_subcommand("lint", "Check training configs (and scripts) for checkpointing hazards");
  std::vector<std::string> paths, exclude, select, extend_select, ignore;
  std::string fmt_name = "text", output, threshold;
  bool exit_zero = false, statistics = false, no_color = false, verbose = false, probe = false;
  Common common;
  lint->add_option("paths", paths, "Files or folders (default: .)");
  lint->add_option("--exclude", exclude, "Glob of paths to skip (repeatable; added to the defaults)")->allow_extra_args(false);
  lint->add_option("--select", select, "Rule codes or prefixes to check (replaces the default ALL)")->delimiter(',')->allow_extra_args(false);
  lint->add_option("--extend-select", extend_select, "Rule codes or prefixes to add")->delimiter(',')->allow_extra_args(false);
  lint->add_option("--ignore", ignore, "Rule codes or prefixes to skip")->delimiter(',')->allow_extra_args(false);
  lint->add_option("--severity-threshold", threshold, "Lowest severity that fails the run: error, warning (default), info");
  lint->add_option("--format", fmt_name, "Output format: text, json, sarif, github")
      ->check(CLI::IsMember({"text", "json", "sarif", "github"}));
  lint->add_option("--output,-o", output, "Write the report to FILE");
  lint->add_flag("--exit-zero", exit_zero, "Exit 0 even when findings fail the threshold");
  lint->add_flag("--statistics", statistics, "Count findings per rule");
  lint->add_flag("--no-color", no_color, "No colour, even on a terminal");
  lint->add_flag("--verbose,-v", verbose, "Say which files were skipped and why; full provenance");
  lint->add_flag("--probe", probe, "Run `gcheck probe` on the findings and attach its verdicts");
  std::vector<std::string> pair_specs;
  std::string compile_db;
  unsigned jobs = 0;
  lint->add_option("--jobs,-j", jobs, "Files read and parsed in parallel (default: one per core)");
  lint->add_option("--pair", pair_specs,
                   "SCRIPT=CONFIG: a training script and the YAML it parses (TrlParser, "
                   "HfArgumentParser) are one run; repeatable")
      ->allow_extra_args(false);
  lint->add_option("-p,--compile-commands", compile_db,
                   "C++: folder holding compile_commands.json (else the nearest one above each "
                   "source, or the compiler flags after --)");
  lint->footer("C++ sources: gcheck lint train.cpp -p build/   or   gcheck lint train.cpp -- -std=c++17 -I...\n"
               "Folders yield C++ sources only when -p or flags after -- are given.");
  common.add(lint);

  // ---- explain
  auto* explain = app.add_subcommand("explain", "Show the effective setup of a config and where each value comes from");
  std::string explain_file, explain_fmt = "text";
  bool explain_no_color = false;
  Common ecommon;
  explain->add_option("file", explain_file, "The config")->required();
  explain->add_option("--format", explain_fmt, "text or json")->check(CLI::IsMember({"text", "json"}));
  explain->add_flag("--no-color", explain_no_color, "No colour");
  std::vector<std::string> explain_pairs;
  std::string explain_db;
  explain->add_option("--pair", explain_pairs, "SCRIPT=CONFIG (as for lint)")->allow_extra_args(false);
  explain->add_option("-p,--compile-commands", explain_db, "C++: folder holding compile_commands.json");
  ecommon.add(explain);

  // ---- rule / rules / defaults / version
  auto* rule = app.add_subcommand("rule", "Print a rule's documentation");
  std::string rule_code;
  rule->add_option("code", rule_code, "Rule code (GC101) or name")->required();
  auto* rules = app.add_subcommand("rules", "List every rule");
  std::string rules_fmt = "text";
  rules->add_option("--format", rules_fmt, "text or json")->check(CLI::IsMember({"text", "json"}));
  auto* defaults = app.add_subcommand("defaults", "Print the table of library defaults and overrides gcheck applies");
  std::string defaults_fmt = "text";
  defaults->add_option("--format", defaults_fmt, "text or json")->check(CLI::IsMember({"text", "json"}));
  auto* version = app.add_subcommand("version", "Print the version");

  // ---- probe: handed to the gcheck-probe binary (LibTorch), which has its own options.
  auto* probe_cmd = app.add_subcommand("probe", "Confirm findings on a real run of a small quantized model (needs gcheck-probe)");
  probe_cmd->allow_extras();
  probe_cmd->prefix_command();

  // Everything after a bare `--` on the lint command line is the C++ compiler's (as for
  // clang-tidy); CLI11 would take it as more paths.
  std::optional<std::vector<std::string>> cxx_args;
  if (argc > 1 && (std::string_view(argv[1]) == "lint" || std::string_view(argv[1]) == "explain")) {
    for (int i = 2; i < argc; ++i) {
      if (std::string_view(argv[i]) != "--") continue;
      cxx_args.emplace(argv + i + 1, argv + argc);
      argc = i;
      break;
    }
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }

  if (*version) {
    std::printf("gcheck %s\n", GCHECK_VERSION);
    return 0;
  }
  if (*rules) {
    std::fputs(rules_table(rules_fmt == "json").c_str(), stdout);
    return 0;
  }
  if (*defaults) {
    std::fputs(defaults_table(defaults_fmt == "json").c_str(), stdout);
    return 0;
  }
  if (*rule) {
    const RuleEntry* e = find_rule(rule_code);
    if (!e) {
      std::fprintf(stderr, "gcheck: error: no rule '%s' (see `gcheck rules`)\n", rule_code.c_str());
      return 2;
    }
    std::fwrite(e->doc.data(), 1, e->doc.size(), stdout);
    return 0;
  }
  if (*probe_cmd) return launch_probe(argv[0], probe_cmd->remaining());
  if (*explain) {
    LintOptions o;
    if (auto err = ecommon.apply(o)) {
      std::fprintf(stderr, "gcheck: error: %s\n", err->c_str());
      return 2;
    }
    for (const auto& ps : explain_pairs) {
      auto eq = ps.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == ps.size()) {
        std::fprintf(stderr, "gcheck: error: --pair %s: expected SCRIPT=CONFIG\n", ps.c_str());
        return 2;
      }
      o.pairs.emplace_back(ps.substr(0, eq), ps.substr(eq + 1));
    }
    o.compile_db_dir = explain_db;
    o.cxx_args = cxx_args;
    ExplainResult er = run_explain(explain_file, o);
    if (er.error) {
      const auto& l = er.error->loc;
      std::fprintf(stderr, "%s%s: error: %s\n", l.file.c_str(),
                   l.span.begin.known() ? fmt::format(":{}:{}", l.span.begin.line, l.span.begin.column).c_str() : "",
                   er.error->message.c_str());
      return 2;
    }
    std::string text = explain_fmt == "json" ? explain_json(er) : explain_text(er, color_for(explain_no_color, false));
    std::fputs(text.c_str(), stdout);
    return 0;
  }

  // lint
  LintOptions o;
  o.paths = paths;
  o.exclude = exclude;
  if (!select.empty()) o.select = select;
  o.extend_select = extend_select;
  o.ignore = ignore;
  o.verbose = verbose;
  if (!threshold.empty()) {
    auto s = parse_severity(threshold);
    if (!s) {
      std::fprintf(stderr, "gcheck: error: --severity-threshold must be error, warning or info\n");
      return 2;
    }
    o.severity_threshold = *s;
  }
  if (auto err = common.apply(o)) {
    std::fprintf(stderr, "gcheck: error: %s\n", err->c_str());
    return 2;
  }
  for (const auto& ps : pair_specs) {
    auto eq = ps.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == ps.size()) {
      std::fprintf(stderr, "gcheck: error: --pair %s: expected SCRIPT=CONFIG\n", ps.c_str());
      return 2;
    }
    o.pairs.emplace_back(ps.substr(0, eq), ps.substr(eq + 1));
  }
  o.compile_db_dir = compile_db;
  o.cxx_args = cxx_args;
  o.jobs = jobs;
  LintResult r = run_lint(o);
  if (probe && !r.usage_error) attach_probe_verdicts(argv[0], r, o);

  std::string text;
  if (fmt_name == "json") text = report_json(r);
  else if (fmt_name == "sarif") text = report_sarif(r);
  else if (fmt_name == "github") text = report_github(r);
  else {
    TextStyle st;
    st.color = color_for(no_color, !output.empty() && output != "-");
    st.statistics = statistics;
    st.verbose = verbose;
    text = report_text(r, st);
  }
  // Input errors go to stderr in compiler style (the structured formats also carry them).
  for (const auto& e : r.errors) {
    const auto& l = e.loc;
    std::string where = l.file.empty() ? "gcheck" : l.file;
    if (l.span.begin.known()) where += fmt::format(":{}:{}", l.span.begin.line, l.span.begin.column);
    std::fprintf(stderr, "%s: error: %s\n", where.c_str(), e.message.c_str());
  }
  for (const auto& n : r.warnings) std::fprintf(stderr, "%s\n", n.c_str());
  if (verbose)
    for (const auto& n : r.notes) std::fprintf(stderr, "%s\n", n.c_str());
  if (fmt_name != "text" && statistics) std::fputs(report_statistics(r).c_str(), stderr);
  int rc = write_out(text, output);
  if (rc == 0 && !r.errors.empty()) rc = 2;
  if (rc == 0 && !exit_zero)
    for (const auto& f : r.findings)
      if (f.severity >= r.threshold) rc = 1;
  // Everything is written: leave without tearing down every parsed document (a few
  // milliseconds on a large tree; the operating system reclaims it all at once).
  std::fflush(stdout);
  std::fflush(stderr);
  std::_Exit(rc);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gcheck: internal error: %s\n", e.what());
    return 2;
  }
}
