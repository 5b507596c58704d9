#include "analyzer/yaml_frontend.h"

#include <istream>
#include <streambuf>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/parser.h>

namespace gcheck::cfg {
namespace {

// Reads the source buffer in place, without copying it into a stringstream.
class ViewBuf : public std::streambuf {
 public:
  explicit ViewBuf(const std::string& s) {
    char* b = const_cast<char*>(s.data());  // read-only use: get area only
    setg(b, b, b + s.size());
  }
};

struct LimitHit {
  Pos at;
  std::string message;
};

struct Frame {
  NodeId id;
  bool is_map;
  bool is_key = false;         // this collection is itself a mapping key (rare)
  bool have_key = false;       // map: a key is waiting for its value
  std::string key;
  Span key_span;
  bool key_plain = false;
  std::vector<uint32_t> merges;  // map: entries whose key is a plain '<<'
};

class Builder : public YAML::EventHandler {
 public:
  Builder(Document& doc, const InputLimits& limits) : doc_(doc), limits_(limits) {}

  uint32_t documents = 0;

  void OnDocumentStart(const YAML::Mark&) override { ++documents; }
  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    if (skipping()) return;
    Node n;
    n.kind = Kind::Null;
    n.span = scalar_span(mark, "", false);
    attach(add(std::move(n), anchor), mark, "", true);
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    if (skipping()) return;
    auto it = anchors_.find(anchor);
    if (it == anchors_.end()) return;  // yaml-cpp reports unknown anchors itself
    attach(it->second, mark, "", false, /*alias=*/true);
  }

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    if (skipping()) return;
    Node n;
    n.text = value;
    bool plain = tag == "?";
    n.quoted = !plain;
    if (plain) {
      resolve_plain_scalar(n);
    } else if (tag == "!" || tag == "tag:yaml.org,2002:str") {
      n.kind = Kind::String;
    } else if (tag == "tag:yaml.org,2002:bool" || tag == "tag:yaml.org,2002:int" ||
               tag == "tag:yaml.org,2002:float" || tag == "tag:yaml.org,2002:null") {
      resolve_plain_scalar(n);
      n.quoted = false;
    } else {
      throw LimitHit{to_pos(mark),
                     fmt::format("tag '{}' has no constructor in yaml.safe_load (the loader the "
                                 "training stacks use), so they would reject this file",
                                 tag)};
    }
    n.span = scalar_span(mark, value, n.quoted);
    attach(add(std::move(n), anchor), mark, value, plain);
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open(Kind::Seq, mark, tag, anchor);
  }
  void OnSequenceEnd() override { close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    open(Kind::Map, mark, tag, anchor);
  }
  void OnMapEnd() override { close(); }

 private:
  bool skipping() const { return documents > 1; }  // only the first document is kept

  static Pos to_pos(const YAML::Mark& m) {
    return Pos{static_cast<uint32_t>(m.line + 1), static_cast<uint32_t>(m.column + 1)};
  }

  // The end of a scalar that fits on its line, found in the source text.
  Span scalar_span(const YAML::Mark& m, const std::string& value, bool quoted) const {
    Pos b = to_pos(m);
    Span s{b, b};
    std::string_view line = doc_.source->line(b.line);
    size_t c = b.column - 1;
    if (c > line.size()) return s;
    std::string_view rest = line.substr(c);
    if (quoted && !rest.empty() && (rest[0] == '"' || rest[0] == '\'')) {
      char q = rest[0];
      for (size_t i = 1; i < rest.size(); ++i) {
        if (q == '"' && rest[i] == '\\') {
          ++i;
          continue;
        }
        if (rest[i] == q) {
          if (q == '\'' && i + 1 < rest.size() && rest[i + 1] == '\'') {
            ++i;
            continue;
          }
          s.end = Pos{b.line, static_cast<uint32_t>(b.column + i + 1)};
          return s;
        }
      }
      return s;
    }
    if (!value.empty() && rest.substr(0, value.size()) == value) {
      s.end = Pos{b.line, static_cast<uint32_t>(b.column + value.size())};
    }
    return s;
  }

  NodeId add(Node n, YAML::anchor_t anchor) {
    if (++count_ > limits_.max_nodes) {
      throw LimitHit{n.span.begin, fmt::format("more than {} nodes; not a config file",
                                               limits_.max_nodes)};
    }
    auto id = static_cast<NodeId>(doc_.nodes.size());
    doc_.nodes.push_back(std::move(n));
    if (anchor != YAML::NullAnchor) anchors_[anchor] = id;
    return id;
  }

