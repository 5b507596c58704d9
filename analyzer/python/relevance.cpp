#include "analyzer/python/relevance.h"

#include <algorithm>
#include <cstring>
#include <unordered_map>
#include <unordered_set>

#include "analyzer/python/read_keywords.h"

namespace gcheck::py {

namespace {

// Every name a handler keys on: callee names (last component), methods, keyword arguments and
// attributes the front end reads. A line that mentions none of them holds no fact.
constexpr std::string_view kTriggers[] = {
    // torch
    "checkpoint",
    "checkpoint_sequential",
    "checkpoint_wrapper",
    "apply_activation_checkpointing",
    "CheckpointImpl",
    "grad",
    "backward",
    "DistributedDataParallel",
    "DistributedDataParallelKwargs",
    "compile",
    "save_on_cpu",
    "requires_grad",
    "requires_grad_",
    // transformers
    "TrainingArguments",
    "Seq2SeqTrainingArguments",
    "Trainer",
    "Seq2SeqTrainer",
    "BitsAndBytesConfig",
    "GPTQConfig",
    "AwqConfig",
    "HfArgumentParser",
    "check_min_version",
    "require_version",
    "require_version_core",
    "from_pretrained",
    "gradient_checkpointing_enable",
    "gradient_checkpointing_kwargs",
    "use_cache",
    "enable_input_require_grads",
    "register_forward_hook",
    "freeze_base_model",
    // TRL
    "SFTConfig",
    "SFTTrainer",
    "DPOConfig",
    "DPOTrainer",
    "GRPOConfig",
    "GRPOTrainer",
    "KTOConfig",
    "KTOTrainer",
    "ORPOConfig",
    "ORPOTrainer",
    "RewardConfig",
    "RewardTrainer",
    "PPOConfig",
    "PPOTrainer",
    "RLOOConfig",
    "RLOOTrainer",
    "CPOConfig",
    "CPOTrainer",
    "GKDConfig",
    "GKDTrainer",
    "OnlineDPOConfig",
    "OnlineDPOTrainer",
    "BCOConfig",
    "BCOTrainer",
    "XPOConfig",
    "XPOTrainer",
    "NashMDConfig",
    "NashMDTrainer",
    "IterativeSFTConfig",
    "IterativeSFTTrainer",
    "ModelConfig",
    "TrlParser",
    // PEFT
    "prepare_model_for_kbit_training",
    "prepare_model_for_int8_training",
    "get_peft_model",
    "PeftModel",
    "LoraConfig",
    "AdaLoraConfig",
    "LoHaConfig",
    "LoKrConfig",
    "IA3Config",
    "OFTConfig",
    "BOFTConfig",
    "VeraConfig",
    "PrefixTuningConfig",
    "PromptTuningConfig",
    "PromptEncoderConfig",
    // Unsloth
    "FastLanguageModel",
    "FastModel",
    "FastVisionModel",
    "UnslothTrainer",
    "UnslothTrainingArguments",
    "use_gradient_checkpointing",
};

const std::unordered_set<std::string_view> kTriggerSet(std::begin(kTriggers), std::end(kTriggers));
const std::unordered_set<std::string_view>& trigger_set() {
  return kTriggerSet;
}

// Callees whose arguments are read as far as the call itself is: the evaluator reads into
// dict(...) and functools.partial(...), the freeze conditions into any(...) and
// name.startswith / endswith / __contains__(...). An argument of any other call is read only
// when the call is one the handlers read (see Keeper::demanded).
bool transparent_callee(std::string_view id) {
  return id == "dict" || id == "partial" || id == "any" || id == "startswith" || id == "endswith" ||
         id == "__contains__";
}

bool is_one_of(std::string_view s, std::initializer_list<std::string_view> set) {
  for (auto k : set)
    if (s == k) return true;
  return false;
}

// Words after which `(` groups instead of calling (soft keywords included: more is followed).
bool keyword_before_paren(std::string_view id) {
  // By length, so that most names (longer, or of other lengths) cost one comparison or none.
  switch (id.size()) {
    case 2:
      return is_one_of(id, {"as", "if", "in", "is", "or"});
    case 3:
      return is_one_of(id, {"and", "del", "for", "not", "def", "try"});
    case 4:
      return is_one_of(id, {"case", "elif", "else", "from", "with", "None", "True", "pass"});
    case 5:
      return is_one_of(
          id, {"async", "await", "match", "raise", "while", "yield", "False", "class", "break"});
    case 6:
      return is_one_of(id, {"assert", "except", "global", "import", "lambda", "return"});
    case 7:
      return id == "finally";
    case 8:
      return id == "continue" || id == "nonlocal";
    default:
      return false;
  }
}

constexpr std::string_view kMutators[] = {"update", "setdefault",  "pop",         "popitem",
                                          "clear",  "__setitem__", "__delitem__", "append",
                                          "extend", "insert",      "remove"};

// A cheap first test (length and first character) before the hash lookup: most identifiers
// (self, model, x, args) fail it.
struct TriggerFilter {
  bool first[256] = {};
  bool length[64] = {};
  TriggerFilter() {
    for (auto t : kTriggers) {
      first[static_cast<unsigned char>(t[0])] = true;
      length[t.size()] = true;
    }
  }
};

const TriggerFilter kTriggerFilter;

bool trigger(std::string_view id) {
  const TriggerFilter& f = kTriggerFilter;
  if (id.empty() || id.size() >= 64 || !f.length[id.size()] ||
      !f.first[static_cast<unsigned char>(id[0])])
    return false;
  return trigger_set().count(id) != 0;
}

// Character classes of the scan, by byte.
enum CharClass : uint8_t {
  kOther,
  kSpace,
  kNewline,
  kHash,
  kBackslash,
  kQuote,
  kIdent,
  kDigit,
  kOpen,
  kClose,
  kInvalid
};
struct Classes {
  uint8_t c[256];
  bool ident[256];  // may continue an identifier
  Classes() : c{}, ident{} {
    for (int b = 0; b < 256; ++b) {
      bool letter = b == '_' || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || b >= 0x80;
      bool digit = b >= '0' && b <= '9';
      ident[b] = letter || digit;
      c[b] = letter ? kIdent : digit ? kDigit : kOther;
    }
    c[static_cast<int>(' ')] = c[static_cast<int>('\t')] = c[static_cast<int>('\f')] =
        c[static_cast<int>('\r')] = kSpace;
    c[static_cast<int>('\n')] = kNewline;
    c[static_cast<int>('#')] = kHash;
    c[static_cast<int>('\\')] = kBackslash;
    c[static_cast<int>('\'')] = c[static_cast<int>('"')] = kQuote;
    c[static_cast<int>('(')] = c[static_cast<int>('[')] = c[static_cast<int>('{')] = kOpen;
    c[static_cast<int>(')')] = c[static_cast<int>(']')] = c[static_cast<int>('}')] = kClose;
    c[static_cast<int>('$')] = c[static_cast<int>('?')] = c[static_cast<int>('`')] = kInvalid;
  }
};
const Classes kClasses;  // built once at start-up; read without a guard in the hot loops
const Classes& classes() {
  return kClasses;
}

bool ident_start(unsigned char c) {
  return classes().c[c] == kIdent;
}
bool ident_char(unsigned char c) {
  return classes().ident[c];
}

bool string_prefix(std::string_view s) {
  if (s.empty() || s.size() > 2) return false;
  bool r = false, b = false, u = false, f = false;
  for (char c : s) {
    switch (c) {
      case 'r':
      case 'R':
        if (r) return false;
        r = true;
        break;
      case 'b':
      case 'B':
        if (b) return false;
        b = true;
        break;
      case 'u':
      case 'U':
        if (u) return false;
        u = true;
        break;
      case 'f':
      case 'F':
        if (f) return false;
        f = true;
        break;
      default:
        return false;
    }
  }
  return !(u && s.size() > 1) && !(b && f);
}

// One logical line: a simple statement, or the header of a compound one (its body lines are
// separate lines whose parent is this one).
struct Line {
  uint32_t start = 0, row = 0;  // where it begins (at the start of its first physical line)
  uint32_t end = 0;             // where the next logical line begins (or the end of the file)
  uint32_t indent = 0;
  std::string_view first, second;
  char lead = 0;                            // first character ('@' for a decorator)
  bool trigger = false;                     // names a trigger
  bool always = false;                      // import / from / global / nonlocal
  bool header = false;                      // ends with ':' (a block follows)
  bool clause = false;                      // elif / else / except / finally
  uint32_t names_begin = 0, names_end = 0;  // names it reads, in Scanner::names_
  uint32_t binds_begin = 0, binds_end = 0;  // names it binds, in Scanner::binds_
  // Aliases through aliases: `class Mine(MyTrainer)`, `ck2 = ck`, `ck2 = partial(ck, ...)`,
  // `ck2 = P(checkpoint, ...)` with P = functools.partial.
  enum class AliasForm : uint8_t {
    None,
    Class,
    Dotted,
    Partial,
    Call
  } alias_form = AliasForm::None;
  std::string_view alias_name;  // the name that would become an alias
  std::string_view rhs_last;    // Dotted: the last name of the right-hand side; Call: the
                                // callee's last name ("" when it starts with no call)
  int parent = -1;              // the header whose block holds it
  int unit = -1;                // the line that starts its statement (decorator, if, try, ...)
  // Every name it reads is followed, wherever it stands: if/elif headers (the freeze
  // conditions are read from them), def and class headers, lines that set requires_grad, a
  // call of something the scan cannot name (`(f)(x)`, `fns[0](x)`).
  bool all_reads = false;
};

// Where a read stands, for deciding whether the front end can evaluate it (Keeper::demanded):
// one part of a statement or of a bracket, between separators (`=` and `;` of the statement,
// `,` and `:` in brackets, `if` / `else` of a conditional expression).
struct Seg {
  enum class Kind : uint8_t {
    Stmt,       // the statement's own level
    Group,      // a display or a grouping parenthesis: [a, b], {k: v}, (a)
    Subscript,  // x[...]
    Call,       // f(...): one argument
  };
  Kind kind = Kind::Stmt;
  bool rhs = false;          // Stmt: after the last `=` of an assignment (not an augmented one)
  bool stopped = false;      // holds an operator the evaluator does not read through: a + b,
                             // a < b, a and b, x[i], lambda, a comprehension's for, await
  int32_t parent = -1;       // Group, Subscript, Call: the Seg the bracket stands in
  int32_t callee_root = -1;  // Call: the read that starts the callee (`model` of
                             // model.from_pretrained), -1 when none
  std::string_view callee;   // Call: the called name (its last part)
  std::string_view keyword;  // Call: `keyword=...`, "" for a positional argument or a splat
  uint32_t line = 0;         // the logical line it is in
};

// A keyword argument `name=value` of a call: the bytes it takes, through its comma (or up to
// the closing bracket), so that the parse can leave it out when the front end cannot read it
// (Keeper::droppable).
struct KwArg {
  uint32_t begin = 0, end = 0;
  int32_t seg = -1;                         // the Call Seg it stands in (callee, keyword)
  uint32_t reads_begin = 0, reads_end = 0;  // its reads, in Scanner::names_
  uint32_t line = 0;                        // the logical line it is in
  bool plain = true;  // holds no trigger, lambda, comprehension, := , yield or await
};

class Scanner {
 public:
  // One scanner per thread, reused: its buffers keep their capacity from file to file.
  void reset(std::string_view t) {
    t_ = t;
    i_ = 0;
    row_ = 0;
    problem_.clear();
    brackets_.clear();
    indents_.assign(1, 0);
    expect_indent_ = false;
    lines_.clear();
    names_.clear();
    read_seg_.clear();
    binds_.clear();
    aliases_.clear();
    transparent_aliases_.clear();
    segs_.clear();
    bracket_seg_.clear();
    bracket_chain_.clear();
    bracket_kwarg_.clear();
    kwargs_.clear();
    seg_start_.clear();
    chain_root_ = -1;
    last_id_ = {};
  }

