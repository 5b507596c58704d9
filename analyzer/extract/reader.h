// Typed, located reads of config keys into Facts, shared by the per-format extractors.
#pragma once

#include <string>
#include <string_view>

#include "analyzer/doc.h"
#include "analyzer/facts.h"

namespace gcheck::extract {

class Reader {
 public:
  Reader(const cfg::Document& doc, Facts& facts) : doc_(doc), facts_(facts) {}

  const cfg::Document& doc() const { return doc_; }
  cfg::NodeId root() const { return doc_.root; }
  cfg::NodeId map(cfg::NodeId parent, std::string_view key) const {
    cfg::NodeId v = doc_.get(parent, key);
    return doc_.is_map(v) ? v : cfg::kNone;
  }

  // Each read records the key as checkpoint-relevant and fills `out` when the value has the
  // right shape. A value of another shape, or a template, is recorded as unreadable.
  bool read_bool(cfg::NodeId m, std::string_view key, std::string_view path, Opt<bool>& out);
  bool read_int(cfg::NodeId m, std::string_view key, std::string_view path, Opt<int64_t>& out);
  bool read_number(cfg::NodeId m, std::string_view key, std::string_view path, Opt<double>& out);
  // Any scalar as text (booleans as "True"/"False"); lists joined by ' '.
  bool read_text(cfg::NodeId m, std::string_view key, std::string_view path,
                 Opt<std::string>& out);
  bool read_list(cfg::NodeId m, std::string_view key, std::string_view path,
                 Opt<std::vector<std::string>>& out);
  // Records presence of a key as a fact (value: not empty for collections, truthy for scalars).
  const cfg::Entry* read_present(cfg::NodeId m, std::string_view key, std::string_view path,
                                 Opt<bool>& out);

  template <class T>
  void set(Opt<T>& out, T value, const cfg::Entry& e, std::string_view path) {
    out = Fact<T>{std::move(value), loc(doc_.node(e.value).span), loc(e.key_span),
                  std::string(path), raw(e.value), e.value};
  }
  Location loc(Span s) const { return doc_.loc(s); }
  std::string raw(cfg::NodeId n) const;
  void note(const cfg::Entry& e, std::string_view path);  // record as relevant
  void unreadable(const cfg::Entry& e, std::string_view path, std::string why);

 private:
  const cfg::Entry* fetch(cfg::NodeId m, std::string_view key, std::string_view path);
  const cfg::Document& doc_;
  Facts& facts_;
};

// True when the text holds an interpolation a launcher or OmegaConf fills in: ${...}, {{...}}.
bool is_template(std::string_view s);
// Lower-cased copy.
std::string lower(std::string_view s);
bool contains(std::string_view hay, std::string_view needle);

}  // namespace gcheck::extract
