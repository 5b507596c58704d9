// Whether two calls of a script can run in the same run (the branch check order-dependent
// rules use).
#include <doctest/doctest.h>

#include "analyzer/code_facts.h"

using namespace gcheck;

namespace {
CodeCall at(std::vector<std::string> guards, std::string scope = "main") {
  CodeCall c;
  c.scope = std::move(scope);
  c.guards = std::move(guards);
  return c;
}
}  // namespace

TEST_CASE("code: calls under contradicting conditions never run together") {
  CHECK(may_run_together(at({}), at({})));
  CHECK(may_run_together(at({"args.gc"}), at({"args.lora"})));
  CHECK_FALSE(may_run_together(at({"args.train_te and args.use_boft"}),
                               at({"args.gc", "args.train_te and not args.use_boft"})));
  CHECK_FALSE(may_run_together(at({"a and (b)"}), at({"not b"})));
  // De Morgan: not (x or y or z) implies not y.
  CHECK_FALSE(may_run_together(at({"args.train_te and args.use_boft"}),
                               at({"args.train_te and not (args.use_lora or args.use_boft or args.use_oft)"})));
  // An else branch.
  CHECK_FALSE(may_run_together(at({"use_peft"}), at({"not (use_peft)"})));
  // not (a and b) says nothing about a alone.
  CHECK(may_run_together(at({"a"}), at({"not (a and b)"})));
  // Different functions: order and branches are not compared.
  CHECK(may_run_together(at({"x"}, "f"), at({"not x"}, "g")));
}