  void run();
  bool failed() const { return !problem_.empty(); }
  const std::string& problem() const { return problem_; }
  std::vector<Line>& lines() { return lines_; }
  const std::vector<std::string_view>& names() const { return names_; }
  const std::vector<int32_t>& read_segs() const { return read_seg_; }
  const std::vector<Seg>& segs() const { return segs_; }
  const std::vector<std::string_view>& binds() const { return binds_; }
  std::unordered_set<std::string_view>& aliases() { return aliases_; }
  std::unordered_set<std::string_view>& transparent_aliases() { return transparent_aliases_; }
  const std::vector<KwArg>& kwargs() const { return kwargs_; }

 private:
  void fail(const char* why) {
    if (problem_.empty()) problem_ = why;
  }
  void logical_line(uint32_t line_start, uint32_t row, uint32_t col);
  void scan_string(size_t prefix_len, int depth);
  void fexpr(bool triple, char quote, int depth);
  void identifier(std::string_view id, bool attribute, bool keyword_name, bool before_dot);
  void bind(std::string_view id) { binds_.push_back(id); }
  // Every keyword argument open around here holds something the parse must see.
  void taint() {
    for (int32_t k : bracket_kwarg_)
      if (k >= 0) kwargs_[static_cast<size_t>(k)].plain = false;
  }
  // The keyword argument open in the innermost bracket ends at byte `end`.
  void end_kwarg(size_t end) {
    int32_t& k = bracket_kwarg_.back();
    if (k < 0) return;
    KwArg& a = kwargs_[static_cast<size_t>(k)];
    a.end = static_cast<uint32_t>(end);
    a.reads_end = static_cast<uint32_t>(names_.size());
    k = -1;
  }
  void read(std::string_view id) {
    names_.push_back(id);
    read_seg_.push_back(seg_);
  }
  Seg& seg() { return segs_[static_cast<size_t>(seg_)]; }
  void stop() { seg().stopped = true; }
  // A new Seg like the current one (`keep_keyword`: the same argument goes on, after `:` or
  // `if` / `else`), which becomes the current one.
  void next_seg(bool keep_keyword) {
    Seg g = seg();
    g.stopped = false;
    if (!keep_keyword) g.keyword = {};
    segs_.push_back(g);
    seg_ = static_cast<int32_t>(segs_.size() - 1);
    if (bracket_seg_.empty())
      stmt_seg_ = seg_;
    else
      bracket_seg_.back() = seg_;
    if (!seg_start_.empty()) seg_start_.back() = tokens_;
  }
  // The previous token ends an operand (a name, a number, a string, a closing bracket), so an
  // operator here is binary.
  bool after_operand(char prev_sig) const;
  void open_bracket(char c, char prev_sig);
  void close_bracket();
  bool at_call_arg_start() const {
    return !bracket_seg_.empty() && seg_start_.back() == tokens_ &&
           segs_[static_cast<size_t>(seg_)].kind == Seg::Kind::Call;
  }

