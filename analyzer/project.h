// Project configuration (`.gcheck.toml`, or `[tool.gcheck]` in pyproject.toml) and library
// version pins found near a config (requirements*.txt, pyproject dependencies, lock files).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "analyzer/source.h"
#include "analyzer/versions.h"

namespace gcheck {

struct ProjectConfig {
  bool found = false;
  std::string path;  // the file it came from
  std::string dir;   // globs and paths in it are relative to this folder

  std::optional<std::vector<std::string>> select;
  std::vector<std::string> extend_select;
  std::vector<std::string> ignore;
  std::optional<std::string> severity_threshold;
  std::vector<std::string> exclude;         // replaces the default excludes when given
  std::vector<std::string> extend_exclude;
  std::map<std::string, std::string> assume;                // library -> version
  std::map<std::string, Location> assume_loc;
  std::vector<std::pair<std::string, std::string>> launchers;  // config glob -> launcher path
  std::vector<std::pair<std::string, std::string>> format_of;  // glob -> format name
  std::vector<std::pair<std::string, std::vector<std::string>>> per_file_ignores;
  std::map<std::string, std::string> severity;              // code -> severity override
  std::vector<std::pair<std::string, std::string>> pairs;   // script -> config (Python)
};

// Loads `explicit_path` if given, else the nearest .gcheck.toml or pyproject.toml with a
// [tool.gcheck] table, from `start_dir` upwards. Unknown keys and bad values are errors.
Result<ProjectConfig> load_project_config(const std::optional<std::string>& explicit_path,
                                          const std::string& start_dir);

// Version pins for the libraries gcheck knows, found in `dir` or its parents up to the
// repository root (the nearest folder holding .git). Nearest wins per library.
class PinFinder {
 public:
  VersionMap pins_for(const std::string& config_path);

 private:
  const VersionMap& pins_in_dir(const std::string& dir);
  std::map<std::string, VersionMap> cache_;
};

// Parses one requirements line ("transformers>=4.40,<5  # comment"); nullopt for lines that
// pin nothing gcheck knows.
std::optional<std::pair<std::string, VersionRange>> parse_requirement(std::string_view line);

// Filesystem helpers shared by the linker and the CLI.
std::string parent_dir(const std::string& path);
std::string join_path(const std::string& dir, const std::string& rel);
bool file_exists(const std::string& path);
bool is_dir(const std::string& path);
std::string repo_root(const std::string& dir);  // "" when not in a repository
std::string absolute_path(const std::string& p);
std::string normalize_path(const std::string& p);   // lexical: a/b/../c -> a/c
std::string relative_to_cwd(const std::string& p);  // as given when outside the working dir
// Matches a glob (fnmatch; a pattern without '/' also matches the file name alone).
bool glob_match(const std::string& pattern, const std::string& path);

}  // namespace gcheck
