// Helpers for the Python front end's tests: facts of a script held in a string.
#pragma once

#include <doctest/doctest.h>

#include <memory>
#include <string>

#include "analyzer/python/dump.h"
#include "analyzer/python/load_python.h"

namespace gcheck::test {

// The facts of `code` as the front end reads it by default (the lexical scan selects the
// statements to parse). Every call also reads the code with a full parse and checks that both
// readings agree: each test doubles as a check that the selection never changes a fact.
inline Result<std::shared_ptr<Facts>> py_result(const std::string& code, bool prefilter = false,
                                                bool full_parse = false) {
  auto src = std::make_shared<SourceFile>("t.py", "t.py", code);
  PythonOptions o;
  o.prefilter = prefilter;
  o.full_parse = full_parse;
  auto r = python_facts(src, InputLimits{}, o);
  if (!full_parse && r.ok()) {
    o.full_parse = true;
    auto full = python_facts(src, InputLimits{}, o);
    REQUIRE(full.ok());
    CHECK(dump_python_facts(*r.value()) == dump_python_facts(*full.value()));
  }
  return r;
}

// The facts of `code`; fails the test when it does not parse.
inline std::shared_ptr<Facts> py(const std::string& code) {
  auto r = py_result(code);
  if (!r) FAIL("unexpected error: " << r.error().loc.span.begin.line << ":" << r.error().message);
  REQUIRE(r.value()->code);
  return r.value();
}

inline InputError py_error(const std::string& code, bool full_parse = false) {
  auto r = py_result(code, false, full_parse);
  REQUIRE_FALSE(r.ok());
  return r.error();
}

// True when some Unreadable has `key` and its why mentions `why_part`.
inline bool has_unreadable(const Facts& f, const std::string& key,
                           const std::string& why_part = "") {
  for (const auto& u : f.unreadable)
    if (u.key == key && u.why.find(why_part) != std::string::npos) return true;
  return false;
}

inline uint32_t line_of(const Location& l) {
  return l.span.begin.line;
}

}  // namespace gcheck::test