  std::string_view t_;
  size_t i_ = 0;
  uint32_t row_ = 0;
  std::string problem_;
  std::vector<char> brackets_;
  std::vector<uint32_t> indents_{0};
  bool expect_indent_ = false;
  std::vector<Line> lines_;
  std::vector<std::string_view> names_, binds_;
  std::vector<int32_t> read_seg_;  // per read: the Seg it stands in
  std::unordered_set<std::string_view> aliases_;
  std::unordered_set<std::string_view>
      transparent_aliases_;  // `from functools import partial as p`
  std::vector<Seg> segs_;
  int32_t seg_ = -1;       // the current Seg
  int32_t stmt_seg_ = -1;  // the current Seg of the statement's own level
  size_t line_segs_ = 0;   // the Segs of the statement (after its last `;`) start here
  // Per open bracket: its current Seg, the chain root before it, and the token count where the
  // current Seg began.
  std::vector<int32_t> bracket_seg_;
  std::vector<int32_t> bracket_chain_;
  std::vector<int32_t> bracket_kwarg_;  // per open bracket: its open keyword argument, or -1
  std::vector<KwArg> kwargs_;
  std::vector<int> seg_start_;
  int32_t chain_root_ = -1;   // the read that starts the current a.b.c(...) chain, or -1
  std::string_view last_id_;  // the last identifier (a callee when `(` follows)
  bool all_reads_ = false;

  // The logical line being scanned.
  std::vector<std::string_view> line_idents_;  // every identifier, in order
  std::vector<bool> bindable_;                 // ... that an assignment to it would rebind
  size_t assign_mark_ = 0;                     // identifiers before the last `=` at depth 0
  bool assigned_ = false;
  size_t in_mark_ = 0;  // `for` targets end at the first `in`
  bool in_seen_ = false;
  bool dot_after_first_ = false;
  std::string_view prev_;     // import lines: the name before `as`
  std::string_view pending_;  // import lines: the name the current item binds
  bool import_items_ = false, item_start_ = false, always_ = false;
  bool import_line_ = false, after_as_ = false, trigger_ = false, colon_ = false;
  size_t rhs_start_ = 0;     // identifiers after the last `=` start here
  bool rhs_dotted_ = false;  // the right-hand side is only a dotted name
  // The right-hand side starts with a call of a dotted name: its last part (`partial` of
  // functools.partial(...) and of ft.partial(...), `P` of P(...)).
  std::string_view rhs_callee_;
  int tokens_ = 0;
  char last_ = 0;
};

void Scanner::identifier(std::string_view id, bool attribute, bool keyword_name, bool before_dot) {
  ++tokens_;
  last_ = 'a';
  size_t k = line_idents_.size();
  if (k == 0 && tokens_ == 1) {
    import_line_ = id == "import" || id == "from";
    import_items_ = item_start_ = id == "import";
  }
  if (tokens_ == 2 && k == 1 && (line_idents_[0] == "print" || line_idents_[0] == "exec") &&
      !is_one_of(id, {"if", "in", "is", "and", "or", "not", "for"}))
    fail("a Python 2 print or exec statement");
  if (trigger(id)) {
    trigger_ = true;
    taint();
  }
  if (import_line_) {
    // What an import binds: `import a.b.c` binds a, `import a.b as x` x, `from m import y, z as w`
    // y and w. And import a.b.checkpoint as ck / from m import checkpoint as ck: ck names a
    // trigger.
    if (after_as_) {
      if (trigger(prev_)) aliases_.insert(id);
      if (transparent_callee(prev_)) transparent_aliases_.insert(id);
      bind(id);
      pending_ = {};
      after_as_ = false;
    } else if (id == "as") {
      after_as_ = true;
      pending_ = {};
    } else {
      if (id == "import" && line_idents_.size() > 0 && line_idents_[0] == "from") {
        import_items_ = true;
        item_start_ = true;
      } else if (k > 0 && import_items_ && item_start_) {
        pending_ = id;
        item_start_ = false;
      }
      prev_ = id;
    }
  } else if (after_as_) {
    bind(id);  // with ... as x / except E as e
    after_as_ = false;
  } else if (id == "as") {
    after_as_ = true;
  }
  if (id == "in" && !in_seen_ && brackets_.empty()) {
    in_seen_ = true;
    in_mark_ = k;
  }
  line_idents_.push_back(id);
  // `obj.attr = v` does not rebind obj (and attribute names are no bindings at all).
  bindable_.push_back(!attribute && !before_dot);
  // Attribute and keyword names are not reads of a binding.
  if (!attribute && !keyword_name) {
    read(id);
    chain_root_ = static_cast<int32_t>(names_.size() - 1);
  }
  last_id_ = id;
  if (id == "requires_grad" || id == "requires_grad_") all_reads_ = true;  // freeze conditions
  if (!attribute) {
    // What the evaluator does not read through, and the parts of a conditional expression.
    if (id == "and" || id == "or" || id == "in" || id == "is")
      stop();
    else if (id == "lambda" || id == "for" || id == "await" || id == "yield") {
      stop();
      taint();
    } else if (id == "if" || id == "else")
      next_seg(true);
  }
}

bool Scanner::after_operand(char prev_sig) const {
  switch (prev_sig) {
    case 'a':
      return !last_id_.empty() && !keyword_before_paren(last_id_);
    case '0':
    case ')':
    case ']':
    case '}':
    case '"':
    case '\'':
      return true;
    default:
      return false;
  }
}

void Scanner::open_bracket(char c, char prev_sig) {
  bracket_chain_.push_back(chain_root_);
  bracket_kwarg_.push_back(-1);
  bool operand = after_operand(prev_sig);
  Seg g;
  g.parent = seg_;
  g.line = static_cast<uint32_t>(lines_.size());
  if (c == '(' && operand) {
    g.kind = Seg::Kind::Call;
    if (prev_sig == 'a') {
      g.callee = last_id_;
      g.callee_root = chain_root_;
    } else {
      all_reads_ = true;  // a call of a call's result or of an item: follow everything
    }
  } else if (c == '[' && operand) {
    g.kind = Seg::Kind::Subscript;
    stop();  // x[i] is not read as a value
  } else {
    g.kind = Seg::Kind::Group;
  }
  segs_.push_back(g);
  seg_ = static_cast<int32_t>(segs_.size() - 1);
  bracket_seg_.push_back(seg_);
  seg_start_.push_back(tokens_ + 1);  // the bracket itself is counted first
  chain_root_ = -1;
}

void Scanner::close_bracket() {
  if (bracket_seg_.empty()) return;
  chain_root_ = bracket_chain_.back();
  end_kwarg(i_);
  bracket_seg_.pop_back();
  bracket_chain_.pop_back();
  bracket_kwarg_.pop_back();
  seg_start_.pop_back();
  seg_ = bracket_seg_.empty() ? stmt_seg_ : bracket_seg_.back();
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
      if (!triple && brackets == 0 && !spec) return fail("an unterminated f-string");
      ++row_;
      ++i_;
      continue;
    }
    if (spec) {
      if (c == '{') {
        if (i_ + 1 < n && t_[i_ + 1] == '{')
          i_ += 2;
        else
          fexpr(triple, quote, depth + 1);
        continue;
      }
      if (c == '}') {
        ++i_;
        return;
      }
      if (!triple && c == quote) return fail("an unterminated f-string");
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
        scan_string(id.size(), depth + 1);
        continue;
      }
      if (trigger(id)) {
        trigger_ = true;
        taint();
      }
      read(id);
      i_ = j;
      continue;
    }
    if (c == '(' || c == '[' || c == '{')
      ++brackets;
    else if (c == ')' || c == ']')
      brackets = brackets > 0 ? brackets - 1 : 0;
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
  fail("an unterminated f-string");
}

