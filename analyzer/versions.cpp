#include "analyzer/versions.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <set>

#include <fmt/format.h>

namespace gcheck {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool read_int(std::string_view& s, int& out) {
  size_t i = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
  if (i == 0) return false;
  auto r = std::from_chars(s.data(), s.data() + i, out);
  if (r.ec != std::errc()) return false;
  s.remove_prefix(i);
  return true;
}

bool eat(std::string_view& s, std::string_view w) {
  if (s.size() >= w.size()) {
    for (size_t i = 0; i < w.size(); ++i)
      if (std::tolower(static_cast<unsigned char>(s[i])) != w[i]) return false;
    s.remove_prefix(w.size());
    return true;
  }
  return false;
}

void eat_sep(std::string_view& s) {
  if (!s.empty() && (s[0] == '.' || s[0] == '-' || s[0] == '_')) s.remove_prefix(1);
}

}  // namespace

std::optional<Version> Version::parse(std::string_view in) {
  std::string_view s = trim(in);
  Version v;
  v.text = std::string(s);
  if (!s.empty() && (s[0] == 'v' || s[0] == 'V')) s.remove_prefix(1);
  int n = 0;
  if (!read_int(s, n)) return std::nullopt;
  v.release.push_back(n);
  while (s.size() >= 2 && s[0] == '.' && std::isdigit(static_cast<unsigned char>(s[1]))) {
    s.remove_prefix(1);
    read_int(s, n);
    v.release.push_back(n);
  }
  // pre-release
  std::string_view save = s;
  eat_sep(s);
  int phase = -1;
  if (eat(s, "alpha") || eat(s, "a")) phase = 1;
  else if (eat(s, "beta") || eat(s, "b")) phase = 2;
  else if (eat(s, "rc") || eat(s, "c") || eat(s, "pre") || eat(s, "preview")) phase = 3;
  if (phase > 0) {
    v.phase = phase;
    eat_sep(s);
    read_int(s, v.phase_num);
  } else {
    s = save;
  }
  save = s;
  eat_sep(s);
  if (eat(s, "post") || eat(s, "rev") || eat(s, "r")) {
    eat_sep(s);
    v.post = 0;
    read_int(s, v.post);
  } else {
    s = save;
  }
  save = s;
  eat_sep(s);
  if (eat(s, "dev")) {
    v.dev = 0;
    read_int(s, v.dev);
    if (v.phase == 4 && v.post < 0) v.phase = 0;
  } else {
    s = save;
  }
  if (!s.empty() && s[0] == '+') s = {};  // local version label
  if (!trim(s).empty()) return std::nullopt;
  return v;
}

int Version::compare(const Version& o) const {
  size_t n = std::max(release.size(), o.release.size());
  for (size_t i = 0; i < n; ++i) {
    int a = i < release.size() ? release[i] : 0;
    int b = i < o.release.size() ? o.release[i] : 0;
    if (a != b) return a < b ? -1 : 1;
  }
  if (phase != o.phase) return phase < o.phase ? -1 : 1;
  if (phase_num != o.phase_num) return phase_num < o.phase_num ? -1 : 1;
  if (post != o.post) return post < o.post ? -1 : 1;
  if (dev != o.dev) return dev < o.dev ? -1 : 1;
  return 0;
}

// ---- ranges -------------------------------------------------------------------------------

bool VersionRange::exact() const {
  return lo && hi && lo->inclusive && hi->inclusive && lo->v == hi->v;
}

bool VersionRange::empty() const {
  if (!lo || !hi) return false;
  int c = lo->v.compare(hi->v);
  return c > 0 || (c == 0 && !(lo->inclusive && hi->inclusive));
}

bool VersionRange::contains(const Version& v) const {
  if (lo) {
    int c = v.compare(lo->v);
    if (c < 0 || (c == 0 && !lo->inclusive)) return false;
  }
  if (hi) {
    int c = v.compare(hi->v);
    if (c > 0 || (c == 0 && !hi->inclusive)) return false;
  }
  return true;
}

bool operator==(const VersionRange& a, const VersionRange& b) {
  auto eqb = [](const std::optional<Bound>& x, const std::optional<Bound>& y) {
    if (x.has_value() != y.has_value()) return false;
    return !x || (x->inclusive == y->inclusive && x->v == y->v);
  };
  return eqb(a.lo, b.lo) && eqb(a.hi, b.hi);
}

