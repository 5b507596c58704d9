// Which training stack reads a config file: a first-match decision list over the top-level
// mapping (validated on the public corpora; see the design notes).
#pragma once

#include <string>
#include <string_view>

#include "analyzer/doc.h"
#include "analyzer/facts.h"

namespace gcheck {

struct Detection {
  Format format = Format::Unknown;
  std::string reason;  // "top-level key base_model"
};

Detection detect_format(const cfg::Document& doc);

// Reads a config file into located facts: parse (YAML or JSON by extension, else by content),
// detect (unless `forced`), extract.
Result<std::shared_ptr<Facts>> load_config(const std::string& path, const std::string& display,
                                           std::optional<Format> forced,
                                           const InputLimits& limits);

// Extraction alone, for a parsed document and a known format.
std::shared_ptr<Facts> extract_facts(std::shared_ptr<const cfg::Document> doc, Format format,
                                     std::string reason);
// The facts of a DeepSpeed dict that sits inline in another config (`deepspeed: {...}`).
std::shared_ptr<Facts> extract_inline_deepspeed(std::shared_ptr<const cfg::Document> doc,
                                                cfg::NodeId node);

}  // namespace gcheck