void Scanner::scan_string(size_t prefix_len, int depth) {
  if (depth > 64) return fail("strings nested too deeply");
  size_t n = t_.size();
  std::string_view prefix = t_.substr(i_, prefix_len);
  bool f = prefix.find_first_of("fF") != std::string_view::npos;
  i_ += prefix_len;
  char q = t_[i_];
  bool triple = i_ + 2 < n && t_[i_ + 1] == q && t_[i_ + 2] == q;
  i_ += triple ? 3 : 1;
  if (depth == 0) {
    if (tokens_ == 1 && line_idents_.size() == 1 &&
        (line_idents_[0] == "print" || line_idents_[0] == "exec"))
      fail("a Python 2 print or exec statement");
    ++tokens_;
    last_ = q;
    rhs_dotted_ = false;
    chain_root_ = -1;
    last_id_ = {};
  }
  while (i_ < n && problem_.empty()) {
    char c = t_[i_];
    if (c == '\\') {
      // An escape (in raw strings too, as far as termination goes): skip the next character.
      if (i_ + 1 < n && t_[i_ + 1] == '\n') ++row_;
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
      ++row_;
      ++i_;
      continue;
    }
    if (f && c == '{') {
      if (i_ + 1 < n && t_[i_ + 1] == '{')
        i_ += 2;
      else
        fexpr(triple, q, depth);
      continue;
    }
    ++i_;
  }
  fail("an unterminated string");
}

