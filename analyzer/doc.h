// The located document tree that the YAML and JSON front ends produce: every key and value
// keeps its span, scalars keep their text as written, and YAML 1.1 scalars are typed the way
// PyYAML (the loader of Axolotl, TRL, LLaMA-Factory and torchtune) types them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "analyzer/source.h"

namespace gcheck::cfg {

enum class Kind : uint8_t { Null, Bool, Int, Float, String, Seq, Map };
enum class Syntax : uint8_t { Yaml, Json };

using NodeId = uint32_t;
inline constexpr NodeId kNone = UINT32_MAX;

struct Node {
  Kind kind = Kind::Null;
  bool quoted = false;     // a quoted YAML scalar or any JSON string
  bool bool_word = false;  // YAML 1.1 boolean spelled yes/no/on/off (any case form)
  Span span;               // of the value
  std::string text;        // scalar as written (decoded); empty for collections
  bool b = false;
  int64_t i = 0;
  double f = 0;
  std::vector<uint32_t> entries;  // Map: indices into Document::entries, merged keys first
  std::vector<NodeId> items;      // Seq
};

struct Entry {
  std::string key;
  Span key_span;
  NodeId value = kNone;
  bool from_merge = false;  // came in through a YAML merge key (<<)
};

// A lenient-syntax note: something strict JSON rejects but DeepSpeed's hjson loader accepts.
struct SyntaxNote {
  Span span;
  std::string what;  // "comment", "trailing comma"
};

class Document {
 public:
  SourcePtr source;
  Syntax syntax = Syntax::Yaml;
  NodeId root = kNone;
  std::vector<Node> nodes;
  std::vector<Entry> entries;
  // Pairs (earlier entry, later entry) of the same key in one mapping: the later one wins.
  std::vector<std::pair<uint32_t, uint32_t>> duplicates;
  std::vector<SyntaxNote> lenient;  // JSON only
  uint32_t extra_documents = 0;     // YAML documents after the first

  const Node& node(NodeId id) const { return nodes[id]; }
  const Node* root_node() const { return root == kNone ? nullptr : &nodes[root]; }
  bool is_map(NodeId id) const { return id != kNone && nodes[id].kind == Kind::Map; }

  // The entry for `key` in mapping `map` (the last one, as PyYAML and json.load keep), or null.
  const Entry* entry(NodeId map, std::string_view key) const;
  NodeId get(NodeId map, std::string_view key) const;
  // Follows a dotted path of keys from the root ("fsdp_config.activation_checkpointing").
  const Entry* entry_at(std::string_view dotted) const;

  Location loc(Span s) const { return Location{source->display(), s}; }
};

// Python-like readings of scalars, as the training stacks see them after loading.
std::optional<bool> as_bool(const Node& n);  // bools; ints 0/1; strings "true"/"false"
std::optional<int64_t> as_int(const Node& n);
std::optional<double> as_number(const Node& n);
// Text of a scalar (for booleans the Python spelling True/False); nullopt for collections.
std::optional<std::string> as_text(const Node& n);
// "a string that spells a boolean" — "true", "False", "yes", ... as a quoted/str scalar
bool is_string_bool(const Node& n);
std::string_view kind_name(Kind k);

// Records every key that appears twice in one mapping into Document::duplicates.
void record_duplicates(Document& doc);

// YAML 1.1 (PyYAML SafeLoader implicit resolvers) typing of a plain scalar.
void resolve_plain_scalar(Node& n);

}  // namespace gcheck::cfg
