#include "analyzer/json_frontend.h"

#include <cctype>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace gcheck::cfg {
namespace {

using json = nlohmann::json;

struct Frame {
  NodeId id;
  bool is_map;
  std::string key;
  Span key_span;
};

// Builds the Document from SAX events; a shadow cursor over the same text finds where each
// token starts and ends (nlohmann has already validated the grammar up to each event).
class Sax {
 public:
  Sax(Document& doc, const std::string& text, const InputLimits& limits)
      : doc_(doc), text_(text), limits_(limits) {}

  std::optional<InputError> limit_error;
  size_t error_offset = 0;
  std::string error_message;

  bool null() { return scalar(Kind::Null, literal()); }
  bool boolean(bool v) {
    Span s = literal();
    Node n;
    n.kind = Kind::Bool;
    n.b = v;
    n.text = v ? "true" : "false";
    return push(std::move(n), s);
  }
  bool number_integer(json::number_integer_t v) { return integer(v); }
  bool number_unsigned(json::number_unsigned_t v) {
    return integer(static_cast<int64_t>(v));
  }
  bool number_float(json::number_float_t v, const std::string& raw) {
    Span s = number();
    Node n;
    n.kind = Kind::Float;
    n.f = v;
    n.text = raw;
    return push(std::move(n), s);
  }
  bool string(std::string& v) {
    Span s = quoted();
    Node n;
    n.kind = Kind::String;
    n.quoted = true;
    n.text = std::move(v);
    return push(std::move(n), s);
  }
  bool binary(json::binary_t&) { return false; }
  bool start_object(std::size_t) { return open(Kind::Map, '{'); }
  bool end_object() { return close('}'); }
  bool start_array(std::size_t) { return open(Kind::Seq, '['); }
  bool end_array() { return close(']'); }
  bool key(std::string& k) {
    Span s = quoted();
    stack_.back().key = std::move(k);
    stack_.back().key_span = s;
    return true;
  }
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& e) {
    error_offset = position > 0 ? position - 1 : 0;
    error_message = e.what();
    return false;
  }

 private:
  Pos pos(size_t off) const { return doc_.source->pos_of(off); }

  void skip() {
    while (cur_ < text_.size()) {
      char c = text_[cur_];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',' || c == ':') {
        ++cur_;
      } else {
        break;
      }
    }
  }
  Span literal() {
    skip();
    size_t b = cur_;
    while (cur_ < text_.size() && std::isalpha(static_cast<unsigned char>(text_[cur_]))) ++cur_;
    return Span{pos(b), pos(cur_)};
  }
  Span number() {
    skip();
    size_t b = cur_;
    while (cur_ < text_.size()) {
      char c = text_[cur_];
      if (std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '+' || c == '.' ||
          c == 'e' || c == 'E') {
        ++cur_;
      } else {
        break;
      }
    }
    return Span{pos(b), pos(cur_)};
  }
  Span quoted() {
    skip();
    size_t b = cur_;
    if (cur_ < text_.size() && text_[cur_] == '"') {
      ++cur_;
      while (cur_ < text_.size() && text_[cur_] != '"') {
        if (text_[cur_] == '\\') ++cur_;
        ++cur_;
      }
      if (cur_ < text_.size()) ++cur_;
    }
    return Span{pos(b), pos(cur_)};
  }
  bool integer(int64_t v) {
    Span s = number();
    Node n;
    n.kind = Kind::Int;
    n.i = v;
    n.text = text_.substr(doc_.source->offset_of(s.begin),
                          doc_.source->offset_of(s.end) - doc_.source->offset_of(s.begin));
    return push(std::move(n), s);
  }
  bool scalar(Kind k, Span s) {
    Node n;
    n.kind = k;
    n.text = k == Kind::Null ? "null" : "";
    return push(std::move(n), s);
  }
  bool push(Node n, Span s) {
    n.span = s;
    if (++count_ > limits_.max_nodes) {
      limit_error = InputError{doc_.loc(s), fmt::format("more than {} values; not a config file",
                                                        limits_.max_nodes)};
      return false;
    }
    auto id = static_cast<NodeId>(doc_.nodes.size());
    doc_.nodes.push_back(std::move(n));
    link(id);
    return true;
  }
  void link(NodeId id) {
    if (stack_.empty()) {
      doc_.root = id;
      return;
    }
    Frame& f = stack_.back();
    if (f.is_map) {
      Entry e;
      e.key = std::move(f.key);
      e.key_span = f.key_span;
      e.value = id;
      doc_.nodes[f.id].entries.push_back(static_cast<uint32_t>(doc_.entries.size()));
      doc_.entries.push_back(std::move(e));
    } else {
      doc_.nodes[f.id].items.push_back(id);
    }
  }
  bool open(Kind k, char ch) {
    skip();
    size_t b = cur_;
    if (cur_ < text_.size() && text_[cur_] == ch) ++cur_;
    if (stack_.size() >= limits_.max_depth) {
      limit_error = InputError{doc_.loc({pos(b), {}}),
                               fmt::format("nesting deeper than {} levels; not a config file",
                                           limits_.max_depth)};
      return false;
    }
    Node n;
    n.kind = k;
    n.span = Span{pos(b), {}};
    auto id = static_cast<NodeId>(doc_.nodes.size());
    if (++count_ > limits_.max_nodes) return false;
    doc_.nodes.push_back(std::move(n));
    link(id);
    stack_.push_back(Frame{id, k == Kind::Map, {}, {}});
    return true;
  }
  bool close(char ch) {
    skip();
    if (cur_ < text_.size() && text_[cur_] == ch) ++cur_;
    if (!stack_.empty()) {
      doc_.nodes[stack_.back().id].span.end = pos(cur_);
      stack_.pop_back();
    }
    return true;
  }

  Document& doc_;
  const std::string& text_;
  const InputLimits& limits_;
  std::vector<Frame> stack_;
  size_t cur_ = 0;
  size_t count_ = 0;
};

