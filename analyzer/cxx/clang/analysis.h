// The AST analysis of the LibTorch C++ front end: finds hand-rolled reentrant checkpoints
// (torch::autograd::Function subclasses whose backward re-runs what forward ran under no-grad),
// their calls and where the tensors fed to them come from, and the other code facts the C++
// rules need. Shared by gcheck-cxx and the clang-tidy module.
#pragma once

#include <string>
#include <vector>

#include "analyzer/code_facts.h"

namespace clang {
class ASTContext;
class Decl;
}  // namespace clang

namespace gcheck::cxx {

struct AnalysisOptions {
  unsigned max_call_depth = 4;  // how many levels of calls into same-unit functions to follow
};

// Analyzes `user_decls`: the top-level declarations of the main file and of project headers
// (not the standard library's nor LibTorch's). Locations are absolute paths.
CodeFacts analyze_unit(clang::ASTContext& ctx, const std::vector<clang::Decl*>& user_decls,
                       const AnalysisOptions& opts = {});

// A file that belongs to LibTorch's headers (a path component ATen, c10, caffe2, torch/csrc, or
// a top-level torch/*.h header).
bool is_libtorch_path(std::string_view path);

}  // namespace gcheck::cxx
