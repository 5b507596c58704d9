// The Python front end: the library versions a script declares it runs with (transformers'
// check_min_version and require_version, a PEP 723 `# /// script` header).
#include "tests/unit/python_test_util.h"

using namespace gcheck;
using gcheck::test::line_of;
using gcheck::test::py;

namespace {

const VersionDeclFact* decl(const Facts& f, const std::string& lib, size_t nth = 0) {
  for (const auto& d : f.code->version_decls)
    if (d.library == lib && nth-- == 0) return &d;
  return nullptr;
}

}  // namespace

TEST_CASE("python: check_min_version from transformers bounds transformers from below") {
  auto f =
      py("import os\n"
         "from transformers.utils import check_min_version\n"
         "check_min_version(\"4.57.0.dev0\")\n");
  const VersionDeclFact* d = decl(*f, "transformers");
  REQUIRE(d);
  CHECK(line_of(d->loc) == 3);
  CHECK(d->via == "check_min_version");
  CHECK(d->range.describe("transformers") == "transformers >= 4.57.0.dev0");
  // The dev release is kept: below every 4.57 release, above every 4.56 one.
  CHECK(d->range.contains(*Version::parse("4.57.0")));
  CHECK(d->range.contains(*Version::parse("4.57.0.dev0")));
  CHECK_FALSE(d->range.contains(*Version::parse("4.56.2")));
}

TEST_CASE("python: check_min_version through the module path, an alias and a bound name") {
  auto f =
      py("import transformers\n"
         "from transformers.utils import check_min_version as need\n"
         "MIN = \"4.46.0\"\n"
         "def main():\n"
         "    need(MIN)\n"
         "transformers.utils.check_min_version(\"4.40.0\")\n");
  REQUIRE(f->code->version_decls.size() == 2);
  CHECK(line_of(decl(*f, "transformers", 0)->loc) == 5);
  CHECK(decl(*f, "transformers", 0)->range.lo->v.text == "4.46.0");
  CHECK(line_of(decl(*f, "transformers", 1)->loc) == 6);
}

TEST_CASE("python: check_min_version under the script's main guard runs on every run") {
  auto f =
      py("from transformers.utils import check_min_version\n"
         "if __name__ == \"__main__\":\n"
         "    check_min_version(\"4.46.0\")\n");
  REQUIRE(f->code->version_decls.size() == 1);
  CHECK(line_of(f->code->version_decls[0].loc) == 3);
}

TEST_CASE("python: check_min_version that is not transformers', or runs on some paths only") {
  auto f =
      py("from diffusers.utils import check_min_version\n"
         "import transformers\n"
         "check_min_version(\"0.36.0\")\n"
         "def check_min_version2(v):\n"
         "    pass\n"
         "check_min_version2(\"9.0\")\n"
         "if transformers.__version__ > \"4\":\n"
         "    transformers.utils.check_min_version(\"4.50.0\")\n"
         "transformers.utils.check_min_version(version)\n");
  CHECK(f->code->version_decls.empty());
}

TEST_CASE("python: require_version names a requirement for any library gcheck knows") {
  auto f =
      py("from transformers.utils.versions import require_version, require_version_core\n"
         "require_version(\"datasets>=1.8.0\", \"To fix: pip install -r requirements.txt\")\n"
         "require_version(\"peft>=0.10.0,<1\")\n"
         "require_version_core(\"torch>=2.4\")\n"
         "require_version(\"accelerate\")\n");
  REQUIRE(f->code->version_decls.size() == 2);
  const VersionDeclFact* p = decl(*f, "peft");
  REQUIRE(p);
  CHECK(p->via == "require_version");
  CHECK(p->spec == "peft>=0.10.0,<1");
  CHECK(p->range.describe("peft") == "0.10.0 <= peft < 1");
  REQUIRE(decl(*f, "torch"));
  CHECK(line_of(decl(*f, "torch")->loc) == 4);
}

TEST_CASE("python: a PEP 723 script header's dependencies, located in the comment") {
  auto f =
      py("# /// script\n"
         "# requires-python = \">=3.10\"\n"
         "# dependencies = [\n"
         "#     \"transformers==4.46.0\",\n"
         "#\n"
         "#     \"trl[vllm]>=0.12\",\n"
         "#     \"datasets\",\n"
         "# ]\n"
         "# ///\n"
         "import torch\n");
  REQUIRE(f->code->version_decls.size() == 2);
  const VersionDeclFact* t = decl(*f, "transformers");
  REQUIRE(t);
  CHECK(t->range.exact());
  CHECK(t->via == "PEP 723 script metadata");
  CHECK(line_of(t->loc) == 4);
  CHECK(t->loc.span.begin.column == 7);
  const VersionDeclFact* r = decl(*f, "trl");
  REQUIRE(r);
  CHECK(line_of(r->loc) == 6);
  CHECK(r->range.describe("trl") == "trl >= 0.12");
}

TEST_CASE("python: PEP 723 line rules") {
  // The closing line is the last `# ///` of the run of comment lines: comments may follow it.
  auto f =
      py("# /// script\n"
         "# dependencies = [\"torch>=2.4\"]\n"
         "# ///\n"
         "# Fine-tunes a model.\n"
         "import torch\n");
  REQUIRE(f->code->version_decls.size() == 1);
  // ... so a later `# ///` in the same run makes the lines between part of the TOML.
  CHECK(py("# /// script\n# dependencies = [\"torch>=2.4\"]\n# ///\n# text\n# ///\nimport torch\n")
            ->code->version_decls.empty());
  // Not a block: never closed, indented, `#x` content, another type, two script blocks.
  for (const char* code :
       {"# /// script\n# dependencies = [\"torch>=2.4\"]\nimport torch\n",
        "if True:\n  # /// script\n  # dependencies = [\"torch>=2.4\"]\n  # ///\n"
        "  import torch\n",
        "# /// script\n#dependencies = [\"torch>=2.4\"]\n# ///\nimport torch\n",
        "# /// pyproject\n# dependencies = [\"torch>=2.4\"]\n# ///\nimport torch\n",
        "# /// script\n# dependencies = [\"torch>=2.4\"]\n# ///\nimport torch\n"
        "# /// script\n# dependencies = [\"torch>=2.5\"]\n# ///\n",
        "# /// script\n# dependencies = [\"torch>=2.4\"\n# ///\nimport torch\n"}) {
    CAPTURE(code);
    CHECK(py(code)->code->version_decls.empty());
  }
  // Windows line ends.
  auto w = py("# /// script\r\n# dependencies = [\"torch==2.5.1\"]\r\n# ///\r\nimport torch\r\n");
  REQUIRE(w->code->version_decls.size() == 1);
  CHECK(w->code->version_decls[0].range.exact());
}
