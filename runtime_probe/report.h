// Text and JSON output of a probe run (no LibTorch here).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime_probe/probe.h"

namespace gprobe {

// A lint finding with the verdict of the scenario that confirms it (--config).
struct FindingReport {
  std::string code, name, severity, file, message, probe;
  int64_t line = 0, column = 0;
  std::string verdict, summary;
  std::string effective_mode;  // "reentrant" / "non-reentrant" / ""
  std::string effective_finding;
};

struct Report {
  std::string version;
  DeviceInfo device;
  double warmup_seconds = 0;  // device start-up and first kernels, before the first scenario
  std::vector<ScenarioResult> scenarios;
  std::vector<FindingReport> findings;
  bool with_config = false;
  std::string config_file;
  std::vector<std::string> config_notes;  // how the model was derived from the config
  // --distributed: the ranks and the group ("" for a single process)
  std::string distributed_line;
  int world_size = 0;
  std::string backend;
};

std::string report_text(const Report& r, bool verbose);
std::string report_json(const Report& r);

}  // namespace gprobe
