#include "analyzer/detect.h"

#include <fmt/format.h>

#include "analyzer/extract/formats.h"
#include "analyzer/json_frontend.h"
#include "analyzer/yaml_frontend.h"
#if GCHECK_HAVE_PYTHON
#include "analyzer/python/load_python.h"
#endif

namespace gcheck {

std::string_view format_name(Format f) {
  switch (f) {
    case Format::Unknown: return "unknown";
    case Format::Axolotl: return "axolotl";
    case Format::HfTrl: return "hf-trl";
    case Format::LlamaFactory: return "llamafactory";
    case Format::LlamaFactoryV1: return "llamafactory-v1";
    case Format::Torchtune: return "torchtune";
    case Format::Accelerate: return "accelerate";
    case Format::DeepSpeed: return "deepspeed";
    case Format::Python: return "python";
    case Format::Cpp: return "cpp";
  }
  return "unknown";
}

std::string_view format_title(Format f) {
  switch (f) {
    case Format::Unknown: return "unknown";
    case Format::Axolotl: return "Axolotl";
    case Format::HfTrl: return "HF TrainingArguments / TRL";
    case Format::LlamaFactory: return "LLaMA-Factory";
    case Format::LlamaFactoryV1: return "LLaMA-Factory v1";
    case Format::Torchtune: return "torchtune";
    case Format::Accelerate: return "accelerate launcher";
    case Format::DeepSpeed: return "DeepSpeed";
    case Format::Python: return "Python";
    case Format::Cpp: return "C++";
  }
  return "unknown";
}

std::optional<Format> parse_format_name(std::string_view s) {
  for (Format f : {Format::Axolotl, Format::HfTrl, Format::LlamaFactory, Format::LlamaFactoryV1,
                   Format::Torchtune, Format::Accelerate, Format::DeepSpeed, Format::Python,
                   Format::Cpp}) {
    if (format_name(f) == s) return f;
  }
  if (s == "hf" || s == "trl" || s == "transformers") return Format::HfTrl;
  if (s == "llama-factory" || s == "lf") return Format::LlamaFactory;
  if (s == "ds") return Format::DeepSpeed;
  return std::nullopt;
}

namespace {

bool has_component(const cfg::Document& d, cfg::NodeId id, int depth) {
  if (depth > 4 || !d.is_map(id)) return false;
  for (uint32_t e : d.node(id).entries) {
    const cfg::Entry& en = d.entries[e];
    if (en.key == "_component_") return true;
    if (has_component(d, en.value, depth + 1)) return true;
  }
  return false;
}

}  // namespace

Detection detect_format(const cfg::Document& d) {
  cfg::NodeId root = d.root;
  if (!d.is_map(root)) return {};
  auto has = [&](std::string_view k) { return d.entry(root, k) != nullptr; };
  if (has_component(d, root, 0)) return {Format::Torchtune, "a nested _component_ key"};
  if (has("distributed_type")) return {Format::Accelerate, "top-level key distributed_type"};
  if (has("compute_environment") && has("num_processes"))
    return {Format::Accelerate, "top-level keys compute_environment and num_processes"};
  for (auto k : {"zero_optimization", "train_micro_batch_size_per_gpu", "train_batch_size",
                 "zero_allow_untested_optimizer"}) {
    if (has(k)) return {Format::DeepSpeed, fmt::format("top-level key {}", k)};
  }
  if (has("base_model")) return {Format::Axolotl, "top-level key base_model"};
  if (has("model_class") || (has("model") && (has("dist_config") || has("peft_config") ||
                                               has("quant_config"))))
    return {Format::LlamaFactoryV1, has("model_class") ? "top-level key model_class"
                                                       : "top-level key model with *_config"};
  if (has("model_name_or_path")) {
    for (auto k : {"stage", "finetuning_type", "template"})
      if (has(k)) return {Format::LlamaFactory, fmt::format("model_name_or_path with {}", k)};
  }
  if (has("model_name_or_path"))
    return {Format::HfTrl, "top-level key model_name_or_path"};
  for (auto k : {"gradient_checkpointing", "output_dir", "per_device_train_batch_size",
                 "learning_rate"}) {
    if (has(k)) return {Format::HfTrl, fmt::format("TrainingArguments key {}", k)};
  }
  return {};
}

std::shared_ptr<Facts> extract_facts(std::shared_ptr<const cfg::Document> doc, Format format,
                                     std::string reason) {
  auto f = std::make_shared<Facts>();
  f->format = format;
  f->source = doc->source;
  f->doc = doc;
  f->format_reason = std::move(reason);
  // Findings about values the file never writes point at its first key.
  Span first{{1, 1}, {}};
  if (doc->is_map(doc->root) && !doc->node(doc->root).entries.empty()) {
    uint32_t e0 = doc->node(doc->root).entries.front();
    for (uint32_t e : doc->node(doc->root).entries)
      if (!doc->entries[e].from_merge) {
        e0 = e;
        break;
      }
    first = doc->entries[e0].key_span;
  }
  f->anchor = doc->loc(first);
  extract::Reader r(*doc, *f);
  switch (format) {
    case Format::Axolotl: extract::axolotl(r, *f); break;
    case Format::HfTrl: extract::hf_trl(r, *f); break;
    case Format::LlamaFactory: extract::llamafactory(r, *f); break;
    case Format::LlamaFactoryV1: extract::llamafactory_v1(r, *f); break;
    case Format::Torchtune: extract::torchtune(r, *f); break;
    case Format::Accelerate: extract::accelerate(r, *f); break;
    case Format::DeepSpeed: extract::deepspeed(r, *f); break;
    default: break;
  }
  return f;
}

std::shared_ptr<Facts> extract_inline_deepspeed(std::shared_ptr<const cfg::Document> doc,
                                                cfg::NodeId node) {
  auto f = std::make_shared<Facts>();
  f->format = Format::DeepSpeed;
  f->source = doc->source;
  f->doc = doc;
  f->format_reason = "inline deepspeed mapping";
  f->anchor = doc->loc(doc->node(node).span);
  extract::Reader r(*doc, *f);
  extract::deepspeed_dict(r, *f, node, "deepspeed.");
  return f;
}

namespace {
bool ends_with(std::string_view s, std::string_view suf) {
  return s.size() >= suf.size() && s.substr(s.size() - suf.size()) == suf;
}
}  // namespace

Result<std::shared_ptr<Facts>> load_config(const std::string& path, const std::string& display,
                                           std::optional<Format> forced,
                                           const InputLimits& limits) {
  // Python training scripts go to the Python front end (a named --format-of python skips its
  // pre-filter).
  if (forced ? *forced == Format::Python : ends_with(path, ".py")) {
#if GCHECK_HAVE_PYTHON
    PythonOptions po;
    po.prefilter = !forced;
    return load_python(path, display, limits, po);
#else
    return InputError{Location{display, {{1, 1}, {}}},
                      "this gcheck was built without the Python front end (it needs "
                      "libtree-sitter-dev at build time)"};
#endif
  }
  auto src = read_source(path, display, limits);
  if (!src) return src.error();
  SourcePtr s = src.value();
  bool json = ends_with(path, ".json");
  if (!json && !ends_with(path, ".yaml") && !ends_with(path, ".yml")) {
    // No telling extension: a document that starts with { or [ is JSON.
    for (char c : s->text()) {
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') continue;
      json = (c == '{' || c == '[');
      break;
    }
  }
  Result<cfg::Document> doc = json ? cfg::parse_json(s, limits) : cfg::parse_yaml(s, limits);
  if (!doc) return doc.error();
  auto d = std::make_shared<cfg::Document>(std::move(doc.value()));
  Detection det;
  if (forced) {
    det = {*forced, "--format-of"};
  } else {
    det = detect_format(*d);
  }
  if (det.format != Format::Unknown && d->extra_documents > 0) {
    return InputError{d->loc({{1, 1}, {}}),
                      fmt::format("{} YAML documents in one file: the training stacks load one "
                                  "(yaml.safe_load raises on more)",
                                  d->extra_documents + 1)};
  }
  if (det.format != Format::Unknown && !d->is_map(d->root)) {
    return InputError{d->loc({{1, 1}, {}}), "a config must be a mapping at the top level"};
  }
  return extract_facts(d, det.format, det.reason);
}

}  // namespace gcheck
