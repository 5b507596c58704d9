#include "cli/engine.h"

#include <dirent.h>
#include <fnmatch.h>
#include <sys/stat.h>

#include <algorithm>
#include <set>
#include <thread>
#include <tuple>
#include <unordered_set>

#include <fmt/format.h>

#include "analyzer/cxx/client.h"
#include "analyzer/detect.h"
#include "analyzer/pairing.h"
#include "cli/suppress.h"

namespace gcheck {

// ---- selection ---------------------------------------------------------------------------------

namespace {
int match_len(const std::vector<std::string>& prefixes, std::string_view code) {
  int best = -1;
  for (const auto& p : prefixes) {
    if (p == "ALL") {
      best = std::max(best, 0);
    } else if (code.substr(0, p.size()) == p) {
      best = std::max(best, static_cast<int>(p.size()));
    }
  }
  return best;
}
}  // namespace

bool Selection::enabled(std::string_view code) const {
  int s = match_len(select, code);
  if (s < 0) return false;
  int i = match_len(ignore, code);
  return i < 0 || s > i;
}

namespace {

std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// Valid codes or prefixes: ALL, or a prefix of some rule's code.
std::optional<std::string> bad_code(const std::vector<std::string>& codes) {
  for (const auto& c : codes) {
    if (c == "ALL") continue;
    bool ok = false;
    for (const auto& e : all_rules()) ok |= e.rule->code.substr(0, c.size()) == c;
    if (!ok) return c;
  }
  return std::nullopt;
}

// ---- walking -------------------------------------------------------------------------------------

const char* const kDefaultExcludes[] = {
    ".git", ".hg", ".svn", ".bzr", "node_modules", "__pycache__", ".venv", "venv", ".tox",
    ".nox", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".cache", "build", "dist",
    "site-packages", ".eggs", "*.egg-info", "wandb", ".ipynb_checkpoints"};

bool ends_with(const std::string& name, std::string_view suf) {
  return name.size() >= suf.size() && name.compare(name.size() - suf.size(), suf.size(), suf) == 0;
}

// C++ translation units (headers are analyzed through the units that include them).
bool cxx_name(const std::string& name) {
  for (std::string_view suf : {".cpp", ".cc", ".cxx", ".c++", ".cu"})
    if (ends_with(name, suf)) return true;
  return false;
}

bool lintable_name(const std::string& name, bool cxx) {
  auto ends = [&](std::string_view suf) { return ends_with(name, suf); };
  if (cxx && cxx_name(name)) return true;
#if GCHECK_HAVE_PYTHON
  if (ends(".py")) return true;
#endif
  return ends(".yaml") || ends(".yml") || ends(".json");
}

struct Walker {
  bool cxx = false;  // walk C++ sources too
  std::vector<std::string> excludes;
  std::set<std::pair<dev_t, ino_t>> seen_dirs;
  std::vector<std::string> files;
  std::vector<LintError> errors;

  // Patterns without '/' match a file or folder name; others match the path.
  bool excluded(const std::string& path, const std::string& name) const {
    for (const auto& g : excludes) {
      if (g.find('/') == std::string::npos) {
        if (::fnmatch(g.c_str(), name.c_str(), 0) == 0) return true;
      } else if (glob_match(g, path)) {
        return true;
      }
    }
    return false;
  }

