// gcheck-cxx: the LibTorch C++ front end of gcheck, on Clang LibTooling. Like clang-tidy, it
// reads compile_commands.json (-p build/) or the flags after `--`, and writes what it finds in
// each translation unit (code facts with C++ locations) as JSON for gcheck, or as text.
//
//   gcheck-cxx [--format=json|text] [-p BUILD] FILE... [-- COMPILER FLAGS]
//
// Exit codes: 0 the report was written (compile errors are in it), 2 usage error.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <clang/AST/ASTConsumer.h>
#include <clang/AST/ASTContext.h>
#include <clang/Basic/Diagnostic.h>
#include <clang/Basic/SourceManager.h>
#include <clang/Frontend/CompilerInstance.h>
#include <clang/Frontend/FrontendAction.h>
#include <clang/Tooling/ArgumentsAdjusters.h>
#include <clang/Tooling/CommonOptionsParser.h>
#include <clang/Tooling/CompilationDatabase.h>
#include <clang/Tooling/Tooling.h>
#include <fmt/format.h>
#include <llvm/Support/CommandLine.h>
#include <llvm/Support/FileSystem.h>
#include <llvm/Support/Path.h>

#include "analyzer/cxx/clang/analysis.h"
#include "analyzer/cxx/include_scan.h"
#include "analyzer/cxx/report.h"

namespace {

namespace cl = llvm::cl;
using Clock = std::chrono::steady_clock;
using gcheck::Location;
using gcheck::cxx::Report;
using gcheck::cxx::UnitReport;

cl::OptionCategory gCategory("gcheck-cxx options");
cl::opt<std::string> gFormat("format",
                             cl::desc("Output: text (default) or json (what gcheck reads)"),
                             cl::init("text"), cl::cat(gCategory));
cl::opt<bool> gNoSkip("no-skip",
                      cl::desc("Analyze units even when they include no LibTorch header"),
                      cl::cat(gCategory));
cl::opt<bool> gFullBodies(
    "full-bodies",
    cl::desc("Also parse the bodies of functions in system and LibTorch headers (slower; by "
             "default they are skipped, as clangd does for preambles: the analysis never "
             "looks inside them)"),
    cl::cat(gCategory));
cl::opt<unsigned> gMaxDiagnostics("max-diagnostics", cl::desc("Compile errors listed per unit"),
                                  cl::init(20), cl::cat(gCategory));
cl::opt<std::string> gResourceDir("clang-resource-dir",
                                  cl::desc("Clang's resource folder (builtin headers)"),
                                  cl::init(GCHECK_CLANG_RESOURCE_DIR), cl::cat(gCategory));
cl::extrahelp gMoreHelp(
    "\nReads compile_commands.json (-p BUILD, or the nearest one above each file) or the\n"
    "compiler flags after `--`. Units that include no LibTorch header (a scan of #include\n"
    "directives through project headers) are skipped before Clang parses them.\n");

// A database of one command: ClangTool runs every command a database has for a file, and we
// want exactly the one we scanned.
class OneCommand : public clang::tooling::CompilationDatabase {
 public:
  explicit OneCommand(clang::tooling::CompileCommand c) : cmd_(std::move(c)) {}
  std::vector<clang::tooling::CompileCommand> getCompileCommands(llvm::StringRef) const override {
    return {cmd_};
  }
  std::vector<std::string> getAllFiles() const override { return {cmd_.Filename}; }

 private:
  clang::tooling::CompileCommand cmd_;
};

// Collects compile errors (warnings are not ours to report).
class ErrorCollector : public clang::DiagnosticConsumer {
 public:
  explicit ErrorCollector(UnitReport& u) : u_(u) {}
  void HandleDiagnostic(clang::DiagnosticsEngine::Level level,
                        const clang::Diagnostic& info) override {
    clang::DiagnosticConsumer::HandleDiagnostic(level, info);
    if (level < clang::DiagnosticsEngine::Error) return;
    ++u_.error_count;
    if (u_.diagnostics.size() >= gMaxDiagnostics) return;
    llvm::SmallString<256> msg;
    info.FormatDiagnostic(msg);
    Location loc;
    if (info.hasSourceManager() && info.getLocation().isValid()) {
      const clang::SourceManager& sm = info.getSourceManager();
      clang::PresumedLoc p = sm.getPresumedLoc(sm.getFileLoc(info.getLocation()));
      if (p.isValid()) {
        llvm::SmallString<256> path(p.getFilename());
        llvm::sys::fs::make_absolute(path);
        llvm::sys::path::remove_dots(path, true);
        loc.file = std::string(path.str());
        loc.span.begin = {p.getLine(), p.getColumn()};
      }
    }
    u_.diagnostics.push_back({loc, std::string(msg.str())});
  }

