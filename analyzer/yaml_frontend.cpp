// YAML front end on libyaml, the C parser PyYAML itself is a port of (and what its C loaders
// call): the same tokenizer as the stacks' `yaml.safe_load`, exact start and end marks for every
// event, no recursion, and about five times the speed of yaml-cpp on the corpus (measured:
// yaml-cpp alone took 125 ms of a 137 ms corpus run; see bench/RESULTS.md).
#include "analyzer/yaml_frontend.h"

#include <yaml.h>

#include <memory>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

namespace gcheck::cfg {
namespace {

struct LimitHit {
  Pos at;
  std::string message;
};

struct Frame {
  NodeId id;
  bool is_map;
  bool is_key = false;    // this collection is itself a mapping key (rare)
  bool have_key = false;  // map: a key is waiting for its value
  std::string key;
  Span key_span;
  bool key_plain = false;
  std::vector<uint32_t> merges;  // map: entries whose key is a plain '<<'
};

constexpr std::string_view kTagPrefix = "tag:yaml.org,2002:";

class Builder {
 public:
  Builder(Document& doc, const InputLimits& limits) : doc_(doc), limits_(limits) {}

  uint32_t documents = 0;

  void handle(const yaml_event_t& e) {
    switch (e.type) {
      case YAML_DOCUMENT_START_EVENT:
        ++documents;
        break;
      case YAML_ALIAS_EVENT:
        if (skipping()) return;
        alias(e);
        break;
      case YAML_SCALAR_EVENT:
        if (skipping()) return;
        scalar(e);
        break;
      case YAML_SEQUENCE_START_EVENT:
        open(Kind::Seq, e, e.data.sequence_start.anchor, e.data.sequence_start.tag);
        break;
      case YAML_MAPPING_START_EVENT:
        open(Kind::Map, e, e.data.mapping_start.anchor, e.data.mapping_start.tag);
        break;
      case YAML_SEQUENCE_END_EVENT:
      case YAML_MAPPING_END_EVENT:
        close(e);
        break;
      default:
        break;
    }
  }

  Pos pos(const yaml_mark_t& m) const {
    // libyaml counts characters; columns here count bytes (what editors and SARIF take).
    auto line = static_cast<uint32_t>(m.line + 1);
    if (doc_.source->ascii()) return Pos{line, static_cast<uint32_t>(m.column + 1)};
    std::string_view text = doc_.source->line(line);
    size_t chars = m.column, i = 0;
    while (chars > 0 && i < text.size()) {
      unsigned char c = static_cast<unsigned char>(text[i]);
      i += c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
      --chars;
    }
    return Pos{line, static_cast<uint32_t>(i + 1 + chars)};
  }

 private:
  bool skipping() const { return documents > 1; }  // only the first document is kept

  Span span(const yaml_event_t& e) const { return Span{pos(e.start_mark), pos(e.end_mark)}; }

  static std::string_view text_of(const yaml_char_t* s) {
    return s ? std::string_view(reinterpret_cast<const char*>(s)) : std::string_view();
  }

  void bad_tag(const yaml_event_t& e, std::string_view tag) {
    throw LimitHit{pos(e.start_mark),
                   fmt::format("tag '{}' has no constructor in yaml.safe_load (the loader the "
                               "training stacks use), so they would reject this file",
                               tag)};
  }

  void scalar(const yaml_event_t& e) {
    const auto& s = e.data.scalar;
    Node n;
    n.text.assign(reinterpret_cast<const char*>(s.value), s.length);
    std::string_view tag = text_of(s.tag);
    bool plain = s.style == YAML_PLAIN_SCALAR_STYLE && tag.empty();
    if (plain) {
      resolve_plain_scalar(n);
    } else if (tag.empty() || tag == "!" || tag == std::string(kTagPrefix) + "str") {
      n.kind = Kind::String;
      n.quoted = s.style != YAML_PLAIN_SCALAR_STYLE;
    } else if (tag.substr(0, kTagPrefix.size()) == kTagPrefix &&
               (tag.substr(kTagPrefix.size()) == "bool" || tag.substr(kTagPrefix.size()) == "int" ||
                tag.substr(kTagPrefix.size()) == "float" || tag.substr(kTagPrefix.size()) == "null")) {
      resolve_plain_scalar(n);
    } else {
      bad_tag(e, tag);
    }
    n.span = span(e);
    NodeId id = add(std::move(n), text_of(s.anchor));
    attach(id, span(e), plain);
  }

