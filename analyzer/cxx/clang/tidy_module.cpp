// gcheck's C++ checks as a clang-tidy module: clang-tidy --load=libgcheck-tidy.so
// -checks='-*,gcheck-*'. The check names are the rule codes (gcheck-GC101, ...), so
// `// NOLINT(gcheck-GC101)` suppresses a finding in clang-tidy and in gcheck alike.
//
// Each check runs the front end's analysis once the unit is parsed (onEndOfTranslationUnit)
// and reports the C++ form of its rule from the code facts alone: a C++ unit states no
// versions and no configs, so nothing else of the Setup bears on these five rules.
#include <memory>
#include <string>
#include <vector>

#include <clang-tidy/ClangTidyCheck.h>
#include <clang-tidy/ClangTidyModule.h>
#include <clang-tidy/ClangTidyModuleRegistry.h>
#include <clang/AST/ASTContext.h>
#include <clang/ASTMatchers/ASTMatchFinder.h>
#include <clang/ASTMatchers/ASTMatchers.h>
#include <clang/Basic/SourceManager.h>

#include "analyzer/cxx/clang/analysis.h"

namespace {

using namespace clang;
using namespace clang::tidy;
using namespace clang::ast_matchers;

enum class Code { GC101, GC103, GC106, GC107, GC109 };

class GcheckCheck : public ClangTidyCheck {
 public:
  GcheckCheck(llvm::StringRef name, ClangTidyContext* ctx, Code code)
      : ClangTidyCheck(name, ctx), code_(code) {}

  bool isLanguageVersionSupported(const LangOptions& lo) const override { return lo.CPlusPlus; }
  void registerMatchers(MatchFinder* finder) override {
    finder->addMatcher(translationUnitDecl().bind("tu"), this);
  }
  void check(const MatchFinder::MatchResult& r) override { ctx_ = r.Context; }
  void onEndOfTranslationUnit() override {
    if (!ctx_) return;
    ASTContext& ctx = *ctx_;
    ctx_ = nullptr;
    const SourceManager& sm = ctx.getSourceManager();
    std::vector<Decl*> user;
    for (Decl* d : ctx.getTranslationUnitDecl()->decls()) {
      SourceLocation l = sm.getFileLoc(d->getLocation());
      if (l.isInvalid() || sm.isInSystemHeader(l)) continue;
      const FileEntry* fe = sm.getFileEntryForID(sm.getFileID(l));
      if (fe && !gcheck::cxx::is_libtorch_path(fe->getName())) user.push_back(d);
    }
    gcheck::CodeFacts facts = gcheck::cxx::analyze_unit(ctx, user);
    report(ctx, facts);
  }

 private:
  SourceLocation at(ASTContext& ctx, const gcheck::Location& l) {
    if (!l.known()) return {};
    SourceManager& sm = ctx.getSourceManager();
    auto fe = sm.getFileManager().getFile(l.file);
    if (!fe) return {};
    return sm.translateFileLineCol(*fe, l.span.begin.line, l.span.begin.column);
  }

  // A Function whose forward turns grad back on builds its graph there: no lost gradients.
  static bool forward_no_grad(const gcheck::CodeFacts& c, const std::string& name) {
    for (const auto& f : c.recompute_functions)
      if (f.name == name) return f.forward_no_grad;
    return false;
  }

  void report(ASTContext& ctx, const gcheck::CodeFacts& c) {
    switch (code_) {
      case Code::GC101:
        for (const auto& call : c.recompute_calls) {
          if (!call.inputs_frozen || !forward_no_grad(c, call.function)) continue;
          diag(at(ctx, call.call.loc),
               "reentrant checkpoint '%0' is fed tensors that do not require grad: its forward "
               "runs without grad, so the layers it wraps get no gradient [GC101]")
              << call.function;
          diag(at(ctx, call.frozen_source_loc), "the input stops requiring grad here",
               DiagnosticIDs::Note);
        }
        break;
      case Code::GC103:
        if (c.recompute_functions.empty()) break;
        for (const auto& g : c.autograd_grad) {
          diag(at(ctx, g.loc),
               "'%0' in a program that checkpoints with reentrant recomputation ('%1'): the "
               "recomputed backward accumulates into .grad instead of returning the gradients "
               "asked for [GC103]")
              << g.callee << c.recompute_functions.front().name;
          diag(at(ctx, c.recompute_functions.front().loc), "reentrant checkpoint declared here",
               DiagnosticIDs::Note);
        }
        break;
      case Code::GC106:
        for (const auto& f : c.recompute_functions) {
          if (!f.dropout_inside || f.saves_rng) continue;
          diag(at(ctx, f.loc),
               "reentrant checkpoint '%0' recomputes dropout without restoring the RNG state: "
               "backward uses different dropout masks than forward [GC106]")
              << f.name;
          diag(at(ctx, f.dropout_loc), "random draw in the recomputed code", DiagnosticIDs::Note);
        }
        break;
      case Code::GC107:
        for (const auto& f : c.recompute_functions) {
          if (!f.mutates_state) continue;
          diag(at(ctx, f.mutation_loc),
               "state changed inside the computation that '%0' recomputes: it changes again "
               "when backward re-runs it [GC107]")
              << f.name;
        }
        break;
      case Code::GC109:
        for (const auto& f : c.recompute_functions) {
          if (!f.nested) continue;
          diag(at(ctx, f.nested_loc),
               "reentrant checkpoint '%0' applied inside another checkpoint's recomputed "
               "computation: every backward recomputes it twice [GC109]")
              << f.name;
        }
        break;
    }
  }

  Code code_;
  ASTContext* ctx_ = nullptr;
};

class GcheckModule : public ClangTidyModule {
 public:
  void addCheckFactories(ClangTidyCheckFactories& factories) override {
    auto add = [&](const char* name, Code code) {
      factories.registerCheckFactory(name, [code](llvm::StringRef n, ClangTidyContext* ctx) {
        return std::make_unique<GcheckCheck>(n, ctx, code);
      });
    };
    add("gcheck-GC101", Code::GC101);
    add("gcheck-GC103", Code::GC103);
    add("gcheck-GC106", Code::GC106);
    add("gcheck-GC107", Code::GC107);
    add("gcheck-GC109", Code::GC109);
  }
};

}  // namespace

// NOLINTNEXTLINE(cert-err58-cpp): the registry is how clang-tidy finds a loaded module.
static ClangTidyModuleRegistry::Add<GcheckModule> gRegistration(
    "gcheck-module", "gcheck: gradient-checkpointing checks for LibTorch C++ code");