 private:
  UnitReport& u_;
};

class Consumer : public clang::ASTConsumer {
 public:
  Consumer(clang::CompilerInstance& ci, UnitReport& u, Clock::time_point start)
      : sm_(ci.getSourceManager()), u_(u), start_(start) {}

  bool HandleTopLevelDecl(clang::DeclGroupRef g) override {
    for (clang::Decl* d : g)
      if (user(d->getLocation())) decls_.push_back(d);
    return true;
  }
  // Only reached when SkipFunctionBodies is on: skips bodies in system and LibTorch headers.
  // (Sema never skips constexpr functions nor those with deduced return types.)
  bool shouldSkipFunctionBody(clang::Decl* d) override { return !user(d->getLocation()); }

  void HandleTranslationUnit(clang::ASTContext& ctx) override {
    auto parsed = Clock::now();
    u_.parse_ms = std::chrono::duration<double, std::milli>(parsed - start_).count();
    u_.code = gcheck::cxx::analyze_unit(ctx, decls_);
    u_.analysis_ms = std::chrono::duration<double, std::milli>(Clock::now() - parsed).count();
    u_.analyzed = true;
  }

 private:
  bool user(clang::SourceLocation l) {
    if (l.isInvalid()) return false;
    l = sm_.getFileLoc(l);
    clang::FileID f = sm_.getFileID(l);
    auto it = user_.find(f);
    if (it != user_.end()) return it->second;
    bool u = false;
    if (!sm_.isInSystemHeader(l)) {
      if (const clang::FileEntry* fe = sm_.getFileEntryForID(f))
        u = !gcheck::cxx::is_libtorch_path(fe->getName());
    }
    user_[f] = u;
    return u;
  }

  clang::SourceManager& sm_;
  UnitReport& u_;
  Clock::time_point start_;
  std::vector<clang::Decl*> decls_;
  llvm::DenseMap<clang::FileID, bool> user_;
};

class Action : public clang::ASTFrontendAction {
 public:
  explicit Action(UnitReport& u) : u_(u) {}
  std::unique_ptr<clang::ASTConsumer> CreateASTConsumer(clang::CompilerInstance& ci,
                                                        llvm::StringRef) override {
    ci.getFrontendOpts().SkipFunctionBodies = !gFullBodies;
    return std::make_unique<Consumer>(ci, u_, start_);
  }
  bool BeginInvocation(clang::CompilerInstance&) override {
    start_ = Clock::now();
    return true;
  }

 private:
  UnitReport& u_;
  Clock::time_point start_ = Clock::now();
};

class Factory : public clang::tooling::FrontendActionFactory {
 public:
  explicit Factory(UnitReport& u) : u_(u) {}
  std::unique_ptr<clang::FrontendAction> create() override { return std::make_unique<Action>(u_); }

 private:
  UnitReport& u_;
};

std::string absolute(const std::string& p) {
  llvm::SmallString<256> a(p);
  llvm::sys::fs::make_absolute(a);
  llvm::sys::path::remove_dots(a, true);
  return std::string(a.str());
}

std::string shown(const std::string& p) {
  llvm::SmallString<256> cwd;
  if (!llvm::sys::fs::current_path(cwd)) {
    std::string prefix = std::string(cwd.str()) + "/";
    if (p.rfind(prefix, 0) == 0) return p.substr(prefix.size());
  }
  return p;
}

std::string where(const Location& l) {
  if (!l.known()) return "?";
  return fmt::format("{}:{}:{}", shown(l.file), l.span.begin.line, l.span.begin.column);
}

void print_text(const Report& r) {
  for (const auto& u : r.units) {
    if (!u.analyzed) {
      std::printf("%s: skipped: %s\n", shown(u.file).c_str(), u.reason.c_str());
    } else {
      std::printf("%s: analyzed (%s); parse %.0f ms, analysis %.1f ms\n", shown(u.file).c_str(),
                  u.reason.c_str(), u.parse_ms, u.analysis_ms);
    }
    for (const auto& d : u.diagnostics)
      std::printf("  %s: error: %s\n", where(d.loc).c_str(), d.message.c_str());
    const auto& c = u.code;
    for (const auto& f : c.recompute_functions) {
      std::string s = fmt::format("  {}: recompute Function {}:{}{}", where(f.loc), f.name,
                                  f.forward_no_grad ? " forward under no-grad," : "",
                                  f.backward_recomputes ? " backward recomputes" : "");
      s += f.saves_rng ? "; RNG saved and restored" : "; RNG not restored";
      if (f.dropout_inside) s += fmt::format("; dropout at {}", where(f.dropout_loc));
      if (f.mutates_state) s += fmt::format("; mutates state at {}", where(f.mutation_loc));
      if (f.nested) s += fmt::format("; applied inside another at {}", where(f.nested_loc));
      std::printf("%s\n", s.c_str());
    }
    for (const auto& call : c.recompute_calls) {
      std::printf("  %s: call %s: %s\n", where(call.call.loc).c_str(), call.call.callee.c_str(),
                  call.inputs_frozen ? fmt::format("inputs do not require grad (from {})",
                                                   where(call.frozen_source_loc))
                                           .c_str()
                                     : "inputs may require grad");
    }
    for (const auto& g : c.autograd_grad)
      std::printf("  %s: %s (grad / backward with inputs)\n", where(g.loc).c_str(),
                  g.callee.c_str());
    for (const auto& g : c.nonscalar_backward)
      std::printf("  %s: %s (non-scalar backward)\n", where(g.loc).c_str(), g.callee.c_str());
    for (const auto& f : c.freezes)
      std::printf("  %s: freezes %s%s\n", where(f.loc).c_str(), f.target.c_str(),
                  f.embeddings ? " (embeddings)" : "");
  }
}

}  // namespace

