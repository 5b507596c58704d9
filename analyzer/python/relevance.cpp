#include "analyzer/python/relevance.h"

#include <unordered_set>

namespace gcheck::py {

namespace {

// Every name a handler keys on: callee names (last component), methods, keyword arguments and
// attributes the front end reads. A definition that mentions none of them cannot hold a fact.
constexpr std::string_view kTriggers[] = {
    // torch
    "checkpoint", "checkpoint_sequential", "checkpoint_wrapper", "apply_activation_checkpointing",
    "CheckpointImpl", "grad", "backward", "DistributedDataParallel", "DistributedDataParallelKwargs",
    "compile", "save_on_cpu", "requires_grad", "requires_grad_",
    // transformers
    "TrainingArguments", "Seq2SeqTrainingArguments", "Trainer", "Seq2SeqTrainer", "BitsAndBytesConfig",
    "GPTQConfig", "AwqConfig", "HfArgumentParser", "from_pretrained", "gradient_checkpointing_enable",
    "gradient_checkpointing_kwargs", "use_cache", "enable_input_require_grads", "register_forward_hook",
    // TRL
    "SFTConfig", "SFTTrainer", "DPOConfig", "DPOTrainer", "GRPOConfig", "GRPOTrainer", "KTOConfig",
    "KTOTrainer", "ORPOConfig", "ORPOTrainer", "RewardConfig", "RewardTrainer", "PPOConfig", "PPOTrainer",
    "RLOOConfig", "RLOOTrainer", "CPOConfig", "CPOTrainer", "GKDConfig", "GKDTrainer", "OnlineDPOConfig",
    "OnlineDPOTrainer", "BCOConfig", "BCOTrainer", "XPOConfig", "XPOTrainer", "NashMDConfig",
    "NashMDTrainer", "IterativeSFTConfig", "IterativeSFTTrainer", "ModelConfig", "TrlParser",
    // PEFT
    "prepare_model_for_kbit_training", "prepare_model_for_int8_training", "get_peft_model", "PeftModel",
    "LoraConfig", "AdaLoraConfig", "LoHaConfig", "LoKrConfig", "IA3Config", "OFTConfig", "BOFTConfig",
    "VeraConfig", "PrefixTuningConfig", "PromptTuningConfig", "PromptEncoderConfig",
    // Unsloth
    "FastLanguageModel", "FastModel", "FastVisionModel", "UnslothTrainer", "UnslothTrainingArguments",
    "use_gradient_checkpointing",
};

const std::unordered_set<std::string_view>& trigger_set() {
  static const std::unordered_set<std::string_view> s(std::begin(kTriggers), std::end(kTriggers));
  return s;
}

bool ident_start(unsigned char c) {
  return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
}
bool ident_char(unsigned char c) { return ident_start(c) || (c >= '0' && c <= '9'); }

bool string_prefix(std::string_view s) {
  if (s.empty() || s.size() > 2) return false;
  bool r = false, b = false, u = false, f = false;
  for (char c : s) {
    switch (c) {
      case 'r': case 'R': if (r) return false; r = true; break;
      case 'b': case 'B': if (b) return false; b = true; break;
      case 'u': case 'U': if (u) return false; u = true; break;
      case 'f': case 'F': if (f) return false; f = true; break;
      default: return false;
    }
  }
  return !(u && s.size() > 1) && !(b && f);
}

bool is_one_of(std::string_view s, std::initializer_list<std::string_view> set) {
  for (auto k : set)
    if (s == k) return true;
  return false;
}

enum class UnitKind : uint8_t { Simple, Compound, Definition };

struct Unit {
  uint32_t start_byte = 0;
  uint32_t start_row = 0;
  UnitKind kind = UnitKind::Simple;
  bool relevant = false;
  std::vector<std::string_view> idents;  // definitions not yet relevant; simple `NAME = ...`
  std::string_view assigned;             // simple `NAME = ...`: NAME
};

class Scanner {
 public:
  explicit Scanner(std::string_view t) : t_(t) {}

