// The AST analysis: AST matchers find the constructs (autograd Function subclasses, their
// apply calls, autograd.grad/backward calls, parameter freezing), then small walkers over the
// user's function bodies answer the questions the matchers cannot: which computation forward
// runs under no-grad and backward runs again, whether RNG state is saved and restored around
// it, what the recomputed code does (dropout, state mutation, nested recompute), and where the
// tensors fed to a recompute Function come from (a simple reaching-definitions walk).
//
// Only the declarations of the main file and of project headers are traversed (the traversal
// scope); LibTorch and the standard library are recognised by their qualified names.
#include "analyzer/cxx/clang/analysis.h"

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include <clang/AST/ASTContext.h>
#include <clang/AST/DeclCXX.h>
#include <clang/AST/DeclTemplate.h>
#include <clang/AST/Expr.h>
#include <clang/AST/ExprCXX.h>
#include <clang/AST/RecursiveASTVisitor.h>
#include <clang/AST/StmtCXX.h>
#include <clang/ASTMatchers/ASTMatchFinder.h>
#include <clang/ASTMatchers/ASTMatchers.h>
#include <clang/Basic/SourceManager.h>
#include <clang/Lex/Lexer.h>
#include <llvm/ADT/DenseMap.h>
#include <llvm/ADT/DenseSet.h>
#include <llvm/ADT/SmallVector.h>
#include <llvm/Support/Path.h>