  void walk(const std::string& dir, int depth) {
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) return;
    if (!seen_dirs.insert({st.st_dev, st.st_ino}).second) return;  // symlink loop
    if (depth > 64) return;
    DIR* d = ::opendir(dir.c_str());
    if (!d) {
      errors.push_back({{dir, {}}, "cannot read folder"});
      return;
    }
    std::vector<std::string> names;
    while (auto* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n == "." || n == "..") continue;
      names.push_back(n);
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    for (const auto& n : names) {
      std::string p = dir == "." ? n : join_path(dir, n);
      if (excluded(p, n)) continue;
      struct stat est {};
      if (::stat(p.c_str(), &est) != 0) {
        struct stat lst {};
        if (::lstat(p.c_str(), &lst) == 0 && S_ISLNK(lst.st_mode) && lintable_name(n, cxx))
          files.push_back(p);  // a broken or looping link: reported when read
        continue;
      }
      if (S_ISDIR(est.st_mode)) walk(p, depth + 1);
      else if (S_ISREG(est.st_mode) && lintable_name(n, cxx)) files.push_back(p);
    }
  }
};

// ---- evaluation ------------------------------------------------------------------------------------

using Key = std::tuple<std::string, uint32_t, uint32_t, std::string_view>;

Key key_of(const Finding& f) {
  return {f.loc.file, f.loc.span.begin.line, f.loc.span.begin.column, f.rule->code};
}

// Runs the selected rules on every path through the unknowns and merges: a finding that holds
// on some paths only carries the condition and is reported one severity lower.
std::vector<Finding> evaluate(const Inputs& in, const VersionMap& versions,
                              const std::vector<const Rule*>& rules) {
  std::vector<std::vector<Finding>> per_path;
  std::vector<Finding> per_document;
  auto paths = explore(versions, [&](Scenario& sc, size_t index) {
    Setup s = resolve(in, sc);
    Context cx(sc);
    for (const Rule* r : rules)
      if (!r->per_document) r->check(s, cx);
    per_path.push_back(std::move(cx.findings()));
    if (index == 0) {
      Context dx(sc);
      for (const Rule* r : rules)
        if (r->per_document) r->check(s, dx);
      per_document = std::move(dx.findings());
    }
  });
  std::vector<Finding> out;
  std::map<Key, size_t> index;
  std::vector<std::vector<bool>> holds;
  for (size_t i = 0; i < per_path.size(); ++i) {
    for (auto& f : per_path[i]) {
      Key k = key_of(f);
      auto it = index.find(k);
      if (it == index.end()) {
        index[k] = out.size();
        out.push_back(std::move(f));
        holds.emplace_back(per_path.size(), false);
        holds.back()[i] = true;
      } else {
        holds[it->second][i] = true;
      }
    }
  }
  for (size_t j = 0; j < out.size(); ++j) {
    std::string cond = describe_condition(paths, holds[j]);
    if (!cond.empty()) {
      out[j].condition = cond;
      out[j].severity = lower(out[j].severity);
    }
  }
  for (auto& f : per_document) out.push_back(std::move(f));
  return out;
}

// How a script's declaration reads in `gcheck explain`: check_min_version("4.57.0.dev0").
std::string declaration_text(const VersionDeclFact& d) {
  if (d.via == "check_min_version" && d.range.lo)
    return fmt::format("check_min_version(\"{}\")", d.range.lo->v.text);
  if (d.via == "require_version" || d.via == "require_version_core")
    return fmt::format("{}(\"{}\")", d.via, d.spec);
  return fmt::format("{} \"{}\"", d.via, d.spec);
}

// The versions a script declares it runs with (check_min_version, require_version, a PEP 723
// header), per library. The run must satisfy every declaration, so they intersect; one that
// contradicts those before it is dropped (the script cannot run at all then, and what it
// would run with is not known).
VersionMap declared_versions(const Facts* script) {
  VersionMap out;
  if (!script || !script->code) return out;
  for (const auto& d : script->code->version_decls) {
    auto it = out.find(d.library);
    if (it == out.end()) {
      out[d.library] = VersionInfo{d.range, d.loc, declaration_text(d)};
      continue;
    }
    VersionRange both = it->second.range;
    both.intersect(d.range);
    if (both.empty() || both == it->second.range) continue;
    it->second.range = both;
    it->second.source +=
        fmt::format(" and {}:{} {}", d.loc.file, d.loc.span.begin.line, declaration_text(d));
  }
  return out;
}

VersionMap versions_for(const std::string& path, const LintOptions& opts, const ProjectConfig& pc,
                        PinFinder& pins, const Facts* script) {
  VersionMap v = pins.pins_for(path);
  // The script's own declarations and the pins near it both hold for the run: where both name
  // a library, the run is in their intersection. When they contradict (no version satisfies
  // both), the pin file stands: it says what is installed, and the script would stop at its
  // check.
  std::set<std::string> from_script;
  for (auto& [lib, d] : declared_versions(script)) {
    auto it = v.find(lib);
    if (it == v.end()) {
      from_script.insert(lib);
      v[lib] = std::move(d);
      continue;
    }
    VersionRange both = it->second.range;
    both.intersect(d.range);
    if (both.empty() || both == it->second.range) continue;
    std::string pin =
        it->second.where.span.begin.known()
            ? fmt::format("{}:{}", it->second.where.file, it->second.where.span.begin.line)
            : it->second.source;
    it->second = VersionInfo{both, d.where, fmt::format("{} and {}", d.source, pin)};
  }
  for (const auto& [lib, ver] : pc.assume) {
    VersionInfo vi;
    auto r = VersionRange::parse_spec(ver);
    if (!r) r = VersionRange::parse_spec("==" + ver);
    if (!r) continue;
    vi.range = *r;
    vi.where = pc.assume_loc.count(lib) ? pc.assume_loc.at(lib) : Location{};
    vi.source = relative_to_cwd(pc.path);
    v[lib] = vi;
    from_script.erase(lib);
  }
  // With no version known, transformers is modelled from 4.35.0 (Nov 2023, the first release
  // with gradient_checkpointing_kwargs) on: older releases are only checked when pinned.
  // torch likewise from 2.2.0 (Jan 2024, checkpoint_wrapper defaults to non-reentrant).
  // A script's minimum (check_min_version("4.20.0")) says nothing about newer releases: the
  // modelled range still starts at the floor.
  for (auto [lib, floor] : {std::pair<const char*, const char*>{"transformers", "4.35.0"}, {"torch", "2.2.0"}}) {
    if (auto it = v.find(lib); it != v.end()) {
      VersionRange& r = it->second.range;
      Version f = *Version::parse(floor);
      if (from_script.count(lib) && !r.hi && (!r.lo || r.lo->v < f)) {
        r.lo = Bound{f, true};
        it->second.source += fmt::format(", from {} on as modelled", floor);
      }
      continue;
    }
    VersionInfo vi;
    vi.range.lo = Bound{*Version::parse(floor), true};
    vi.source = "gcheck's modelled range when no version is known (pin it to check older ones)";
    v[lib] = vi;
  }
  for (const auto& [lib, ver] : opts.assume) {
    VersionInfo vi;
    auto r = VersionRange::parse_spec(ver);
    if (!r) r = VersionRange::parse_spec("==" + ver);
    if (!r) continue;
    vi.range = *r;
    vi.source = "--assume";
    v[normalize_library(lib)] = vi;
  }
  return v;
}

std::string rel_to(const std::string& dir, const std::string& path) {
  std::string a = absolute_path(path);
  std::string d = absolute_path(dir);
  if (a.rfind(d + "/", 0) == 0) return a.substr(d.size() + 1);
  return path;
}

template <class V>
const V* glob_lookup(const std::vector<std::pair<std::string, V>>& table, const std::string& dir,
                     const std::string& path) {
  std::string rel = rel_to(dir, path);
  for (const auto& [g, v] : table)
    if (glob_match(g, rel) || glob_match(g, path)) return &v;
  return nullptr;
}

struct Prepared {
  ProjectConfig pc;
  Selection sel;
  std::vector<const Rule*> rules;
  Severity threshold = Severity::Warning;
  std::optional<LintError> error;
};

Prepared prepare(const LintOptions& opts) {
  Prepared p;
  // The project configuration nearest to what is linted: from the first path upwards.
  std::string start = ".";
  if (!opts.paths.empty()) start = is_dir(opts.paths.front()) ? opts.paths.front() : parent_dir(opts.paths.front());
  auto pc = load_project_config(opts.project_config, start);
  if (!pc) {
    p.error = LintError{pc.error().loc, pc.error().message};
    return p;
  }
  p.pc = pc.value();
  auto up = [](std::vector<std::string> v) {
    for (auto& s : v) s = upper(s);
    return v;
  };
  p.sel.select = up(opts.select ? *opts.select : p.pc.select ? *p.pc.select : std::vector<std::string>{"ALL"});
  for (const auto& s : up(p.pc.extend_select)) p.sel.select.push_back(s);
  for (const auto& s : up(opts.extend_select)) p.sel.select.push_back(s);
  p.sel.ignore = up(p.pc.ignore);
  for (const auto& s : up(opts.ignore)) p.sel.ignore.push_back(s);
  for (const auto* list : {&p.sel.select, &p.sel.ignore}) {
    if (auto bad = bad_code(*list)) {
      p.error = LintError{{p.pc.found ? relative_to_cwd(p.pc.path) : "", {}},
                          fmt::format("unknown rule code or prefix '{}' (see `gcheck rules`)", *bad)};
      return p;
    }
  }
  for (const auto& [code, sev] : p.pc.severity) {
    if (!find_rule(code) || !parse_severity(sev)) {
      p.error = LintError{{relative_to_cwd(p.pc.path), {}},
                          fmt::format("severity: '{}' = '{}' needs a rule code and one of error, "
                                      "warning, info", code, sev)};
      return p;
    }
  }
  if (opts.severity_threshold) {
    p.threshold = *opts.severity_threshold;
  } else if (p.pc.severity_threshold) {
    auto s = parse_severity(*p.pc.severity_threshold);
    if (!s) {
      p.error = LintError{{relative_to_cwd(p.pc.path), {}},
                          "severity-threshold must be one of error, warning, info"};
      return p;
    }
    p.threshold = *s;
  }
  for (const auto& e : all_rules())
    if (p.sel.enabled(e.rule->code)) p.rules.push_back(e.rule);
  return p;
}

std::optional<Format> forced_format(const std::string& path, const LintOptions& opts,
                                    const ProjectConfig& pc, std::optional<LintError>& err) {
  for (const auto& [file, kind] : opts.format_of) {
    if (absolute_path(file) == absolute_path(path) || glob_match(file, path)) {
      auto f = parse_format_name(kind);
      if (!f) err = LintError{{path, {}}, fmt::format("--format-of: unknown format '{}'", kind)};
      return f;
    }
  }
  if (const std::string* kind = glob_lookup(pc.format_of, pc.dir, path)) {
    auto f = parse_format_name(*kind);
    if (!f) err = LintError{{relative_to_cwd(pc.path), {}}, fmt::format("format-of: unknown format '{}'", *kind)};
    return f;
  }
  return std::nullopt;
}

std::optional<std::string> launcher_for(const std::string& path, const LintOptions& opts,
                                        const ProjectConfig& pc) {
  if (opts.launcher) return opts.launcher;
  if (const std::string* l = glob_lookup(pc.launchers, pc.dir, path))
    return join_path(relative_to_cwd(pc.dir), *l);
  return std::nullopt;
}

// C++ translation units through gcheck-cxx; each analyzed unit is linted like a config.
void lint_cxx(const std::vector<std::pair<std::string, bool>>& files, const LintOptions& opts,
              const Prepared& prep, PinFinder& pins, LintResult& res, std::vector<Finding>& all) {
  cxx::CxxRequest req;
  for (const auto& [f, named] : files) req.files.push_back(f);
  req.compile_db_dir = opts.compile_db_dir;
  if (opts.cxx_args) {
    req.fixed_args = true;
    req.extra_args = *opts.cxx_args;
  }
  if (cxx::find_cxx_binary().empty()) {
    for (const auto& [f, named] : files) {
      std::string why = "C++ sources need gcheck-cxx, which this gcheck was built without (it "
                        "needs Clang's libraries: apt-get install -y libclang-cpp14-dev "
                        "libclang-14-dev llvm-14-dev)";
      if (named) res.errors.push_back({{f, {}}, why});
      else res.notes.push_back(fmt::format("{}: skipped: {}", f, why));
    }
    return;
  }
  auto report = cxx::run_cxx_frontend(req);
  if (!report) {
    res.errors.push_back({report.error().loc, report.error().message});
    return;
  }
  auto cf = cxx::facts_from_report(report.value(), opts.limits);
  for (auto& e : cf.errors) res.errors.push_back({e.loc, e.message});
  for (auto& n : cf.notes) res.notes.push_back(n);
  for (const auto& fp : cf.facts) {
    ++res.files_checked;
    res.sources[fp->source->display()] = fp->source;
    Inputs in;
    in.primary = fp;
    VersionMap versions = versions_for(fp->source->display(), opts, prep.pc, pins, nullptr);
    auto found = evaluate(in, versions, prep.rules);
    for (auto& f : found) all.push_back(std::move(f));
  }
}

}  // namespace

