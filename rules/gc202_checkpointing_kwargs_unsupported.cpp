#include "analyzer/defaults_table.h"
#include "analyzer/resolver.h"
#include "rules/rule.h"
#include "rules/wording.h"

namespace gcheck {
namespace {
void check(const Setup& s, Context& cx);
}  // namespace

extern const Rule kGC202 = {
    "GC202", "checkpointing-kwargs-unsupported", Severity::Error,
    "gradient_checkpointing_kwargs (or one of its newer keys) is not supported by the "
    "transformers version in use",
    "", "checkpointing", "config,code", &check};

namespace {

void check(const Setup& s, Context& cx) {
  if (!s.facts || !s.facts->gc_kwargs || !s.scenario) return;
  if (s.format == Format::LlamaFactoryV1 || s.format == Format::Torchtune) return;
  Scenario& sc = cx.scenario();
  const Facts& f = *s.facts;
  if (const DefaultRow& r = row("hf.gc_kwargs.unsupported"); row_applies(r, sc)) {
    cx.report(kGC202, f.gc_kwargs->key_loc,
              fmt::format("gradient_checkpointing_kwargs needs transformers >= 4.35.0 (transformers "
                          "{}): TrainingArguments rejects the key, and PEFT silently drops it, so "
                          "the use_reentrant you ask for is not applied",
                          sc.view("transformers")),
              "upgrade transformers to >= 4.35.0, or remove the kwargs and rely on the model's "
              "own checkpoint call",
              {row_origin(r, Origin::Kind::Default)});
    return;
  }
  auto newer = [&](const auto& opt, const char* key, const char* pr) {
    if (!opt) return;
    const DefaultRow& r = row(std::string("hf.gc_kwargs.") + key);
    if (row_applies(r, sc)) return;
    cx.report(kGC202, opt->key_loc.known() ? opt->key_loc : opt->loc,
              fmt::format("{} is a transformers key added by {} (documented from 5.17.0); older "
                          "versions (transformers {}) pass it on to torch's checkpoint(), where "
                          "reentrant raises \"ValueError: Unexpected keyword arguments: {}\" and "
                          "non-reentrant hands it to the layer (TypeError)",
                          key, pr, sc.view("transformers"), key),
              "upgrade transformers, or remove the key", {row_origin(r)});
  };
  newer(f.every_n_layers, "every_n_layers", "PR #48200");
  newer(f.offload, "offload", "PR #48444");
}

}  // namespace
}  // namespace gcheck