  void run();
  bool failed() const { return !problem_.empty(); }
  const std::string& problem() const { return problem_; }
  std::vector<Unit>& units() { return units_; }
  std::unordered_set<std::string_view>& aliases() { return aliases_; }

 private:
  void fail(const char* why) {
    if (problem_.empty()) problem_ = why;
  }
  void logical_line(size_t line_start, uint32_t col);
  void scan_string(size_t prefix_len, int depth);
  void fexpr(bool triple, char quote, int depth);
  void identifier(std::string_view id);
  void newline_in_token() { ++row_; }

  std::string_view t_;
  size_t i_ = 0;
  uint32_t row_ = 0;
  std::string problem_;
  std::vector<char> brackets_;
  std::vector<uint32_t> indents_{0};
  bool expect_indent_ = false;
  bool decorator_pending_ = false;
  std::vector<Unit> units_;
  std::unordered_set<std::string_view> aliases_;

  // The logical line being scanned.
  std::vector<std::string_view> idents_;
  std::string_view first_, second_, prev_;
  bool import_line_ = false, after_as_ = false, trigger_ = false, colon_ = false;
  int tokens_ = 0;
  bool assign_ = false;
  char last_ = 0;
};

void Scanner::identifier(std::string_view id) {
  ++tokens_;
  last_ = 'a';
  if (first_.empty()) {
    first_ = id;
    import_line_ = id == "import" || id == "from";
  } else if (second_.empty()) {
    second_ = id;
    // Python 2: `print "x"`, `print x`, `exec code`.
    if (tokens_ == 2 && (first_ == "print" || first_ == "exec") && !is_one_of(id, {"if", "in", "is", "and", "or", "not", "for"}))
      fail("a Python 2 print or exec statement");
  }
  if (trigger_set().count(id)) trigger_ = true;
  if (import_line_) {
    // import a.b.checkpoint as ck / from m import checkpoint as ck: ck names a trigger.
    if (after_as_) {
      if (trigger_set().count(prev_)) aliases_.insert(id);
      after_as_ = false;
    } else if (id == "as") {
      after_as_ = true;
    } else {
      prev_ = id;
    }
  }
  idents_.push_back(id);
}

void Scanner::fexpr(bool triple, char quote, int depth) {
  // After the `{` of an f-string replacement field: an expression (strings may nest, PEP 701),
  // an optional !conversion and :format spec, then `}`.
  ++i_;
  int brackets = 0;
  bool spec = false;
  size_t n = t_.size();
  while (i_ < n && problem_.empty()) {
    char c = t_[i_];
    if (c == '\n') {
      if (!triple && brackets == 0 && !spec) return fail("unterminated f-string");
      newline_in_token();
      ++i_;
      continue;
    }
    if (spec) {
      if (c == '{') {
        if (i_ + 1 < n && t_[i_ + 1] == '{') i_ += 2;
        else fexpr(triple, quote, depth + 1);
        continue;
      }
      if (c == '}') {
        ++i_;
        return;
      }
      if (!triple && c == quote) return fail("unterminated f-string");
      ++i_;
      continue;
    }
    if (c == '\'' || c == '"') {
      scan_string(0, depth + 1);
      continue;
    }
    if (ident_start(static_cast<unsigned char>(c))) {
      size_t j = i_;
      while (j < n && ident_char(static_cast<unsigned char>(t_[j]))) ++j;
      std::string_view id = t_.substr(i_, j - i_);
      if (j < n && (t_[j] == '\'' || t_[j] == '"') && string_prefix(id)) {
        i_ = j - id.size();
        scan_string(id.size(), depth + 1);
        continue;
      }
      if (trigger_set().count(id)) trigger_ = true;
      idents_.push_back(id);
      i_ = j;
      continue;
    }
    if (c == '(' || c == '[' || c == '{') ++brackets;
    else if (c == ')' || c == ']') brackets = brackets > 0 ? brackets - 1 : 0;
    else if (c == '}') {
      if (brackets == 0) {
        ++i_;
        return;
      }
      --brackets;
    } else if (c == ':' && brackets == 0) {
      spec = true;
    }
    ++i_;
  }
  fail("unterminated f-string");
}

void Scanner::scan_string(size_t prefix_len, int depth) {
  if (depth > 64) return fail("strings nested too deeply");
  size_t n = t_.size();
  std::string_view prefix = t_.substr(i_, prefix_len);
  bool raw = prefix.find_first_of("rR") != std::string_view::npos;
  bool f = prefix.find_first_of("fF") != std::string_view::npos;
  i_ += prefix_len;
  char q = t_[i_];
  bool triple = i_ + 2 < n && t_[i_ + 1] == q && t_[i_ + 2] == q;
  i_ += triple ? 3 : 1;
  if (depth == 0 && tokens_ == 1 && (first_ == "print" || first_ == "exec"))
    fail("a Python 2 print or exec statement");
  ++tokens_;
  last_ = q;
  while (i_ < n && problem_.empty()) {
    char c = t_[i_];
    if (c == '\\') {
      // An escape (also in raw strings, for termination): skip the next character.
      if (i_ + 1 < n && t_[i_ + 1] == '\n') newline_in_token();
      i_ += 2;
      continue;
    }
    if (c == q) {
      if (!triple) {
        ++i_;
        return;
      }
      if (i_ + 2 < n && t_[i_ + 1] == q && t_[i_ + 2] == q) {
        i_ += 3;
        return;
      }
      ++i_;
      continue;
    }
    if (c == '\n') {
      if (!triple) return fail("an unterminated string");
      newline_in_token();
      ++i_;
      continue;
    }
    if (f && c == '{') {
      if (i_ + 1 < n && t_[i_ + 1] == '{') i_ += 2;
      else fexpr(triple, q, depth);
      continue;
    }
    ++i_;
  }
  (void)raw;
  fail("an unterminated string");
}

void Scanner::logical_line(size_t line_start, uint32_t col) {
  // Indentation, as the tokenizer checks it.
  if (col > indents_.back()) {
    if (!expect_indent_) fail("an unexpected indent");
    indents_.push_back(col);
  } else {
    if (expect_indent_) fail("a missing indented block");
    while (col < indents_.back()) indents_.pop_back();
    if (col != indents_.back()) fail("an unindent to no outer level");
  }
  expect_indent_ = false;
  idents_.clear();
  first_ = second_ = prev_ = {};
  import_line_ = after_as_ = trigger_ = colon_ = false;
  tokens_ = 0;
  assign_ = false;
  last_ = 0;
  char lead = t_[i_];

  size_t n = t_.size();
  while (i_ < n && problem_.empty()) {
    char c = t_[i_];
    unsigned char uc = static_cast<unsigned char>(c);
    if (c == ' ' || c == '\t' || c == '\f' || c == '\r') {
      ++i_;
    } else if (c == '\n') {
      ++i_;
      ++row_;
      if (brackets_.empty()) break;
    } else if (c == '#') {
      while (i_ < n && t_[i_] != '\n') ++i_;
    } else if (c == '\\') {
      size_t j = i_ + 1;
      if (j < n && t_[j] == '\r') ++j;
      if (j < n && t_[j] == '\n') {
        i_ = j + 1;
        ++row_;
      } else {
        fail("a character after a line continuation");
      }
    } else if (c == '\'' || c == '"') {
      scan_string(0, 0);
    } else if (ident_start(uc)) {
      size_t j = i_;
      while (j < n && ident_char(static_cast<unsigned char>(t_[j]))) ++j;
      std::string_view id = t_.substr(i_, j - i_);
      if (j < n && (t_[j] == '\'' || t_[j] == '"') && string_prefix(id)) {
        scan_string(id.size(), 0);
      } else {
        identifier(id);
        i_ = j;
      }
    } else if ((c >= '0' && c <= '9') || (c == '.' && i_ + 1 < n && t_[i_ + 1] >= '0' && t_[i_ + 1] <= '9')) {
      while (i_ < n && (ident_char(static_cast<unsigned char>(t_[i_])) || t_[i_] == '.')) ++i_;
      ++tokens_;
      last_ = '0';
    } else if (c == '(' || c == '[' || c == '{') {
      brackets_.push_back(c);
      ++tokens_;
      last_ = c;
      ++i_;
    } else if (c == ')' || c == ']' || c == '}') {
      char open = c == ')' ? '(' : c == ']' ? '[' : '{';
      if (brackets_.empty() || brackets_.back() != open) fail("an unmatched or mismatched bracket");
      if (!brackets_.empty()) brackets_.pop_back();
      ++tokens_;
      last_ = c;
      ++i_;
    } else if (c == '$' || c == '?' || c == '`') {
      fail("a character Python does not accept");
    } else {
      if (c == ':' && brackets_.empty()) colon_ = true;
      if (c == '=' && tokens_ == 1 && !first_.empty() && !(i_ + 1 < n && t_[i_ + 1] == '=')) assign_ = true;
      ++tokens_;
      last_ = c;
      ++i_;
    }
  }

  // A compound statement's header ends with its colon (or has one, before a simple body).
  if (is_one_of(first_, {"if", "elif", "else", "for", "while", "def", "class", "with", "try", "except",
                         "finally"}) &&
      lead != '@' && !colon_)
    fail("a compound statement without its colon");
  expect_indent_ = last_ == ':';

  // Top-level statements: a new one starts at column 0, except the clauses and decorated
  // definitions that continue one.
  bool clause = is_one_of(first_, {"else", "elif", "except", "finally"});
  if (col == 0 && !clause && !decorator_pending_) {
    Unit u;
    u.start_byte = static_cast<uint32_t>(line_start);
    u.start_row = 0;  // filled by the caller
    if (lead == '@' || is_one_of(first_, {"def", "class"}) || (first_ == "async" && second_ == "def")) {
      u.kind = UnitKind::Definition;
    } else if (is_one_of(first_, {"if", "for", "while", "try", "with", "async"}) || (last_ == ':' && (first_ == "match"))) {
      u.kind = UnitKind::Compound;
    } else {
      u.kind = UnitKind::Simple;
      u.relevant = true;
    }
    units_.push_back(std::move(u));
  }
  if (col == 0) decorator_pending_ = lead == '@';
  if (units_.empty()) return;
  Unit& u = units_.back();
  if (u.kind == UnitKind::Compound) u.relevant = true;
  if (trigger_ || is_one_of(first_, {"import", "from", "global"})) u.relevant = true;
  if (first_ == "class" && trigger_ && !second_.empty()) aliases_.insert(second_);  // a trainer subclass
  if (col == 0 && u.kind == UnitKind::Simple && assign_) {
    u.assigned = first_;
    if (trigger_) aliases_.insert(first_);  // ck = torch.utils.checkpoint.checkpoint
    else u.idents = idents_;
  }
  if (u.kind == UnitKind::Definition && !u.relevant) u.idents.insert(u.idents.end(), idents_.begin(), idents_.end());
}

void Scanner::run() {
  size_t n = t_.size();
  if (n >= 3 && t_.substr(0, 3) == "\xEF\xBB\xBF") i_ = 3;
  bool first_line = true;
  while (i_ < n && problem_.empty()) {
    size_t line_start = first_line ? 0 : i_;
    first_line = false;
    uint32_t row = row_;
    uint32_t col = 0;
    while (i_ < n) {
      char c = t_[i_];
      if (c == ' ') ++col;
      else if (c == '\t') col = (col / 8 + 1) * 8;
      else if (c == '\f' || c == '\r') col = c == '\f' ? 0 : col;
      else break;
      ++i_;
    }
    if (i_ >= n) break;
    char c = t_[i_];
    if (c == '\n') {
      ++i_;
      ++row_;
      continue;
    }
    if (c == '#') {
      while (i_ < n && t_[i_] != '\n') ++i_;
      continue;
    }
    size_t before = units_.size();
    logical_line(line_start, col);
    if (units_.size() > before) units_.back().start_row = row;
  }
  if (!brackets_.empty()) fail("a bracket that is never closed");
  if (expect_indent_) fail("a missing indented block");
}

// The point just past the last byte, as tree-sitter counts it (rows by '\n', columns in bytes).
TSPoint eof_point(const std::string& text) {
  uint32_t row = 0;
  size_t last_nl = std::string::npos;
  for (size_t k = 0; k < text.size(); ++k) {
    if (text[k] == '\n') {
      ++row;
      last_nl = k;
    }
  }
  size_t col = last_nl == std::string::npos ? text.size() : text.size() - last_nl - 1;
  return TSPoint{row, static_cast<uint32_t>(col)};
}

}  // namespace

bool is_trigger(std::string_view identifier) { return trigger_set().count(identifier) != 0; }

Selection select_statements(const SourceFile& src) {
  Selection sel;
  const std::string& text = src.text();
  Scanner sc(text);
  sc.run();
  if (sc.failed()) {
    sel.why = "the scan saw " + sc.problem();
    return sel;
  }
  auto& units = sc.units();
  auto& aliases = sc.aliases();
  // Aliases of aliases: ck2 = ck.
  for (int round = 0; round < 4 && !aliases.empty(); ++round) {
    bool changed = false;
    for (const Unit& u : units) {
      if (u.assigned.empty() || aliases.count(u.assigned)) continue;
      for (auto id : u.idents) {
        if (aliases.count(id)) {
          aliases.insert(u.assigned);
          changed = true;
          break;
        }
      }
    }
    if (!changed) break;
  }
  size_t skipped = 0;
  for (Unit& u : units) {
    if (u.relevant) continue;
    for (auto id : u.idents) {
      if (aliases.count(id)) {
        u.relevant = true;
        break;
      }
    }
    if (!u.relevant) ++skipped;
  }
  if (skipped == 0) {
    sel.why = "every top-level statement may hold a fact";
    return sel;
  }
  // Ranges: runs of relevant units, each up to the next unit's first line.
  auto end_point = [&](size_t k) -> std::pair<uint32_t, TSPoint> {
    if (k + 1 < units.size()) return {units[k + 1].start_byte, TSPoint{units[k + 1].start_row, 0}};
    return {static_cast<uint32_t>(text.size()), eof_point(text)};
  };
  for (size_t k = 0; k < units.size(); ++k) {
    if (!units[k].relevant) continue;
    auto [end_byte, end_pt] = end_point(k);
    if (!sel.ranges.empty() && sel.ranges.back().end_byte == units[k].start_byte) {
      sel.ranges.back().end_byte = end_byte;
      sel.ranges.back().end_point = end_pt;
    } else {
      sel.ranges.push_back(TSRange{TSPoint{units[k].start_row, 0}, end_pt, units[k].start_byte, end_byte});
    }
  }
  for (const auto& r : sel.ranges) sel.bytes += r.end_byte - r.start_byte;
  if (sel.ranges.empty()) {
    // Nothing but definitions that cannot matter: parse the first statement alone, so the tree
    // is a module.
    sel.ranges.push_back(TSRange{TSPoint{units[0].start_row, 0}, end_point(0).second, units[0].start_byte,
                                 end_point(0).first});
    sel.bytes = sel.ranges[0].end_byte - sel.ranges[0].start_byte;
  }
  if (sel.bytes * 10 >= text.size() * 9) {
    sel.ranges.clear();
    sel.why = "nearly every statement may hold a fact";
    return sel;
  }
  sel.skipped = skipped;
  sel.whole = false;
  return sel;
}

}  // namespace gcheck::py