// ---- the run ---------------------------------------------------------------------------------------

LintResult run_lint(const LintOptions& opts) {
  LintResult res;
  Prepared prep = prepare(opts);
  if (prep.error) {
    res.errors.push_back(*prep.error);
    res.usage_error = true;
    return res;
  }
  res.threshold = prep.threshold;
  if (opts.launcher && !file_exists(*opts.launcher)) {
    res.errors.push_back({{*opts.launcher, {}}, "--launcher: file not found"});
    res.usage_error = true;
    return res;
  }

  // Files: explicit files as given; folders walked with the excludes.
  Walker w;
  // Folders yield C++ sources when the compiler's flags are known (-p, or flags after --).
  w.cxx = !opts.compile_db_dir.empty() || opts.cxx_args.has_value();
  if (prep.pc.exclude.empty()) {
    for (auto e : kDefaultExcludes) w.excludes.push_back(e);
  } else {
    w.excludes = prep.pc.exclude;
  }
  for (const auto& e : prep.pc.extend_exclude) w.excludes.push_back(e);
  for (const auto& e : opts.exclude) w.excludes.push_back(e);
  std::vector<std::string> paths = opts.paths.empty() ? std::vector<std::string>{"."} : opts.paths;
  std::vector<std::pair<std::string, bool>> files;  // path, explicitly named
  for (const auto& p : paths) {
    struct stat st {};
    if (::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      w.files.clear();
      w.walk(p, 0);
      for (auto& f : w.files) files.emplace_back(f, false);
    } else {
      files.emplace_back(p, true);
    }
  }
  for (auto& e : w.errors) res.errors.push_back(e);

  auto cache_owner = std::make_shared<ConfigCache>(opts.limits);
  ConfigCache& cache = *cache_owner;
  res.keep_alive = cache_owner;
  PinFinder pins;
  std::vector<Finding> all;
  std::set<std::string> seen_files;
  // Script/config pairs whose script is linted: the config is linted with it, not alone.
  std::map<std::string, std::string> pairs;  // absolute script path -> config path
  std::set<std::string> paired_configs;
  for (const auto& [path, named] : files) {
    (void)named;
    if (!ends_with(path, ".py")) continue;
    std::optional<std::string> cfg;
    for (const auto& [script, config] : opts.pairs)
      if (absolute_path(script) == absolute_path(path)) cfg = config;
    if (!cfg)
      if (const std::string* c = glob_lookup(prep.pc.pairs, prep.pc.dir, path))
        cfg = join_path(relative_to_cwd(prep.pc.dir), *c);
    if (!cfg) continue;
    if (!file_exists(*cfg)) {
      res.errors.push_back({{*cfg, {}}, fmt::format("paired with {}: file not found", path)});
      continue;
    }
    pairs[absolute_path(path)] = *cfg;
    paired_configs.insert(absolute_path(*cfg));
  }
  for (const auto& [script, config] : opts.pairs) {
    if (!file_exists(script)) {
      res.errors.push_back({{script, {}}, "--pair: file not found"});
      res.usage_error = true;
    }
  }
  // Read and parse the files on every core first; linting them below finds them cached.
  {
    unsigned jobs = opts.jobs ? opts.jobs : std::max(1u, std::thread::hardware_concurrency());
    std::vector<std::pair<std::string, std::optional<Format>>> load;
    std::set<std::string> queued;
    for (const auto& [path, named] : files) {
      if (cxx_name(path) || !queued.insert(absolute_path(path)).second) continue;
      std::optional<LintError> ferr;
      auto forced = forced_format(path, opts, prep.pc, ferr);
      if (!ferr) load.emplace_back(path, forced);
    }
    cache.preload(load, jobs);
  }
  std::vector<std::pair<std::string, bool>> cxx_files;
  for (const auto& [path, named] : files) {
    if (!seen_files.insert(absolute_path(path)).second) continue;
    if (cxx_name(path)) {
      cxx_files.emplace_back(path, named);
      continue;
    }
    if (paired_configs.count(absolute_path(path))) {
      res.notes.push_back(fmt::format("{}: linted with the script it is paired with", path));
      continue;
    }
    std::optional<LintError> ferr;
    auto forced = forced_format(path, opts, prep.pc, ferr);
    if (ferr) {
      res.errors.push_back(*ferr);
      res.usage_error = true;
      continue;
    }
    auto facts = cache.get(path, forced);
    if (!facts) {
      const InputError& e = facts.error();
      bool too_big = e.message.find("limit for a config") != std::string::npos;
      if (e.placeholder || (!named && too_big)) {
        if (e.placeholder) {
          Finding f;
          f.rule = find_rule("GC502") ? find_rule("GC502")->rule : nullptr;
          if (f.rule && prep.sel.enabled("GC502")) {
            f.severity = f.rule->severity;
            f.loc = e.loc;
            f.message = "this file is a template: " + e.message;
            f.fix = "lint the rendered file (the one the launch script writes), or exclude "
                    "templates with --exclude";
            all.push_back(std::move(f));
          }
        }
        res.notes.push_back(fmt::format("{}: skipped: {}", e.loc.file, e.message));
        continue;
      }
      res.errors.push_back({e.loc, e.message});
      continue;
    }
    const auto& fp = facts.value();
    if (fp->format == Format::Unknown) {
      bool empty = fp->doc && fp->doc->root_node() == nullptr;
      std::string why = empty ? "empty file"
                        : !fp->doc && !fp->format_reason.empty() ? fp->format_reason
                                                                 : "not a training config of a known format";
      std::string note = fmt::format("{}:1:1: note: skipped: {} (use --format-of to name its format)",
                                     fp->source->display(), why);
      if (empty && named) res.warnings.push_back(note);
      else res.notes.push_back(note);
      continue;
    }
    // A script paired with the config it parses: one run, the config's values winning.
    std::string link_path = path;
    std::shared_ptr<const Facts> primary = fp;
    if (fp->format == Format::Python) {
      if (auto it = pairs.find(absolute_path(path)); it != pairs.end()) {
        auto cfg = cache.get(it->second, forced_format(it->second, opts, prep.pc, ferr));
        if (!cfg) {
          res.errors.push_back({cfg.error().loc, cfg.error().message});
          continue;
        }
        if (cfg.value()->format == Format::Unknown || cfg.value()->format == Format::Python) {
          res.errors.push_back({{it->second, {}}, fmt::format("--pair {}={}: not a training config "
                                                            "of a known format", path, it->second)});
          continue;
        }
        res.sources[cfg.value()->source->display()] = cfg.value()->source;
        primary = merge_pair(*fp, *cfg.value());
        link_path = it->second;
      }
    }
    ++res.files_checked;
    res.sources[fp->source->display()] = fp->source;
    Inputs in = link_inputs(primary, link_path, cache, launcher_for(path, opts, prep.pc));
    if (in.deepspeed) res.sources[in.deepspeed->source->display()] = in.deepspeed->source;
    if (in.launcher) res.sources[in.launcher->source->display()] = in.launcher->source;
    VersionMap versions = versions_for(path, opts, prep.pc, pins, fp.get());
    auto found = evaluate(in, versions, prep.rules);
    for (auto& f : found) all.push_back(std::move(f));
  }

  // C++ sources: one gcheck-cxx run for all of them.
  if (!cxx_files.empty()) lint_cxx(cxx_files, opts, prep, pins, res, all);

  // Dedupe (a DeepSpeed JSON linked from many configs), suppress, apply overrides.
  std::set<Key> keys;
  std::map<std::string, std::vector<Suppression>> sups;
  for (const auto& [display, src] : res.sources) sups[display] = find_suppressions(*src);
  std::vector<Finding> kept;
  for (auto& f : all) {
    if (!keys.insert(key_of(f)).second) continue;
    std::string code(f.rule->code);
    if (const auto* codes = glob_lookup(prep.pc.per_file_ignores, prep.pc.dir, f.loc.file)) {
      bool hit = false;
      for (const auto& c : *codes) hit |= Selection{{upper(c)}, {}}.enabled(code);
      if (hit) continue;
    }
    auto it = sups.find(f.loc.file);
    if (it != sups.end() && suppressed(it->second, code, f.loc.span.begin.line)) continue;
    if (auto ov = prep.pc.severity.find(code); ov != prep.pc.severity.end()) {
      Severity base = *parse_severity(ov->second);
      f.severity = f.condition.empty() ? base : lower(base);
    }
    kept.push_back(std::move(f));
  }
  // Unused suppressions (GC506), for rules that are enabled.
  const RuleEntry* unused = find_rule("GC506");
  if (unused && prep.sel.enabled("GC506")) {
    for (auto& [file, list] : sups) {
      for (const auto& s : list) {
        if (s.used) continue;
        bool relevant = s.codes.empty();
        for (const auto& c : s.codes) relevant |= prep.sel.enabled(c) && find_rule(c) != nullptr;
        if (!relevant) continue;
        Finding f;
        f.rule = unused->rule;
        f.severity = unused->rule->severity;
        f.loc = Location{file, {{s.line, s.column}, {s.line, static_cast<uint32_t>(s.column + s.text.size())}}};
        std::string codes;
        for (const auto& c : s.codes) codes += (codes.empty() ? "" : ", ") + c;
        f.message = fmt::format("unused suppression: no {} finding here to suppress",
                                codes.empty() ? "gcheck" : codes);
        f.fix = "remove the comment (or the codes that no longer fire)";
        kept.push_back(std::move(f));
      }
    }
  }
  std::sort(kept.begin(), kept.end(), [](const Finding& a, const Finding& b) {
    return std::tie(a.loc.file, a.loc.span.begin.line, a.loc.span.begin.column, a.rule->code) <
           std::tie(b.loc.file, b.loc.span.begin.line, b.loc.span.begin.column, b.rule->code);
  });
  res.findings = std::move(kept);
  return res;
}