// An explicit -p BUILD must hold a compilation database (clang-tidy would go on "without
// flags", which only produces errors about missing headers).
std::optional<std::string> bad_build_path(int argc, const char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") break;
    std::string dir;
    if ((a == "-p" || a == "--p") && i + 1 < argc) {
      dir = argv[i + 1];
    } else if (a.rfind("-p=", 0) == 0 || a.rfind("--p=", 0) == 0) {
      dir = a.substr(a.find('=') + 1);
    } else {
      continue;
    }
    for (const char* name : {"compile_commands.json", "compile_flags.txt"}) {
      llvm::SmallString<256> p(dir);
      llvm::sys::path::append(p, name);
      if (llvm::sys::fs::exists(p)) return std::nullopt;
    }
    return "-p " + dir + ": no compile_commands.json (or compile_flags.txt) there";
  }
  return std::nullopt;
}

int main(int argc, const char** argv) {
  if (auto bad = bad_build_path(argc, argv)) {
    llvm::errs() << "gcheck-cxx: error: " << *bad << "\n";
    return 2;
  }
  auto parser = clang::tooling::CommonOptionsParser::create(argc, argv, gCategory, cl::OneOrMore);
  if (!parser) {
    llvm::errs() << "gcheck-cxx: error: " << llvm::toString(parser.takeError()) << "\n";
    return 2;
  }
  if (gFormat != "text" && gFormat != "json") {
    llvm::errs() << "gcheck-cxx: error: --format must be text or json\n";
    return 2;
  }
  clang::tooling::CompilationDatabase& db = parser->getCompilations();
  Report report;
  for (const std::string& file : parser->getSourcePathList()) {
    UnitReport& u = report.units.emplace_back();
    u.file = absolute(file);
    std::vector<clang::tooling::CompileCommand> cmds = db.getCompileCommands(u.file);
    if (cmds.empty()) {
      u.reason = "no compile command for this file (give -p BUILD or flags after --)";
      u.diagnostics.push_back({Location{u.file, {}}, u.reason});
      u.error_count = 1;
      continue;
    }
    clang::tooling::CompileCommand cmd = cmds.front();
    gcheck::cxx::IncludeScan scan =
        gcheck::cxx::scan_includes(cmd.Filename, cmd.CommandLine, cmd.Directory, {}, shown(u.file));
    u.reason = scan.reason;
    if (!scan.may_include_libtorch && !gNoSkip) continue;
    if (!scan.may_include_libtorch) u.reason += "; analyzed anyway (--no-skip)";

    OneCommand one(cmd);
    clang::tooling::ClangTool tool(one, {u.file});
    bool has_resource_dir = false;
    for (const auto& a : cmd.CommandLine) has_resource_dir |= a.rfind("-resource-dir", 0) == 0;
    if (!has_resource_dir && !gResourceDir.empty()) {
      tool.appendArgumentsAdjuster(
          clang::tooling::getInsertArgumentAdjuster(("-resource-dir=" + gResourceDir).c_str(),
                                                    clang::tooling::ArgumentInsertPosition::BEGIN));
    }
    // Errors go into the report, not to stderr ("N errors generated", "Error while processing").
    tool.appendArgumentsAdjuster(clang::tooling::getInsertArgumentAdjuster(
        "-fno-caret-diagnostics", clang::tooling::ArgumentInsertPosition::BEGIN));
    tool.setPrintErrorMessage(false);
    ErrorCollector errors(u);
    tool.setDiagnosticConsumer(&errors);
    Factory factory(u);
    tool.run(&factory);
    if (!u.analyzed && u.error_count == 0) {
      u.diagnostics.push_back({Location{u.file, {}}, "Clang could not run on this file"});
      u.error_count = 1;
    }
  }
  if (gFormat == "json") {
    std::string out = gcheck::cxx::report_to_json(report);
    out.push_back('\n');
    std::fwrite(out.data(), 1, out.size(), stdout);
  } else {
    print_text(report);
  }
  return 0;
}