namespace gcheck::cxx {

bool is_libtorch_path(std::string_view path) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    size_t end = slash == std::string_view::npos ? path.size() : slash;
    if (end > start) parts.push_back(path.substr(start, end - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  for (size_t i = 0; i < parts.size(); ++i) {
    std::string_view p = parts[i];
    if (p == "ATen" || p == "c10" || p == "caffe2") return true;
    if (p == "torch" && i + 1 < parts.size()) {
      std::string_view next = parts[i + 1];
      if (next == "csrc" || next == "include") return true;
      if (i + 2 == parts.size() && next.size() > 2 && next.substr(next.size() - 2) == ".h")
        return true;
    }
  }
  return false;
}

namespace {

using namespace clang;
using namespace clang::ast_matchers;

enum class Grad : uint8_t { Inherit, Off, On };

// Where a tensor comes from, as far as the requires_grad flag goes.
struct Prov {
  enum Kind : uint8_t { Cycle, Const, Frozen, Unknown, Grad } kind = Unknown;
  SourceLocation src;  // Frozen: the freeze, the no-grad guard or the detach

  static Prov frozen(SourceLocation s) { return {Frozen, s}; }
  static Prov of(Kind k) { return {k, {}}; }
};

// Grad > Unknown > Frozen > Const > Cycle: any operand that requires grad makes the result
// require grad; an operand of unknown origin makes it unknown.
Prov combine(Prov a, Prov b) {
  if (a.kind == Prov::Grad || b.kind == Prov::Grad) return Prov::of(Prov::Grad);
  if (a.kind == Prov::Unknown || b.kind == Prov::Unknown) return Prov::of(Prov::Unknown);
  if (a.kind == Prov::Frozen) return a;
  if (b.kind == Prov::Frozen) return b;
  if (a.kind == Prov::Const || b.kind == Prov::Const) return Prov::of(Prov::Const);
  return Prov::of(Prov::Cycle);
}

const Expr* strip(const Expr* e) {
  while (e) {
    const Expr* n = e->IgnoreImplicit()->IgnoreParens();
    if (const auto* fc = dyn_cast<CXXFunctionalCastExpr>(n)) n = fc->getSubExpr();
    if (const auto* cs = dyn_cast<CXXStaticCastExpr>(n)) n = cs->getSubExpr();
    if (n == e) break;
    e = n;
  }
  return e;
}

// ---- one function body, indexed: calls with the grad mode they run under, and the
// definitions of local variables, each with the loops and branches around it ----------------

using Ctl = llvm::SmallVector<const Stmt*, 4>;

struct CallRec {
  const CallExpr* call = nullptr;
  Grad grad = Grad::Inherit;
  SourceLocation guard;  // the guard (or set_enabled call) that set `grad`
  Ctl ctl;
};

struct DefRec {
  // Value: `v = e` or an initialiser (kills earlier definitions); Update: `v += e`,
  // `v.add_(e)` (combines with them); MarkGrad/MarkFrozen: requires_grad_(true/false), detach_().
  enum Kind : uint8_t { Value, Update, MarkGrad, MarkFrozen } kind = Value;
  const VarDecl* var = nullptr;
  const Expr* value = nullptr;
  SourceLocation at;  // where it takes effect: the end of its statement
  Ctl ctl;
  SourceLocation src;  // MarkFrozen: the call that froze it
};

struct BodyIndex {
  const FunctionDecl* fn = nullptr;
  std::vector<CallRec> calls;
  llvm::DenseMap<const CallExpr*, size_t> call_pos;
  std::vector<DefRec> defs;
  llvm::DenseMap<const VarDecl*, llvm::SmallVector<size_t, 4>> defs_of;
  llvm::DenseMap<const VarDecl*, const CXXForRangeStmt*> range_loops;
  std::vector<const ReturnStmt*> returns;
  std::vector<const CXXConstructExpr*>
      ctors;  // constructions (an RAII guard's constructor runs code)
  llvm::DenseMap<const ReturnStmt*, Ctl> return_ctl;
};

struct NameCache {
  llvm::DenseMap<const Decl*, std::string> names;
  const std::string& of(const NamedDecl* d) {
    auto it = names.find(d);
    if (it != names.end()) return it->second;
    std::string s = d->getQualifiedNameAsString();
    static constexpr std::string_view kAnon = "(anonymous namespace)::";
    for (size_t p; (p = s.find(kAnon)) != std::string::npos;) s.erase(p, kAnon.size());
    return names.try_emplace(d, std::move(s)).first->second;
  }
};

bool has_name(const NamedDecl* d, std::string_view n) {
  return d && d->getDeclName().isIdentifier() &&
         d->getName() == llvm::StringRef(n.data(), n.size());
}

// ---- the analyzer ------------------------------------------------------------------------

class Analyzer {
 public:
  Analyzer(ASTContext& ctx, const AnalysisOptions& opts)
      : ctx_(ctx), sm_(ctx.getSourceManager()), lo_(ctx.getLangOpts()), opts_(opts) {}

  CodeFacts run();

  // Filled by the matchers.
  std::vector<const CXXRecordDecl*> fn_classes;
  struct ApplyCall {
    const CallExpr* call;
    const CXXRecordDecl* fn;  // the Function subclass (template argument of Function<T>)
    const FunctionDecl* owner;
  };
  std::vector<ApplyCall> applies;
  struct OwnedCall {
    const CallExpr* call;
    const FunctionDecl* owner;
  };
  std::vector<OwnedCall> grad_calls, backward_free_calls, backward_member_calls, rg_calls,
      register_params;
  struct Pretrained {
    const CallExpr* call;
    const Expr* target_expr;  // the assigned expression, or null
    const ValueDecl* target;  // the variable or field
  };
  std::vector<Pretrained> pretrained;
  // What variables and fields are initialised or assigned with (for a Dropout's p).
  llvm::DenseMap<const ValueDecl*, llvm::SmallVector<const Expr*, 2>> inits;

 private:
  // names and types
  const std::string& qname(const NamedDecl* d) { return names_.of(d); }
  const CXXRecordDecl* record_of(QualType t) {
    if (t.isNull()) return nullptr;
    t = t.getNonReferenceType();
    return t->getAsCXXRecordDecl();
  }
  bool is_tensor(QualType t) {
    const CXXRecordDecl* r = record_of(t);
    if (!r) return false;
    const std::string& n = qname(r);
    return n == "at::Tensor" || n == "at::TensorBase";
  }
  bool is_tensor_list(QualType t) {
    const auto* s = dyn_cast_or_null<ClassTemplateSpecializationDecl>(record_of(t));
    if (!s || s->getTemplateArgs().size() < 1) return false;
    const std::string& n = qname(s);
    if (n != "std::vector" && n != "c10::ArrayRef" && n != "c10::optional") return false;
    const TemplateArgument& a = s->getTemplateArgs()[0];
    return a.getKind() == TemplateArgument::Type && is_tensor(a.getAsType());
  }
  template <class Pred>
  bool derives(const CXXRecordDecl* rd, Pred pred, int depth = 0);
  bool is_module_class(const CXXRecordDecl* rd);
  const CXXRecordDecl* holder_impl(const CXXRecordDecl* rd);
  const CXXRecordDecl* module_impl_of_type(QualType t);
  bool is_embedding_impl(const CXXRecordDecl* impl);
  bool is_dropout_impl(const CXXRecordDecl* impl);
  bool is_fn_class(const CXXRecordDecl* rd);
  const CXXRecordDecl* apply_target(const CallExpr* c);
  const CXXRecordDecl* pattern_of(const CXXRecordDecl* rd) {
    if (const CXXRecordDecl* p = rd->getTemplateInstantiationPattern()) return p;
    return rd;
  }

  // places
  bool user_file(SourceLocation l);
  bool user_decl(const Decl* d) { return d && user_file(d->getLocation()); }
  Location loc(SourceRange r);
  Location loc(SourceLocation l) { return loc(SourceRange(l, l)); }
  std::string text(SourceRange r) {
    CharSourceRange cr =
        CharSourceRange::getTokenRange(sm_.getFileLoc(r.getBegin()), sm_.getFileLoc(r.getEnd()));
    return Lexer::getSourceText(cr, sm_, lo_).str();
  }
  bool before(SourceLocation a, SourceLocation b) {
    return sm_.isBeforeInTranslationUnit(sm_.getFileLoc(a), sm_.getFileLoc(b));
  }
  std::optional<bool> const_bool(const Expr* e) {
    bool v = false;
    if (!e || e->isValueDependent() || e->isTypeDependent()) return std::nullopt;
    if (e->EvaluateAsBooleanCondition(v, ctx_)) return v;
    return std::nullopt;
  }
  bool is_default_arg(const Expr* e) { return isa<CXXDefaultArgExpr>(strip(e)); }
  bool is_empty_value(const Expr* e);

  // bodies
  const FunctionDecl* body_of(const FunctionDecl* f);
  BodyIndex& index(const FunctionDecl* f);
  const CallRec* call_rec(const CallExpr* c, const FunctionDecl* owner);
  std::vector<const FunctionDecl*> targets(const CallExpr* c);

  // the computation a recompute Function wraps
  struct CallKey {
    std::string key;        // "" = not a computation call
    bool indirect = false;  // std::function, a function pointer, a dependent call
  };
  CallKey computation_key(const CallExpr* c);
  bool produces_values(const CallExpr* c);
  bool is_reentry(const CallExpr* c);
  enum class Rng : uint8_t { None, Capture, Restore };
  Rng rng_kind(const CallExpr* c);
  // The first call (in source order, following calls and constructors into the unit's own
  // functions `depth` levels) for which `pred` holds; `top` gets where, in `f` itself, it
  // happens.
  template <class Pred>
  const CallExpr* first_call(const FunctionDecl* f, Pred pred, unsigned depth,
                             llvm::DenseSet<const FunctionDecl*>& seen,
                             SourceLocation* top = nullptr);
  void analyze_fn_class(const CXXRecordDecl* rd, CodeFacts& out);
  struct Scan {
    const CXXRecordDecl* self = nullptr;
    SourceLocation dropout, mutation;
    std::vector<std::pair<const CXXRecordDecl*, SourceLocation>> nested;
    llvm::DenseSet<const FunctionDecl*> seen;
  };
  void scan_computation(const FunctionDecl* f, unsigned depth, Scan& s);
  bool is_dropout(const CallExpr* c);
  bool zero_dropout_module(const Expr* module);
  std::optional<SourceLocation> mutation_at(const Stmt* s, const FunctionDecl* root);
  bool nonlocal_root(const Expr* e, const FunctionDecl* root, bool inplace_tensor, int depth = 0);
  std::vector<const FunctionDecl*> callables_in(const Expr* arg);

  // where tensors come from
  struct Use {
    const FunctionDecl* owner = nullptr;
    SourceLocation at;
    Ctl ctl;
    const llvm::DenseMap<const ParmVarDecl*, std::pair<const Expr*, const Use*>>* env = nullptr;
    unsigned depth = 0;
  };
  Prov classify(const Expr* e, const Use& u);
  Prov classify_call(const CallExpr* c, const Use& u);
  Prov classify_var(const VarDecl* v, const Use& u);
  Prov combine_tensor_args(const CallExpr* c, const Use& u, bool with_object);
  const ValueDecl* module_decl(const Expr* e);
  const Expr* module_object(const CallExpr* c, const CXXRecordDecl** impl);

  // freezing
  void record_freezes(CodeFacts& out);
  bool embedding_name(const std::string& s);

  ASTContext& ctx_;
  SourceManager& sm_;
  const LangOptions& lo_;
  AnalysisOptions opts_;
  NameCache names_;
  llvm::DenseMap<FileID, bool> user_files_;
  llvm::DenseMap<const CXXRecordDecl*, bool> module_cache_;
  std::map<const FunctionDecl*, std::unique_ptr<BodyIndex>> indexes_;
  llvm::DenseSet<const VarDecl*> visiting_;

  // results shared between steps
  llvm::DenseMap<const CXXRecordDecl*, size_t> recompute_index_;  // pattern -> fact index
  llvm::DenseSet<const FunctionDecl*> internal_;  // Function methods and backward helpers
  llvm::DenseMap<const ValueDecl*, SourceLocation> frozen_modules_;
  llvm::DenseMap<const CXXRecordDecl*, SourceLocation> frozen_records_;
  llvm::DenseSet<const ValueDecl*> unfrozen_modules_;
  llvm::DenseMap<const CallExpr*, Prov> apply_prov_;
  std::vector<std::pair<const CXXRecordDecl*, SourceLocation>> pending_nested_;
};

// ---- names and types ------------------------------------------------------------------------

template <class Pred>
bool Analyzer::derives(const CXXRecordDecl* rd, Pred pred, int depth) {
  if (!rd || depth > 24) return false;
  const CXXRecordDecl* def = rd->getDefinition();
  if (!def) return false;
  for (const CXXBaseSpecifier& b : def->bases()) {
    QualType t = b.getType();
    const CXXRecordDecl* base = t->getAsCXXRecordDecl();
    if (!base) {
      if (const auto* tst = t->getAs<TemplateSpecializationType>()) {
        if (const TemplateDecl* td = tst->getTemplateName().getAsTemplateDecl()) {
          if (const auto* tr = dyn_cast_or_null<CXXRecordDecl>(td->getTemplatedDecl())) {
            if (pred(tr)) return true;
          }
        }
      }
      continue;
    }
    if (pred(base) || derives(base, pred, depth + 1)) return true;
  }
  return false;
}

bool Analyzer::is_module_class(const CXXRecordDecl* rd) {
  if (!rd) return false;
  auto it = module_cache_.find(rd);
  if (it != module_cache_.end()) return it->second;
  auto is_mod = [&](const CXXRecordDecl* r) {
    const std::string& n = qname(r);
    return n == "torch::nn::Module" || n == "torch::nn::ModuleHolder";
  };
  bool r = is_mod(rd) || derives(rd, is_mod);
  module_cache_[rd] = r;
  return r;
}

const CXXRecordDecl* Analyzer::holder_impl(const CXXRecordDecl* rd) {
  const CXXRecordDecl* found = nullptr;
  auto check = [&](const CXXRecordDecl* r) {
    const auto* s = dyn_cast<ClassTemplateSpecializationDecl>(r);
    if (!s || qname(s) != "torch::nn::ModuleHolder" || s->getTemplateArgs().size() < 1)
      return false;
    const TemplateArgument& a = s->getTemplateArgs()[0];
    if (a.getKind() != TemplateArgument::Type) return false;
    found = a.getAsType()->getAsCXXRecordDecl();
    return found != nullptr;
  };
  if (rd && (check(rd) || derives(rd, check))) return found;
  return nullptr;
}

// The module implementation class a value of type `t` calls into: BlockImpl for Block (a
// ModuleHolder), BlockImpl*, std::shared_ptr<BlockImpl>, BlockImpl&.
const CXXRecordDecl* Analyzer::module_impl_of_type(QualType t) {
  if (t.isNull()) return nullptr;
  t = t.getNonReferenceType();
  if (const auto* p = t->getAs<PointerType>()) t = p->getPointeeType();
  const CXXRecordDecl* rd = t->getAsCXXRecordDecl();
  if (!rd) return nullptr;
  if (const auto* s = dyn_cast<ClassTemplateSpecializationDecl>(rd)) {
    if (qname(s) == "std::shared_ptr" && s->getTemplateArgs().size() >= 1 &&
        s->getTemplateArgs()[0].getKind() == TemplateArgument::Type) {
      rd = s->getTemplateArgs()[0].getAsType()->getAsCXXRecordDecl();
      if (!rd) return nullptr;
    }
  }
  if (const CXXRecordDecl* impl = holder_impl(rd)) return impl;
  return is_module_class(rd) ? rd : nullptr;
}

bool Analyzer::is_embedding_impl(const CXXRecordDecl* impl) {
  if (!impl) return false;
  auto is_emb = [&](const CXXRecordDecl* r) {
    const std::string& n = qname(r);
    return n == "torch::nn::EmbeddingImpl" || n == "torch::nn::EmbeddingBagImpl";
  };
  return is_emb(impl) || derives(impl, is_emb);
}

bool Analyzer::is_dropout_impl(const CXXRecordDecl* impl) {
  if (!impl) return false;
  auto is_drop = [&](const CXXRecordDecl* r) {
    const std::string& n = qname(r);
    return n == "torch::nn::DropoutImpl" || n == "torch::nn::Dropout2dImpl" ||
           n == "torch::nn::Dropout3dImpl" || n == "torch::nn::AlphaDropoutImpl" ||
           n == "torch::nn::FeatureAlphaDropoutImpl" || n == "torch::nn::detail::_DropoutNd";
  };
  return is_drop(impl) || derives(impl, is_drop);
}

bool Analyzer::is_fn_class(const CXXRecordDecl* rd) {
  return derives(rd,
                 [&](const CXXRecordDecl* r) { return qname(r) == "torch::autograd::Function"; });
}

// `X::apply(...)` of a torch::autograd::Function<X>: returns X.
const CXXRecordDecl* Analyzer::apply_target(const CallExpr* c) {
  const auto* m = dyn_cast_or_null<CXXMethodDecl>(c->getDirectCallee());
  if (!m || !has_name(m, "apply")) return nullptr;
  const auto* spec = dyn_cast<ClassTemplateSpecializationDecl>(m->getParent());
  if (!spec || qname(spec) != "torch::autograd::Function" || spec->getTemplateArgs().size() < 1)
    return nullptr;
  const TemplateArgument& a = spec->getTemplateArgs()[0];
  if (a.getKind() != TemplateArgument::Type) return nullptr;
  return a.getAsType()->getAsCXXRecordDecl();
}

// ---- places -----------------------------------------------------------------------------------

bool Analyzer::user_file(SourceLocation l) {
  if (l.isInvalid()) return false;
  l = sm_.getFileLoc(l);
  FileID f = sm_.getFileID(l);
  auto it = user_files_.find(f);
  if (it != user_files_.end()) return it->second;
  bool user = false;
  if (!sm_.isInSystemHeader(l)) {
    if (const FileEntry* fe = sm_.getFileEntryForID(f)) user = !is_libtorch_path(fe->getName());
  }
  user_files_[f] = user;
  return user;
}

Location Analyzer::loc(SourceRange r) {
  SourceLocation b = sm_.getFileLoc(r.getBegin());
  if (b.isInvalid()) return {};
  auto [fid, off] = sm_.getDecomposedLoc(b);
  const FileEntry* fe = sm_.getFileEntryForID(fid);
  if (!fe) return {};
  llvm::SmallString<256> path(fe->getName());
  sm_.getFileManager().makeAbsolutePath(path);
  llvm::sys::path::remove_dots(path, /*remove_dot_dot=*/true);
  Location out;
  out.file = std::string(path.str());
  out.span.begin = {sm_.getLineNumber(fid, off), sm_.getColumnNumber(fid, off)};
  SourceLocation e = sm_.getFileLoc(r.getEnd());
  if (e.isValid()) {
    SourceLocation after = Lexer::getLocForEndOfToken(e, 0, sm_, lo_);
    if (after.isValid() && sm_.getFileID(after) == fid) {
      unsigned eo = sm_.getFileOffset(after);
      out.span.end = {sm_.getLineNumber(fid, eo), sm_.getColumnNumber(fid, eo)};
    }
  }
  return out;
}

bool Analyzer::is_empty_value(const Expr* e) {
  e = strip(e);
  if (const auto* il = dyn_cast<InitListExpr>(e)) return il->getNumInits() == 0;
  if (const auto* ce = dyn_cast<CXXConstructExpr>(e)) {
    if (ce->getNumArgs() == 0) return true;
    if (ce->getNumArgs() == 1) return is_empty_value(ce->getArg(0));
  }
  if (isa<CXXTemporaryObjectExpr>(e) || isa<CXXScalarValueInitExpr>(e)) return true;
  if (const auto* sil = dyn_cast<CXXStdInitializerListExpr>(e))
    return is_empty_value(sil->getSubExpr());
  return false;
}

// ---- bodies -----------------------------------------------------------------------------------

const FunctionDecl* Analyzer::body_of(const FunctionDecl* f) {
  if (!f) return nullptr;
  const FunctionDecl* def = nullptr;
  if (f->hasBody(def) && def && def->getBody()) return def;
  if (const FunctionDecl* p = f->getTemplateInstantiationPattern()) {
    if (p->hasBody(def) && def && def->getBody()) return def;
  }
  return nullptr;
}

namespace {

std::optional<Grad> guard_grad(const VarDecl* vd, NameCache& names, ASTContext& ctx) {
  const CXXRecordDecl* rd = vd->getType()->getAsCXXRecordDecl();
  if (!rd) return std::nullopt;
  const std::string& n = names.of(rd);
  const auto* ce =
      dyn_cast_or_null<CXXConstructExpr>(vd->getInit() ? strip(vd->getInit()) : nullptr);
  auto arg_bool = [&]() -> std::optional<bool> {
    if (!ce || ce->getNumArgs() < 1 || isa<CXXDefaultArgExpr>(ce->getArg(0))) return std::nullopt;
    bool v = false;
    const Expr* a = ce->getArg(0);
    if (a->isValueDependent() || !a->EvaluateAsBooleanCondition(v, ctx)) return std::nullopt;
    return v;
  };
  if (n == "c10::NoGradGuard") return Grad::Off;
  if (n == "c10::AutoGradMode") {
    auto b = arg_bool();
    if (!b) return std::nullopt;
    return *b ? Grad::On : Grad::Off;
  }
  if (n == "c10::InferenceMode") {
    auto b = arg_bool();
    if (b && !*b) return std::nullopt;
    return Grad::Off;
  }
  return std::nullopt;
}

class IndexBuilder {
 public:
  IndexBuilder(BodyIndex& bi, NameCache& names, ASTContext& ctx)
      : bi_(bi), names_(names), ctx_(ctx) {}

  void build(const Stmt* body) {
    State st;
    walk(body, st);
  }

 private:
  struct State {
    Grad grad = Grad::Inherit;
    SourceLocation guard;
  };

  void add_def(DefRec::Kind k, const VarDecl* v, const Expr* value, SourceLocation at,
               SourceLocation src = {}) {
    if (!v || v->hasGlobalStorage()) return;
    bi_.defs_of[v].push_back(bi_.defs.size());
    bi_.defs.push_back({k, v, value, at, ctl_, src});
  }

  static const VarDecl* local_var(const Expr* e) {
    if (const auto* dre = dyn_cast_or_null<DeclRefExpr>(strip(e)))
      return dyn_cast<VarDecl>(dre->getDecl());
    return nullptr;
  }

  void walk(const Stmt* s, State& st) {
    if (!s) return;
    if (const auto* cs = dyn_cast<CompoundStmt>(s)) {
      State inner = st;
      for (const Stmt* c : cs->body()) walk(c, inner);
      return;
    }
    if (const auto* ds = dyn_cast<DeclStmt>(s)) {
      for (const Decl* d : ds->decls()) {
        const auto* vd = dyn_cast<VarDecl>(d);
        if (!vd) continue;
        if (const Expr* init = vd->getInit()) {
          walk(init, st);
          add_def(DefRec::Value, vd, init, init->getEndLoc());
        }
        if (auto g = guard_grad(vd, names_, ctx_)) {
          st.grad = *g;
          st.guard = vd->getLocation();
        }
      }
      return;
    }
    if (const auto* le = dyn_cast<LambdaExpr>(s)) {
      for (const Expr* init : le->capture_inits()) walk(init, st);
      return;  // the body runs where the lambda is called: its own index
    }
    if (const auto* fr = dyn_cast<CXXForRangeStmt>(s)) {
      if (const VarDecl* lv = fr->getLoopVariable()) bi_.range_loops[lv] = fr;
      walk(fr->getInit(), st);
      walk(fr->getRangeInit(), st);
      ctl_.push_back(s);
      walk(fr->getBody(), st);
      ctl_.pop_back();
      return;
    }
    if (const auto* f = dyn_cast<ForStmt>(s)) {
      walk(f->getInit(), st);
      ctl_.push_back(s);
      walk(f->getCond(), st);
      walk(f->getInc(), st);
      walk(f->getBody(), st);
      ctl_.pop_back();
      return;
    }
    if (const auto* is = dyn_cast<IfStmt>(s)) {
      walk(is->getInit(), st);
      if (const DeclStmt* cv = is->getConditionVariableDeclStmt()) walk(cv, st);
      walk(is->getCond(), st);
      ctl_.push_back(s);
      walk(is->getThen(), st);
      walk(is->getElse(), st);
      ctl_.pop_back();
      return;
    }
    if (isa<WhileStmt>(s) || isa<DoStmt>(s) || isa<SwitchStmt>(s)) {
      ctl_.push_back(s);
      for (const Stmt* c : s->children()) walk(c, st);
      ctl_.pop_back();
      return;
    }
    if (const auto* rs = dyn_cast<ReturnStmt>(s)) {
      bi_.returns.push_back(rs);
      bi_.return_ctl[rs] = ctl_;
    }
    if (const auto* ce = dyn_cast<CXXConstructExpr>(s)) bi_.ctors.push_back(ce);
    if (const auto* call = dyn_cast<CallExpr>(s)) {
      bi_.call_pos[call] = bi_.calls.size();
      bi_.calls.push_back({call, st.grad, st.guard, ctl_});
      on_call(call, st);
    }
    if (const auto* bo = dyn_cast<BinaryOperator>(s); bo && bo->getOpcode() == BO_Assign) {
      if (const VarDecl* v = local_var(bo->getLHS()))
        add_def(DefRec::Value, v, bo->getRHS(), bo->getEndLoc());
    }
    for (const Stmt* c : s->children()) walk(c, st);
  }

  void on_call(const CallExpr* call, State& st) {
    if (const auto* op = dyn_cast<CXXOperatorCallExpr>(call)) {
      OverloadedOperatorKind k = op->getOperator();
      if (k == OO_Equal && op->getNumArgs() == 2) {
        if (const VarDecl* v = local_var(op->getArg(0)))
          add_def(DefRec::Value, v, op->getArg(1), op->getEndLoc());
      } else if ((k == OO_PlusEqual || k == OO_MinusEqual || k == OO_StarEqual ||
                  k == OO_SlashEqual) &&
                 op->getNumArgs() == 2) {
        if (const VarDecl* v = local_var(op->getArg(0)))
          add_def(DefRec::Update, v, op, op->getEndLoc());
      }
      return;
    }
    const FunctionDecl* fd = call->getDirectCallee();
    if (!fd || !fd->getDeclName().isIdentifier()) return;
    llvm::StringRef name = fd->getName();
    if (const auto* mc = dyn_cast<CXXMemberCallExpr>(call)) {
      const VarDecl* v = local_var(mc->getImplicitObjectArgument());
      if (!v) return;
      if (name == "requires_grad_" || name == "set_requires_grad") {
        bool value = true;
        if (mc->getNumArgs() >= 1 && !isa<CXXDefaultArgExpr>(mc->getArg(0))) {
          bool b = false;
          const Expr* a = mc->getArg(0);
          if (a->isValueDependent() || !a->EvaluateAsBooleanCondition(b, ctx_)) return;
          value = b;
        }
        add_def(value ? DefRec::MarkGrad : DefRec::MarkFrozen, v, nullptr, mc->getEndLoc(),
                mc->getBeginLoc());
      } else if (name == "detach_") {
        add_def(DefRec::MarkFrozen, v, nullptr, mc->getEndLoc(), mc->getBeginLoc());
      } else if (name.endswith("_")) {
        add_def(DefRec::Update, v, mc, mc->getEndLoc());  // an in-place op: h.add_(x)
      }
      return;
    }
    // torch::autograd::GradMode::set_enabled(false): the rest of the block runs without grad.
    if (name == "set_enabled" && call->getNumArgs() == 1) {
      if (const auto* md = dyn_cast<CXXMethodDecl>(fd);
          md && names_.of(md->getParent()) == "c10::GradMode") {
        bool b = false;
        const Expr* a = call->getArg(0);
        if (!a->isValueDependent() && a->EvaluateAsBooleanCondition(b, ctx_)) {
          st.grad = b ? Grad::On : Grad::Off;
          st.guard = call->getBeginLoc();
        }
      }
    }
  }

  BodyIndex& bi_;
  NameCache& names_;
  ASTContext& ctx_;
  Ctl ctl_;
};

}  // namespace

BodyIndex& Analyzer::index(const FunctionDecl* f) {
  auto& slot = indexes_[f];
  if (!slot) {
    slot = std::make_unique<BodyIndex>();
    slot->fn = f;
    if (f && f->getBody()) IndexBuilder(*slot, names_, ctx_).build(f->getBody());
  }
  return *slot;
}

const CallRec* Analyzer::call_rec(const CallExpr* c, const FunctionDecl* owner) {
  if (!owner) return nullptr;
  const FunctionDecl* def = body_of(owner);
  if (!def) return nullptr;
  BodyIndex& bi = index(def);
  auto it = bi.call_pos.find(c);
  return it == bi.call_pos.end() ? nullptr : &bi.calls[it->second];
}

// The function bodies a call runs (in user code): the callee, a module's forward, a lambda.
std::vector<const FunctionDecl*> Analyzer::targets(const CallExpr* c) {
  std::vector<const FunctionDecl*> out;
  auto add = [&](const FunctionDecl* f) {
    const FunctionDecl* d = body_of(f);
    if (d && user_decl(d) && std::find(out.begin(), out.end(), d) == out.end()) out.push_back(d);
  };
  auto add_forwards = [&](const CXXRecordDecl* impl) {
    if (!impl || !impl->hasDefinition()) return;
    for (const CXXMethodDecl* m : impl->getDefinition()->methods())
      if (has_name(m, "forward")) add(m);
  };
  if (const auto* op = dyn_cast<CXXOperatorCallExpr>(c); op && op->getOperator() == OO_Call) {
    QualType t = op->getArg(0)->getType();
    const CXXRecordDecl* rd = record_of(t);
    if (rd && rd->isLambda()) {
      add(rd->getLambdaCallOperator());
      return out;
    }
    if (rd) {
      if (const CXXRecordDecl* impl = holder_impl(rd)) {
        add_forwards(impl);
        return out;
      }
    }
  }
  if (const auto* mc = dyn_cast<CXXMemberCallExpr>(c)) {
    const CXXMethodDecl* m = mc->getMethodDecl();
    if (m && has_name(m, "forward") && is_module_class(m->getParent())) {
      add(m);
      if (out.empty()) add_forwards(m->getParent());
      return out;
    }
  }
  if (const FunctionDecl* f = c->getDirectCallee()) {
    if (apply_target(c)) return out;  // a nested recompute: its own facts
    add(f);
  }
  return out;
}

// ---- the computation a recompute Function wraps ------------------------------------------------

// A helper of the unit that returns nothing, a flag or a pointer (the module fetched back from
// ctx, a check of the inputs) is not what a checkpoint wraps. (Calls through function pointers
// and std::function are not judged by their type: an FFI callback may return a handle.)
bool Analyzer::produces_values(const CallExpr* c) {
  if (c->isTypeDependent()) return true;
  QualType t = c->getType().getNonReferenceType();
  if (const auto* p = t->getAs<PointerType>()) return is_tensor(p->getPointeeType());
  return !(t->isVoidType() || t->isBuiltinType() || t->isEnumeralType());
}

// A call that runs user computation (what a checkpoint wraps): a module's forward, a user
// function or functor, a lambda, a std::function or function pointer, another Function's
// apply. Tensor operations and library calls are not.
Analyzer::CallKey Analyzer::computation_key(const CallExpr* c) {
  auto ptr = [](const void* p) { return std::to_string(reinterpret_cast<uintptr_t>(p)); };
  if (const CXXRecordDecl* fn = apply_target(c)) return {"apply:" + ptr(pattern_of(fn)), false};
  if (const auto* op = dyn_cast<CXXOperatorCallExpr>(c)) {
    if (op->getOperator() != OO_Call) return {};
    QualType t = op->getArg(0)->getType().getNonReferenceType();
    const CXXRecordDecl* rd = record_of(t);
    if (!rd) return {"functor:" + t.getCanonicalType().getAsString(), true};
    if (const CXXRecordDecl* impl = holder_impl(rd))
      return {"module:" + ptr(impl->getCanonicalDecl()), false};
    if (rd->isLambda()) return {"lambda:" + ptr(rd), false};
    const std::string& n = qname(rd);
    if (n == "std::function") return {"stdfunction:" + t.getCanonicalType().getAsString(), true};
    if (n == "torch::nn::AnyModule") return {"anymodule", true};
    if (user_decl(rd)) return {"functor:" + ptr(rd->getCanonicalDecl()), false};
    return {};
  }
  if (const auto* mc = dyn_cast<CXXMemberCallExpr>(c)) {
    const CXXMethodDecl* m = mc->getMethodDecl();
    if (!m) return {};
    if (has_name(m, "forward") && is_module_class(m->getParent())) {
      if (qname(m->getParent()) == "torch::nn::AnyModule") return {"anymodule", true};
      bool virt = m->isVirtual();
      return {"module:" + ptr(m->getParent()->getCanonicalDecl()), virt};
    }
    const FunctionDecl* pat =
        m->getTemplateInstantiationPattern() ? m->getTemplateInstantiationPattern() : m;
    if (user_decl(pat) && !is_fn_class(m->getParent()) && produces_values(c))
      return {"fn:" + ptr(pat->getCanonicalDecl()), m->isVirtual()};
    return {};
  }
  if (const FunctionDecl* f = c->getDirectCallee()) {
    const FunctionDecl* pat =
        f->getTemplateInstantiationPattern() ? f->getTemplateInstantiationPattern() : f;
    if (user_decl(pat) && produces_values(c)) return {"fn:" + ptr(pat->getCanonicalDecl()), false};
    return {};
  }
  // Not a direct call: a function pointer, or a call that depends on a template parameter.
  const Expr* callee = strip(c->getCallee());
  if (const auto* ul = dyn_cast<UnresolvedLookupExpr>(callee))
    return {"name:" + ul->getName().getAsString(), true};
  if (const auto* dm = dyn_cast<CXXDependentScopeMemberExpr>(callee))
    return {"member:" + dm->getMember().getAsString(), true};
  if (const auto* um = dyn_cast<UnresolvedMemberExpr>(callee))
    return {"member:" + um->getMemberName().getAsString(), true};
  QualType t = callee->getType();
  if (t.isNull()) return {};
  return {"indirect:" + t.getCanonicalType().getAsString(), true};
}

// Re-entering autograd from backward: torch::autograd::backward/grad, Tensor::backward.
bool Analyzer::is_reentry(const CallExpr* c) {
  const FunctionDecl* f = c->getDirectCallee();
  if (!f) {
    const Expr* callee = strip(c->getCallee());
    if (const auto* dm = dyn_cast<CXXDependentScopeMemberExpr>(callee))
      return dm->getMember().getAsString() == "backward";
    if (const auto* ul = dyn_cast<UnresolvedLookupExpr>(callee)) {
      std::string n = ul->getName().getAsString();
      return n == "backward" || n == "grad";
    }
    return false;
  }
  const std::string& n = qname(f);
  return n == "torch::autograd::backward" || n == "torch::autograd::grad" ||
         n == "at::Tensor::backward" || n == "torch::autograd::Engine::execute";
}

Analyzer::Rng Analyzer::rng_kind(const CallExpr* c) {
  const FunctionDecl* f = c->getDirectCallee();
  if (!f || !f->getDeclName().isIdentifier()) return Rng::None;
  llvm::StringRef name = f->getName();
  if (const auto* m = dyn_cast<CXXMethodDecl>(f)) {
    auto is_gen = [&](const CXXRecordDecl* r) {
      const std::string& n = qname(r);
      return n == "at::Generator" || n == "c10::GeneratorImpl";
    };
    if (!is_gen(m->getParent()) && !derives(m->getParent(), is_gen)) return Rng::None;
    if (name == "get_state" || name == "graphsafe_get_state" || name == "clone" ||
        name == "current_seed" || name == "get_offset" || name == "philox_offset_per_thread")
      return Rng::Capture;
    if (name == "set_state" || name == "graphsafe_set_state" || name == "set_current_seed" ||
        name == "set_offset" || name == "set_philox_offset_per_thread")
      return Rng::Restore;
    return Rng::None;
  }
  const std::string& n = qname(f);
  if (n == "at::manual_seed" || n == "torch::manual_seed" || n == "torch::cuda::manual_seed" ||
      n == "torch::cuda::manual_seed_all")
    return Rng::Restore;
  return Rng::None;
}

template <class Pred>
const CallExpr* Analyzer::first_call(const FunctionDecl* f, Pred pred, unsigned depth,
                                     llvm::DenseSet<const FunctionDecl*>& seen,
                                     SourceLocation* top) {
  const FunctionDecl* def = body_of(f);
  if (!def || !seen.insert(def).second) return nullptr;
  BodyIndex& bi = index(def);
  // Calls and constructions in source order.
  std::vector<std::pair<SourceLocation, const Expr*>> events;
  for (const auto& r : bi.calls) events.emplace_back(r.call->getBeginLoc(), r.call);
  for (const CXXConstructExpr* ce : bi.ctors) {
    const CXXConstructorDecl* ctor = ce->getConstructor();
    if (ctor && user_decl(ctor)) events.emplace_back(ce->getBeginLoc(), ce);
  }
  std::stable_sort(events.begin(), events.end(),
                   [&](const auto& a, const auto& b) { return before(a.first, b.first); });
  for (const auto& [at, e] : events) {
    std::vector<const FunctionDecl*> next;
    if (const auto* call = dyn_cast<CallExpr>(e)) {
      if (pred(call)) {
        if (top) *top = at;
        return call;
      }
      if (depth > 0) next = targets(call);
    } else if (depth > 0) {
      next.push_back(cast<CXXConstructExpr>(e)->getConstructor());
    }
    for (const FunctionDecl* t : next) {
      if (const CallExpr* hit = first_call(t, pred, depth - 1, seen, nullptr)) {
        if (top) *top = at;
        return hit;
      }
    }
  }
  return nullptr;
}

bool Analyzer::is_dropout(const CallExpr* c) {
  auto zero = [&](const Expr* e) {
    Expr::EvalResult r;
    if (!e || e->isValueDependent() || !e->EvaluateAsRValue(r, ctx_)) return false;
    if (r.Val.isFloat()) return r.Val.getFloat().isZero();
    if (r.Val.isInt()) return r.Val.getInt() == 0;
    return false;
  };
  auto is_false = [&](const Expr* e) {
    auto b = const_bool(e);
    return b && !*b;
  };
  // Options built as DropoutFuncOptions().p(0.0).training(false): a literal p of 0 or
  // training(false) draws nothing.
  std::function<bool(const Expr*)> options_disable = [&](const Expr* e) -> bool {
    e = strip(e);
    if (const auto* mc = dyn_cast<CXXMemberCallExpr>(e)) {
      const CXXMethodDecl* m = mc->getMethodDecl();
      if (m && mc->getNumArgs() == 1) {
        if (has_name(m, "p") && zero(mc->getArg(0))) return true;
        if ((has_name(m, "training") || has_name(m, "train")) && is_false(mc->getArg(0)))
          return true;
      }
      return options_disable(mc->getImplicitObjectArgument());
    }
    if (const auto* ce = dyn_cast<CXXConstructExpr>(e)) {
      if (ce->getNumArgs() >= 1 && !isa<CXXDefaultArgExpr>(ce->getArg(0))) {
        const CXXRecordDecl* rd = ce->getConstructor()->getParent();
        std::string n = qname(rd);
        if (n.find("DropoutFuncOptions") != std::string::npos ||
            n.find("DropoutOptions") != std::string::npos) {
          if (zero(ce->getArg(0))) return true;
        }
        return ce->getNumArgs() == 1 && options_disable(ce->getArg(0));
      }
    }
    return false;
  };
  const FunctionDecl* f = c->getDirectCallee();
  const CXXRecordDecl* impl = nullptr;
  if (const Expr* obj = module_object(c, &impl); obj && is_dropout_impl(impl))
    return !zero_dropout_module(obj);
  if (!f) return false;
  const std::string& n = qname(f);
  if (n == "at::dropout" || n == "at::dropout_" || n == "at::feature_dropout" ||
      n == "at::feature_dropout_" || n == "at::alpha_dropout" || n == "at::alpha_dropout_" ||
      n == "at::feature_alpha_dropout" || n == "at::feature_alpha_dropout_" ||
      n == "at::native_dropout") {
    // (input, p, train)
    if (c->getNumArgs() >= 2 && zero(c->getArg(1))) return false;
    if (c->getNumArgs() >= 3 && is_false(c->getArg(2))) return false;
    return true;
  }
  if (n == "torch::nn::functional::dropout" || n == "torch::nn::functional::dropout2d" ||
      n == "torch::nn::functional::dropout3d" || n == "torch::nn::functional::alpha_dropout" ||
      n == "torch::nn::functional::feature_alpha_dropout") {
    if (c->getNumArgs() >= 2 && !is_default_arg(c->getArg(1)) && options_disable(c->getArg(1)))
      return false;
    return true;
  }
  // Other random draws in the recomputed code behave the same way (a manual dropout mask).
  static const std::set<std::string> kRandom = {"at::bernoulli",
                                                "at::bernoulli_",
                                                "at::rand",
                                                "at::rand_like",
                                                "at::randn",
                                                "at::randn_like",
                                                "at::randint",
                                                "at::randint_like",
                                                "at::randperm",
                                                "at::normal",
                                                "at::multinomial",
                                                "at::rrelu",
                                                "at::rrelu_",
                                                "at::rrelu_with_noise",
                                                "at::Tensor::bernoulli",
                                                "at::Tensor::bernoulli_",
                                                "at::Tensor::uniform_",
                                                "at::Tensor::normal_",
                                                "at::Tensor::random_",
                                                "at::Tensor::exponential_",
                                                "at::Tensor::geometric_",
                                                "at::Tensor::cauchy_",
                                                "at::Tensor::log_normal_",
                                                "at::Tensor::multinomial",
                                                "torch::nn::functional::rrelu"};
  return kRandom.count(n) != 0;
}

// A Dropout module whose every initialisation in the unit states p = 0 (Dropout(0.0),
// DropoutOptions(0), .p(0)) draws nothing.
bool Analyzer::zero_dropout_module(const Expr* module) {
  const ValueDecl* d = module_decl(module);
  auto it = d ? inits.find(d) : inits.end();
  if (it == inits.end() || it->second.empty()) return false;
  auto zero = [&](const Expr* e) {
    Expr::EvalResult r;
    if (!e || e->isValueDependent() || !e->EvaluateAsRValue(r, ctx_)) return false;
    return (r.Val.isFloat() && r.Val.getFloat().isZero()) || (r.Val.isInt() && r.Val.getInt() == 0);
  };
  for (const Expr* init : it->second) {
    bool found = false;
    std::function<void(const Stmt*)> visit = [&](const Stmt* s) {
      if (!s || found) return;
      if (const auto* ce = dyn_cast<CXXConstructExpr>(s)) {
        std::string n = qname(ce->getConstructor()->getParent());
        if (n.find("Dropout") != std::string::npos && ce->getNumArgs() >= 1 && zero(ce->getArg(0)))
          found = true;
      } else if (const auto* mc = dyn_cast<CXXMemberCallExpr>(s)) {
        if (const CXXMethodDecl* m = mc->getMethodDecl();
            m && has_name(m, "p") && mc->getNumArgs() == 1 && zero(mc->getArg(0)))
          found = true;
      }
      for (const Stmt* ch : s->children()) visit(ch);
    };
    visit(init);
    if (!found) return false;
  }
  return true;
}

// Is the thing `e` names state that outlives one call of `root`: a member (through this), a
// global or static, a lambda capture, or what a reference/pointer parameter points to.
bool Analyzer::nonlocal_root(const Expr* e, const FunctionDecl* root, bool inplace_tensor,
                             int depth) {
  if (!e || depth > 16) return false;
  e = strip(e);
  if (isa<CXXThisExpr>(e)) return true;
  if (const auto* me = dyn_cast<MemberExpr>(e)) {
    if (const auto* vd = dyn_cast<VarDecl>(me->getMemberDecl()); vd && vd->hasGlobalStorage())
      return true;
    return nonlocal_root(me->getBase(), root, inplace_tensor, depth + 1);
  }
  if (const auto* as = dyn_cast<ArraySubscriptExpr>(e))
    return nonlocal_root(as->getBase(), root, inplace_tensor, depth + 1);
  if (const auto* uo = dyn_cast<UnaryOperator>(e)) {
    if (uo->getOpcode() == UO_Deref || uo->getOpcode() == UO_AddrOf)
      return nonlocal_root(uo->getSubExpr(), root, inplace_tensor, depth + 1);
    return false;
  }
  if (const auto* op = dyn_cast<CXXOperatorCallExpr>(e)) {
    OverloadedOperatorKind k = op->getOperator();
    if ((k == OO_Arrow || k == OO_Star || k == OO_Subscript) && op->getNumArgs() >= 1)
      return nonlocal_root(op->getArg(0), root, inplace_tensor, depth + 1);
    return false;
  }
  if (const auto* mc = dyn_cast<CXXMemberCallExpr>(e)) {
    const CXXMethodDecl* m = mc->getMethodDecl();
    if (m && m->getDeclName().isIdentifier()) {
      llvm::StringRef n = m->getName();
      if (n == "get" || n == "ptr" || n == "value" || n == "front" || n == "back" || n == "at")
        return nonlocal_root(mc->getImplicitObjectArgument(), root, inplace_tensor, depth + 1);
    }
    return false;
  }
  const auto* dre = dyn_cast<DeclRefExpr>(e);
  if (!dre) return false;
  const auto* vd = dyn_cast<VarDecl>(dre->getDecl());
  if (!vd) return false;
  if (vd->hasGlobalStorage()) return true;
  // Declared inside `root` (or a lambda in it)?
  bool local = false;
  for (const DeclContext* dc = vd->getDeclContext(); dc; dc = dc->getParent()) {
    if (dc == root || (isa<FunctionDecl>(dc) &&
                       cast<FunctionDecl>(dc)->getCanonicalDecl() == root->getCanonicalDecl())) {
      local = true;
      break;
    }
    if (!isa<FunctionDecl>(dc) && !isa<CXXRecordDecl>(dc) && !isa<BlockDecl>(dc)) break;
  }
  if (!local) return true;  // a capture of an enclosing function's variable
  QualType t = vd->getType();
  if (isa<ParmVarDecl>(vd)) {
    if (t->isReferenceType() && !t.getNonReferenceType().isConstQualified()) return true;
    if (t->isPointerType() && !t->getPointeeType().isConstQualified()) return true;
    return inplace_tensor && is_tensor(t);  // a Tensor parameter aliases the caller's tensor
  }
  if ((t->isReferenceType() || t->isPointerType()) && vd->getInit())
    return nonlocal_root(vd->getInit(), root, inplace_tensor, depth + 1);
  return false;
}

std::optional<SourceLocation> Analyzer::mutation_at(const Stmt* s, const FunctionDecl* root) {
  if (const auto* bo = dyn_cast<BinaryOperator>(s)) {
    if (bo->isAssignmentOp() && nonlocal_root(bo->getLHS(), root, false)) return bo->getBeginLoc();
    return std::nullopt;
  }
  if (const auto* uo = dyn_cast<UnaryOperator>(s)) {
    if (uo->isIncrementDecrementOp() && nonlocal_root(uo->getSubExpr(), root, false))
      return uo->getBeginLoc();
    return std::nullopt;
  }
  if (const auto* op = dyn_cast<CXXOperatorCallExpr>(s)) {
    OverloadedOperatorKind k = op->getOperator();
    bool assign = k == OO_Equal || k == OO_PlusEqual || k == OO_MinusEqual || k == OO_StarEqual ||
                  k == OO_SlashEqual || k == OO_PercentEqual || k == OO_AmpEqual ||
                  k == OO_PipeEqual || k == OO_CaretEqual || k == OO_LessLessEqual ||
                  k == OO_GreaterGreaterEqual || k == OO_PlusPlus || k == OO_MinusMinus;
    if (assign && op->getNumArgs() >= 1 && nonlocal_root(op->getArg(0), root, false))
      return op->getBeginLoc();
    return std::nullopt;
  }
  if (const auto* mc = dyn_cast<CXXMemberCallExpr>(s)) {
    const CXXMethodDecl* m = mc->getMethodDecl();
    if (!m || !m->getDeclName().isIdentifier()) return std::nullopt;
    llvm::StringRef n = m->getName();
    const Expr* obj = mc->getImplicitObjectArgument();
    if (is_tensor(obj->getType())) {
      // In-place tensor ops on state or on the inputs (requires_grad_ changes no values).
      if (n.endswith("_") && n != "requires_grad_" && nonlocal_root(obj, root, true))
        return mc->getBeginLoc();
      return std::nullopt;
    }
    static const std::set<std::string, std::less<>> kMutators = {
        "push_back",        "emplace_back", "push_front", "emplace_front", "insert", "emplace",
        "insert_or_assign", "try_emplace",  "append",     "resize",        "clear",  "erase",
        "pop_back",         "pop_front",    "assign",     "swap",          "push",   "pop"};
    if (kMutators.count(n) && nonlocal_root(obj, root, false)) return mc->getBeginLoc();
  }
  return std::nullopt;
}

// Walks what the recomputed computation runs, following calls into same-unit functions.
void Analyzer::scan_computation(const FunctionDecl* f, unsigned depth, Scan& s) {
  const FunctionDecl* def = body_of(f);
  if (!def || !user_decl(def) || !s.seen.insert(def).second) return;

  class Walker : public RecursiveASTVisitor<Walker> {
   public:
    Walker(Analyzer& a, Scan& s, const FunctionDecl* root, unsigned depth)
        : a_(a), s_(s), root_(root), depth_(depth) {}
    bool shouldVisitLambdaBodies() const { return true; }
    bool VisitStmt(Stmt* st) {
      if (s_.mutation.isInvalid()) {
        if (auto m = a_.mutation_at(st, root_)) s_.mutation = *m;
      }
      auto* c = dyn_cast<CallExpr>(st);
      if (!c) return true;
      if (s_.dropout.isInvalid() && a_.is_dropout(c)) s_.dropout = c->getBeginLoc();
      if (const CXXRecordDecl* fn = a_.apply_target(c)) {
        const CXXRecordDecl* pat = a_.pattern_of(fn);
        if (pat != s_.self) s_.nested.emplace_back(pat, c->getBeginLoc());
        return true;
      }
      if (depth_ > 0) {
        for (const FunctionDecl* t : a_.targets(c)) a_.scan_computation(t, depth_ - 1, s_);
      }
      return true;
    }

   private:
    Analyzer& a_;
    Scan& s_;
    const FunctionDecl* root_;
    unsigned depth_;
  };
  Walker(*this, s, def, depth).TraverseStmt(def->getBody());
}

// The user code an argument of an apply call stands for: a lambda, a function, a module.
std::vector<const FunctionDecl*> Analyzer::callables_in(const Expr* arg) {
  std::vector<const FunctionDecl*> out;
  auto add = [&](const FunctionDecl* f) {
    if (const FunctionDecl* d = body_of(f); d && user_decl(d)) out.push_back(d);
  };
  std::function<void(const Expr*, int)> visit = [&](const Expr* e, int depth) {
    if (!e || depth > 6) return;
    e = strip(e);
    if (const auto* le = dyn_cast<LambdaExpr>(e)) {
      add(le->getCallOperator());
      return;
    }
    if (const auto* dre = dyn_cast<DeclRefExpr>(e)) {
      if (const auto* fd = dyn_cast<FunctionDecl>(dre->getDecl())) {
        add(fd);
        return;
      }
      if (const auto* vd = dyn_cast<VarDecl>(dre->getDecl());
          vd && vd->getInit() && !vd->hasGlobalStorage()) {
        if (const CXXRecordDecl* rd = record_of(vd->getType()); rd && rd->isLambda()) {
          add(rd->getLambdaCallOperator());
          return;
        }
        visit(vd->getInit(), depth + 1);
      }
    }
    if (const auto* uo = dyn_cast<UnaryOperator>(e); uo && uo->getOpcode() == UO_AddrOf) {
      visit(uo->getSubExpr(), depth + 1);
      return;
    }
    if (const auto* ce = dyn_cast<CXXConstructExpr>(e)) {
      for (const Expr* a : ce->arguments()) visit(a, depth + 1);
    }
    if (const CXXRecordDecl* impl = module_impl_of_type(e->getType())) {
      if (impl->hasDefinition())
        for (const CXXMethodDecl* m : impl->getDefinition()->methods())
          if (has_name(m, "forward")) add(m);
    }
    if (const auto* mc = dyn_cast<CXXMemberCallExpr>(e))
      visit(mc->getImplicitObjectArgument(), depth + 1);
  };
  visit(arg, 0);
  return out;
}

void Analyzer::analyze_fn_class(const CXXRecordDecl* rd, CodeFacts& out) {
  const CXXMethodDecl* fwd = nullptr;
  const CXXMethodDecl* bwd = nullptr;
  for (const CXXMethodDecl* m : rd->methods()) {
    if (has_name(m, "forward") && body_of(m)) fwd = m;
    if (has_name(m, "backward") && body_of(m)) bwd = m;
  }
  for (const CXXMethodDecl* m : rd->methods()) internal_.insert(m);
  if (!fwd || !bwd) return;
  const FunctionDecl* fdef = body_of(fwd);
  const FunctionDecl* bdef = body_of(bwd);
  internal_.insert(fdef);
  internal_.insert(bdef);

  // Helpers backward calls are part of the implementation (their autograd calls are not the
  // user's).
  {
    llvm::DenseSet<const FunctionDecl*> seen;
    first_call(
        bdef,
        [&](const CallExpr* c) {
          for (const FunctionDecl* t : targets(c)) internal_.insert(t);
          return false;
        },
        opts_.max_call_depth, seen);
  }

  // What forward runs that backward runs again.
  BodyIndex& fi = index(fdef);
  BodyIndex& bi = index(bdef);
  std::map<std::string, std::vector<const CallRec*>> fkeys;
  bool indirect = false;
  for (const auto& r : fi.calls) {
    CallKey k = computation_key(r.call);
    if (!k.key.empty()) fkeys[k.key].push_back(&r);
  }
  std::vector<const CallRec*> wrapped;
  SourceLocation first_recompute;
  std::set<std::string> shared;
  for (const auto& r : bi.calls) {
    CallKey k = computation_key(r.call);
    if (k.key.empty() || !fkeys.count(k.key)) continue;
    shared.insert(k.key);
    indirect |= k.indirect;
    if (first_recompute.isInvalid() || before(r.call->getBeginLoc(), first_recompute))
      first_recompute = r.call->getBeginLoc();
  }
  for (const auto& key : shared)
    for (const CallRec* r : fkeys[key]) wrapped.push_back(r);
  llvm::DenseSet<const FunctionDecl*> seen_reentry;
  bool reentry = first_call(
                     bdef, [&](const CallExpr* c) { return is_reentry(c); }, opts_.max_call_depth,
                     seen_reentry) != nullptr;
  if (wrapped.empty() || !reentry) return;

  const CXXRecordDecl* pat = pattern_of(rd);
  RecomputeFunctionFact f;
  f.loc = loc(pat->getLocation());
  f.name = qname(pat);
  // LibTorch's Function<T>::apply runs forward with grad disabled (AutoGradMode(false)), as
  // Python's does; forward only builds a graph when it turns grad back on around the call.
  f.forward_no_grad = std::all_of(wrapped.begin(), wrapped.end(),
                                  [](const CallRec* r) { return r->grad != Grad::On; });
  f.backward_recomputes = true;

  // RNG: captured (or seeded) in forward, restored in backward before the recomputation.
  llvm::DenseSet<const FunctionDecl*> s1, s2;
  bool captured = first_call(
                      fdef, [&](const CallExpr* c) { return rng_kind(c) != Rng::None; },
                      opts_.max_call_depth, s1) != nullptr;
  SourceLocation restore_at;
  bool restored = first_call(
                      bdef, [&](const CallExpr* c) { return rng_kind(c) == Rng::Restore; },
                      opts_.max_call_depth, s2, &restore_at) != nullptr;
  f.saves_rng = captured && restored && restore_at.isValid() &&
                (first_recompute.isInvalid() || before(restore_at, first_recompute));

  // The computation itself: what the wrapped calls run, and, when forward calls something
  // it was handed (a std::function, a function pointer), what the apply calls hand it.
  Scan scan;
  scan.self = pat;
  for (const CallRec* r : wrapped) {
    if (const CXXRecordDecl* inner = apply_target(r->call)) {
      if (pattern_of(inner) != pat)
        scan.nested.emplace_back(pattern_of(inner), r->call->getBeginLoc());
      continue;
    }
    if (is_dropout(r->call) && scan.dropout.isInvalid()) scan.dropout = r->call->getBeginLoc();
    for (const FunctionDecl* t : targets(r->call)) scan_computation(t, opts_.max_call_depth, scan);
    if (computation_key(r->call).indirect) indirect = true;
  }
  if (indirect) {
    for (const auto& a : applies) {
      if (pattern_of(a.fn) != pat) continue;
      for (const Expr* arg : a.call->arguments())
        for (const FunctionDecl* t : callables_in(arg))
          scan_computation(t, opts_.max_call_depth, scan);
    }
  }
  if (scan.dropout.isValid()) {
    f.dropout_inside = true;
    f.dropout_loc = loc(scan.dropout);
  }
  if (scan.mutation.isValid()) {
    f.mutates_state = true;
    f.mutation_loc = loc(scan.mutation);
  }
  recompute_index_[pat] = out.recompute_functions.size();
  out.recompute_functions.push_back(std::move(f));
  pending_nested_.insert(pending_nested_.end(), scan.nested.begin(), scan.nested.end());
}

// ---- where tensors come from --------------------------------------------------------------------

const ValueDecl* Analyzer::module_decl(const Expr* e) {
  for (int i = 0; e && i < 16; ++i) {
    e = strip(e);
    if (const auto* op = dyn_cast<CXXOperatorCallExpr>(e)) {
      if ((op->getOperator() == OO_Arrow || op->getOperator() == OO_Star) &&
          op->getNumArgs() >= 1) {
        e = op->getArg(0);
        continue;
      }
      return nullptr;
    }
    if (const auto* mc = dyn_cast<CXXMemberCallExpr>(e)) {
      const CXXMethodDecl* m = mc->getMethodDecl();
      if (m && (has_name(m, "get") || has_name(m, "ptr"))) {
        e = mc->getImplicitObjectArgument();
        continue;
      }
      return nullptr;
    }
    if (const auto* uo = dyn_cast<UnaryOperator>(e); uo && uo->getOpcode() == UO_Deref) {
      e = uo->getSubExpr();
      continue;
    }
    if (const auto* me = dyn_cast<MemberExpr>(e)) return me->getMemberDecl();
    if (const auto* dre = dyn_cast<DeclRefExpr>(e)) return dre->getDecl();
    return nullptr;
  }
  return nullptr;
}

// For a module call (`m(x)` on a ModuleHolder, `m->forward(x)`), the expression naming the
// module and its implementation class.
const Expr* Analyzer::module_object(const CallExpr* c, const CXXRecordDecl** impl) {
  if (const auto* op = dyn_cast<CXXOperatorCallExpr>(c); op && op->getOperator() == OO_Call) {
    const CXXRecordDecl* rd = record_of(op->getArg(0)->getType());
    if (const CXXRecordDecl* i = rd ? holder_impl(rd) : nullptr) {
      *impl = i;
      return op->getArg(0);
    }
    return nullptr;
  }
  if (const auto* mc = dyn_cast<CXXMemberCallExpr>(c)) {
    const CXXMethodDecl* m = mc->getMethodDecl();
    if (m && has_name(m, "forward") && is_module_class(m->getParent())) {
      *impl = m->getParent();
      return mc->getImplicitObjectArgument();
    }
  }
  return nullptr;
}

Prov Analyzer::combine_tensor_args(const CallExpr* c, const Use& u, bool with_object) {
  Prov p = Prov::of(Prov::Const);
  auto add = [&](const Expr* a) {
    if (!a || isa<CXXDefaultArgExpr>(a)) return;
    QualType t = strip(a)->getType();
    if (is_tensor(t) || is_tensor_list(t)) p = combine(p, classify(a, u));
  };
  if (const auto* mc = dyn_cast<CXXMemberCallExpr>(c); mc && with_object)
    add(mc->getImplicitObjectArgument());
  for (const Expr* a : c->arguments()) add(a);
  return p;
}

Prov Analyzer::classify(const Expr* e, const Use& u) {
  if (!e || u.depth > 32) return Prov::of(Prov::Unknown);
  e = strip(e);
  if (const auto* ce = dyn_cast<CXXConstructExpr>(e)) {
    if (ce->getNumArgs() == 1 && ce->getConstructor()->isCopyOrMoveConstructor())
      return classify(ce->getArg(0), u);
    if (is_tensor_list(ce->getType())) {
      Prov p = Prov::of(Prov::Const);
      for (const Expr* a : ce->arguments()) p = combine(p, classify(a, u));
      return p;
    }
    return Prov::of(Prov::Unknown);
  }
  if (const auto* sil = dyn_cast<CXXStdInitializerListExpr>(e))
    return classify(sil->getSubExpr(), u);
  if (const auto* il = dyn_cast<InitListExpr>(e)) {
    Prov p = Prov::of(Prov::Const);
    for (const Expr* a : il->inits()) p = combine(p, classify(a, u));
    return p;
  }
  if (const auto* co = dyn_cast<ConditionalOperator>(e))
    return combine(classify(co->getTrueExpr(), u), classify(co->getFalseExpr(), u));
  if (const auto* dre = dyn_cast<DeclRefExpr>(e)) {
    if (const auto* vd = dyn_cast<VarDecl>(dre->getDecl())) return classify_var(vd, u);
    return Prov::of(Prov::Unknown);
  }
  if (const auto* c = dyn_cast<CallExpr>(e)) return classify_call(c, u);
  return Prov::of(Prov::Unknown);
}

Prov Analyzer::classify_call(const CallExpr* c, const Use& u) {
  const FunctionDecl* fd = c->getDirectCallee();
  QualType rt = c->getType();
  bool returns_tensor = is_tensor(rt) || is_tensor_list(rt);
  bool returns_ref = fd && fd->getReturnType()->isReferenceType();

  if (const auto* mc = dyn_cast<CXXMemberCallExpr>(c)) {
    const CXXMethodDecl* m = mc->getMethodDecl();
    const Expr* obj = mc->getImplicitObjectArgument();
    if (m && m->getDeclName().isIdentifier() && is_tensor(obj->getType())) {
      llvm::StringRef n = m->getName();
      if (n == "detach" || n == "detach_") return Prov::frozen(c->getBeginLoc());
      if (n == "requires_grad_" || n == "set_requires_grad") {
        bool v = true;
        if (mc->getNumArgs() >= 1 && !isa<CXXDefaultArgExpr>(mc->getArg(0))) {
          auto b = const_bool(mc->getArg(0));
          if (!b) return Prov::of(Prov::Unknown);
          v = *b;
        }
        return v ? Prov::of(Prov::Grad) : Prov::frozen(c->getBeginLoc());
      }
    }
    // Element access on a tensor list: the element comes from the list.
    if (m && m->getDeclName().isIdentifier() && is_tensor_list(obj->getType()) &&
        (m->getName() == "at" || m->getName() == "front" || m->getName() == "back"))
      return classify(obj, u);
  }
  if (const auto* op = dyn_cast<CXXOperatorCallExpr>(c); op && op->getOperator() == OO_Subscript &&
                                                         op->getNumArgs() >= 1 &&
                                                         is_tensor_list(op->getArg(0)->getType()))
    return classify(op->getArg(0), u);

  // A new tensor made while grad is off does not require grad.
  const CallRec* rec = call_rec(c, u.owner);
  if (rec && rec->grad == Grad::Off && returns_tensor && !returns_ref)
    return Prov::frozen(rec->guard);

  // Any autograd Function: its outputs require grad only when an input does.
  if (apply_target(c)) {
    auto it = apply_prov_.find(c);
    if (it != apply_prov_.end()) return it->second;
    return combine_tensor_args(c, u, false);
  }

  // A module: frozen parameters (and, for an embedding, integer inputs) give outputs that do
  // not require grad; trainable ones (LibTorch's default) give outputs that do.
  const CXXRecordDecl* impl = nullptr;
  if (const Expr* obj = module_object(c, &impl)) {
    const ValueDecl* d = module_decl(obj);
    SourceLocation frozen;
    if (d && frozen_modules_.count(d) && !unfrozen_modules_.count(d)) frozen = frozen_modules_[d];
    if (frozen.isInvalid() && impl && frozen_records_.count(pattern_of(impl)))
      frozen = frozen_records_[pattern_of(impl)];
    if (frozen.isInvalid()) return Prov::of(Prov::Grad);
    if (is_embedding_impl(impl)) return Prov::frozen(frozen);
    Prov in = combine_tensor_args(c, u, false);
    return in.kind == Prov::Grad ? in : Prov::frozen(frozen);
  }

  if (!fd) return Prov::of(Prov::Unknown);

  // A tensor operation or any other library call returning a tensor.
  if (!user_decl(fd)) {
    if (!returns_tensor) return Prov::of(Prov::Unknown);
    // torch::randn(..., torch::requires_grad()) makes a leaf that requires grad.
    bool asks_grad = false;
    std::function<void(const Stmt*)> find_rg = [&](const Stmt* s) {
      if (!s || asks_grad) return;
      if (const auto* cc = dyn_cast<CallExpr>(s)) {
        if (const FunctionDecl* f = cc->getDirectCallee(); f && has_name(f, "requires_grad")) {
          auto b =
              cc->getNumArgs() >= 1 && !isa<CXXDefaultArgExpr>(cc->getArg(cc->getNumArgs() - 1))
                  ? const_bool(cc->getArg(cc->getNumArgs() - 1))
                  : std::optional<bool>(true);
          if (!b || *b) asks_grad = true;
        }
      }
      for (const Stmt* ch : s->children()) find_rg(ch);
    };
    for (const Expr* a : c->arguments()) find_rg(a);
    if (asks_grad) return Prov::of(Prov::Grad);
    return combine_tensor_args(c, u, true);
  }

  // A function of the unit: what its returns come from, parameters mapped to the arguments.
  const FunctionDecl* def = body_of(fd);
  if (!def || u.depth >= 3 * opts_.max_call_depth) return Prov::of(Prov::Unknown);
  llvm::DenseMap<const ParmVarDecl*, std::pair<const Expr*, const Use*>> env;
  for (unsigned i = 0; i < def->getNumParams() && i < c->getNumArgs(); ++i)
    env[def->getParamDecl(i)] = {c->getArg(i), &u};
  BodyIndex& bi = index(def);
  if (bi.returns.empty()) return Prov::of(Prov::Unknown);
  Prov p = Prov::of(Prov::Cycle);
  for (const ReturnStmt* r : bi.returns) {
    Use ru;
    ru.owner = def;
    ru.at = r->getBeginLoc();
    ru.ctl = bi.return_ctl[r];
    ru.env = &env;
    ru.depth = u.depth + 1;
    p = combine(p, classify(r->getRetValue(), ru));
  }
  return p;
}

Prov Analyzer::classify_var(const VarDecl* v, const Use& u) {
  if (const auto* pv = dyn_cast<ParmVarDecl>(v)) {
    if (u.env) {
      auto it = u.env->find(pv);
      if (it != u.env->end()) return classify(it->second.first, *it->second.second);
    }
    return Prov::of(Prov::Unknown);
  }
  if (v->hasGlobalStorage()) return Prov::of(Prov::Unknown);
  if (visiting_.count(v)) return Prov::of(Prov::Cycle);
  const auto* owner = dyn_cast_or_null<FunctionDecl>(v->getParentFunctionOrMethod());
  if (!owner) return Prov::of(Prov::Unknown);
  const FunctionDecl* def = body_of(owner);
  if (!def) return Prov::of(Prov::Unknown);
  BodyIndex& bi = index(def);
  auto it = bi.defs_of.find(v);
  if (it == bi.defs_of.end()) return Prov::of(Prov::Unknown);
  bool same_owner = u.owner && body_of(u.owner) == def;

  auto prefix = [](const Ctl& a, const Ctl& b) {
    return a.size() <= b.size() && std::equal(a.begin(), a.end(), b.begin());
  };
  auto shares_loop = [&](const Ctl& a) {
    for (const Stmt* s : a)
      if (!isa<IfStmt>(s) && !isa<SwitchStmt>(s) &&
          std::find(u.ctl.begin(), u.ctl.end(), s) != u.ctl.end())
        return true;
    return false;
  };
  // Reaching definitions, approximately: the last definition before the use that is not in a
  // branch the use is outside of kills the earlier ones; definitions later in a loop that
  // holds the use reach it around the loop.
  const DefRec* dominating = nullptr;
  for (size_t i : it->second) {
    const DefRec& d = bi.defs[i];
    if (d.kind == DefRec::Update || !before(d.at, u.at)) continue;
    if (same_owner && !prefix(d.ctl, u.ctl)) continue;
    if (!dominating || before(dominating->at, d.at)) dominating = &d;
  }
  std::vector<const DefRec*> reaching;
  for (size_t i : it->second) {
    const DefRec& d = bi.defs[i];
    bool is_before = before(d.at, u.at);
    if (is_before && dominating && before(d.at, dominating->at)) continue;
    if (is_before || (same_owner && shares_loop(d.ctl))) reaching.push_back(&d);
  }
  if (reaching.empty()) return Prov::of(Prov::Unknown);
  visiting_.insert(v);
  Prov p = Prov::of(Prov::Cycle);
  for (const DefRec* d : reaching) {
    if (d->kind == DefRec::MarkGrad) {
      p = combine(p, Prov::of(Prov::Grad));
    } else if (d->kind == DefRec::MarkFrozen) {
      p = combine(p, Prov::frozen(d->src));
    } else {
      Use du;
      du.owner = def;
      du.at = d->at;
      du.ctl = d->ctl;
      du.env = same_owner ? u.env : nullptr;
      du.depth = u.depth + 1;
      p = combine(p, classify(d->value, du));
    }
  }
  visiting_.erase(v);
  return p;
}

// ---- freezing -----------------------------------------------------------------------------------

bool Analyzer::embedding_name(const std::string& s) {
  std::string l;
  for (char ch : s) l.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(ch))));
  return l.find("embed") != std::string::npos || l.find("wte") != std::string::npos;
}