void VersionRange::intersect(const VersionRange& o) {
  if (o.lo) {
    if (!lo) lo = o.lo;
    else {
      int c = o.lo->v.compare(lo->v);
      if (c > 0 || (c == 0 && !o.lo->inclusive)) lo = o.lo;
    }
  }
  if (o.hi) {
    if (!hi) hi = o.hi;
    else {
      int c = o.hi->v.compare(hi->v);
      if (c < 0 || (c == 0 && !o.hi->inclusive)) hi = o.hi;
    }
  }
}

std::string VersionRange::describe(std::string_view lib) const {
  if (exact()) return fmt::format("{} {}", lib, lo->v.text);
  if (lo && hi) {
    return fmt::format("{} {} {} {} {}", lo->v.text, lo->inclusive ? "<=" : "<", lib,
                       hi->inclusive ? "<=" : "<", hi->v.text);
  }
  if (lo) return fmt::format("{} {} {}", lib, lo->inclusive ? ">=" : ">", lo->v.text);
  if (hi) return fmt::format("{} {} {}", lib, hi->inclusive ? "<=" : "<", hi->v.text);
  return fmt::format("{} (any version)", lib);
}

std::optional<VersionRange> VersionRange::parse_spec(std::string_view spec) {
  VersionRange r;
  bool any = false;
  while (!spec.empty()) {
    size_t comma = spec.find(',');
    std::string_view part = trim(spec.substr(0, comma));
    spec = comma == std::string_view::npos ? std::string_view{} : spec.substr(comma + 1);
    if (part.empty()) continue;
    std::string_view op;
    for (std::string_view cand : {"===", "==", "~=", "!=", ">=", "<=", ">", "<"}) {
      if (part.substr(0, cand.size()) == cand) {
        op = cand;
        break;
      }
    }
    if (op.empty()) return std::nullopt;
    std::string_view ver = trim(part.substr(op.size()));
    if (op == "!=") continue;  // exclusions never decide a gate
    bool wildcard = ver.size() > 2 && ver.substr(ver.size() - 2) == ".*";
    if (wildcard) ver = ver.substr(0, ver.size() - 2);
    auto v = Version::parse(ver);
    if (!v) return std::nullopt;
    VersionRange one;
    if ((op == "==" || op == "===") && !wildcard) {
      one.lo = Bound{*v, true};
      one.hi = Bound{*v, true};
    } else if (op == "==" && wildcard) {
      Version up = *v;
      up.release.back() += 1;
      up.text = "";
      for (size_t i = 0; i < up.release.size(); ++i)
        up.text += (i ? "." : "") + std::to_string(up.release[i]);
      one.lo = Bound{*v, true};
      one.hi = Bound{up, false};
    } else if (op == "~=") {
      if (v->release.size() < 2) return std::nullopt;
      Version up;
      up.release.assign(v->release.begin(), v->release.end() - 1);
      up.release.back() += 1;
      for (size_t i = 0; i < up.release.size(); ++i)
        up.text += (i ? "." : "") + std::to_string(up.release[i]);
      one.lo = Bound{*v, true};
      one.hi = Bound{up, false};
    } else if (op == ">=") {
      one.lo = Bound{*v, true};
    } else if (op == ">") {
      one.lo = Bound{*v, false};
    } else if (op == "<=") {
      one.hi = Bound{*v, true};
    } else if (op == "<") {
      one.hi = Bound{*v, false};
    }
    r.intersect(one);
    any = true;
  }
  if (!any) return std::nullopt;
  return r;
}

std::string normalize_library(std::string_view name) {
  std::string out;
  for (char c : name) {
    char l = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (l == '_' || l == '.') l = '-';
    out.push_back(l);
  }
  if (out == "llama-factory" || out == "llamafactory") return "llamafactory";
  if (out == "deepspeed" || out == "deep-speed") return "deepspeed";
  if (out == "unsloth-zoo") return "unsloth";
  if (out == "axolotl-ai" ) return "axolotl";
  return out;
}