void Scanner::logical_line(uint32_t line_start, uint32_t row, uint32_t col) {
  // Indentation, as Python's tokenizer checks it.
  if (col > indents_.back()) {
    if (!expect_indent_) fail("an unexpected indent");
    indents_.push_back(col);
  } else {
    if (expect_indent_) fail("a missing indented block");
    while (col < indents_.back()) indents_.pop_back();
    if (col != indents_.back()) fail("an unindent to no outer level");
  }
  expect_indent_ = false;
  line_idents_.clear();
  bindable_.clear();
  assign_mark_ = in_mark_ = 0;
  assigned_ = in_seen_ = dot_after_first_ = false;
  prev_ = pending_ = {};
  import_line_ = after_as_ = trigger_ = colon_ = false;
  import_items_ = item_start_ = always_ = false;
  rhs_start_ = 0;
  rhs_dotted_ = false;
  rhs_callee_ = {};
  tokens_ = 0;
  last_ = 0;
  all_reads_ = false;
  chain_root_ = -1;
  last_id_ = {};
  {
    Seg g;
    g.line = static_cast<uint32_t>(lines_.size());
    segs_.push_back(g);
    seg_ = stmt_seg_ = static_cast<int32_t>(segs_.size() - 1);
    line_segs_ = segs_.size() - 1;
  }
  Line ln;
  ln.start = line_start;
  ln.row = row;
  ln.indent = col;
  ln.lead = t_[i_];
  ln.names_begin = static_cast<uint32_t>(names_.size());
  ln.binds_begin = static_cast<uint32_t>(binds_.size());

  size_t n = t_.size();
  char prev_sig = 0;  // the previous significant character, for attributes
  const Classes& cls = classes();
  while (i_ < n && problem_.empty()) {
    char c = t_[i_];
    unsigned char uc = static_cast<unsigned char>(c);
    uint8_t kind = cls.c[uc];
    if (kind == kSpace) {
      ++i_;
      continue;
    }
    if (kind == kNewline) {
      ++i_;
      ++row_;
      if (brackets_.empty()) break;
      continue;
    }
    if (kind == kHash) {
      const void* nl = std::memchr(t_.data() + i_, '\n', n - i_);
      i_ = nl ? static_cast<size_t>(static_cast<const char*>(nl) - t_.data()) : n;
      continue;
    }
    if (kind == kBackslash) {
      size_t j = i_ + 1;
      if (j < n && t_[j] == '\r') ++j;
      if (j < n && t_[j] == '\n') {
        i_ = j + 1;
        ++row_;
      } else {
        fail("a character after a line continuation");
      }
      continue;
    }
    if (kind == kQuote) {
      scan_string(0, 0);
    } else if (kind == kIdent) {
      size_t j = i_;
      while (j < n && ident_char(static_cast<unsigned char>(t_[j]))) ++j;
      std::string_view id = t_.substr(i_, j - i_);
      if (j < n && (t_[j] == '\'' || t_[j] == '"') && string_prefix(id)) {
        scan_string(id.size(), 0);
      } else {
        // A keyword argument's name: `name=` inside brackets (not `==`).
        size_t k = j;
        while (k < n && (t_[k] == ' ' || t_[k] == '\t')) ++k;
        bool kw = !brackets_.empty() && k < n && t_[k] == '=' && !(k + 1 < n && t_[k + 1] == '=');
        if (kw && at_call_arg_start()) {
          seg().keyword = id;
          KwArg a;
          a.begin = static_cast<uint32_t>(i_);
          a.seg = seg_;
          a.reads_begin = static_cast<uint32_t>(names_.size());
          a.line = static_cast<uint32_t>(lines_.size());
          bracket_kwarg_.back() = static_cast<int32_t>(kwargs_.size());
          kwargs_.push_back(a);
        }
        // name := value binds name.
        if (k + 1 < n && t_[k] == ':' && t_[k + 1] == '=') {
          bind(id);
          taint();
        }
        if (tokens_ == 2 && dot_after_first_ && line_idents_.size() == 1) {
          for (auto m : kMutators)
            if (id == m) bind(line_idents_[0]);  // d.update(...) changes what d holds
        }
        identifier(id, prev_sig == '.', kw, k < n && t_[k] == '.');
        i_ = j;
      }
      prev_sig = 'a';
      continue;
    } else if ((c >= '0' && c <= '9') ||
               (c == '.' && i_ + 1 < n && t_[i_ + 1] >= '0' && t_[i_ + 1] <= '9')) {
      while (i_ < n && (ident_char(static_cast<unsigned char>(t_[i_])) || t_[i_] == '.')) ++i_;
      ++tokens_;
      last_ = '0';
      rhs_dotted_ = false;
      chain_root_ = -1;
    } else if (c == '(' || c == '[' || c == '{') {
      if (c == '(' && rhs_dotted_ && brackets_.empty() && prev_sig == 'a' && rhs_callee_.empty())
        rhs_callee_ = last_id_;
      rhs_dotted_ = false;
      open_bracket(c, prev_sig);
      brackets_.push_back(c);
      ++tokens_;
      last_ = c;
      ++i_;
    } else if (c == ')' || c == ']' || c == '}') {
      char open = c == ')' ? '(' : c == ']' ? '[' : '{';
      if (brackets_.empty() || brackets_.back() != open) fail("an unmatched or mismatched bracket");
      if (!brackets_.empty()) brackets_.pop_back();
      close_bracket();
      ++tokens_;
      last_ = c;
      ++i_;
    } else if (c == '$' || c == '?' || c == '`') {
      fail("a character Python does not accept");
      ++i_;
    } else {
      if (brackets_.empty()) {
        if (c == ':') colon_ = true;
        if (c == '.' && tokens_ == 1) dot_after_first_ = true;
        // An assignment (also augmented): `=` that is not `==`, `<=`, `>=`, `!=` or `:=`.
        if (c == '=' && !(i_ + 1 < n && t_[i_ + 1] == '=') && prev_sig != '=' && prev_sig != '<' &&
            prev_sig != '>' && prev_sig != '!' && prev_sig != ':') {
          assign_mark_ = line_idents_.size();
          assigned_ = true;
          rhs_start_ = line_idents_.size();
          rhs_dotted_ = true;
          rhs_callee_ = {};
          chain_root_ = -1;
          // What stands before it is a target; what follows a plain `=` is a value that may be
          // read (through the name it binds), what follows an augmented one never is.
          for (size_t g = line_segs_; g < segs_.size(); ++g)
            if (segs_[g].kind == Seg::Kind::Stmt) segs_[g].rhs = false;
          bool augmented = prev_sig != 0 && std::strchr("+-*/%@&|^", prev_sig) != nullptr;
          next_seg(false);
          seg().rhs = !augmented;
          ++tokens_;
          last_ = c;
          prev_sig = c;
          ++i_;
          continue;
        }
      }
      if (c != '.') {
        rhs_dotted_ = false;
        chain_root_ = -1;
      }
      // Binary and comparison operators: the evaluator reads no operand of them.
      bool binary = c != 0 && std::strchr("+-*/%@&|^", c) != nullptr && after_operand(prev_sig);
      if (binary || c == '<' || c == '>' || c == '!' ||
          (c == '=' && i_ + 1 < n && t_[i_ + 1] == '='))
        stop();
      if (import_line_ && c == ',') {
        if (!pending_.empty()) bind(pending_);
        pending_ = {};
        item_start_ = import_items_;
      }
      if (import_line_ && c == '*') always_ = true;  // from m import *: binds what m holds
      ++tokens_;
      if (c == ',' && !bracket_kwarg_.empty()) end_kwarg(i_ + 1);
      if (c == ',' || c == ':') {
        next_seg(c == ':');
      } else if (c == ';' && brackets_.empty()) {
        next_seg(false);
        seg().rhs = false;
        line_segs_ = segs_.size() - 1;
      }
      last_ = c;
      prev_sig = c;
      ++i_;
      continue;
    }
    prev_sig = last_;
  }

  ln.first = line_idents_.empty() ? std::string_view{} : line_idents_[0];
  ln.second = line_idents_.size() > 1 ? line_idents_[1] : std::string_view{};
  if (tokens_ > 0 && line_idents_.empty()) ln.first = {};
  // A compound statement's header ends with its colon (or has one, before a simple body).
  // (Most lines start with a name that is no keyword: one test for all the comparisons below.)
  bool kw_first = keyword_before_paren(ln.first);
  bool compound_kw = kw_first && is_one_of(ln.first, {"if", "elif", "else", "for", "while", "def",
                                                      "class", "with", "try", "except", "finally"});
  if (compound_kw && ln.lead != '@' && !colon_) fail("a compound statement without its colon");
  ln.header = last_ == ':';
  expect_indent_ = ln.header;
  ln.clause = kw_first && is_one_of(ln.first, {"elif", "else", "except", "finally"});
  if (import_line_ && !pending_.empty()) bind(pending_);
  // global/nonlocal change where names bind; `from __future__` changes how the file parses.
  ln.always = always_ || (kw_first && is_one_of(ln.first, {"global", "nonlocal"})) ||
              (ln.first == "from" && ln.second == "__future__");
  ln.trigger = trigger_;

  // What the line binds.
  if (ln.first == "def" || ln.first == "class") {
    if (!ln.second.empty()) bind(ln.second);
  } else if (ln.first == "async" && ln.second == "def" && line_idents_.size() > 2) {
    bind(line_idents_[2]);
  } else if (ln.first == "for" || (ln.first == "async" && ln.second == "for")) {
    size_t from = ln.first == "for" ? 1 : 2;
    for (size_t k = from; k < (in_seen_ ? in_mark_ : line_idents_.size()); ++k)
      bind(line_idents_[k]);
  } else if (ln.first == "del") {
    for (size_t k = 1; k < line_idents_.size(); ++k) bind(line_idents_[k]);
  } else if (assigned_) {
    for (size_t k = 0; k < assign_mark_; ++k)
      if (bindable_[k]) bind(line_idents_[k]);
    // ck = torch.utils.checkpoint.checkpoint / ck = functools.partial(checkpoint, ...): ck is
    // a checkpointing API under another name.
    if (assign_mark_ == 1 && rhs_start_ < line_idents_.size()) {
      // partial(...), functools.partial(...), ft.partial(...) with ft = functools.
      bool is_partial = rhs_callee_ == "partial";
      bool dotted_api = rhs_dotted_ && trigger(line_idents_.back());
      if (rhs_dotted_ && transparent_callee(line_idents_.back()))
        transparent_aliases_.insert(line_idents_[0]);
      if (dotted_api || (is_partial && trigger_)) {
        aliases_.insert(line_idents_[0]);
      } else if (rhs_dotted_ || is_partial) {
        ln.alias_form = rhs_dotted_ ? Line::AliasForm::Dotted : Line::AliasForm::Partial;
        ln.alias_name = line_idents_[0];
        ln.rhs_last = line_idents_.back();
      } else {
        ln.alias_form = Line::AliasForm::Call;  // partial under another name, maybe
        ln.alias_name = line_idents_[0];
        ln.rhs_last = rhs_callee_;
      }
    }
  }
  // class MyTrainer(SFTTrainer): a trainer under another name.
  if (ln.first == "class" && !ln.second.empty()) {
    if (trigger_) {
      aliases_.insert(ln.second);
    } else {
      ln.alias_form = Line::AliasForm::Class;
      ln.alias_name = ln.second;
    }
  }
  ln.names_end = static_cast<uint32_t>(names_.size());
  ln.binds_end = static_cast<uint32_t>(binds_.size());
  ln.all_reads = all_reads_ || (kw_first && is_one_of(ln.first, {"def", "class", "if", "elif"})) ||
                 (ln.first == "async" && ln.second == "def");
  lines_.push_back(ln);
}

