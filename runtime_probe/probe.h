// The probe's public, LibTorch-free interface: what to run (ProbeOptions) and what was
// measured (ScenarioResult). main.cpp, the planner and the reporters include only this, so
// that just the translation units that do tensor work pay for LibTorch's headers.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace gprobe {

// Model sizes (a small Llama-style decoder).
struct Sizes {
  int64_t layers = 2;
  int64_t hidden = 64;
  int64_t heads = 4;
  int64_t kv_heads = 2;
  int64_t intermediate = 128;
  int64_t vocab = 128;
  int64_t seq = 16;
  int64_t batch = 2;
  double rope_theta = 10000.0;
  double rms_eps = 1e-6;
};

// What the model looks like: sizes, quantization of the frozen base, adapter, freezing.
struct ModelSpec {
  Sizes sizes;
  int quant_bits = 4;        // 0 (dense float), 4 (NF4), 8 (int8 row-wise absmax)
  bool double_quant = true;  // NF4: quantize the absmax scales too (QLoRA)
  bool lora = true;          // LoRA adapters on `lora_targets`; false = full fine-tune
  int64_t lora_rank = 8;
  double lora_alpha = 16.0;
  double lora_dropout = -1;  // < 0: not given (0 in the model; dropout-rng then uses 0.1)
  std::vector<std::string> lora_targets{"q_proj",    "k_proj",  "v_proj",   "o_proj",
                                        "gate_proj", "up_proj", "down_proj"};
  bool trainable_head = false;        // lm_head (and the final norm) train too
  bool frozen_embeddings = true;      // the input embeddings are frozen
  std::vector<std::string> unfrozen;  // regexes (Axolotl unfrozen_parameters): only these train
  double attention_dropout = -1;      // as lora_dropout
};

// A problem found in the options before anything runs: printed, exit 2.
std::optional<std::string> validate(const ModelSpec& spec);

// A rough upper estimate of one training step's memory in bytes (float32 weights, gradients
// and activations without checkpointing).
double estimate_step_bytes(const ModelSpec& spec);

struct ProbeOptions {
  ModelSpec model;
  std::vector<std::string> scenarios;  // empty = all
  std::string device = "auto";         // auto | cuda | cpu
  uint64_t seed = 0;
  double tolerance = 1e-4;  // relative L2 error above which a gradient "differs"
  std::string dump_dir;     // write weights, inputs and gradients for the parity test
};

// One trainable parameter compared with the no-checkpoint reference.
struct ParamStat {
  std::string name;
  bool ref_has_grad = false;
  bool has_grad = false;
  bool all_zero = false;
  double ref_norm = 0;
  double norm = 0;
  double rel_err = 0;  // ||g - g_ref|| / ||g_ref||
  double cosine = 1;
  bool differs = false;
};

struct ModeResult {
  std::string name;  // "reentrant", "non-reentrant", "reentrant+input-hook", ...
  std::string description;
  std::optional<std::string> error;   // the exception text, when the step raised
  std::vector<std::string> warnings;  // warnings raised during the step (TORCH_WARN)
  std::vector<ParamStat> params;      // empty when the mode has no gradient comparison
  int64_t differing = 0;              // parameters whose gradient differs from the reference
  int64_t missing = 0;                // trainable parameters without a gradient (or all zero)
  double max_rel_err = 0;
  double min_cosine = 1;
  std::map<std::string, double> metrics;  // scenario-specific numbers (forward counts, bytes, ms)
  bool hazard = false;                    // this mode shows the hazard
  std::string finding;                    // one line: what this mode shows
};

struct ScenarioResult {
  std::string name;
  std::string verdict;  // CONFIRMED | REFUTED | ERROR
  std::string summary;  // one line with the key numbers
  std::string rules;    // the rule codes this scenario confirms ("GC101, GC204, GC205")
  std::vector<ModeResult> modes;
  double seconds = 0;
  std::vector<std::string> notes;
};

struct DeviceInfo {
  std::string device;  // "cuda:0 (NVIDIA H100 80GB HBM3)" or "cpu"
  std::string line;    // the line printed about the choice
  bool cuda = false;
  std::string torch_version;
};

// Chooses the device: cpu when asked, else CUDA when present, else CPU with a line that
// says why (a missing GPU is not an error: the probe runs on CPU).
DeviceInfo select_device(const std::string& requested);

const std::vector<std::string>& scenario_names();
std::string scenario_rules(const std::string& name);
std::string scenario_title(const std::string& name);

// Runs one scenario; never throws (a failure becomes an ERROR verdict). `shared`: other
// scenarios run on the device at the same time (the cached device memory is then left alone).
ScenarioResult run_scenario(const std::string& name, const ProbeOptions& opts,
                            const DeviceInfo& dev, bool shared = false);

// Whether a scenario may run at the same time as others on its own host thread: it reads no
// device-wide state (allocator statistics, step times) and draws nothing from the global
// random generators (which every step reseeds and every checkpoint saves and restores). Not
// memory, not dropout-rng, not ddp-unused (a process group), and none when the user asked
// for dropout; only on CUDA with a LibTorch whose warning handlers are per thread.
bool may_share_device(const std::string& name, const ProbeOptions& opts, const DeviceInfo& dev);

// Returns the device's cached memory to the driver (after scenarios that shared it).
void release_device_cache(const DeviceInfo& dev);

// The NF4 dequantization kernel against a device-to-device copy of the same output size
// (the bench): returns a printable report.
std::string bench_dequant(int64_t rows, int64_t cols, const DeviceInfo& dev, int iters);

// Starts the device and runs the kernels every scenario needs once (matmul, the NF4 kernel,
// a backward), so that each scenario's time is its own; returns the seconds it took (0 on CPU).
double warm_up(const DeviceInfo& dev);

// Reads a Hugging Face config.json into sizes; an error text for missing or absurd fields.
std::optional<std::string> sizes_from_hf_config(const std::string& path, int64_t layers,
                                                Sizes& out);

}  // namespace gprobe
