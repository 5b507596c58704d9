#include "rules/rule.h"

namespace gcheck {
namespace {
// Unused suppressions are found by the lint engine once every file's findings are known (a
// suppression is unused only when no rule fired on its line); the engine reports them under
// this rule's code. Nothing to check per Setup.
void check(const Setup&, Context&) {}
}  // namespace

extern const Rule kGC506 = {
    "GC506", "unused-suppression", Severity::Warning,
    "A gcheck suppression comment that suppresses nothing",
    "", "", "config,code", &check};

}  // namespace gcheck