  void alias(const yaml_event_t& e) {
    auto it = anchors_.find(std::string(text_of(e.data.alias.anchor)));
    if (it == anchors_.end()) {
      throw LimitHit{pos(e.start_mark), fmt::format("alias *{} names no anchor",
                                                    text_of(e.data.alias.anchor))};
    }
    attach(it->second, span(e), false, /*alias=*/true);
  }

  NodeId add(Node n, std::string_view anchor) {
    if (++count_ > limits_.max_nodes) {
      throw LimitHit{n.span.begin, fmt::format("more than {} nodes; not a config file",
                                               limits_.max_nodes)};
    }
    auto id = static_cast<NodeId>(doc_.nodes.size());
    doc_.nodes.push_back(std::move(n));
    if (!anchor.empty()) anchors_[std::string(anchor)] = id;
    return id;
  }

  void attach(NodeId id, Span sp, bool plain, bool alias = false) {
    if (stack_.empty()) {
      if (doc_.root == kNone) doc_.root = id;
      return;
    }
    Frame& f = stack_.back();
    if (!f.is_map) {
      doc_.nodes[f.id].items.push_back(id);
      return;
    }
    if (!f.have_key) {
      f.have_key = true;
      f.key = alias ? "<alias>" : doc_.nodes[id].text;
      f.key_span = sp;
      f.key_plain = plain && !alias;
      return;
    }
    f.have_key = false;
    Entry en;
    en.key = std::move(f.key);
    en.key_span = f.key_span;
    en.value = id;
    auto idx = static_cast<uint32_t>(doc_.entries.size());
    if (f.key_plain && en.key == "<<") f.merges.push_back(idx);
    doc_.entries.push_back(std::move(en));
    doc_.nodes[f.id].entries.push_back(idx);
  }

  void open(Kind k, const yaml_event_t& e, const yaml_char_t* anchor, const yaml_char_t* tag_p) {
    if (skipping()) return;
    if (stack_.size() >= limits_.max_depth) {
      throw LimitHit{pos(e.start_mark),
                     fmt::format("nesting deeper than {} levels; not a config file", limits_.max_depth)};
    }
    std::string_view tag = text_of(tag_p);
    if (!tag.empty() && tag != "!" && tag != std::string(kTagPrefix) + "map" &&
        tag != std::string(kTagPrefix) + "seq" && tag != std::string(kTagPrefix) + "omap") {
      bad_tag(e, tag);
    }
    Node n;
    n.kind = k;
    n.span.begin = pos(e.start_mark);
    NodeId id = add(std::move(n), text_of(anchor));
    bool as_key = !stack_.empty() && stack_.back().is_map && !stack_.back().have_key;
    if (!as_key) attach(id, span(e), false);
    stack_.push_back(Frame{id, k == Kind::Map, as_key, false, {}, {}, false, {}});
  }

  void close(const yaml_event_t& e) {
    if (skipping() || stack_.empty()) return;
    Frame f = std::move(stack_.back());
    stack_.pop_back();
    doc_.nodes[f.id].span.end = pos(e.end_mark);
    if (f.is_map && !f.merges.empty()) apply_merges(f);
    if (f.is_key && !stack_.empty()) {
      Frame& p = stack_.back();
      p.have_key = true;
      p.key = "<complex key>";
      p.key_span = doc_.nodes[f.id].span;
      p.key_plain = false;
    }
  }

