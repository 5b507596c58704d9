// A small Llama-style decoder (embedding, RMSNorm, attention with grouped KV heads, SwiGLU
// MLP, LM head) with a quantized frozen base, LoRA adapters and freezing patterns, written
// functionally on ATen so that the Python parity script can rebuild it op for op. Parameter
// names follow Hugging Face (model.layers.0.self_attn.q_proj.lora_A.weight, ...).
#pragma once

#include <cstdint>
#include <ATen/core/Tensor.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime_probe/checkpoint.h"
#include "runtime_probe/probe.h"
#include "runtime_probe/quant.h"

namespace gprobe {

struct Param {
  std::string name;
  at::Tensor t;  // a leaf; requires_grad when trainable
  bool trainable() const { return t.requires_grad(); }
};

struct LoraAdapter {
  int a = -1, b = -1;  // indices into Model::params
};

// A linear layer: a frozen base (dense parameter or quantized) plus optional adapters.
struct Linear {
  std::string name;  // model.layers.0.self_attn.q_proj
  int dense = -1;    // index into params when the base is a dense parameter
  std::optional<QuantWeight> quant;
  std::vector<LoraAdapter> adapters;  // [0] "default"; [1] "other" (stateful-recompute)
};

struct Layer {
  int input_norm = -1, post_norm = -1;
  Linear q, k, v, o, gate, up, down;
};

// How one training step runs: checkpoint wrapping and the mechanisms a scenario turns on.
struct StepConfig {
  std::vector<CkptMode> wrap;  // outer to inner; empty = no checkpointing
  CkptOptions ckpt;
  bool input_hook = false;      // enable_input_require_grads()
  bool use_cache = false;       // a KV cache that each layer call appends to
  bool zero3 = false;           // emulated ZeRO-3 partitioning of frozen parameters
  bool share_kv = false;        // the last layer reuses layer 0's K/V, passed by keyword
  bool switch_adapter = false;  // each layer call switches the active adapter (set_adapter)
  bool train = true;            // dropout active
  bool disable_adapters = false;  // PEFT disable_adapter(): the frozen base alone (RL reference)
  // ZeRO-3 as DeepSpeed >= 0.19.3: frozen parameters gathered during a recomputation stay
  // gathered until the step ends instead of being released after each submodule.
  bool zero3_keep_frozen_in_recompute = false;
};

// How the ZeRO-3 emulation splits and rebuilds a frozen parameter. The default (one process)
// keeps the whole tensor as the "partition" and hands it back as the gathered one; the
// distributed probe gives each rank an equal slice of the flattened, padded data and rebuilds
// it with an all-gather across ranks, as DeepSpeed does.
struct Zero3Partitioner {
  // This rank's partition of `full`.
  std::function<at::Tensor(const at::Tensor& full)> partition;
  // The full data (shape `shape`) from this rank's partition; `name` names the parameter.
  std::function<at::Tensor(const at::Tensor& part, at::IntArrayRef shape, const std::string& name)>
      gather;
};

// Per-step state that the scenarios inspect or that must be reset between runs.
struct StepState {
  std::vector<int64_t> layer_calls;                      // forward calls per layer
  std::vector<int> active_adapter;                       // per layer
  std::vector<std::pair<at::Tensor, at::Tensor>> cache;  // per layer (use_cache)
  std::map<std::string, std::pair<at::Tensor, at::Tensor>> shared_kv;
};

class Model {
 public:
  // Builds the model with random weights from `seed` on `device` (float32).
  Model(const ModelSpec& spec, uint64_t seed, at::Device device, bool second_adapter = false);

  const ModelSpec& spec() const { return spec_; }
  std::vector<Param>& params() { return params_; }
  const std::vector<Param>& params() const { return params_; }
  std::vector<at::Tensor> trainable() const;
  at::Device device() const { return device_; }

  // Token ids [batch, seq] drawn from `seed`.
  at::Tensor make_inputs(uint64_t seed) const;

  // Forward and loss (mean next-token cross entropy). `state` is reset first.
  at::Tensor loss(const at::Tensor& ids, const StepConfig& cfg, StepState& state);
  // Forward and the mean log-probability of each sequence's next tokens, [batch] (the
  // length-normalized sequence log-probabilities of preference losses). `state` is reset first.
  at::Tensor sequence_logps(const at::Tensor& ids, const StepConfig& cfg, StepState& state);

  // Every tensor that defines the model (parameters and quantized buffers), named.
  std::vector<std::pair<std::string, at::Tensor>> named_tensors() const;

  // ZeRO-3 emulation: every frozen parameter partitioned (released) until restored.
  void zero3_partition_all();
  void zero3_restore_all();
  void set_zero3_partitioner(Zero3Partitioner p) { zero3_partitioner_ = std::move(p); }

 private:
  at::Tensor linear(const Linear& l, const at::Tensor& x, int adapter, const StepConfig& cfg);
  at::Tensor rmsnorm(int w, const at::Tensor& x, const StepConfig& cfg);
  at::Tensor layer_forward(int64_t i, const at::Tensor& x, const StepConfig& cfg, StepState& state);
  at::Tensor logits(const at::Tensor& ids, const StepConfig& cfg, StepState& state);
  int add_param(const std::string& name, at::Tensor t, bool trainable);
  Linear make_linear(const std::string& name, const std::string& short_name, int64_t out,
                     int64_t in, bool second_adapter);
  bool trainable_by_pattern(const std::string& name, bool default_trainable) const;
  // ZeRO-3: gathers `ps`, runs f, releases them, and arms a pre-backward gather.
  at::Tensor zero3_scope(const std::vector<int>& ps, const std::function<at::Tensor()>& f,
                         const StepConfig& cfg);

  ModelSpec spec_;
  at::Device device_;
  std::vector<Param> params_;
  int embed_ = -1, final_norm_ = -1, head_ = -1;
  std::vector<Layer> layers_;
  at::Tensor cos_, sin_;                          // rotary tables [2 * seq, head_dim]
  struct Zero3Part {
    at::Tensor full;  // kept only to restore the model after the step, never read in it
    at::Tensor part;  // this rank's partition
    std::string name;
  };
  std::map<const void*, Zero3Part> zero3_parts_;  // TensorImpl -> its partition
  Zero3Partitioner zero3_partitioner_;
  bool zero3_forward_done_ = false;  // the step's forward has ended: a forward now recomputes
};

}  // namespace gprobe