void Analyzer::record_freezes(CodeFacts& out) {
  // `model->embed` for the module expression `model->embed->` (ModuleHolder::operator->).
  auto strip_holder = [&](const Expr* e) {
    e = strip(e);
    if (const auto* op = dyn_cast<CXXOperatorCallExpr>(e); op && op->getOperator() == OO_Arrow)
      return strip(op->getArg(0));
    return e;
  };
  for (const auto& oc : rg_calls) {
    const auto* mc = cast<CXXMemberCallExpr>(oc.call);
    bool value = true;
    if (mc->getNumArgs() >= 1 && !isa<CXXDefaultArgExpr>(mc->getArg(0))) {
      auto b = const_bool(mc->getArg(0));
      if (!b) continue;  // a value known only at run time: not a fact
      value = *b;
    }
    const Expr* obj = strip(mc->getImplicitObjectArgument());
    // `np.value()` of a named_parameters() item.
    if (const auto* vc = dyn_cast<CXXMemberCallExpr>(obj);
        vc && vc->getMethodDecl() && has_name(vc->getMethodDecl(), "value"))
      obj = strip(vc->getImplicitObjectArgument());
    const Expr* module = nullptr;  // the module whose parameters these are
    bool all = false;              // every parameter of it
    bool conditional = false;
    std::string target;
    if (const auto* dre = dyn_cast<DeclRefExpr>(obj)) {
      // for (auto& p : m->parameters()) p.requires_grad_(false);
      const auto* vd = dyn_cast<VarDecl>(dre->getDecl());
      const FunctionDecl* owner = oc.owner ? body_of(oc.owner) : nullptr;
      if (!vd || !owner) continue;
      BodyIndex& bi = index(owner);
      auto lit = bi.range_loops.find(vd);
      if (lit == bi.range_loops.end()) continue;
      const auto* range = dyn_cast<CXXMemberCallExpr>(strip(lit->second->getRangeInit()));
      const CXXMethodDecl* rm = range ? range->getMethodDecl() : nullptr;
      if (!rm || !(has_name(rm, "parameters") || has_name(rm, "named_parameters")) ||
          !is_module_class(rm->getParent()))
        continue;
      module = range->getImplicitObjectArgument();
      all = true;
      if (const CallRec* rec = call_rec(mc, oc.owner)) {
        auto pos = std::find(rec->ctl.begin(), rec->ctl.end(), lit->second);
        for (auto k = pos; k != rec->ctl.end(); ++k)
          if (isa<IfStmt>(*k) || isa<SwitchStmt>(*k)) conditional = true;
      }
      bool implicit_this =
          isa<CXXThisExpr>(strip(module)) && strip(module)->getBeginLoc() == range->getBeginLoc();
      target = implicit_this ? "this" : text(strip_holder(module)->getSourceRange());
      if (conditional) target += " (some parameters)";
    } else if (const auto* me = dyn_cast<MemberExpr>(obj)) {
      // m->weight.requires_grad_(false)
      const Expr* base = me->getBase();
      const CXXRecordDecl* impl = module_impl_of_type(base->getType());
      if (!impl) continue;
      module = base;
      all = is_embedding_impl(impl) && has_name(me->getMemberDecl(), "weight");
      target = text(obj->getSourceRange());
    } else if (const auto* op = dyn_cast<CXXOperatorCallExpr>(obj);
               op && op->getOperator() == OO_Subscript) {
      const auto* range = dyn_cast<CXXMemberCallExpr>(strip(op->getArg(0)));
      const CXXMethodDecl* rm = range ? range->getMethodDecl() : nullptr;
      if (!rm || !(has_name(rm, "parameters") || has_name(rm, "named_parameters")) ||
          !is_module_class(rm->getParent()))
        continue;
      module = range->getImplicitObjectArgument();
      target = text(obj->getSourceRange());
    } else {
      continue;  // a tensor that is not a module's parameter
    }
    const ValueDecl* md = module_decl(module);
    const CXXRecordDecl* impl = module_impl_of_type(strip(module)->getType());
    bool this_module = isa<CXXThisExpr>(strip(module));
    if (!value) {
      FreezeFact f;
      f.loc = loc(mc->getSourceRange());
      f.target = target;
      f.embeddings = is_embedding_impl(impl) || embedding_name(target);
      out.freezes.push_back(std::move(f));
      if (all && !conditional) {
        if (this_module) {
          if (const auto* rd =
                  dyn_cast_or_null<CXXRecordDecl>(oc.owner ? oc.owner->getParent() : nullptr))
            frozen_records_.try_emplace(pattern_of(rd), mc->getBeginLoc());
        } else if (md) {
          frozen_modules_.try_emplace(md, mc->getBeginLoc());
        }
      }
    } else if (md) {
      unfrozen_modules_.insert(md);
    }
  }
  for (const auto& oc : register_params) {
    const auto* mc = cast<CXXMemberCallExpr>(oc.call);
    if (mc->getNumArgs() < 3 || isa<CXXDefaultArgExpr>(mc->getArg(2))) continue;
    auto b = const_bool(mc->getArg(2));
    if (!b || *b) continue;
    FreezeFact f;
    f.loc = loc(mc->getSourceRange());
    std::string name = text(mc->getArg(0)->getSourceRange());
    const auto* owner_class =
        oc.owner ? dyn_cast_or_null<CXXRecordDecl>(oc.owner->getParent()) : nullptr;
    f.target = (owner_class ? qname(owner_class) + "." : std::string()) + name;
    f.embeddings = embedding_name(name);
    out.freezes.push_back(std::move(f));
  }
  for (const auto& p : pretrained) {
    // Embedding::from_pretrained(w, options): frozen unless options say freeze(false).
    bool frozen = true;
    if (p.call->getNumArgs() >= 2 && !is_default_arg(p.call->getArg(1))) {
      std::optional<bool> freeze;
      bool found = false;
      std::function<void(const Stmt*)> find = [&](const Stmt* s) {
        if (!s || found) return;
        if (const auto* mc = dyn_cast<CXXMemberCallExpr>(s)) {
          if (const CXXMethodDecl* m = mc->getMethodDecl();
              m && has_name(m, "freeze") && mc->getNumArgs() == 1) {
            found = true;
            freeze = const_bool(mc->getArg(0));
            return;
          }
        }
        for (const Stmt* ch : s->children()) find(ch);
      };
      find(p.call->getArg(1));
      if (found) frozen = freeze.value_or(false);
    }
    if (!frozen) continue;
    FreezeFact f;
    f.loc = loc(p.call->getSourceRange());
    f.target = p.target_expr ? text(p.target_expr->getSourceRange())
                             : (p.target ? p.target->getNameAsString() : "");
    f.embeddings = true;
    out.freezes.push_back(std::move(f));
    if (p.target) frozen_modules_.try_emplace(p.target, p.call->getBeginLoc());
  }
}