void Scanner::run() {
  size_t n = t_.size();
  if (n >= 3 && t_.substr(0, 3) == "\xEF\xBB\xBF") i_ = 3;
  bool first_line = true;
  while (i_ < n && problem_.empty()) {
    auto line_start = static_cast<uint32_t>(first_line ? 0 : i_);
    first_line = false;
    uint32_t row = row_;
    uint32_t col = 0;
    while (i_ < n) {
      char c = t_[i_];
      if (c == ' ')
        ++col;
      else if (c == '\t')
        col = (col / 8 + 1) * 8;
      else if (c == '\f')
        col = 0;
      else if (c != '\r')
        break;
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
      const void* nl = std::memchr(t_.data() + i_, '\n', n - i_);
      i_ = nl ? static_cast<size_t>(static_cast<const char*>(nl) - t_.data()) : n;
      continue;
    }
    logical_line(line_start, row, col);
  }
  if (!brackets_.empty()) fail("a bracket that is never closed");
  if (expect_indent_) fail("a missing indented block");
  for (size_t k = 0; k < lines_.size(); ++k)
    lines_[k].end = k + 1 < lines_.size() ? lines_[k + 1].start : static_cast<uint32_t>(n);
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

// Names as small integers, in an open-addressing table reused from file to file (no allocation
// per name, a cheap hash: the names are short identifiers).
class NameIds {
 public:
  void reset(size_t expected) {
    size_t cap = 64;
    while (cap < 2 * expected + 16) cap *= 2;
    slots_.assign(cap, Slot{});
    mask_ = cap - 1;
    size_ = 0;
  }
  size_t size() const { return size_; }
  int insert(std::string_view s) {
    Slot& sl = slot(s);
    if (sl.id < 0) {
      sl.p = s.data();
      sl.n = static_cast<uint32_t>(s.size());
      sl.id = static_cast<int>(size_++);
    }
    return sl.id;
  }
  int find(std::string_view s) const { return const_cast<NameIds*>(this)->slot(s).id; }

 private:
  struct Slot {
    const char* p = nullptr;
    uint32_t n = 0;
    int id = -1;
  };
  Slot& slot(std::string_view s) {
    uint64_t h = 1469598103934665603ull;  // FNV-1a
    for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
    for (size_t i = static_cast<size_t>(h ^ (h >> 29)) & mask_;; i = (i + 1) & mask_) {
      Slot& sl = slots_[i];
      if (sl.id < 0 || (sl.n == s.size() && std::memcmp(sl.p, s.data(), s.size()) == 0)) return sl;
    }
  }
  std::vector<Slot> slots_;
  size_t mask_ = 0, size_ = 0;
};

// Which lines to keep: relevant lines, the bindings of what they read where the front end can
// read it (transitively), their enclosing headers and statement parts, and one statement of any
// block left empty. Flat arrays indexed by line and by interned name; no allocation per name.
class Keeper {
 public:
  // One keeper per thread, reused like the scanner.
  const std::vector<char>& run(Scanner& sc) {
    lines_ = &sc.lines();
    names_ = &sc.names();
    binds_ = &sc.binds();
    aliases_ = &sc.aliases();
    transparent_ = &sc.transparent_aliases();
    work_.clear();
    size_t n = lines_->size();
    keep_.assign(n, 0);
    structure();
    demanded(sc.segs(), sc.read_segs());
    intern();
    for (size_t k = 0; k < n; ++k) {
      const Line& l = (*lines_)[k];
      if (l.trigger || l.always || alias_in(l)) mark(static_cast<int>(k));
    }
    closure();
    fill_empty_blocks();
    droppable(sc.segs(), sc.kwargs());
    return keep_;
  }

  // Per keyword argument: 1 when the parse may leave it out.
  const std::vector<char>& drop() const { return drop_; }

 private:
  bool interesting(std::string_view callee) const {
    return trigger(callee) || aliases_->count(callee) != 0;
  }
  bool transparent(std::string_view callee) const {
    return transparent_callee(callee) || transparent_->count(callee) != 0;
  }

  // Which reads can reach a fact. The front end looks a name up where it evaluates an
  // expression and where it resolves a callee or a receiver. It evaluates a statement's value
  // (the right-hand side of a plain `=`, when the name it binds is evaluated), the positional
  // arguments, **splats and kReadKeywords arguments of the calls the handlers read, and the
  // if/elif conditions and requires_grad values of freezes (whose lines follow every read).
  // Evaluation goes through literals, displays, dict(...), partial(...), any(...),
  // conditional expressions, unary operators and attribute chains to the bindings of names;
  // it stops at binary and comparison operators, subscripts, other calls, lambdas and
  // comprehensions. The calls the handlers read are calls of a trigger or an alias (the same
  // test that keeps a line at all), and their callees are resolved. So a read is followed
  // when its Seg can be evaluated or it starts the callee of such a call; everything else
  // (`train_dataset=ds`, `print(x)`, `loss = a + b`, `DataLoader(ds, collate_fn=c)`, the
  // targets of an assignment) is left alone.
  void demanded(const std::vector<Seg>& segs, const std::vector<int32_t>& read_seg) {
    // A Seg comes after the Seg its bracket stands in.
    // Per Seg: 1 when it is an argument of a transparent callee, 2 of one the handlers read.
    callee_class_.resize(segs.size());
    seg_ok_.resize(segs.size());
    std::string_view last_callee;
    uint8_t last_cc = 0;
    for (size_t k = 0; k < segs.size(); ++k) {
      const Seg& g = segs[k];
      uint8_t cc = 0;
      if (g.kind == Seg::Kind::Call) {
        // The arguments of one call follow each other with the same callee: classed once.
        if (g.callee.data() != last_callee.data() || g.callee.size() != last_callee.size()) {
          last_callee = g.callee;
          last_cc = transparent(g.callee) ? 1 : interesting(g.callee) ? 2 : 0;
        }
        cc = last_cc;
      }
      callee_class_[k] = cc;
      bool up = g.parent >= 0 && seg_ok_[static_cast<size_t>(g.parent)];
      bool ok = false;
      switch (g.kind) {
        case Seg::Kind::Stmt:
          ok = g.rhs;
          break;
        case Seg::Kind::Group:
          ok = up;
          break;
        case Seg::Kind::Subscript:
          ok = false;
          break;
        case Seg::Kind::Call:
          if (cc == 1)
            ok = up;
          else if (cc == 2)
            ok = g.keyword.empty() || is_read_keyword(g.keyword);
          break;
      }
      seg_ok_[k] = ok && !g.stopped;
    }
    size_t nr = read_seg.size();
    demand_.resize(nr);
    for (size_t r = 0; r < nr; ++r) demand_[r] = seg_ok_[static_cast<size_t>(read_seg[r])];
    // The callee of a call that is not evaluated (neither transparent nor read by a handler)
    // is not looked up; that of a call the handlers read is (`ck` of ck(...), `model` of
    // model.gradient_checkpointing_enable()); where such a callee starts with no plain name
    // (`(a or b).from_pretrained(...)`), every read of its line is followed.
    for (size_t k = 0; k < segs.size(); ++k) {
      const Seg& g = segs[k];
      if (g.kind != Seg::Kind::Call || g.callee_root < 0) continue;
      if (callee_class_[k] == 0) demand_[static_cast<size_t>(g.callee_root)] = 0;
    }
    for (size_t k = 0; k < segs.size(); ++k) {
      const Seg& g = segs[k];
      if (callee_class_[k] != 2) continue;
      if (g.callee_root >= 0)
        demand_[static_cast<size_t>(g.callee_root)] = 1;
      else
        (*lines_)[g.line].all_reads = true;
    }
    for (const Line& l : *lines_)
      if (l.all_reads) std::fill(demand_.begin() + l.names_begin, demand_.begin() + l.names_end, 1);
  }

  // A keyword argument of a kept line that no handler reads and that holds nothing the front
  // end acts on: the parse leaves it out (`train_dataset=ds,` of a trainer call,
  // `torch_dtype=torch.bfloat16,` of from_pretrained, `end=""` of print). Kept: the arguments
  // of calls whose every keyword counts (the checkpoint APIs, aliases, dict(...), partial(...)
  // and the other transparent callees), listed keywords of the calls the handlers read,
  // arguments holding a trigger or an alias (a call the handlers read), a lambda, a
  // comprehension, := , yield or await, and every argument of a line that follows all its
  // reads (def, class, if, elif, freezes).
  void droppable(const std::vector<Seg>& segs, const std::vector<KwArg>& kwargs) {
    drop_.assign(kwargs.size(), 0);
    for (size_t k = 0; k < kwargs.size(); ++k) {
      const KwArg& a = kwargs[k];
      const Line& l = (*lines_)[a.line];
      if (!a.plain || !keep_[a.line] || l.all_reads || a.end <= a.begin) continue;
      const Seg& g = segs[static_cast<size_t>(a.seg)];
      uint8_t cc = callee_class_[static_cast<size_t>(a.seg)];
      if (cc == 1) continue;
      if (cc == 2 && (aliases_->count(g.callee) || every_keyword_counts(g.callee) ||
                      is_read_keyword(g.keyword)))
        continue;
      bool alias = false;
      for (uint32_t r = a.reads_begin; r < a.reads_end && !alias; ++r)
        alias = aliases_->count((*names_)[r]) != 0;
      if (!alias) drop_[k] = 1;
    }
  }
  static bool every_keyword_counts(std::string_view callee) {
    return callee == "checkpoint" || callee == "checkpoint_sequential" ||
           callee == "checkpoint_wrapper" || callee == "apply_activation_checkpointing";
  }

  bool alias_in(const Line& l) const {
    if ((*aliases_).empty()) return false;
    for (uint32_t k = l.names_begin; k < l.names_end; ++k)
      if ((*aliases_).count((*names_)[k])) return true;
    return false;
  }

  // Parents by indentation, scopes (the innermost def or class), sibling lists, and statements
  // (a decorator starts one and the definition continues it; a clause continues its if/try).
  void structure() {
    size_t n = (*lines_).size();
    scope_.assign(n, -1);
    is_class_.assign(n, 0);
    first_child_.assign(n, -1);
    last_child_.assign(n, -1);
    next_sibling_.assign(n, -1);
    int module_last = -1;
    std::vector<int> stack;  // header lines, innermost last
    for (size_t k = 0; k < n; ++k) {
      Line& l = (*lines_)[k];
      while (!stack.empty() && (*lines_)[static_cast<size_t>(stack.back())].indent >= l.indent)
        stack.pop_back();
      l.parent = stack.empty() ? -1 : stack.back();
      for (auto it = stack.rbegin(); it != stack.rend(); ++it) {
        const Line& h = (*lines_)[static_cast<size_t>(*it)];
        if (h.first == "def" || h.first == "class" || (h.first == "async" && h.second == "def")) {
          scope_[k] = *it;
          break;
        }
      }
      is_class_[k] = l.first == "class";
      int& last = l.parent < 0 ? module_last : last_child_[static_cast<size_t>(l.parent)];
      int prev = last;
      bool continues = prev >= 0 && (l.clause || (*lines_)[static_cast<size_t>(prev)].lead == '@');
      l.unit = continues ? (*lines_)[static_cast<size_t>(prev)].unit : static_cast<int>(k);
      if (prev >= 0)
        next_sibling_[static_cast<size_t>(prev)] = static_cast<int>(k);
      else if (l.parent >= 0)
        first_child_[static_cast<size_t>(l.parent)] = static_cast<int>(k);
      last = static_cast<int>(k);
      if (l.header) stack.push_back(static_cast<int>(k));
    }
  }

  // Bound names as small integers (a read of a name nothing binds gets -1); bindings as a
  // linked list per name.
  void intern() {
    ids_.reset((*binds_).size());
    for (auto b : *binds_) ids_.insert(b);
    // Only the reads that are followed (and the names of global / nonlocal lines) are looked
    // up: the closure skips the others.
    name_id_.assign((*names_).size(), -1);
    auto look_up = [&](size_t k) { name_id_[k] = ids_.find((*names_)[k]); };
    for (const Line& l : *lines_) {
      bool scope_line = l.first == "global" || l.first == "nonlocal";
      for (uint32_t k = l.names_begin; k < l.names_end; ++k)
        if (scope_line || demand_[k]) look_up(k);
    }
    bind_line_.clear();
    bind_scope_.clear();
    bind_next_.clear();
    head_.assign(ids_.size(), -1);
    // `global x` / `nonlocal x`: the function's bindings of x are the enclosing scope's.
    std::vector<std::pair<int, int>> outer;  // (scope, name id)
    for (size_t k = 0; k < (*lines_).size(); ++k) {
      const Line& l = (*lines_)[k];
      if (l.first != "global" && l.first != "nonlocal") continue;
      for (uint32_t m = l.names_begin; m < l.names_end; ++m)
        if (name_id_[m] >= 0) outer.emplace_back(scope_[k], name_id_[m]);
    }
    for (size_t k = 0; k < (*lines_).size(); ++k) {
      int sc = scope_[k];
      for (uint32_t b = (*lines_)[k].binds_begin; b < (*lines_)[k].binds_end; ++b) {
        int id = ids_.find((*binds_)[b]);
        int where = sc;
        for (const auto& [osc, oid] : outer)
          if (osc == sc && oid == id) where = sc < 0 ? -1 : scope_[static_cast<size_t>(sc)];
        bind_line_.push_back(static_cast<int>(k));
        bind_scope_.push_back(where);
        bind_next_.push_back(head_[static_cast<size_t>(id)]);
        head_[static_cast<size_t>(id)] = static_cast<int>(bind_line_.size() - 1);
      }
    }
    done_head_.assign(ids_.size(), -1);
    done_scope_.clear();
    done_next_.clear();
  }

  void mark(int k) {
    if (k < 0 || keep_[static_cast<size_t>(k)]) return;
    keep_[static_cast<size_t>(k)] = 1;
    work_.push_back(k);
  }

  // A name read in a scope resolves as Python resolves it: the bindings of the innermost scope
  // that binds it (function, enclosing functions, module; a class body only for its own
  // statements). All of those bindings are kept. Parameters are not counted as bindings, so a
  // read of one also keeps same-named bindings further out: more than needed, never less.
  void closure() {
    while (!work_.empty()) {
      int k = work_.back();
      work_.pop_back();
      const Line& l = (*lines_)[static_cast<size_t>(k)];
      // The statement it belongs to (decorators, the if with its elif/else), and the headers
      // around it.
      for (int m = l.unit; m >= 0 && (*lines_)[static_cast<size_t>(m)].unit == l.unit;
           m = next_sibling_[static_cast<size_t>(m)])
        mark(m);
      mark(l.parent);
      int from = scope_[static_cast<size_t>(k)];
      for (uint32_t n = l.names_begin; n < l.names_end; ++n) {
        int id = name_id_[n];
        if (id < 0 || !demand_[n] || !first_read(id, from)) continue;
        for (int sc = from, first = 1;; first = 0) {
          bool visible = first || sc < 0 || !is_class_[static_cast<size_t>(sc)];
          bool found = false;
          if (visible) {
            for (int e = head_[static_cast<size_t>(id)]; e >= 0;
                 e = bind_next_[static_cast<size_t>(e)]) {
              if (bind_scope_[static_cast<size_t>(e)] != sc) continue;
              mark(bind_line_[static_cast<size_t>(e)]);
              found = true;
            }
          }
          if (found || sc < 0) break;
          sc = scope_[static_cast<size_t>(sc)];
        }
      }
    }
  }

  // True the first time name `id` is looked up from scope `sc`.
  bool first_read(int id, int sc) {
    for (int e = done_head_[static_cast<size_t>(id)]; e >= 0;
         e = done_next_[static_cast<size_t>(e)])
      if (done_scope_[static_cast<size_t>(e)] == sc) return false;
    done_scope_.push_back(sc);
    done_next_.push_back(done_head_[static_cast<size_t>(id)]);
    done_head_[static_cast<size_t>(id)] = static_cast<int>(done_scope_.size() - 1);
    return true;
  }

  // Every kept header needs a statement in its block: the first single-line one, else the
  // first statement (whose own blocks are then filled the same way).
  // Keeps one statement of the block whose statements start at line `first`: the first
  // simple one, else the first compound one with its clauses (whose own blocks are filled in
  // turn).
  void fill_block(int first) {
    for (int c = first; c >= 0; c = next_sibling_[static_cast<size_t>(c)]) {
      const Line& l = (*lines_)[static_cast<size_t>(c)];
      int after = next_sibling_[static_cast<size_t>(c)];
      bool alone = l.unit == c && (after < 0 || (*lines_)[static_cast<size_t>(after)].unit != c);
      if (!l.header && l.lead != '@' && alone) {
        keep_[static_cast<size_t>(c)] = 1;
        return;
      }
    }
    int u = (*lines_)[static_cast<size_t>(first)].unit;
    for (int m = u; m >= 0 && (*lines_)[static_cast<size_t>(m)].unit == u;
         m = next_sibling_[static_cast<size_t>(m)])
      keep_[static_cast<size_t>(m)] = 1;
  }

  // Every kept header's block, and the module itself (line 0 starts it), holds a statement.
  void fill_empty_blocks() {
    if (!(*lines_).empty() && std::find(keep_.begin(), keep_.end(), 1) == keep_.end())
      fill_block(0);
    for (bool changed = true; changed;) {
      changed = false;
      for (size_t k = 0; k < (*lines_).size(); ++k) {
        if (!keep_[k] || !(*lines_)[k].header || first_child_[k] < 0) continue;
        bool any = false;
        for (int c = first_child_[k]; c >= 0 && !any; c = next_sibling_[static_cast<size_t>(c)])
          any = keep_[static_cast<size_t>(c)] != 0;
        if (any) continue;
        fill_block(first_child_[k]);
        changed = true;
      }
    }
  }

  std::vector<Line>* lines_ = nullptr;
  const std::vector<std::string_view>* names_ = nullptr;
  const std::vector<std::string_view>* binds_ = nullptr;
  const std::unordered_set<std::string_view>* aliases_ = nullptr;
  const std::unordered_set<std::string_view>* transparent_ = nullptr;
  std::vector<char> seg_ok_;           // per Seg: its reads may be evaluated
  std::vector<uint8_t> callee_class_;  // per Seg: see demanded()
  std::vector<char> demand_;           // per read: followed
  std::vector<char> drop_;             // per keyword argument: left out of the parse
  std::vector<char> keep_;
  std::vector<int> scope_;      // the def or class line whose scope holds the line (-1: module)
  std::vector<char> is_class_;  // the line is a class header
  std::vector<int> first_child_, last_child_, next_sibling_;
  NameIds ids_;
  std::vector<int> name_id_;                                    // per read
  std::vector<int> head_, bind_line_, bind_scope_, bind_next_;  // bindings per name id
  std::vector<int> done_head_, done_scope_, done_next_;         // (name, scope) looked up
  std::vector<int> work_;
};

}  // namespace