  void attach(NodeId id, const YAML::Mark& mark, const std::string& text, bool plain,
              bool alias = false) {
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
      f.key = alias ? "<alias>" : text;
      f.key_span = alias ? Span{to_pos(mark), to_pos(mark)} : doc_.nodes[id].span;
      f.key_plain = plain && !alias;
      return;
    }
    f.have_key = false;
    Entry e;
    e.key = std::move(f.key);
    e.key_span = f.key_span;
    e.value = id;
    auto idx = static_cast<uint32_t>(doc_.entries.size());
    if (f.key_plain && e.key == "<<") f.merges.push_back(idx);
    doc_.entries.push_back(std::move(e));
    doc_.nodes[f.id].entries.push_back(idx);
  }

  void open(Kind k, const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor) {
    if (skipping()) return;
    if (stack_.size() >= limits_.max_depth) {
      throw LimitHit{to_pos(mark), fmt::format("nesting deeper than {} levels; not a config file",
                                               limits_.max_depth)};
    }
    if (tag != "?" && tag != "!" && tag != "tag:yaml.org,2002:map" &&
        tag != "tag:yaml.org,2002:seq" && tag != "tag:yaml.org,2002:omap") {
      throw LimitHit{to_pos(mark),
                     fmt::format("tag '{}' has no constructor in yaml.safe_load (the loader the "
                                 "training stacks use), so they would reject this file",
                                 tag)};
    }
    Node n;
    n.kind = k;
    n.span.begin = to_pos(mark);
    NodeId id = add(std::move(n), anchor);
    bool as_key = !stack_.empty() && stack_.back().is_map && !stack_.back().have_key;
    if (!as_key) attach(id, mark, "", false);
    stack_.push_back(Frame{id, k == Kind::Map, as_key, false, {}, {}, false, {}});
  }

  void close() {
    if (skipping() || stack_.empty()) return;
    Frame f = std::move(stack_.back());
    stack_.pop_back();
    if (f.is_map && !f.merges.empty()) apply_merges(f);
    if (f.is_key && !stack_.empty()) {
      Frame& p = stack_.back();
      p.have_key = true;
      p.key = "<complex key>";
      p.key_span = doc_.nodes[f.id].span;
      p.key_plain = false;
      return;
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
  std::unordered_map<YAML::anchor_t, NodeId> anchors_;
  size_t count_ = 0;
};

std::string clean_message(const std::string& msg) {
  // yaml-cpp prefixes "yaml-cpp: error at line L, column C: "; the location is ours to print.
  auto p = msg.find(": ");
  if (msg.rfind("yaml-cpp: error at line", 0) == 0 && p != std::string::npos) {
    auto q = msg.find(": ", p + 2);
    if (q != std::string::npos) return msg.substr(q + 2);
  }
  return msg;
}

}  // namespace

Result<Document> parse_yaml(SourcePtr src, const InputLimits& limits) {
  Document doc;
  doc.source = src;
  doc.syntax = Syntax::Yaml;
  ViewBuf buf(src->text());
  std::istream in(&buf);
  Builder b(doc, limits);
  try {
    YAML::Parser parser(in);
    while (parser.HandleNextDocument(b)) {
    }
  } catch (const LimitHit& hit) {
    return InputError{doc.loc({hit.at, {}}), hit.message};
  } catch (const YAML::DeepRecursion& e) {
    return InputError{doc.loc({{static_cast<uint32_t>(e.mark.line + 1),
                                static_cast<uint32_t>(e.mark.column + 1)},
                               {}}),
                      fmt::format("nesting deeper than {} levels; not a config file",
                                  limits.max_depth)};
  } catch (const YAML::Exception& e) {
    Pos at{static_cast<uint32_t>(e.mark.line + 1), static_cast<uint32_t>(e.mark.column + 1)};
    if (e.mark.is_null()) at = Pos{1, 1};
    return InputError{doc.loc({at, {}}), "invalid YAML: " + clean_message(e.what())};
  } catch (const std::exception& e) {
    return InputError{doc.loc({{1, 1}, {}}), std::string("cannot parse YAML: ") + e.what()};
  }
  doc.extra_documents = b.documents > 1 ? b.documents - 1 : 0;
  record_duplicates(doc);
  return doc;
}

}  // namespace gcheck::cfg