// ---- the run ------------------------------------------------------------------------------------

CodeFacts Analyzer::run() {
  CodeFacts out;

  // Freezing first: the provenance of tensors depends on it.
  record_freezes(out);

  // Recompute Functions: one fact per class (a class template counts once).
  std::map<const CXXRecordDecl*, std::vector<const CXXRecordDecl*>> groups;
  std::vector<const CXXRecordDecl*> order;
  for (const CXXRecordDecl* rd : fn_classes) {
    const CXXRecordDecl* pat = pattern_of(rd);
    if (!groups.count(pat)) order.push_back(pat);
    auto& g = groups[pat];
    if (std::find(g.begin(), g.end(), rd) == g.end()) g.push_back(rd);
  }
  for (const CXXRecordDecl* pat : order) {
    // Prefer an instantiation whose forward and backward were instantiated; else the pattern.
    const CXXRecordDecl* pick = pat;
    for (const CXXRecordDecl* rd : groups[pat]) {
      if (rd == pat) continue;
      bool fb = false, bb = false;
      for (const CXXMethodDecl* m : rd->methods()) {
        if (has_name(m, "forward") && m->getBody()) fb = true;
        if (has_name(m, "backward") && m->getBody()) bb = true;
      }
      if (fb && bb) pick = rd;
    }
    for (const CXXRecordDecl* rd : groups[pat])
      for (const CXXMethodDecl* m : rd->methods()) internal_.insert(m);
    analyze_fn_class(pick, out);
  }
  for (const auto& [inner, where] : pending_nested_) {
    auto it = recompute_index_.find(inner);
    if (it == recompute_index_.end()) continue;
    RecomputeFunctionFact& f = out.recompute_functions[it->second];
    if (!f.nested) {
      f.nested = true;
      f.nested_loc = loc(where);
    }
  }

  // Calls of recompute Functions, in source order (an output fed to a later call counts).
  std::vector<const ApplyCall*> calls;
  for (const auto& a : applies) calls.push_back(&a);
  std::sort(calls.begin(), calls.end(), [&](const ApplyCall* a, const ApplyCall* b) {
    return before(a->call->getBeginLoc(), b->call->getBeginLoc());
  });
  std::set<std::tuple<std::string, uint32_t, uint32_t>> seen_calls;
  for (const ApplyCall* a : calls) {
    Use u;
    u.owner = a->owner;
    u.at = a->call->getBeginLoc();
    if (const CallRec* rec = call_rec(a->call, a->owner)) u.ctl = rec->ctl;
    Prov p = Prov::of(Prov::Const);
    bool any_tensor = false;
    for (const Expr* arg : a->call->arguments()) {
      QualType t = strip(arg)->getType();
      if (!is_tensor(t) && !is_tensor_list(t)) continue;
      any_tensor = true;
      p = combine(p, classify(arg, u));
    }
    apply_prov_[a->call] = any_tensor ? p : Prov::of(Prov::Unknown);
    auto it = recompute_index_.find(pattern_of(a->fn));
    if (it == recompute_index_.end()) continue;
    RecomputeCallFact r;
    r.call.loc = loc(a->call->getSourceRange());
    r.call.callee = qname(pattern_of(a->fn)) + "::apply";
    r.function = out.recompute_functions[it->second].name;
    // A call that itself runs under NoGradGuard is inference: nothing trains through it.
    const CallRec* own = call_rec(a->call, a->owner);
    bool inference = own && own->grad == Grad::Off;
    r.inputs_frozen = any_tensor && p.kind == Prov::Frozen && !inference;
    if (r.inputs_frozen) r.frozen_source_loc = loc(p.src);
    if (!seen_calls
             .insert({r.call.loc.file, r.call.loc.span.begin.line, r.call.loc.span.begin.column})
             .second)
      continue;
    out.recompute_calls.push_back(std::move(r));
  }

  // autograd.grad / backward(inputs=...) / non-scalar backward, outside the implementations.
  auto internal = [&](const FunctionDecl* owner) {
    for (const DeclContext* dc = owner; dc; dc = dc->getParent()) {
      if (const auto* fd = dyn_cast<FunctionDecl>(dc)) {
        if (internal_.count(fd) || internal_.count(body_of(fd))) return true;
      }
    }
    return false;
  };
  std::set<std::tuple<std::string, uint32_t, uint32_t>> seen_grad;
  auto push = [&](std::vector<CodeCall>& v, const CallExpr* c, std::string callee) {
    CodeCall cc;
    cc.loc = loc(c->getSourceRange());
    cc.callee = std::move(callee);
    if (!seen_grad
             .insert({cc.loc.file + "#" + std::to_string(&v == &out.autograd_grad),
                      cc.loc.span.begin.line, cc.loc.span.begin.column})
             .second)
      return;
    v.push_back(std::move(cc));
  };
  for (const auto& g : grad_calls) {
    if (g.owner && internal(g.owner)) continue;
    push(out.autograd_grad, g.call, "torch::autograd::grad");
  }
  for (const auto& g : backward_free_calls) {
    if (g.owner && internal(g.owner)) continue;
    // backward(tensors, grad_tensors = {}, retain_graph, create_graph, inputs = {})
    if (g.call->getNumArgs() >= 5 && !is_default_arg(g.call->getArg(4)) &&
        !is_empty_value(g.call->getArg(4)))
      push(out.autograd_grad, g.call, "torch::autograd::backward");
    if (g.call->getNumArgs() >= 2 && !is_default_arg(g.call->getArg(1)) &&
        !is_empty_value(g.call->getArg(1)))
      push(out.nonscalar_backward, g.call, "torch::autograd::backward");
  }
  for (const auto& g : backward_member_calls) {
    if (g.owner && internal(g.owner)) continue;
    // Tensor::backward(gradient = {}, retain_graph, create_graph, inputs = nullopt)
    if (g.call->getNumArgs() >= 4 && !is_default_arg(g.call->getArg(3)) &&
        !is_empty_value(g.call->getArg(3)))
      push(out.autograd_grad, g.call, "at::Tensor::backward");
    if (g.call->getNumArgs() >= 1 && !is_default_arg(g.call->getArg(0)) &&
        !is_empty_value(g.call->getArg(0)))
      push(out.nonscalar_backward, g.call, "at::Tensor::backward");
  }

  // Source order and statement order.
  auto by_loc = [](const Location& a, const Location& b) {
    return std::tie(a.file, a.span.begin.line, a.span.begin.column) <
           std::tie(b.file, b.span.begin.line, b.span.begin.column);
  };
  std::sort(out.recompute_functions.begin(), out.recompute_functions.end(),
            [&](const auto& a, const auto& b) { return by_loc(a.loc, b.loc); });
  std::sort(out.freezes.begin(), out.freezes.end(),
            [&](const auto& a, const auto& b) { return by_loc(a.loc, b.loc); });
  out.freezes.erase(std::unique(out.freezes.begin(), out.freezes.end(),
                                [](const FreezeFact& a, const FreezeFact& b) {
                                  return a.loc.file == b.loc.file &&
                                         a.loc.span.begin == b.loc.span.begin;
                                }),
                    out.freezes.end());
  for (auto* v : {&out.autograd_grad, &out.nonscalar_backward})
    std::sort(v->begin(), v->end(),
              [&](const CodeCall& a, const CodeCall& b) { return by_loc(a.loc, b.loc); });
  std::vector<std::pair<Location, int*>> ordered;
  for (auto& r : out.recompute_calls) ordered.emplace_back(r.call.loc, &r.call.order);
  for (auto& c : out.autograd_grad) ordered.emplace_back(c.loc, &c.order);
  for (auto& c : out.nonscalar_backward) ordered.emplace_back(c.loc, &c.order);
  for (auto& f : out.freezes) ordered.emplace_back(f.loc, &f.order);
  std::stable_sort(ordered.begin(), ordered.end(),
                   [&](const auto& a, const auto& b) { return by_loc(a.first, b.first); });
  int n = 0;
  for (size_t i = 0; i < ordered.size(); ++i) {
    if (i > 0 && by_loc(ordered[i - 1].first, ordered[i].first)) ++n;
    *ordered[i].second = n;
  }
  return out;
}

