// JSON front end: nlohmann/json's SAX parser for the grammar, a shadow scanner for the exact
// position of every key and value. Strict by default, as `json.load` (HF Trainer,
// accelerate) is; comments and trailing commas, which DeepSpeed's hjson loader accepts, are
// accepted in a second pass and recorded in Document::lenient so a rule can report them.
#pragma once

#include "analyzer/doc.h"

namespace gcheck::cfg {

Result<Document> parse_json(SourcePtr src, const InputLimits& limits);

}  // namespace gcheck::cfg