bool is_trigger(std::string_view identifier) {
  return trigger(identifier);
}

Selection select_statements(const SourceFile& src) {
  Selection sel;
  const std::string& text = src.text();
  thread_local Scanner sc;
  sc.reset(text);
  sc.run();
  if (sc.failed()) {
    sel.why = "the scan saw " + sc.problem();
    return sel;
  }
  auto& lines = sc.lines();
  sel.lines = lines.size();
  if (lines.empty()) {
    sel.why = "no statements";
    return sel;
  }
  // Transparent callees under other names (`P = functools.partial`, `p2 = P`), then aliases of
  // aliases, to a fixed point.
  auto& transparent = sc.transparent_aliases();
  for (bool changed = !transparent.empty(); changed;) {
    changed = false;
    for (const Line& l : lines) {
      if (l.alias_form != Line::AliasForm::Dotted || transparent.count(l.alias_name)) continue;
      if (transparent.count(l.rhs_last)) {
        transparent.insert(l.alias_name);
        changed = true;
      }
    }
  }
  auto& aliases = sc.aliases();
  auto names_alias = [&](const Line& l) {
    for (uint32_t n = l.names_begin; n < l.names_end; ++n)
      if (aliases.count(sc.names()[n])) return true;
    return false;
  };
  for (bool changed = !aliases.empty() || !transparent.empty(); changed;) {
    changed = false;
    for (const Line& l : lines) {
      if (l.alias_form == Line::AliasForm::None || aliases.count(l.alias_name)) continue;
      bool hit = false;
      switch (l.alias_form) {
        case Line::AliasForm::Dotted:
          hit = aliases.count(l.rhs_last) != 0;
          break;
        case Line::AliasForm::Call:
          hit = transparent.count(l.rhs_last) && (l.trigger || names_alias(l));
          break;
        default:
          hit = names_alias(l);
          break;
      }
      if (hit) {
        aliases.insert(l.alias_name);
        changed = true;
      }
    }
  }
  thread_local Keeper keeper;
  std::vector<char> keep = keeper.run(sc);
  TSPoint eof{};
  bool eof_known = false;
  auto add = [&](uint32_t from, TSPoint from_pt, uint32_t to, TSPoint to_pt) {
    if (to <= from) return;
    if (!sel.ranges.empty() && sel.ranges.back().end_byte == from) {
      sel.ranges.back().end_byte = to;
      sel.ranges.back().end_point = to_pt;
    } else {
      sel.ranges.push_back(TSRange{from_pt, to_pt, from, to});
    }
  };
  const std::vector<KwArg>& kwargs = sc.kwargs();
  const std::vector<char>& drop = keeper.drop();
  size_t next_kw = 0;
  for (size_t k = 0; k < lines.size(); ++k) {
    if (!keep[k]) continue;
    ++sel.kept;
    TSPoint end_pt;
    if (k + 1 < lines.size()) {
      end_pt = TSPoint{lines[k + 1].row, 0};
    } else {
      if (!eof_known) eof = eof_point(text), eof_known = true;
      end_pt = eof;
    }
    // The line, less the keyword arguments left out (in order; one inside another that is
    // left out goes with it). Points by counting rows from the line's start.
    uint32_t from = lines[k].start;
    TSPoint from_pt{lines[k].row, 0};
    uint32_t at = lines[k].start, row = lines[k].row, row_start = lines[k].start;
    auto point = [&](uint32_t b) {
      for (; at < b; ++at) {
        if (text[at] == '\n') {
          ++row;
          row_start = at + 1;
        }
      }
      return TSPoint{row, b - row_start};
    };
    while (next_kw < kwargs.size() && kwargs[next_kw].line < k) ++next_kw;
    for (; next_kw < kwargs.size() && kwargs[next_kw].line == k; ++next_kw) {
      const KwArg& a = kwargs[next_kw];
      if (!drop[next_kw] || a.begin < from) continue;
      add(from, from_pt, a.begin, point(a.begin));
      from = a.end;
      from_pt = point(a.end);
      ++sel.dropped;
    }
    add(from, from_pt, lines[k].end, end_pt);
  }
  for (const auto& r : sel.ranges) sel.bytes += r.end_byte - r.start_byte;
  if (sel.bytes * 10 >= text.size() * 9) {
    sel.ranges.clear();
    sel.why = "nearly every statement may hold a fact";
    return sel;
  }
  sel.whole = false;
  return sel;
}

}  // namespace gcheck::py
