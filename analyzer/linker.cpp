#include "analyzer/linker.h"

#include <atomic>
#include <thread>

#include <fmt/format.h>

#include "analyzer/project.h"

namespace gcheck {

Result<std::shared_ptr<const Facts>> ConfigCache::get(const std::string& path,
                                                      std::optional<Format> forced) {
  std::string key = absolute_path(path) + (forced ? "#" + std::string(format_name(*forced)) : "");
  auto it = cache_.find(key);
  if (it != cache_.end()) return it->second;
  auto r = load_config(path, relative_to_cwd(path), forced, limits_);
  Result<std::shared_ptr<const Facts>> out =
      r ? Result<std::shared_ptr<const Facts>>(std::shared_ptr<const Facts>(r.value()))
        : Result<std::shared_ptr<const Facts>>(r.error());
  cache_.emplace(key, out);
  return out;
}

void ConfigCache::preload(const std::vector<std::pair<std::string, std::optional<Format>>>& files,
                          unsigned threads) {
  if (threads < 2 || files.size() < 2) return;
  std::vector<std::optional<Result<std::shared_ptr<const Facts>>>> out(files.size());
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < files.size(); i = next++) {
      auto r = load_config(files[i].first, relative_to_cwd(files[i].first), files[i].second, limits_);
      out[i] = r ? Result<std::shared_ptr<const Facts>>(std::shared_ptr<const Facts>(r.value()))
                 : Result<std::shared_ptr<const Facts>>(r.error());
    }
  };
  std::vector<std::thread> pool;
  unsigned n = std::min<unsigned>(threads, static_cast<unsigned>(files.size()));
  for (unsigned t = 1; t < n; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  for (size_t i = 0; i < files.size(); ++i) {
    const auto& [path, forced] = files[i];
    std::string key = absolute_path(path) + (forced ? "#" + std::string(format_name(*forced)) : "");
    cache_.emplace(key, std::move(*out[i]));
  }
}

namespace {

struct Found {
  std::string path;
  std::string how;
};

// Where a relative reference resolves: the working directory, the config's folder, then
// each parent folder up to the repository root.
std::optional<Found> resolve_ref(const std::string& ref, const std::string& config_path,
                                 std::vector<std::string>& tried) {
  if (!ref.empty() && ref.front() == '/') {
    tried.push_back(ref);
    if (file_exists(ref)) return Found{ref, "absolute path"};
    return std::nullopt;
  }
  tried.push_back(ref);
  if (file_exists(ref)) return Found{ref, "relative to the working directory"};
  std::string dir = parent_dir(config_path);
  std::string cand = join_path(dir, ref);
  tried.push_back(relative_to_cwd(cand));
  if (file_exists(cand)) return Found{relative_to_cwd(cand), "relative to the config's folder"};
  std::string ad = absolute_path(dir);
  std::string root = repo_root(ad);
  for (int i = 0; i < 32; ++i) {
    if (ad == "/" || (!root.empty() && ad == root)) break;
    ad = parent_dir(ad);
    cand = join_path(ad, ref);
    tried.push_back(relative_to_cwd(cand));
    if (file_exists(cand))
      return Found{relative_to_cwd(cand), fmt::format("relative to {}", relative_to_cwd(ad))};
  }
  return std::nullopt;
}

Origin link_origin(const Location& at, const std::string& text) {
  Origin o;
  o.kind = Origin::Kind::Derived;
  o.loc = at;
  o.text = text;
  return o;
}

// Follows a DeepSpeed reference; fills `in.deepspeed` or records why it could not.
void follow_deepspeed(Inputs& in, const std::string& ref, const Location& at,
                      const std::string& key, const std::string& from_path, ConfigCache& cache) {
  std::vector<std::string> tried;
  auto found = resolve_ref(ref, from_path, tried);
  if (!found) {
    std::string list;
    for (size_t i = 0; i < tried.size() && i < 4; ++i) list += (i ? ", " : "") + tried[i];
    in.unresolved.push_back(
        Unreadable{at, key, fmt::format("names {}, which does not exist (looked for {}{})", ref,
                                        list, tried.size() > 4 ? ", ..." : "")});
    return;
  }
  auto f = cache.get(found->path, Format::DeepSpeed);
  if (!f) {
    const InputError& e = f.error();
    in.unresolved.push_back(Unreadable{
        at, key,
        fmt::format("names {}, which cannot be read: {} ({}:{})", relative_to_cwd(found->path),
                    e.message, e.loc.file, e.loc.span.begin.line)});
    return;
  }
  in.deepspeed = f.value();
  in.deepspeed_link = link_origin(at, fmt::format("{}: {} -> {} ({})", key, ref,
                                                  relative_to_cwd(found->path), found->how));
}

}  // namespace

Inputs link_inputs(std::shared_ptr<const Facts> primary, const std::string& primary_path,
                   ConfigCache& cache, const std::optional<std::string>& launcher_path) {
  Inputs in;
  in.primary = primary;
  const Facts& p = *primary;
  if (p.deepspeed_inline != cfg::kNone) {
    in.deepspeed = extract_inline_deepspeed(p.doc, p.deepspeed_inline);
    in.deepspeed_link = link_origin(p.deepspeed_inline_loc, "deepspeed: an inline mapping");
  } else if (p.deepspeed_path) {
    follow_deepspeed(in, p.deepspeed_path->value, p.deepspeed_path->loc, p.deepspeed_path->key,
                     primary_path, cache);
  }
  if (launcher_path && p.format != Format::Accelerate && p.format != Format::DeepSpeed) {
    auto la = cache.get(*launcher_path, Format::Accelerate);
    if (la) {
      in.launcher = la.value();
      in.launcher_link = link_origin(Location{relative_to_cwd(*launcher_path), {{1, 1}, {}}},
                                     fmt::format("launched with {}", relative_to_cwd(*launcher_path)));
      const Facts& l = *in.launcher;
      if (!in.deepspeed && l.deepspeed_config_file && !l.deepspeed_config_file->value.empty()) {
        follow_deepspeed(in, l.deepspeed_config_file->value, l.deepspeed_config_file->loc,
                         l.deepspeed_config_file->key, *launcher_path, cache);
      }
    } else {
      in.unresolved.push_back(Unreadable{la.error().loc, "launcher",
                                         "the launcher config cannot be read: " + la.error().message});
    }
  }
  // A launcher config linted on its own follows its own DeepSpeed file.
  if (p.format == Format::Accelerate && p.deepspeed_config_file &&
      !p.deepspeed_config_file->value.empty()) {
    follow_deepspeed(in, p.deepspeed_config_file->value, p.deepspeed_config_file->loc,
                     p.deepspeed_config_file->key, primary_path, cache);
  }
  return in;
}

}  // namespace gcheck