  // PyYAML merge keys: explicit keys win over merged ones; among merged mappings the
  // earlier one wins. Merged entries are placed first so that lookups (last wins) prefer
  // explicit keys.
  void apply_merges(const Frame& f) {
    Node& map = doc_.nodes[f.id];
    std::unordered_set<std::string> present;
    std::vector<uint32_t> explicit_entries;
    for (uint32_t e : map.entries) {
      bool is_merge = false;
      for (uint32_t m : f.merges) is_merge |= (m == e);
      if (!is_merge) {
        explicit_entries.push_back(e);
        present.insert(doc_.entries[e].key);
      }
    }
    std::vector<uint32_t> merged;
    auto merge_from = [&](NodeId src) {
      if (src == kNone || doc_.nodes[src].kind != Kind::Map) {
        Pos at = src == kNone ? map.span.begin : doc_.nodes[src].span.begin;
        throw LimitHit{at, "a merge key (<<) needs a mapping or a list of mappings"};
      }
      for (uint32_t e : doc_.nodes[src].entries) {
        Entry copy = doc_.entries[e];
        if (!present.insert(copy.key).second) continue;
        if (++count_ > limits_.max_nodes) {
          throw LimitHit{copy.key_span.begin, "merge keys expand past the node limit"};
        }
        copy.from_merge = true;
        merged.push_back(static_cast<uint32_t>(doc_.entries.size()));
        doc_.entries.push_back(std::move(copy));
      }
    };
    for (uint32_t m : f.merges) {
      NodeId v = doc_.entries[m].value;
      if (v != kNone && doc_.nodes[v].kind == Kind::Seq) {
        std::vector<NodeId> items = doc_.nodes[v].items;
        for (NodeId it : items) merge_from(it);
      } else {
        merge_from(v);
      }
    }
    merged.insert(merged.end(), explicit_entries.begin(), explicit_entries.end());
    doc_.nodes[f.id].entries = std::move(merged);
  }

  Document& doc_;
  const InputLimits& limits_;
  std::vector<Frame> stack_;
  std::unordered_map<std::string, NodeId> anchors_;
  size_t count_ = 0;
};

struct Parser {
  yaml_parser_t p;
  Parser() { yaml_parser_initialize(&p); }
  ~Parser() { yaml_parser_delete(&p); }
  Parser(const Parser&) = delete;
  Parser& operator=(const Parser&) = delete;
};

struct Event {
  yaml_event_t e{};
  bool live = false;
  ~Event() {
    if (live) yaml_event_delete(&e);
  }
};

}  // namespace

Result<Document> parse_yaml(SourcePtr src, const InputLimits& limits) {
  Document doc;
  doc.source = src;
  doc.syntax = Syntax::Yaml;
  Builder b(doc, limits);
  Parser parser;
  const std::string& text = src->text();
  doc.nodes.reserve(text.size() / 12 + 8);
  doc.entries.reserve(text.size() / 24 + 8);
  yaml_parser_set_input_string(&parser.p, reinterpret_cast<const unsigned char*>(text.data()),
                               text.size());
  try {
    for (;;) {
      Event ev;
      if (!yaml_parser_parse(&parser.p, &ev.e)) {
        const yaml_mark_t& m = parser.p.problem_mark;
        std::string msg = parser.p.problem ? parser.p.problem : "malformed YAML";
        if (parser.p.context) msg = std::string(parser.p.context) + ": " + msg;
        return InputError{doc.loc({b.pos(m), {}}), "invalid YAML: " + msg};
      }
      ev.live = true;
      bool end = ev.e.type == YAML_STREAM_END_EVENT;
      b.handle(ev.e);
      if (end) break;
    }
  } catch (const LimitHit& hit) {
    return InputError{doc.loc({hit.at, {}}), hit.message};
  }
  doc.extra_documents = b.documents > 1 ? b.documents - 1 : 0;
  record_duplicates(doc);
  return doc;
}

}  // namespace gcheck::cfg
