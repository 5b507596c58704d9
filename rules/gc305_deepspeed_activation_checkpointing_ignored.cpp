#include "analyzer/defaults_table.h"
#include "analyzer/known_keys.h"
#include "analyzer/resolver.h"
#include "rules/rule.h"
#include "rules/wording.h"

namespace gcheck {
namespace {
void check(const Setup& s, Context& cx);
}  // namespace

extern const Rule kGC305 = {
    "GC305", "deepspeed-activation-checkpointing-ignored", Severity::Warning,
    "A DeepSpeed activation_checkpointing section that HF/accelerate models never read",
    "", "zero_stage", "config", &check, /*per_document=*/true};

namespace {

bool near_known(std::string_view key);

void check(const Setup& s, Context& cx) {
  const Facts* ds = s.format == Format::DeepSpeed ? s.facts : s.deepspeed;
  if (!ds || !ds->ds_activation_checkpointing) return;
  const auto& sec = *ds->ds_activation_checkpointing;
  bool hf_stack = s.format != Format::DeepSpeed;
  if (hf_stack) {
    cx.report(kGC305, sec.key_loc,
              fmt::format("this DeepSpeed activation_checkpointing section is used with {} ({}), "
                          "which never calls deepspeed.checkpointing.configure(): "
                          "partition_activations, cpu_checkpointing and "
                          "contiguous_memory_optimization do nothing, and memory is what it would "
                          "be without them",
                          *s.stack, s.facts->source->display()),
              "remove the section; checkpoint with gradient_checkpointing: true (and the stack's "
              "own offload options)",
              {key_origin(sec), row_origin(row("deepspeed.activation_checkpointing.unused"))});
  }
  for (const auto& k : ds->ds_ac_keys) {
    if (known_key(KeyScope::DeepSpeedActivationCheckpointing, k.value) || near_known(k.value))
      continue;  // near misses are GC504's
    cx.report(kGC305, k.key_loc,
              fmt::format("{} is not a DeepSpeed activation_checkpointing key: DeepSpeed reads "
                          "this section without validating it and silently ignores the key",
                          k.value),
              "use one of partition_activations, cpu_checkpointing, "
              "contiguous_memory_optimization, number_checkpoints, "
              "synchronize_checkpoint_boundary, profile",
              {key_origin(k)});
  }
}

size_t distance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

bool near_known(std::string_view key) {
  for (auto k : known_keys(KeyScope::DeepSpeedActivationCheckpointing))
    if (distance(key, k) <= 3) return true;
  return false;
}

}  // namespace
}  // namespace gcheck