// ---- matchers
// -------------------------------------------------------------------------------------

class Collector : public MatchFinder::MatchCallback {
 public:
  explicit Collector(Analyzer& a) : a_(a) {}

  void run(const MatchFinder::MatchResult& r) override {
    const auto* owner = r.Nodes.getNodeAs<FunctionDecl>("owner");
    if (const auto* rd = r.Nodes.getNodeAs<CXXRecordDecl>("fn_class")) {
      a_.fn_classes.push_back(rd);
    } else if (const auto* c = r.Nodes.getNodeAs<CallExpr>("apply")) {
      const auto* spec = r.Nodes.getNodeAs<ClassTemplateSpecializationDecl>("fn_spec");
      if (spec && spec->getTemplateArgs().size() >= 1 &&
          spec->getTemplateArgs()[0].getKind() == TemplateArgument::Type) {
        if (const CXXRecordDecl* fn = spec->getTemplateArgs()[0].getAsType()->getAsCXXRecordDecl())
          a_.applies.push_back({c, fn, owner});
      }
    } else if (const auto* g = r.Nodes.getNodeAs<CallExpr>("grad")) {
      a_.grad_calls.push_back({g, owner});
    } else if (const auto* b = r.Nodes.getNodeAs<CallExpr>("bwd_free")) {
      a_.backward_free_calls.push_back({b, owner});
    } else if (const auto* bm = r.Nodes.getNodeAs<CallExpr>("bwd_member")) {
      a_.backward_member_calls.push_back({bm, owner});
    } else if (const auto* rg = r.Nodes.getNodeAs<CallExpr>("rg")) {
      a_.rg_calls.push_back({rg, owner});
    } else if (const auto* rp = r.Nodes.getNodeAs<CallExpr>("regparam")) {
      a_.register_params.push_back({rp, owner});
    } else if (const auto* iv = r.Nodes.getNodeAs<Expr>("init_value")) {
      const ValueDecl* d = r.Nodes.getNodeAs<ValueDecl>("init_decl");
      if (!d) {
        if (const auto* lhs = r.Nodes.getNodeAs<Expr>("init_lhs")) {
          const Expr* e = strip(lhs);
          if (const auto* me = dyn_cast<MemberExpr>(e))
            d = me->getMemberDecl();
          else if (const auto* dre = dyn_cast<DeclRefExpr>(e))
            d = dre->getDecl();
        }
      }
      if (d) a_.inits[d].push_back(iv);
    } else if (const auto* fp = r.Nodes.getNodeAs<CallExpr>("pretrained")) {
      const auto* lhs = r.Nodes.getNodeAs<Expr>("lhs");
      const ValueDecl* target = r.Nodes.getNodeAs<ValueDecl>("target");
      if (!target && lhs) {
        const Expr* e = strip(lhs);
        if (const auto* me = dyn_cast<MemberExpr>(e))
          target = me->getMemberDecl();
        else if (const auto* dre = dyn_cast<DeclRefExpr>(e))
          target = dre->getDecl();
      }
      a_.pretrained.push_back({fp, lhs, target});
    }
  }