bool is_known_library(std::string_view name) {
  for (auto l : kLibraries)
    if (l == name) return true;
  return false;
}

std::string_view env_fact_text(EnvFact f, bool value) {
  switch (f) {
    case EnvFact::MultiProcess:
      return value ? "launched on more than one process" : "launched on one process";
  }
  return "";
}

// ---- scenarios ------------------------------------------------------------------------------

Scenario::Scenario(const VersionMap& known, std::vector<bool> script)
    : known_(known), script_(std::move(script)) {}

bool Scenario::decide() {
  bool d = next_ < script_.size() ? script_[next_] : true;
  ++next_;
  decisions_.push_back(d);
  return d;
}

VersionRange Scenario::current(std::string_view lib) const {
  VersionRange r;
  if (auto it = known_.find(lib); it != known_.end()) r = it->second.range;
  if (auto it = cond_.ranges.find(lib); it != cond_.ranges.end()) r.intersect(it->second);
  return r;
}

bool Scenario::at_least(std::string_view lib, std::string_view vtext) {
  auto v = Version::parse(vtext);
  if (!v) return false;
  VersionRange r = current(lib);
  // Determined?
  if (r.lo) {
    int c = r.lo->v.compare(*v);
    if (c > 0 || (c == 0)) return true;  // lo >= v (an exclusive lo == v is > v, too)
  }
  if (r.hi) {
    int c = r.hi->v.compare(*v);
    if (c < 0 || (c == 0 && !r.hi->inclusive)) return false;
  }
  bool yes = decide();
  VersionRange add;
  if (yes) add.lo = Bound{*v, true};
  else add.hi = Bound{*v, false};
  cond_.ranges[std::string(lib)].intersect(add);
  return yes;
}

bool Scenario::in_range(std::string_view lib, std::string_view since, std::string_view until) {
  if (!since.empty() && !at_least(lib, since)) return false;
  if (!until.empty() && at_least(lib, until)) return false;
  return true;
}

bool Scenario::env(EnvFact f, std::optional<bool> known) {
  if (known) return *known;
  if (auto it = cond_.env.find(f); it != cond_.env.end()) return it->second;
  bool yes = decide();
  cond_.env[f] = yes;
  return yes;
}

std::optional<Version> Scenario::exact(std::string_view lib) const {
  auto it = known_.find(lib);
  if (it == known_.end() || !it->second.range.exact()) return std::nullopt;
  return it->second.range.lo->v;
}

const VersionInfo* Scenario::info(std::string_view lib) const {
  auto it = known_.find(lib);
  return it == known_.end() ? nullptr : &it->second;
}

std::string Scenario::view(std::string_view lib) const {
  VersionRange r = current(lib);
  if (!r.lo && !r.hi) return "unknown";
  std::string d = r.describe(lib);
  if (d.rfind(std::string(lib) + " ", 0) == 0) d = d.substr(lib.size() + 1);
  return d;
}

std::string PathCondition::describe() const {
  std::vector<std::string> parts;
  for (const auto& [lib, r] : ranges) parts.push_back(r.describe(lib));
  for (const auto& [f, v] : env) parts.push_back(std::string(env_fact_text(f, v)));
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? " and " : "") + parts[i];
  return out;
}

std::vector<PathCondition> explore(const VersionMap& known,
                                   const std::function<void(Scenario&, size_t)>& body,
                                   size_t max_paths) {
  std::vector<PathCondition> paths;
  std::vector<bool> script;
  while (paths.size() < max_paths) {
    Scenario sc(known, script);
    body(sc, paths.size());
    paths.push_back(sc.condition());
    std::vector<bool> d = sc.decisions();
    while (!d.empty() && !d.back()) d.pop_back();
    if (d.empty()) break;
    d.back() = false;
    script = std::move(d);
  }
  return paths;
}

// ---- conditions -----------------------------------------------------------------------------

