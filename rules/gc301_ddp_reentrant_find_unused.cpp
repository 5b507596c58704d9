#include "rules/rule.h"
#include "rules/wording.h"

namespace gcheck {
namespace {
void check(const Setup& s, Context& cx);
}  // namespace

extern const Rule kGC301 = {
    "GC301", "ddp-reentrant-find-unused", Severity::Error,
    "DDP with reentrant checkpointing and find_unused_parameters=True crashes at the first "
    "backward",
    "ddp-unused", "checkpointing, use_reentrant, find_unused_parameters, ddp, multi_process",
    "config,code", &check};

namespace {

void check(const Setup& s, Context& cx) {
  if (!s.checkpointing.is(true) || !s.use_reentrant.is(true)) return;
  if (!s.find_unused_parameters.is(true)) return;
  if (!cx.ddp(s)) return;
  bool stated = s.find_unused_parameters.why.front().kind == Origin::Kind::Key;
  Location loc = stated ? where(s, {&s.find_unused_parameters.why})
                        : where(s, {&s.use_reentrant.why, &s.find_unused_parameters.why});
  cx.report(kGC301, loc,
            fmt::format("DDP with reentrant checkpointing ({}) and find_unused_parameters=True "
                        "({}): every reentrant backward fires DDP's autograd hooks again, and the "
                        "first backward raises \"RuntimeError: Expected to mark a variable ready "
                        "only once\"",
                        wording::reentrant(s), wording::source(s.find_unused_parameters)),
            "set use_reentrant: false (DDP then works without limits); or "
            "ddp_find_unused_parameters: false when no parameter is unused; or DDP static_graph",
            wording::chain({&s.use_reentrant.why, &s.find_unused_parameters.why, &s.ddp.why,
                            &s.multi_process.why}));
}

}  // namespace
}  // namespace gcheck
