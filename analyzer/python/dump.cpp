#include "analyzer/python/dump.h"

#include <fmt/format.h>

namespace gcheck {

namespace {

// line:column of the start, and -line:column of the end when known.
std::string at(const Location& l) {
  if (!l.known()) return "-";
  std::string out = fmt::format("{}:{}", l.span.begin.line, l.span.begin.column);
  if (l.span.end.known()) out += fmt::format("-{}:{}", l.span.end.line, l.span.end.column);
  return out;
}

std::string show(bool v) {
  return v ? "True" : "False";
}
std::string show(int64_t v) {
  return std::to_string(v);
}
std::string show(double v) {
  return fmt::format("{}", v);
}
std::string show(const std::string& v) {
  return "'" + v + "'";
}

template <class T>
void field(std::string& out, const char* name, const Opt<T>& v) {
  if (!v) return;
  out += fmt::format("fact {} = {} @{} key={} @{} raw={:?}\n", name, show(v->value), at(v->loc),
                     v->key, at(v->key_loc), v->raw);
}

template <class T>
std::string opt(const std::optional<T>& v) {
  return v ? show(*v) : "-";
}

std::string call(const CodeCall& c) {
  std::string out = fmt::format("{} @{} order={} scope={}", c.callee, at(c.loc), c.order,
                                c.scope.empty() ? "<module>" : c.scope);
  for (const auto& g : c.guards) out += fmt::format(" guard={:?}", g);
  if (!c.bound.empty()) out += fmt::format(" bound={:?}", c.bound);
  if (!c.subject.empty()) out += fmt::format(" subject={:?}", c.subject);
  return out;
}

const char* api_name(CheckpointCallFact::Api a) {
  switch (a) {
    case CheckpointCallFact::Api::Checkpoint:
      return "checkpoint";
    case CheckpointCallFact::Api::CheckpointSequential:
      return "checkpoint_sequential";
    case CheckpointCallFact::Api::CheckpointWrapper:
      return "checkpoint_wrapper";
    case CheckpointCallFact::Api::ApplyActivationCheckpointing:
      return "apply_activation_checkpointing";
  }
  return "?";
}

}  // namespace

std::string dump_python_facts(const Facts& f) {
  std::string out = fmt::format("format {}\nanchor @{}\n", format_name(f.format), at(f.anchor));
  field(out, "gradient_checkpointing", f.gradient_checkpointing);
  field(out, "gc_kwargs", f.gc_kwargs);
  field(out, "use_reentrant", f.use_reentrant);
  field(out, "preserve_rng_state", f.preserve_rng_state);
  field(out, "determinism_check", f.determinism_check);
  field(out, "debug", f.debug);
  field(out, "context_fn", f.context_fn);
  field(out, "early_stop", f.early_stop);
  field(out, "every_n_layers", f.every_n_layers);
  field(out, "offload", f.offload);
  field(out, "unsloth_gc", f.unsloth_gc);
  field(out, "model_name", f.model_name);
  field(out, "use_cache", f.use_cache);
  field(out, "trust_remote_code", f.trust_remote_code);
  field(out, "adapter", f.adapter);
  field(out, "use_peft", f.use_peft);
  field(out, "quant_bits", f.quant_bits);
  field(out, "embeddings_trainable", f.embeddings_trainable);
  field(out, "vision_lora", f.vision_lora);
  field(out, "lora_dropout", f.lora_dropout);
  field(out, "disable_dropout", f.disable_dropout);
  field(out, "deepspeed_path", f.deepspeed_path);
  field(out, "zero_stage", f.zero_stage);
  field(out, "ds_activation_checkpointing", f.ds_activation_checkpointing);
  field(out, "fsdp", f.fsdp);
  field(out, "fsdp_ac", f.fsdp_ac);
  field(out, "fsdp_version", f.fsdp_version);
  field(out, "fsdp_config_path", f.fsdp_config_path);
  field(out, "ddp_find_unused_parameters", f.ddp_find_unused_parameters);
  field(out, "ddp_static_graph", f.ddp_static_graph);
  field(out, "trainer", f.trainer);
  field(out, "trl", f.trl);
  field(out, "torch_compile", f.torch_compile);
  for (const auto& u : f.unreadable)
    out += fmt::format("unreadable {} @{}: {}\n", u.key, at(u.loc), u.why);
  if (!f.code) return out;
  const CodeFacts& c = *f.code;
  for (const auto& k : c.checkpoint_calls) {
    out += fmt::format(
        "checkpoint {} {} use_reentrant={}{} preserve_rng_state={} context_fn={} debug={} "
        "determinism_check={} early_stop={} keyword_tensors={}{}{}\n",
        api_name(k.api), call(k.call), opt(k.use_reentrant),
        k.use_reentrant_given ? " (given)" : "", opt(k.preserve_rng_state),
        k.context_fn ? "yes" : "no", opt(k.debug), opt(k.determinism_check), opt(k.early_stop),
        k.keyword_tensors ? "yes@" : "no", k.keyword_tensors ? at(k.keyword_tensors_loc) : "",
        k.in_save_on_cpu ? " in_save_on_cpu@" + at(k.save_on_cpu_loc) : "");
    out += fmt::format(
        "  at use_reentrant@{} preserve_rng_state@{} context_fn@{} "
        "determinism_check@{} early_stop@{}\n",
        at(k.use_reentrant_loc), at(k.preserve_rng_state_loc), at(k.context_fn_loc),
        at(k.determinism_check_loc), at(k.early_stop_loc));
  }
  for (const auto& g : c.gc_enables) {
    out += fmt::format("gc_enable {} receiver={} kwargs={}{} use_reentrant={}@{}{}\n", call(g.call),
                       g.receiver, g.has_kwargs ? "yes" : "no", g.empty_kwargs ? " (empty)" : "",
                       opt(g.use_reentrant), at(g.use_reentrant_loc),
                       g.via.empty() ? "" : " via=" + g.via);
    out += fmt::format("  preserve_rng_state={}@{}\n", opt(g.preserve_rng_state),
                       at(g.preserve_rng_state_loc));
  }
  for (const auto& k : c.kbit_prepares) {
    out +=
        fmt::format("kbit_prepare {} use_gradient_checkpointing={} kwargs={} use_reentrant={}@{}\n",
                    call(k.call), opt(k.use_gradient_checkpointing), k.has_kwargs ? "yes" : "no",
                    opt(k.use_reentrant), at(k.use_reentrant_loc));
    out += fmt::format("  preserve_rng_state={}@{}\n", opt(k.preserve_rng_state),
                       at(k.preserve_rng_state_loc));
  }
  for (const auto& p : c.peft_wraps) out += "peft_wrap " + call(p) + "\n";
  for (const auto& p : c.input_hooks) out += "input_hook " + call(p) + "\n";
  for (const auto& z : c.freezes) {
    out += fmt::format("freeze {} @{} order={} scope={} embeddings={} whole_model={}\n", z.target,
                       at(z.loc), z.order, z.scope.empty() ? "<module>" : z.scope,
                       z.embeddings ? "yes" : "no", z.whole_model ? "yes" : "no");
  }
  for (const auto& p : c.autograd_grad) out += "autograd_grad " + call(p) + "\n";
  for (const auto& p : c.nonscalar_backward) out += "nonscalar_backward " + call(p) + "\n";
  for (const auto& d : c.ddps) {
    out += fmt::format("ddp {} find_unused_parameters={}@{} static_graph={}\n", call(d.call),
                       opt(d.find_unused_parameters), at(d.find_unused_loc), opt(d.static_graph));
  }
  for (const auto& p : c.compiles) out += "compile " + call(p) + "\n";
  for (const auto& p : c.unsloth_gc) out += "unsloth_gc " + call(p) + "\n";
  for (const auto& t : c.trainers)
    out += fmt::format("trainer {} cls={} kind={}\n", call(t.call), t.cls, t.kind);
  for (const auto& p : c.save_on_cpu) out += "save_on_cpu " + call(p) + "\n";
  for (const auto& p : c.arg_parsers) out += "arg_parser " + call(p) + "\n";
  for (const auto& d : c.version_decls)
    out += fmt::format("version {} {} @{} via={:?} spec={:?}\n", d.library,
                       d.range.describe(d.library), at(d.loc), d.via, d.spec);
  return out;
}

}  // namespace gcheck
