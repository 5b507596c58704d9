// DistributedDataParallel's engine, c10d::Reducer, driven from C++ over a one-process Gloo
// group: the same autograd hooks, unused-parameter search and "marked ready" bookkeeping
// that PyTorch's DDP runs, without Python.
#pragma once

#include <ATen/core/Tensor.h>

#include <optional>
#include <string>
#include <vector>

namespace gprobe {

// Empty when the Reducer can be used; else why not (built without Gloo headers).
std::optional<std::string> ddp_unavailable();

// One DDP step: builds a Reducer over `params` (find_unused_parameters as given), lets
// `forward` produce the loss, prepares the reducer for backward as DDP's forward does, and
// runs backward. Throws what the Reducer or autograd throws.
void ddp_step(const std::vector<at::Tensor>& params, bool find_unused_parameters,
              const std::function<at::Tensor()>& forward);

}  // namespace gprobe
