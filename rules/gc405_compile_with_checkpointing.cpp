#include "rules/rule.h"
#include "rules/wording.h"

namespace gcheck {
namespace {
void check(const Setup& s, Context& cx);
}  // namespace

extern const Rule kGC405 = {
    "GC405", "compile-with-checkpointing", Severity::Warning,
    "torch.compile with activation checkpointing",
    "", "checkpointing, torch_compile, use_reentrant", "config,code", &check};

namespace {

void check(const Setup& s, Context& cx) {
  if (!s.checkpointing.is(true) || !s.torch_compile.is(true)) return;
  std::string what =
      s.use_reentrant.is(true)
          ? "reentrant checkpoint is not traced by Dynamo (a graph break per checkpointed layer, "
            "the layers fall back to eager) and compiled autograd rejects it"
          : "non-reentrant checkpoint under compile with dynamic shapes can pick another compiled "
            "graph for the recomputation and raise CheckpointError (\"A different number of "
            "tensors was saved ...\"); preserve_rng_state is ignored under compile";
  cx.report(kGC405, where(s, {&s.torch_compile.why}),
            fmt::format("torch.compile ({}) with checkpointing ({}): {}",
                        wording::source(s.torch_compile), wording::reentrant(s), what),
            "compile per block after applying checkpointing (regional compilation), avoid graph "
            "breaks inside checkpointed regions, and mark dynamic dimensions up front",
            wording::chain({&s.torch_compile.why, &s.use_reentrant.why}));
}

}  // namespace
}  // namespace gcheck