ExplainResult run_explain(const std::string& file, const LintOptions& opts) {
  ExplainResult er;
  Prepared prep = prepare(opts);
  if (prep.error) {
    er.error = *prep.error;
    return er;
  }
  std::optional<LintError> ferr;
  auto forced = forced_format(file, opts, prep.pc, ferr);
  if (ferr) {
    er.error = ferr;
    return er;
  }
  ConfigCache cache(opts.limits);
  std::string link_path = file;
  if (cxx_name(file)) {
    // A C++ source: its facts come from gcheck-cxx.
    cxx::CxxRequest req;
    req.files = {file};
    req.compile_db_dir = opts.compile_db_dir;
    if (opts.cxx_args) {
      req.fixed_args = true;
      req.extra_args = *opts.cxx_args;
    }
    if (cxx::find_cxx_binary().empty()) {
      er.error = LintError{{file, {}}, "C++ sources need gcheck-cxx, which this gcheck was built without"};
      return er;
    }
    auto report = cxx::run_cxx_frontend(req);
    if (!report) {
      er.error = LintError{report.error().loc, report.error().message};
      return er;
    }
    auto cf = cxx::facts_from_report(report.value(), opts.limits);
    if (!cf.errors.empty()) {
      er.error = LintError{cf.errors.front().loc, cf.errors.front().message};
      return er;
    }
    if (cf.facts.empty()) {
      er.error = LintError{{file, {}}, cf.notes.empty() ? "not analyzed" : cf.notes.front()};
      return er;
    }
    er.facts = cf.facts.front();
  } else {
    auto facts = cache.get(file, forced);
    if (!facts) {
      er.error = LintError{facts.error().loc, facts.error().message};
      return er;
    }
    er.facts = facts.value();
    // A script paired with the config it parses.
    if (er.facts->format == Format::Python) {
      std::optional<std::string> cfg;
      for (const auto& [script, config] : opts.pairs)
        if (absolute_path(script) == absolute_path(file)) cfg = config;
      if (!cfg)
        if (const std::string* c = glob_lookup(prep.pc.pairs, prep.pc.dir, file))
          cfg = join_path(relative_to_cwd(prep.pc.dir), *c);
      if (cfg) {
        auto c = cache.get(*cfg, forced_format(*cfg, opts, prep.pc, ferr));
        if (!c) {
          er.error = LintError{c.error().loc, c.error().message};
          return er;
        }
        er.facts = merge_pair(*er.facts, *c.value());
        link_path = *cfg;
      }
    }
  }
  if (er.facts->format == Format::Unknown) {
    er.error = LintError{{er.facts->source->display(), {{1, 1}, {}}},
                         "not a training config of a known format (use --format-of FILE=KIND)"};
    return er;
  }
  er.inputs = link_inputs(er.facts, link_path, cache, launcher_for(file, opts, prep.pc));
  PinFinder pins;
  er.versions = versions_for(file, opts, prep.pc, pins, er.facts.get());
  std::vector<Setup> setups;
  auto paths = explore(er.versions, [&](Scenario& sc, size_t) {
    Setup s = resolve(er.inputs, sc);
    s.scenario = nullptr;
    setups.push_back(std::move(s));
  });
  for (size_t i = 0; i < paths.size(); ++i) er.paths.push_back({paths[i], std::move(setups[i])});
  return er;
}

}  // namespace gcheck
