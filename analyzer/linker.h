// Linking across files: the DeepSpeed JSON a config names (resolved as the stacks resolve it),
// inline DeepSpeed dicts, and the accelerate launcher config a run is paired with.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "analyzer/detect.h"
#include "analyzer/resolver.h"

namespace gcheck {

// Parsed configs by path, so a DeepSpeed JSON named by fifty configs is read once.
class ConfigCache {
 public:
  explicit ConfigCache(InputLimits limits) : limits_(limits) {}
  Result<std::shared_ptr<const Facts>> get(const std::string& path,
                                           std::optional<Format> forced = std::nullopt);
  const InputLimits& limits() const { return limits_; }
  // Reads and parses files on `threads` threads (each file is independent); the get()s that
  // follow find them in the cache. Results are the same as get()'s, in any order.
  void preload(const std::vector<std::pair<std::string, std::optional<Format>>>& files,
               unsigned threads);

 private:
  InputLimits limits_;
  std::map<std::string, Result<std::shared_ptr<const Facts>>> cache_;
};

// Builds the Inputs of one config: follows its DeepSpeed reference (a path is tried relative
// to the working directory, to the config's folder, then to each parent folder up to the
// repository root, which is where `deepspeed_configs/zero3.json` style paths live), takes an
// inline dict as is, and pairs the launcher (whose own deepspeed_config_file is followed when
// the config names none).
Inputs link_inputs(std::shared_ptr<const Facts> primary, const std::string& primary_path,
                   ConfigCache& cache, const std::optional<std::string>& launcher_path);

}  // namespace gcheck
