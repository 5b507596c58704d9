// The Python front end in the file walk: load_config sends .py files to load_python, a folder
// walk finds them, a file that does not parse is an error while the other files are still
// linted.
#include <stdlib.h>
#include <unistd.h>

#include <fstream>

#include "analyzer/detect.h"
#include "cli/engine.h"
#include "tests/unit/python_test_util.h"

using namespace gcheck;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/gcheck-py-XXXXXX";
    char* p = ::mkdtemp(tmpl);
    REQUIRE(p != nullptr);
    path = p;
  }
  ~TempDir() {
    std::string cmd = "rm -rf '" + path + "'";
    if (std::system(cmd.c_str()) != 0) MESSAGE("could not remove " << path);
  }
  std::string write(const std::string& name, const std::string& text) const {
    std::string p = path + "/" + name;
    std::ofstream(p) << text;
    return p;
  }
};

}  // namespace

TEST_CASE("python: load_config dispatches .py files (and --format-of python) to load_python") {
  TempDir d;
  std::string script = d.write(
      "train.py", "from trl import SFTConfig\nc = SFTConfig(gradient_checkpointing=True)\n");
  auto r = load_config(script, "train.py", std::nullopt, InputLimits{});
  REQUIRE(r.ok());
  CHECK(r.value()->format == Format::Python);
  CHECK(r.value()->source->display() == "train.py");
  CHECK(r.value()->gradient_checkpointing->value);
  CHECK(r.value()->gradient_checkpointing->loc.file == "train.py");

  // Named as Python although the extension says otherwise; the pre-filter does not apply.
  std::string other = d.write("launch.txt", "x = 1\n");
  auto forced = load_config(other, "launch.txt", Format::Python, InputLimits{});
  REQUIRE(forced.ok());
  CHECK(forced.value()->format == Format::Python);
  auto filtered =
      load_config(d.write("util.py", "x = 1\n"), "util.py", std::nullopt, InputLimits{});
  REQUIRE(filtered.ok());
  CHECK(filtered.value()->format == Format::Unknown);

  auto bad = load_config(d.write("bad.py", "import torch\ndef f(:\n"), "bad.py", std::nullopt,
                         InputLimits{});
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().loc.file == "bad.py");
  CHECK(bad.error().loc.span.begin.line == 2);

  auto missing = load_python(d.path + "/nope.py", "nope.py", InputLimits{});
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message.find("cannot read file") != std::string::npos);
}

TEST_CASE(
    "python: a folder walk reads .py files; a broken one is an error, the rest is still linted") {
  TempDir d;
  d.write("bad.py", "import torch\nx = (1,\n");
  d.write("good.py", "import torch\nmodel.gradient_checkpointing_enable()\n");
  d.write("util.py", "import os\n");
  d.write("config.yaml", "base_model: meta-llama/Llama-3.2-1B\ngradient_checkpointing: true\n");
  LintOptions o;
  o.paths = {d.path};
  LintResult r = run_lint(o);
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].loc.file.find("bad.py") != std::string::npos);
  CHECK(r.errors[0].loc.span.begin.line == 2);
  CHECK(r.errors[0].message.find("never closed") != std::string::npos);
  CHECK(r.files_checked == 2);  // the YAML and good.py
  bool util_skipped = false;
  for (const auto& n : r.notes) util_skipped |= n.find("util.py:1:1: note: skipped") != std::string::npos;
  CHECK(util_skipped);
  bool good_checked = false;
  for (const auto& f : r.findings) good_checked |= f.loc.file.find("good.py") != std::string::npos;
  CHECK(good_checked);  // gradient_checkpointing_enable() without kwargs: GC105 on old transformers
}
