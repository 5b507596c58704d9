// Checkpoint engines: C++ translations of PyTorch's torch/utils/checkpoint.py.
//   reentrant      CheckpointFunction (a torch::autograd::Function): forward without grad,
//                  inputs and RNG state saved; backward restores RNG, recomputes with grad and
//                  runs a nested torch::autograd::backward. Refuses .grad() through the
//                  engine's checkpoint-valid flag; outputs need grad only if an input does.
//   non-reentrant  the saved-tensor-hooks frame (_checkpoint_without_reentrant_generator,
//                  _CheckpointFrame, _checkpoint_hook, _recomputation_hook, _NoopSaveInputs):
//                  nothing but metadata is kept in forward; the first unpack recomputes,
//                  stops early once every saved tensor is back, and checks shape, dtype and
//                  device of what was recomputed against what was saved.
// The saved-tensor hooks reach autograd through ProbeEngine, an Engine subclass registered
// with set_default_engine_stub, exactly as PyTorch's Python engine installs Python hooks.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

namespace gprobe {

using TensorVec = std::vector<at::Tensor>;
using RunFn = std::function<TensorVec(const TensorVec&)>;

enum class CkptMode { None, Reentrant, NonReentrant };
const char* mode_name(CkptMode m);

struct CkptOptions {
  bool preserve_rng_state = true;
  bool early_stop = true;         // torch.utils.checkpoint.set_checkpoint_early_stop
  bool determinism_check = true;  // determinism_check="default" (false: "none")
};

// Registers ProbeEngine as autograd's default engine. Idempotent; call before any backward.
void install_engine();

// checkpoint(fn, *args, use_reentrant=...): runs fn(args) under the given engine.
TensorVec checkpoint(CkptMode mode, const RunFn& fn, const TensorVec& args,
                     const CkptOptions& opts);

// The texts PyTorch uses, shared with the scenarios that look for them.
extern const char* const kNoInputsRequireGradWarning;
extern const char* const kCheckpointGradError;    // reentrant + .grad()/inputs=
extern const char* const kMetadataMismatchError;  // first line of the CheckpointError

// Saved-tensor hooks that pass tensors through unchanged and count the bytes autograd keeps
// for backward (distinct storages, parameters excluded): the activation memory a step holds
// at the end of its forward. Active while a CountSavedBytes object lives.
class CountSavedBytes {
 public:
  explicit CountSavedBytes(const TensorVec& exclude);
  ~CountSavedBytes();
  CountSavedBytes(const CountSavedBytes&) = delete;
  CountSavedBytes& operator=(const CountSavedBytes&) = delete;
  int64_t bytes() const;
  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace gprobe
