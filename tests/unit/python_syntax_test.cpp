// The Python front end: bad syntax is an InputError at the first problem (tree-sitter recovers
// from errors, so the tree alone never fails), valid modern syntax parses, the grammar is the
// pinned one, and the pre-filter skips files that cannot hold a checkpointing setup.
#include "analyzer/python/grammar.h"
#include "tests/unit/python_test_util.h"

using namespace gcheck;
using gcheck::test::py_error;
using gcheck::test::py_result;

TEST_CASE(
    "python: the grammar is one this tree-sitter accepts, with every node the front end reads") {
  CHECK_FALSE(gcheck::py::grammar_problem().has_value());
  CHECK(ts_language_version(gcheck::py::language()) == 14);
  // Keywords used as names (print, match, type, exec) are identifiers to the front end too.
  auto f = test::py(
      "import torch\nfrom torch.utils.checkpoint import checkpoint as match\ny = match(f, x)\n"
      "print(x)\nexec = 3\n");
  CHECK(f->code->checkpoint_calls.size() == 1);
}

TEST_CASE("python: syntax errors are located and described") {
  struct Case {
    const char* code;
    uint32_t line, column;
    const char* message;
  };
  const Case cases[] = {
      {"import torch\ndef f(:\n    pass\n", 2, 7, "missing ')'"},
      {"import torch\nx = (1,\ny = 2\n", 2, 5, "'(' was never closed"},
      {"import torch\ns = \"abc\nx = 1\n", 2, 5, "unterminated string"},
      {"import torch\nif x\n    y = 1\n", 2, 5, "expected ':'"},
      {"import torch\nx = 1\n  y = 2\n", 3, 3, "unexpected indent"},
      {"import torch\ndef f():\n        x = 1\n    y = 2\n", 4, 5, "unindent does not match"},
      {"import torch\nprint \"hi\"\n", 2, 1, "Python 2 print statement"},
      {"import torch\nx = checkpoint = = 1\n", 2, 18, "invalid syntax at '='"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.code);
    InputError e = py_error(c.code);
    CHECK(e.loc.file == "t.py");
    CHECK(e.loc.span.begin.line == c.line);
    if (c.column) CHECK(e.loc.span.begin.column == c.column);
    CHECK(e.message.find(c.message) != std::string::npos);
    CHECK(e.message.rfind("syntax error", 0) == 0);
  }
}

TEST_CASE("python: grammar errors in statements that cannot hold a fact need a full parse") {
  // Lexically sound, so the scan does not see it; the statement names no checkpointing API,
  // so it is not parsed by default.
  const char* code = "import torch\ndef log(x):\n    y = = x\n";
  CHECK(python_facts(std::make_shared<SourceFile>("t.py", "t.py", code), InputLimits{}).ok());
  InputError e = py_error(code, /*full_parse=*/true);
  CHECK(e.loc.span.begin.line == 3);
  CHECK(e.message.find("invalid syntax") != std::string::npos);
  // The same error in a statement the front end reads is reported by default.
  InputError r =
      py_error("import torch\ndef f(x):\n    y = = torch.utils.checkpoint.checkpoint(x)\n");
  CHECK(r.loc.span.begin.line == 3);
}

TEST_CASE("python: modern syntax parses without errors") {
  auto f = test::py(
      "import torch\n"
      "match cmd:\n    case {\"x\": 1}:\n        pass\n    case _:\n        pass\n"
      "type Alias = list[int]\n"
      "async def f():\n    async with a as b:\n        await g()\n"
      "def h[T](x: T) -> T:\n    return x\n"
      "while (n := next(it)):\n    pass\n"
      "x = [*a, *b]\nprint(f\"{x!r:>10} {{}}\")\n"
      "if x: y = 1\n"
      "try:\n    pass\nexcept* ValueError:\n    pass\n"
      "lambda: (yield)\n");
  CHECK(f->format == Format::Python);
  // A file with a UTF-8 byte order mark.
  CHECK(test::py("\xef\xbb\xbfimport torch\nx = 1\n")->format == Format::Python);
}

TEST_CASE("python: the pre-filter skips files that cannot hold a checkpointing setup") {
  auto skipped = py_result("import os\nprint(os.getcwd())\n", /*prefilter=*/true);
  REQUIRE(skipped.ok());
  CHECK(skipped.value()->format == Format::Unknown);
  CHECK(skipped.value()->format_reason.find("mentions none of") != std::string::npos);
  // Skipped before parsing: even bad syntax is not looked at.
  auto bad = py_result("def f(:\n", /*prefilter=*/true);
  CHECK(bad.ok());
  for (const char* word : {"torch", "transformers", "trl", "peft", "unsloth", "checkpoint"}) {
    CAPTURE(word);
    CHECK(python_may_matter(std::string("# uses ") + word + "\n"));
  }
  CHECK_FALSE(python_may_matter("import numpy\n"));
  auto kept = py_result("import torch\n", /*prefilter=*/true);
  CHECK(kept.value()->format == Format::Python);
}

TEST_CASE("python: hostile input stays bounded") {
  // Deep nesting: the walk stops at the depth limit instead of overflowing the stack.
  std::string deep = "import torch\nx = ";
  for (int i = 0; i < 3000; ++i) deep += "[";
  for (int i = 0; i < 3000; ++i) deep += "]";
  deep += "\n";
  auto r = py_result(deep);
  CHECK(r.ok());
  // 90 nested blocks (CPython allows 100 levels of indentation).
  std::string nested = "import torch\n";
  for (int i = 0; i < 90; ++i) nested += std::string(static_cast<size_t>(i), ' ') + "if x:\n";
  nested += std::string(90, ' ') + "model.gradient_checkpointing_enable()\n";
  auto n = py_result(nested);
  REQUIRE(n.ok());
  CHECK(n.value()->code->gc_enables.size() == 1);
  // A name bound to itself does not loop.
  auto self = test::py(
      "from transformers import TrainingArguments\na = b\nb = a\nt = TrainingArguments('o', "
      "gradient_checkpointing=a)\n");
  CHECK_FALSE(self->gradient_checkpointing);
  // NUL bytes are refused, as CPython refuses them.
  auto src = std::make_shared<SourceFile>("b.py", "b.py", std::string("import torch\nx\0y\n", 17));
  auto r2 = python_facts(src, InputLimits{});
  REQUIRE_FALSE(r2.ok());
  CHECK(r2.error().message == "source code cannot contain null bytes");
  CHECK(r2.error().loc.span.begin.line == 2);
  CHECK(r2.error().loc.span.begin.column == 2);
}