namespace {

// Whether two paths can describe the same installation once the dimensions in `dropped` are
// ignored: every remaining library range intersects, every remaining environment answer agrees.
bool overlap(const PathCondition& a, const PathCondition& b, const std::set<std::string>& dropped) {
  for (const auto& [lib, ra] : a.ranges) {
    if (dropped.count("v:" + lib)) continue;
    auto it = b.ranges.find(lib);
    if (it == b.ranges.end()) continue;
    VersionRange r = ra;
    r.intersect(it->second);
    if (r.empty()) return false;
  }
  for (const auto& [f, va] : a.env) {
    if (dropped.count("e:" + std::to_string(static_cast<int>(f)))) continue;
    auto it = b.env.find(f);
    if (it != b.env.end() && it->second != va) return false;
  }
  return true;
}

std::vector<std::string> dims(const PathCondition& p) {
  std::vector<std::string> d;
  for (const auto& [lib, _] : p.ranges) d.push_back("v:" + lib);
  for (const auto& [f, _] : p.env) d.push_back("e:" + std::to_string(static_cast<int>(f)));
  return d;
}

std::string describe_one(const PathCondition& p, const std::set<std::string>& dropped) {
  std::vector<std::string> parts;
  for (const auto& [lib, r] : p.ranges)
    if (!dropped.count("v:" + lib)) parts.push_back(r.describe(lib));
  for (const auto& [f, v] : p.env)
    if (!dropped.count("e:" + std::to_string(static_cast<int>(f))))
      parts.push_back(std::string(env_fact_text(f, v)));
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? " and " : "") + parts[i];
  return out;
}

}  // namespace

std::string describe_condition(const std::vector<PathCondition>& paths,
                               const std::vector<bool>& holds) {
  bool all = true, none = true;
  for (size_t i = 0; i < paths.size(); ++i) {
    bool h = i < holds.size() && holds[i];
    all &= h;
    none &= !h;
  }
  if (all || none) return "";
  // Drop a dimension when, without it, no holding path overlaps a path where it does not hold.
  std::set<std::string> names, dropped;
  for (const auto& p : paths)
    for (const auto& d : dims(p)) names.insert(d);
  for (const auto& name : names) {
    std::set<std::string> trial = dropped;
    trial.insert(name);
    bool clash = false;
    for (size_t i = 0; i < paths.size() && !clash; ++i)
      for (size_t j = 0; j < paths.size() && !clash; ++j)
        if (holds[i] && !holds[j] && overlap(paths[i], paths[j], trial)) clash = true;
    if (!clash) dropped = std::move(trial);
  }
  std::vector<std::string> kept;
  for (const auto& n : names)
    if (!dropped.count(n)) kept.push_back(n);
  // One library left: join its ranges.
  if (kept.size() == 1 && kept.front().rfind("v:", 0) == 0) {
    std::string lib = kept.front().substr(2);
    std::vector<VersionRange> rs;
    for (size_t i = 0; i < paths.size(); ++i) {
      if (!holds[i]) continue;
      auto it = paths[i].ranges.find(lib);
      if (it != paths[i].ranges.end()) rs.push_back(it->second);
    }
    auto lo_less = [](const VersionRange& a, const VersionRange& b) {
      if (!a.lo) return b.lo.has_value();
      if (!b.lo) return false;
      return a.lo->v < b.lo->v;
    };
    std::sort(rs.begin(), rs.end(), lo_less);
    // Union of intervals (sorted by lower bound): overlapping or touching ones merge.
    std::vector<VersionRange> merged;
    for (const auto& r : rs) {
      if (!merged.empty()) {
        VersionRange& m = merged.back();
        bool joins = !m.hi || !r.lo || r.lo->v < m.hi->v ||
                     (r.lo->v == m.hi->v && (m.hi->inclusive || r.lo->inclusive));
        if (joins) {
          if (!r.hi) m.hi.reset();
          else if (m.hi && (m.hi->v < r.hi->v || (m.hi->v == r.hi->v && r.hi->inclusive))) m.hi = r.hi;
          continue;
        }
      }
      merged.push_back(r);
    }
    std::string out;
    for (size_t i = 0; i < merged.size(); ++i) out += (i ? " or " : "") + merged[i].describe(lib);
    return out;
  }
  std::set<std::string> seen;
  std::string out;
  for (size_t i = 0; i < paths.size(); ++i) {
    if (!holds[i]) continue;
    std::string one = describe_one(paths[i], dropped);
    if (!seen.insert(one).second) continue;
    out += (out.empty() ? "" : "; or ") + one;
  }
  return out;
}

}  // namespace gcheck
