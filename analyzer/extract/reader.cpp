#include "analyzer/extract/reader.h"

#include <cctype>

#include <fmt/format.h>

namespace gcheck::extract {

bool is_template(std::string_view s) {
  return s.find("${") != std::string_view::npos || s.find("{{") != std::string_view::npos;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool contains(std::string_view hay, std::string_view needle) {
  return hay.find(needle) != std::string_view::npos;
}

std::string Reader::raw(cfg::NodeId n) const {
  if (n == cfg::kNone) return "";
  const cfg::Node& node = doc_.node(n);
  if (node.kind == cfg::Kind::Map) return "{...}";
  if (node.kind == cfg::Kind::Seq) return "[...]";
  // The text as written in the file when we can see it on one line.
  if (node.span.end.known() && node.span.end.line == node.span.begin.line) {
    std::string_view line = doc_.source->line(node.span.begin.line);
    size_t b = node.span.begin.column - 1, e = node.span.end.column - 1;
    if (b < e && e <= line.size()) return std::string(line.substr(b, e - b));
  }
  if (node.kind == cfg::Kind::Null) return "null";
  return node.quoted ? "\"" + node.text + "\"" : node.text;
}

void Reader::note(const cfg::Entry& e, std::string_view path) {
  facts_.relevant.push_back(Facts::KeyRef{std::string(path), e.value, loc(e.key_span),
                                          loc(doc_.node(e.value).span)});
}

void Reader::unreadable(const cfg::Entry& e, std::string_view path, std::string why) {
  facts_.unreadable.push_back(
      Unreadable{loc(doc_.node(e.value).span), std::string(path), std::move(why)});
}

const cfg::Entry* Reader::fetch(cfg::NodeId m, std::string_view key, std::string_view path) {
  const cfg::Entry* e = doc_.entry(m, key);
  if (!e) return nullptr;
  note(*e, path);
  const cfg::Node& n = doc_.node(e->value);
  if (n.kind == cfg::Kind::String && is_template(n.text)) {
    unreadable(*e, path, fmt::format("holds the template {}; its value is only known at launch",
                                     raw(e->value)));
    return nullptr;
  }
  return e;
}

bool Reader::read_bool(cfg::NodeId m, std::string_view key, std::string_view path,
                       Opt<bool>& out) {
  const cfg::Entry* e = fetch(m, key, path);
  if (!e) return false;
  const cfg::Node& n = doc_.node(e->value);
  if (n.kind == cfg::Kind::Null) return false;  // `key:` with nothing: the default applies
  auto b = cfg::as_bool(n);
  if (!b) {
    if (n.kind == cfg::Kind::String) {
      // Python truthiness: a non-empty string is True (and reported as ambiguous by GC503).
      // "y"/"n" and similar remain strings under PyYAML.
      b = !n.text.empty();
    } else {
      unreadable(*e, path, fmt::format("expected true or false, found {}", raw(e->value)));
      return false;
    }
  }
  set(out, *b, *e, path);
  return true;
}

bool Reader::read_int(cfg::NodeId m, std::string_view key, std::string_view path,
                      Opt<int64_t>& out) {
  const cfg::Entry* e = fetch(m, key, path);
  if (!e) return false;
  const cfg::Node& n = doc_.node(e->value);
  if (n.kind == cfg::Kind::Null) return false;
  auto v = cfg::as_int(n);
  if (!v) {
    if (n.kind == cfg::Kind::String && lower(n.text) == "auto") return false;
    unreadable(*e, path, fmt::format("expected a whole number, found {}", raw(e->value)));
    return false;
  }
  set(out, *v, *e, path);
  return true;
}

bool Reader::read_number(cfg::NodeId m, std::string_view key, std::string_view path,
                         Opt<double>& out) {
  const cfg::Entry* e = fetch(m, key, path);
  if (!e) return false;
  const cfg::Node& n = doc_.node(e->value);
  if (n.kind == cfg::Kind::Null) return false;
  auto v = cfg::as_number(n);
  if (!v) {
    unreadable(*e, path, fmt::format("expected a number, found {}", raw(e->value)));
    return false;
  }
  set(out, *v, *e, path);
  return true;
}

bool Reader::read_text(cfg::NodeId m, std::string_view key, std::string_view path,
                       Opt<std::string>& out) {
  const cfg::Entry* e = fetch(m, key, path);
  if (!e) return false;
  const cfg::Node& n = doc_.node(e->value);
  if (n.kind == cfg::Kind::Null) return false;
  if (n.kind == cfg::Kind::Seq) {
    std::string joined;
    for (cfg::NodeId it : n.items) {
      auto t = cfg::as_text(doc_.node(it));
      if (t) joined += (joined.empty() ? "" : " ") + *t;
    }
    set(out, joined, *e, path);
    return true;
  }
  auto t = cfg::as_text(n);
  if (!t) {
    set(out, std::string("{...}"), *e, path);
    return true;
  }
  set(out, *t, *e, path);
  return true;
}

bool Reader::read_list(cfg::NodeId m, std::string_view key, std::string_view path,
                       Opt<std::vector<std::string>>& out) {
  const cfg::Entry* e = fetch(m, key, path);
  if (!e) return false;
  const cfg::Node& n = doc_.node(e->value);
  std::vector<std::string> items;
  if (n.kind == cfg::Kind::Seq) {
    for (cfg::NodeId it : n.items)
      if (auto t = cfg::as_text(doc_.node(it))) items.push_back(*t);
  } else if (n.kind == cfg::Kind::Null) {
    return false;
  } else if (auto t = cfg::as_text(n)) {
    items.push_back(*t);
  }
  set(out, std::move(items), *e, path);
  return true;
}

const cfg::Entry* Reader::read_present(cfg::NodeId m, std::string_view key,
                                       std::string_view path, Opt<bool>& out) {
  const cfg::Entry* e = fetch(m, key, path);
  if (!e) return nullptr;
  const cfg::Node& n = doc_.node(e->value);
  if (n.kind == cfg::Kind::Null) return nullptr;
  bool nonempty = true;
  if (n.kind == cfg::Kind::Map) nonempty = !n.entries.empty();
  if (n.kind == cfg::Kind::Seq) nonempty = !n.items.empty();
  set(out, nonempty, *e, path);
  return e;
}

}  // namespace gcheck::extract
