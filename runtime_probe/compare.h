// Internal to the probe's LibTorch half: one training step's outcome, its comparison with a
// reference, and the verdict of a scenario from its modes. Shared by the single-process
// scenarios (scenarios.cpp) and the distributed ones (distributed.cpp).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "runtime_probe/probe.h"

namespace gprobe {

// One training step's outcome.
struct Step {
  std::optional<std::string> error;
  std::vector<std::string> warnings;
  std::map<std::string, at::Tensor> grads;  // trainable parameter name -> gradient (or undefined)
  std::vector<int64_t> layer_calls;
  double loss = 0;
};

// Every trainable parameter's gradient in `run` against `ref`: missing, zero, relative L2
// error, cosine; differs above `tolerance`. A step that raised is a hazard with its error.
ModeResult compare_step(const std::string& name, const std::string& description, const Step& ref,
                        const Step& run, double tolerance);

// CONFIRMED when some mode shows the hazard, else REFUTED; the summary names the modes.
// Leaves an ERROR verdict alone.
void verdict_from_modes(ScenarioResult& res);

std::string first_line(const std::string& s);
// The error as a finding: its first line, cut when long; the metadata CheckpointError in short.
std::string short_error(const std::string& s);
std::string fmt_num(double v, int prec = 3);
bool is_out_of_memory(const std::string& msg);

}  // namespace gprobe
