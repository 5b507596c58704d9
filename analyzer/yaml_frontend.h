// YAML front end: libyaml's event parser (the tokenizer PyYAML is a port of), PyYAML (YAML 1.1)
// typing, positions for every key and value, duplicate keys kept and recorded, aliases shared
// (never copied), merge keys resolved, and hard limits on depth and expanded size.
#pragma once

#include "analyzer/doc.h"

namespace gcheck::cfg {

Result<Document> parse_yaml(SourcePtr src, const InputLimits& limits);

}  // namespace gcheck::cfg
