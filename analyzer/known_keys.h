// The keys each config format (and each checkpoint-relevant section) knows.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace gcheck {

enum class KeyScope : uint8_t {
  Axolotl,
  HfTrl,
  LlamaFactory,
  LlamaFactoryV1,
  Torchtune,  // free-form component configs: no list
  Accelerate,
  AccelerateFsdp,
  AccelerateDeepSpeed,
  DeepSpeed,
  DeepSpeedActivationCheckpointing,
  GcKwargs,
};

bool known_key(KeyScope scope, std::string_view key);
// The full list for small scopes (kwargs, DeepSpeed activation_checkpointing); empty otherwise.
std::span<const std::string_view> known_keys(KeyScope scope);

}  // namespace gcheck