 private:
  Analyzer& a_;
};

}  // namespace

CodeFacts analyze_unit(ASTContext& ctx, const std::vector<Decl*>& user_decls,
                       const AnalysisOptions& opts) {
  Analyzer a(ctx, opts);
  Collector col(a);
  MatchFinder finder;

  auto tensor_class = cxxRecordDecl(hasAnyName("::at::Tensor", "::at::TensorBase"));
  auto owner = optionally(forFunction(functionDecl().bind("owner")));
  finder.addMatcher(
      cxxRecordDecl(isDefinition(), isDerivedFrom(hasName("::torch::autograd::Function")))
          .bind("fn_class"),
      &col);
  finder.addMatcher(
      callExpr(callee(cxxMethodDecl(
                   hasName("apply"),
                   ofClass(classTemplateSpecializationDecl(hasName("::torch::autograd::Function"))
                               .bind("fn_spec")))),
               owner)
          .bind("apply"),
      &col);
  finder.addMatcher(
      callExpr(callee(functionDecl(hasName("::torch::autograd::grad"))), owner).bind("grad"), &col);
  finder.addMatcher(callExpr(callee(functionDecl(hasName("::torch::autograd::backward"))), owner)
                        .bind("bwd_free"),
                    &col);
  finder.addMatcher(
      cxxMemberCallExpr(callee(cxxMethodDecl(hasName("backward"), ofClass(tensor_class))), owner)
          .bind("bwd_member"),
      &col);
  finder.addMatcher(
      cxxMemberCallExpr(callee(cxxMethodDecl(hasAnyName("requires_grad_", "set_requires_grad"),
                                             ofClass(tensor_class))),
                        owner)
          .bind("rg"),
      &col);
  finder.addMatcher(
      cxxMemberCallExpr(callee(cxxMethodDecl(hasName("register_parameter"),
                                             ofClass(hasName("::torch::nn::Module")))),
                        owner)
          .bind("regparam"),
      &col);
  auto pretrained =
      callExpr(callee(cxxMethodDecl(
                   hasName("from_pretrained"),
                   ofClass(hasAnyName("::torch::nn::Embedding", "::torch::nn::EmbeddingBag")))))
          .bind("pretrained");
  auto holding = anyOf(pretrained, hasDescendant(pretrained));
  finder.addMatcher(
      cxxOperatorCallExpr(hasOverloadedOperatorName("="), hasArgument(0, expr().bind("lhs")),
                          hasArgument(1, holding)),
      &col);
  finder.addMatcher(
      binaryOperator(hasOperatorName("="), hasLHS(expr().bind("lhs")), hasRHS(holding)), &col);
  finder.addMatcher(varDecl(hasInitializer(holding)).bind("target"), &col);
  finder.addMatcher(cxxConstructorDecl(forEachConstructorInitializer(cxxCtorInitializer(
                        forField(fieldDecl().bind("target")), withInitializer(holding)))),
                    &col);

  // Initialisations of Dropout modules (their p).
  auto dropout_type = hasType(hasUnqualifiedDesugaredType(recordType(hasDeclaration(cxxRecordDecl(
      hasAnyName("::torch::nn::Dropout", "::torch::nn::Dropout2d", "::torch::nn::Dropout3d",
                 "::torch::nn::AlphaDropout", "::torch::nn::FeatureAlphaDropout"))))));
  finder.addMatcher(cxxConstructorDecl(forEachConstructorInitializer(
                        cxxCtorInitializer(forField(fieldDecl(dropout_type).bind("init_decl")),
                                           withInitializer(expr().bind("init_value"))))),
                    &col);
  finder.addMatcher(
      varDecl(dropout_type, hasInitializer(expr().bind("init_value"))).bind("init_decl"), &col);
  finder.addMatcher(cxxOperatorCallExpr(hasOverloadedOperatorName("="),
                                        hasArgument(0, expr(dropout_type).bind("init_lhs")),
                                        hasArgument(1, expr().bind("init_value"))),
                    &col);
  finder.addMatcher(
      fieldDecl(dropout_type, hasInClassInitializer(expr().bind("init_value"))).bind("init_decl"),
      &col);

  std::vector<Decl*> saved = ctx.getTraversalScope();
  ctx.setTraversalScope(user_decls);
  finder.matchAST(ctx);
  CodeFacts out = a.run();
  ctx.setTraversalScope(saved);
  return out;
}

}  // namespace gcheck::cxx