// Blanks out what hjson accepts and strict JSON does not (comments: //, /* */, #; commas
// before a closing bracket), keeping every offset, and records each one.
std::string relax(const std::string& in, const SourceFile& src, std::vector<SyntaxNote>& notes) {
  std::string out = in;
  size_t i = 0, n = in.size();
  auto blank = [&](size_t b, size_t e) {
    for (size_t k = b; k < e && k < n; ++k)
      if (out[k] != '\n') out[k] = ' ';
  };
  while (i < n) {
    char c = in[i];
    if (c == '"') {
      ++i;
      while (i < n && in[i] != '"') {
        if (in[i] == '\\') ++i;
        ++i;
      }
      ++i;
    } else if (c == '#' || (c == '/' && i + 1 < n && in[i + 1] == '/')) {
      size_t e = in.find('\n', i);
      if (e == std::string::npos) e = n;
      notes.push_back({{src.pos_of(i), src.pos_of(e)}, "comment"});
      blank(i, e);
      i = e;
    } else if (c == '/' && i + 1 < n && in[i + 1] == '*') {
      size_t e = in.find("*/", i + 2);
      e = e == std::string::npos ? n : e + 2;
      notes.push_back({{src.pos_of(i), src.pos_of(e)}, "comment"});
      blank(i, e);
      i = e;
    } else if (c == ',') {
      size_t j = i + 1;
      // look past whitespace and comments for a closing bracket
      while (j < n) {
        if (std::isspace(static_cast<unsigned char>(in[j]))) {
          ++j;
        } else if (in[j] == '#' || (in[j] == '/' && j + 1 < n && in[j + 1] == '/')) {
          size_t e = in.find('\n', j);
          j = e == std::string::npos ? n : e;
        } else if (in[j] == '/' && j + 1 < n && in[j + 1] == '*') {
          size_t e = in.find("*/", j + 2);
          j = e == std::string::npos ? n : e + 2;
        } else {
          break;
        }
      }
      if (j < n && (in[j] == '}' || in[j] == ']')) {
        notes.push_back({{src.pos_of(i), src.pos_of(i + 1)}, "trailing comma"});
        out[i] = ' ';
      }
      ++i;
    } else {
      ++i;
    }
  }
  return out;
}

std::string clean(const std::string& what) {
  // "[json.exception.parse_error.101] parse error at line 3, column 14: syntax error ..."
  std::string s = what;
  auto p = s.find("] ");
  if (s.rfind("[json.exception", 0) == 0 && p != std::string::npos) s = s.substr(p + 2);
  auto q = s.find(": ");
  if (s.rfind("parse error", 0) == 0 && q != std::string::npos) s = s.substr(q + 2);
  return s;
}

bool looks_like_placeholder(const SourceFile& src, size_t off) {
  std::string_view line = src.line(src.pos_of(off).line);
  if (line.find("${") != std::string_view::npos || line.find("{{") != std::string_view::npos ||
      line.find("{%") != std::string_view::npos)
    return true;
  // An unquoted ALL_CAPS word where a value belongs: BATCH_SIZE_PER_GPU.
  const std::string& t = src.text();
  size_t b = off;
  while (b > 0 && (std::isalnum(static_cast<unsigned char>(t[b - 1])) || t[b - 1] == '_')) --b;
  size_t e = b;
  bool upper = false, lower = false;
  while (e < t.size() && (std::isalnum(static_cast<unsigned char>(t[e])) || t[e] == '_')) {
    upper |= std::isupper(static_cast<unsigned char>(t[e])) != 0;
    lower |= std::islower(static_cast<unsigned char>(t[e])) != 0;
    ++e;
  }
  return e - b >= 3 && upper && !lower;
}

struct Attempt {
  std::optional<InputError> error;
  size_t error_offset = 0;
};

Attempt run(Document& doc, const std::string& text, const InputLimits& limits) {
  doc.nodes.clear();
  doc.entries.clear();
  doc.root = kNone;
  Sax sax(doc, text, limits);
  bool ok = json::sax_parse(text, &sax, json::input_format_t::json, /*strict=*/true);
  Attempt a;
  if (ok) return a;
  if (sax.limit_error) {
    a.error = *sax.limit_error;
    return a;
  }
  a.error_offset = sax.error_offset;
  a.error = InputError{doc.loc({doc.source->pos_of(sax.error_offset), {}}),
                       "invalid JSON: " + clean(sax.error_message)};
  return a;
}

}  // namespace

Result<Document> parse_json(SourcePtr src, const InputLimits& limits) {
  Document doc;
  doc.source = src;
  doc.syntax = Syntax::Json;
  Attempt strict = run(doc, src->text(), limits);
  if (strict.error) {
    if (strict.error->message.rfind("invalid JSON", 0) != 0) return *strict.error;
    std::vector<SyntaxNote> notes;
    std::string relaxed = relax(src->text(), *src, notes);
    Attempt second;
    if (!notes.empty()) second = run(doc, relaxed, limits);
    if (notes.empty() || second.error) {
      const Attempt& last = notes.empty() ? strict : second;
      InputError err = *last.error;
      if (looks_like_placeholder(*src, last.error_offset)) {
        err.placeholder = true;
        err.message =
            "template: a placeholder stands where a JSON value belongs (filled in by a launch "
            "script); the file cannot be read until it is rendered";
      }
      return err;
    }
    doc.lenient = std::move(notes);
  }
  record_duplicates(doc);
  return doc;
}

}  // namespace gcheck::cfg
