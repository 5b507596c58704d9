#!/usr/bin/python3
"""End-to-end tests of the gcheck command line: every command, output format and exit code,
suppressions, project configuration, version pins, and bad input, run the way users run them.

Run: GCHECK=build/gcheck /usr/bin/python3 tests/e2e/test_cli.py
"""
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GCHECK = os.path.abspath(os.environ.get("GCHECK", os.path.join(ROOT, "build", "gcheck")))


def run(args, cwd=None, timeout=60, env=None):
    e = dict(os.environ)
    e.pop("FORCE_COLOR", None)
    e["NO_COLOR"] = "1"
    if env:
        e.update(env)
    return subprocess.run([GCHECK] + args, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=e)


def peak_rss_mib(args, cwd=None, timeout=60):
    """Runs gcheck in a fresh interpreter and returns (completed process, peak RSS MiB)."""
    code = textwrap.dedent("""
        import json, resource, subprocess, sys
        p = subprocess.run(sys.argv[1:], capture_output=True, text=True)
        print(json.dumps({"rc": p.returncode, "out": p.stdout, "err": p.stderr,
                          "rss": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
    """)
    p = subprocess.run([sys.executable, "-c", code, GCHECK] + args, cwd=cwd,
                       capture_output=True, text=True, timeout=timeout)
    d = json.loads(p.stdout)
    return d, d["rss"] / 1024.0


class Tmp:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="gcheck-e2e-")

    def write(self, name, text, mode="w"):
        path = os.path.join(self.dir, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, mode) as f:
            f.write(text)
        return path

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


CLEAN = """\
base_model: meta-llama/Llama-3.2-1B
adapter: lora
gradient_checkpointing: true
gradient_checkpointing_kwargs:
  use_reentrant: false
"""

GC101 = """\
base_model: meta-llama/Llama-3.2-1B
unfrozen_parameters:
  - ^model.layers.1[0-5].*
gradient_checkpointing: true
gradient_checkpointing_kwargs:
  use_reentrant: true
"""

INFO_ONLY = """\
base_model: meta-llama/Llama-3.2-1B
adapter: lora
gradient_checkpointing: true
"""


class Base(unittest.TestCase):
    def setUp(self):
        self.t = Tmp()

    def tearDown(self):
        self.t.close()

    def lint_json(self, *args, cwd=None):
        p = run(["lint", "--format", "json"] + list(args), cwd=cwd or self.t.dir)
        return p, json.loads(p.stdout)


class Commands(Base):
    def test_version(self):
        p = run(["version"])
        self.assertEqual(p.returncode, 0)
        self.assertRegex(p.stdout, r"^gcheck \d+\.\d+\.\d+")
        self.assertEqual(run(["--version"]).returncode, 0)

    def test_rules_table_and_json(self):
        p = run(["rules"])
        self.assertEqual(p.returncode, 0)
        self.assertIn("GC101", p.stdout)
        self.assertIn("reentrant-frozen-inputs", p.stdout)
        rules = json.loads(run(["rules", "--format", "json"]).stdout)
        codes = [r["code"] for r in rules]
        for c in ["GC101", "GC105", "GC301", "GC302", "GC501", "GC504"]:
            self.assertIn(c, codes)
        self.assertEqual(len(codes), len(set(codes)))
        for r in rules:
            self.assertRegex(r["code"], r"^GC\d{3}$")
            self.assertIn(r["severity"], ["error", "warning", "info"])

    def test_rule_doc(self):
        p = run(["rule", "GC101"])
        self.assertEqual(p.returncode, 0)
        for section in ["## What it does", "## Why is this bad?", "## Example", "## Fix",
                        "## Affected versions", "## References"]:
            self.assertIn(section, p.stdout)
        self.assertEqual(run(["rule", "reentrant-frozen-inputs"]).returncode, 0)
        self.assertEqual(run(["rule", "gc101"]).returncode, 0)
        bad = run(["rule", "GC999"])
        self.assertEqual(bad.returncode, 2)
        self.assertIn("no rule 'GC999'", bad.stderr)

    def test_every_rule_has_complete_docs(self):
        for r in json.loads(run(["rules", "--format", "json"]).stdout):
            doc = run(["rule", r["code"]]).stdout
            self.assertTrue(doc.startswith("# %s %s" % (r["code"], r["name"])), r["code"])
            for section in ["## What it does", "## Why is this bad?", "## Fix", "## References"]:
                self.assertIn(section, doc, r["code"])

    def test_readme_lists_exactly_the_rules(self):
        import re
        with open(os.path.join(ROOT, "README.md")) as f:
            listed = set(re.findall(r"^\| (GC\d{3}) \|", f.read(), re.M))
        codes = {r["code"] for r in json.loads(run(["rules", "--format", "json"]).stdout)}
        self.assertEqual(listed, codes)

    def test_defaults_table(self):
        p = run(["defaults"])
        self.assertEqual(p.returncode, 0)
        self.assertIn("trl.gradient_checkpointing", p.stdout)
        rows = json.loads(run(["defaults", "--format", "json"]).stdout)
        self.assertTrue(all(r["source"] for r in rows))

    def test_usage_errors_exit_2(self):
        self.assertEqual(run([]).returncode, 2)
        self.assertEqual(run(["lint", "--format", "xml"]).returncode, 2)
        self.assertEqual(run(["frobnicate"]).returncode, 2)
        p = run(["lint", "--assume", "transformers"])
        self.assertEqual(p.returncode, 2)
        self.assertIn("NAME=VERSION", p.stderr)
        p = run(["lint", "--assume", "notalib=1.0"])
        self.assertEqual(p.returncode, 2)
        p = run(["lint", "--select", "GC9"], cwd=self.t.dir)
        self.assertEqual(p.returncode, 2)
        self.assertIn("unknown rule code", p.stderr)

    def test_explain(self):
        cfg = self.t.write("c.yaml", GC101)
        p = run(["explain", cfg])
        self.assertEqual(p.returncode, 0)
        self.assertIn("Axolotl config", p.stdout)
        self.assertIn("use_reentrant", p.stdout)
        self.assertIn("read by", p.stdout)
        self.assertIn("c.yaml:6:18 gradient_checkpointing_kwargs.use_reentrant: true", p.stdout)
        j = json.loads(run(["explain", cfg, "--format", "json"]).stdout)
        self.assertEqual(j["format"], "axolotl")
        vals = j["paths"][0]["values"]
        self.assertEqual(vals["use_reentrant"]["value"], "True (decided by: user)")
        self.assertIn("GC101", vals["use_reentrant"]["read_by"])
        missing = run(["explain", os.path.join(self.t.dir, "nope.yaml")])
        self.assertEqual(missing.returncode, 2)

    def test_explain_shows_unknown_versions_as_paths(self):
        cfg = self.t.write("hf.yaml", "output_dir: out\ngradient_checkpointing: true\n")
        p = run(["explain", cfg])
        self.assertIn("unknowns explored: 3 paths", p.stdout)
        self.assertIn("modelled range", p.stdout)
        pinned = run(["explain", cfg, "--assume", "transformers=4.46.0"])
        self.assertNotIn("unknowns explored", pinned.stdout)


class ExitCodesAndFormats(Base):
    def test_clean_exits_0(self):
        self.t.write("c.yaml", CLEAN)
        p = run(["lint", "."], cwd=self.t.dir)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("no findings", p.stdout)

    def test_findings_exit_1_with_compiler_style_text(self):
        self.t.write("bad.yaml", GC101)
        p = run(["lint", "bad.yaml"], cwd=self.t.dir)
        self.assertEqual(p.returncode, 1)
        self.assertIn("bad.yaml:6:18: error:", p.stdout)
        self.assertIn("[GC101 reentrant-frozen-inputs]", p.stdout)
        self.assertIn("  use_reentrant: true", p.stdout)
        self.assertIn("^~~~", p.stdout)
        self.assertIn("= fix:", p.stdout)
        self.assertIn("= confirm: gcheck probe --scenario frozen-inputs", p.stdout)

    def test_colour_only_on_request(self):
        self.t.write("bad.yaml", GC101)
        plain = run(["lint", "bad.yaml"], cwd=self.t.dir)
        self.assertNotIn("\033[", plain.stdout)
        forced = run(["lint", "bad.yaml"], cwd=self.t.dir, env={"FORCE_COLOR": "1", "NO_COLOR": ""})
        # NO_COLOR set (even empty) wins, as the convention says
        self.assertNotIn("\033[", forced.stdout)

    def test_threshold_and_exit_zero(self):
        self.t.write("info.yaml", INFO_ONLY)
        p = run(["lint", "info.yaml"], cwd=self.t.dir)
        self.assertEqual(p.returncode, 0, p.stdout)   # info is below the default threshold
        self.assertIn("GC403", p.stdout)
        self.assertEqual(run(["lint", "info.yaml", "--severity-threshold", "info"], cwd=self.t.dir).returncode, 1)
        self.t.write("bad.yaml", GC101)
        self.assertEqual(run(["lint", "bad.yaml", "--exit-zero"], cwd=self.t.dir).returncode, 0)
        self.assertEqual(run(["lint", "bad.yaml", "--severity-threshold", "error"], cwd=self.t.dir).returncode, 1)

    def test_json_report_shape(self):
        self.t.write("bad.yaml", GC101)
        p, j = self.lint_json("bad.yaml")
        self.assertEqual(p.returncode, 1)
        for k in ["version", "files_checked", "findings", "errors"]:
            self.assertIn(k, j)
        f = j["findings"][0]
        for k in ["rule", "name", "severity", "file", "line", "column", "end_line", "end_column",
                  "message", "fix", "probe", "provenance"]:
            self.assertIn(k, f)
        self.assertEqual((f["rule"], f["file"], f["line"], f["column"]), ("GC101", "bad.yaml", 6, 18))
        self.assertEqual((f["end_line"], f["end_column"]), (6, 22))
        self.assertEqual(f["probe"], "frozen-inputs")
        kinds = {p["kind"] for p in f["provenance"]}
        self.assertIn("key", kinds)

    def test_sarif_is_valid_for_github(self):
        import jsonschema
        self.t.write("bad.yaml", GC101)
        self.t.write("sub/info.yaml", INFO_ONLY)
        p = run(["lint", "--format", "sarif", "."], cwd=self.t.dir)
        self.assertEqual(p.returncode, 1)
        doc = json.loads(p.stdout)
        with open(os.path.join(ROOT, "tests", "data", "sarif-github.schema.json")) as f:
            jsonschema.validate(doc, json.load(f))
        full = os.path.join(ROOT, "tests", "data", "sarif-schema-2.1.0.json")
        if os.path.exists(full):
            with open(full) as f:
                jsonschema.validate(doc, json.load(f))
        run0 = doc["runs"][0]
        uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in run0["results"]}
        self.assertIn("bad.yaml", uris)
        self.assertIn("sub/info.yaml", uris)
        levels = {r["ruleId"]: r["level"] for r in run0["results"]}
        self.assertEqual(levels["GC101"], "error")
        self.assertEqual(levels["GC403"], "note")
        fps = [r["partialFingerprints"]["primaryLocationLineHash"] for r in run0["results"]]
        self.assertEqual(len(fps), len(set(fps)))
        # fingerprints survive a line move
        self.t.write("bad.yaml", "# moved down\n" + GC101)
        doc2 = json.loads(run(["lint", "--format", "sarif", "."], cwd=self.t.dir).stdout)
        fp2 = [r["partialFingerprints"]["primaryLocationLineHash"] for r in doc2["runs"][0]["results"] if r["ruleId"] == "GC101"]
        fp1 = [r["partialFingerprints"]["primaryLocationLineHash"] for r in run0["results"] if r["ruleId"] == "GC101"]
        self.assertEqual(fp1, fp2)

    def test_sarif_uris_are_repository_relative(self):
        import jsonschema  # noqa: F401
        repo = self.t.dir
        subprocess.run(["git", "init", "-q", repo], check=True)
        self.t.write("configs/bad.yaml", GC101)
        p = run(["lint", "--format", "sarif", "bad.yaml"], cwd=os.path.join(repo, "configs"))
        r = json.loads(p.stdout)["runs"][0]["results"][0]
        self.assertEqual(r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], "configs/bad.yaml")

    def test_github_annotations(self):
        self.t.write("bad.yaml", GC101)
        self.t.write("info.yaml", INFO_ONLY)
        p = run(["lint", "--format", "github", "."], cwd=self.t.dir)
        lines = p.stdout.splitlines()
        self.assertTrue(any(l.startswith("::error file=bad.yaml,line=6,col=18,endLine=6,endColumn=22,title=gcheck GC101 reentrant-frozen-inputs::") for l in lines), p.stdout)
        self.assertTrue(any(l.startswith("::notice file=info.yaml") for l in lines))
        for l in lines:
            self.assertNotIn("\n", l)

    def test_output_file_and_statistics(self):
        self.t.write("bad.yaml", GC101)
        out = os.path.join(self.t.dir, "report.json")
        p = run(["lint", ".", "--format", "json", "--output", out, "--statistics"], cwd=self.t.dir)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stdout, "")
        with open(out) as f:
            self.assertEqual(json.load(f)["findings"][0]["rule"], "GC101")
        self.assertIn("GC101", p.stderr)  # statistics go to stderr with structured formats
        t = run(["lint", ".", "--statistics"], cwd=self.t.dir)
        self.assertRegex(t.stdout, r"\s+1\s+GC101\s+error\s+reentrant-frozen-inputs")


class Selection(Base):
    def test_select_ignore_extend_by_prefix(self):
        self.t.write("bad.yaml", GC101)
        self.t.write("info.yaml", INFO_ONLY)
        _, j = self.lint_json(".")
        self.assertEqual({f["rule"] for f in j["findings"]}, {"GC101", "GC403"})
        _, j = self.lint_json(".", "--select", "GC4")
        self.assertEqual({f["rule"] for f in j["findings"]}, {"GC403"})
        _, j = self.lint_json(".", "--ignore", "GC1")
        self.assertEqual({f["rule"] for f in j["findings"]}, {"GC403"})
        _, j = self.lint_json(".", "--select", "GC1", "--extend-select", "GC403")
        self.assertEqual({f["rule"] for f in j["findings"]}, {"GC101", "GC403"})
        # the more specific prefix wins
        _, j = self.lint_json(".", "--select", "GC101", "--ignore", "GC1")
        self.assertEqual({f["rule"] for f in j["findings"]}, {"GC101"})
        _, j = self.lint_json(".", "--select", "ALL", "--ignore", "GC101,GC403")
        self.assertEqual(j["findings"], [])
        # an option's value never swallows the paths after it
        p = run(["lint", "--format", "json", "--select", "GC101", "bad.yaml", "info.yaml"], cwd=self.t.dir)
        j = json.loads(p.stdout)
        self.assertEqual(j["files_checked"], 2)
        self.assertEqual({f["rule"] for f in j["findings"]}, {"GC101"})


class Suppressions(Base):
    def test_inline_and_file_suppressions(self):
        self.t.write("a.yaml", GC101.replace("  use_reentrant: true", "  use_reentrant: true  # gcheck: ignore[GC101] audited"))
        _, j = self.lint_json("a.yaml")
        self.assertEqual(j["findings"], [])
        self.t.write("b.yaml", GC101.replace("  use_reentrant: true", "  # gcheck: ignore[GC101] audited\n  use_reentrant: true"))
        self.assertEqual(self.lint_json("b.yaml")[1]["findings"], [])
        self.t.write("c.yaml", "# gcheck: ignore-file[GC101]\n" + GC101)
        self.assertEqual(self.lint_json("c.yaml")[1]["findings"], [])
        self.t.write("d.yaml", GC101.replace("  use_reentrant: true", "  use_reentrant: true  # noqa: GC101"))
        self.assertEqual(self.lint_json("d.yaml")[1]["findings"], [])

    def test_unused_suppression_is_reported(self):
        self.t.write("a.yaml", CLEAN.replace("gradient_checkpointing: true", "gradient_checkpointing: true  # gcheck: ignore[GC101]"))
        p, j = self.lint_json("a.yaml")
        self.assertEqual([f["rule"] for f in j["findings"]], ["GC506"])
        self.assertEqual(j["findings"][0]["line"], 3)
        self.assertEqual(p.returncode, 1)

    def test_per_file_ignores_in_gcheck_toml_and_pyproject(self):
        self.t.write("cfg/bad.yaml", GC101)
        self.t.write(".gcheck.toml", '[per-file-ignores]\n"cfg/*.yaml" = ["GC101"]\n')
        self.assertEqual(self.lint_json(".")[1]["findings"], [])
        os.remove(os.path.join(self.t.dir, ".gcheck.toml"))
        self.t.write("pyproject.toml", '[project]\nname = "x"\n[tool.gcheck]\nignore = ["GC1"]\n')
        self.assertEqual(self.lint_json(".")[1]["findings"], [])

    def test_bad_project_config_is_a_usage_error(self):
        self.t.write("c.yaml", CLEAN)
        self.t.write(".gcheck.toml", 'selekt = ["GC1"]\n')
        p = run(["lint", "."], cwd=self.t.dir)
        self.assertEqual(p.returncode, 2)
        self.assertIn(".gcheck.toml:1:", p.stderr)
        self.assertIn("unknown setting 'selekt'", p.stderr)
        self.t.write(".gcheck.toml", 'select = [\n')
        p = run(["lint", "."], cwd=self.t.dir)
        self.assertEqual(p.returncode, 2)
        self.assertIn("invalid TOML", p.stderr)


class LinkingAndVersions(Base):
    QLORA_Z3 = textwrap.dedent("""\
        base_model: meta-llama/Llama-3.1-8B
        adapter: qlora
        load_in_4bit: true
        gradient_checkpointing: true
        gradient_checkpointing_kwargs:
          use_reentrant: false
        deepspeed: deepspeed_configs/zero3.json
        """)

    def setUp(self):
        super().setUp()
        self.t.write("deepspeed_configs/zero3.json", '{"zero_optimization": {"stage": 3}}')

    def test_deepspeed_reference_resolved_from_a_parent_folder(self):
        self.t.write("examples/llama/qlora.yaml", self.QLORA_Z3)
        p, j = self.lint_json("examples", "--assume", "deepspeed=0.18.0")
        rules = [f["rule"] for f in j["findings"]]
        self.assertIn("GC302", rules)
        f = [f for f in j["findings"] if f["rule"] == "GC302"][0]
        self.assertEqual(f["severity"], "error")
        self.assertIsNone(f["condition"])

    def test_unknown_version_lowers_severity_and_names_condition(self):
        self.t.write("q.yaml", self.QLORA_Z3)
        _, j = self.lint_json("q.yaml")
        f = [f for f in j["findings"] if f["rule"] == "GC302"][0]
        self.assertEqual(f["severity"], "warning")
        self.assertEqual(f["condition"], "deepspeed < 0.19.3")

    def test_pins_from_requirements_and_project_config(self):
        self.t.write("q.yaml", self.QLORA_Z3)
        self.t.write("requirements.txt", "deepspeed==0.19.4\n")
        _, j = self.lint_json("q.yaml")
        self.assertNotIn("GC302", [f["rule"] for f in j["findings"]])
        self.t.write(".gcheck.toml", '[assume]\ndeepspeed = "0.18.0"\n')
        _, j = self.lint_json("q.yaml")
        self.assertIn("GC302", [f["rule"] for f in j["findings"]])
        _, j = self.lint_json("q.yaml", "--assume", "deepspeed=0.20.0")
        self.assertNotIn("GC302", [f["rule"] for f in j["findings"]])

    def test_missing_reference_is_reported_not_fatal(self):
        self.t.write("q.yaml", self.QLORA_Z3.replace("zero3.json", "zero9.json"))
        p, j = self.lint_json("q.yaml")
        f = [f for f in j["findings"] if f["rule"] == "GC502"][0]
        self.assertEqual(f["line"], 7)
        self.assertIn("does not exist", f["message"])
        self.assertIn("GC302", f["message"])  # says what could not be checked
        self.assertEqual(j["errors"], [])

    def test_launcher_pairing(self):
        cfg = textwrap.dedent("""\
            model_name_or_path: Qwen/Qwen3-0.6B
            max_seq_length: 512
            use_peft: true
            gradient_checkpointing: true
            gradient_checkpointing_kwargs:
              use_reentrant: true
            """)
        self.t.write("sft.yaml", cfg)
        self.t.write("ddp.yaml", "distributed_type: MULTI_GPU\nnum_processes: 2\n")
        _, j = self.lint_json("sft.yaml", "--launcher", "ddp.yaml")
        f = [f for f in j["findings"] if f["rule"] == "GC301"][0]
        self.assertEqual(f["severity"], "error")
        _, j = self.lint_json("sft.yaml")
        f = [f for f in j["findings"] if f["rule"] == "GC301"][0]
        self.assertEqual(f["condition"], "launched on more than one process")
        self.t.write(".gcheck.toml", '[launchers]\n"sft.yaml" = "ddp.yaml"\n')
        _, j = self.lint_json("sft.yaml")
        self.assertEqual([f for f in j["findings"] if f["rule"] == "GC301"][0]["severity"], "error")
        p = run(["lint", "sft.yaml", "--launcher", "nope.yaml"], cwd=self.t.dir)
        self.assertEqual(p.returncode, 2)

    def test_format_of(self):
        self.t.write("odd.yaml", "gradient_checkpointing: true\ngradient_checkpointing_kwargs: {}\nlearning_rate: 1\n")
        _, j = self.lint_json("odd.yaml", "--format-of", "odd.yaml=axolotl")
        self.assertIn("GC105", [f["rule"] for f in j["findings"]])
        p = run(["lint", "odd.yaml", "--format-of", "odd.yaml=nonsense"], cwd=self.t.dir)
        self.assertEqual(p.returncode, 2)


class BadInput(Base):
    def assert_error(self, name, content, expect_in, mode="w", line=None):
        path = self.t.write(name, content, mode)
        self.t.write("good.yaml", GC101)
        start = time.time()
        p, j = self.lint_json(name, "good.yaml")
        self.assertLess(time.time() - start, 20)
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        self.assertEqual(len(j["errors"]), 1, j["errors"])
        e = j["errors"][0]
        self.assertEqual(e["file"], name)
        self.assertIn(expect_in, e["message"])
        if line is not None:
            self.assertEqual(e["line"], line)
        self.assertIn("GC101", [f["rule"] for f in j["findings"]])  # the rest is still linted
        self.assertIn(name + ":", p.stderr)
        return path

    def test_malformed_yaml(self):
        self.assert_error("bad.yaml", "base_model: x\ngradient_checkpointing: [true\nlr: 1\n", "invalid YAML", line=3)

    def test_malformed_json(self):
        self.assert_error("bad.json", '{\n  "zero_optimization": {"stage": 3}\n  "x": 1\n}\n', "invalid JSON", line=3)

    def test_binary_file(self):
        self.assert_error("blob.yaml", b"\x00\x01\x02\x03" * 100, "binary", mode="wb")

    def test_huge_file(self):
        with open(os.path.join(self.t.dir, "huge.yaml"), "w") as f:
            line = "key_%d: value\n"
            for i in range(7_000_000):
                f.write(line % i)
        path = os.path.join(self.t.dir, "huge.yaml")
        self.assertGreater(os.path.getsize(path), 100_000_000)
        d, rss = peak_rss_mib(["lint", "--format", "json", "huge.yaml"], cwd=self.t.dir)
        self.assertEqual(d["rc"], 2)
        self.assertIn("limit", json.loads(d["out"])["errors"][0]["message"])
        self.assertLess(rss, 60)

    def test_deep_nesting(self):
        for name, text in [("deep.yaml", "a: " + "[" * 100000 + "]" * 100000 + "\n"),
                           ("deep.json", "[" * 100000 + "]" * 100000)]:
            self.t.write(name, text)
            d, rss = peak_rss_mib(["lint", "--format", "json", name], cwd=self.t.dir)
            self.assertEqual(d["rc"], 2, d)
            self.assertIn("nesting deeper than", json.loads(d["out"])["errors"][0]["message"])
            self.assertLess(rss, 100)

    def test_alias_bomb(self):
        lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
        prev = "a"
        for c in "bcdefghij":
            lines.append("%s: &%s [%s]" % (c, c, ",".join(["*" + prev] * 9)))
            prev = c
        lines.append("base_model: x")
        self.t.write("bomb.yaml", "\n".join(lines) + "\n")
        start = time.time()
        d, rss = peak_rss_mib(["lint", "--format", "json", "bomb.yaml"], cwd=self.t.dir)
        self.assertLess(time.time() - start, 10)
        self.assertIn(d["rc"], (0, 1))
        self.assertLess(rss, 60)

    def test_templates(self):
        self.t.write("ds_config_temp.json", '{"zero_optimization": {"stage": ${zero_stage}}}')
        p, j = self.lint_json("ds_config_temp.json")
        self.assertEqual(p.returncode, 1)
        self.assertEqual(j["errors"], [])
        self.assertEqual(j["findings"][0]["rule"], "GC502")
        self.t.write("a.yaml", "base_model: x\ndeepspeed: ${DS_CONFIG}\ngradient_checkpointing: true\n")
        _, j = self.lint_json("a.yaml")
        self.assertIn("GC502", [f["rule"] for f in j["findings"]])

    def test_empty_and_unknown_files_are_skipped_with_a_note(self):
        self.t.write("empty.yaml", "")
        self.t.write("ci.yml", "name: CI\non: [push]\n")
        p = run(["lint", "empty.yaml", "ci.yml", "--verbose"], cwd=self.t.dir)
        self.assertEqual(p.returncode, 0)
        self.assertIn("empty.yaml:1:1: note: skipped: empty file", p.stderr)
        self.assertIn("ci.yml:1:1: note: skipped: not a training config", p.stderr)
        quiet = run(["lint", "empty.yaml", "ci.yml"], cwd=self.t.dir)
        self.assertIn("empty.yaml:1:1: note: skipped: empty file", quiet.stderr)  # always said
        self.assertNotIn("ci.yml", quiet.stderr)  # a non-config YAML is no news

    def test_missing_file_and_symlink_loops(self):
        p, j = self.lint_json("nope.yaml")
        self.assertEqual(p.returncode, 2)
        self.assertIn("No such file", j["errors"][0]["message"])
        os.symlink("loop1.yaml", os.path.join(self.t.dir, "loop2.yaml"))
        os.symlink("loop2.yaml", os.path.join(self.t.dir, "loop1.yaml"))
        os.makedirs(os.path.join(self.t.dir, "d"))
        os.symlink("..", os.path.join(self.t.dir, "d", "up"))
        self.t.write("d/good.yaml", GC101)
        start = time.time()
        p, j = self.lint_json(".")
        self.assertLess(time.time() - start, 10)
        self.assertEqual(p.returncode, 2)
        msgs = " ".join(e["message"] for e in j["errors"])
        self.assertIn("symbolic links", msgs)
        self.assertIn("GC101", [f["rule"] for f in j["findings"]])

    def test_never_writes_user_files(self):
        path = self.t.write("bad.yaml", GC101)
        with open(path) as f:
            before = f.read()
        mtime = os.path.getmtime(path)
        run(["lint", "bad.yaml"], cwd=self.t.dir)
        with open(path) as f:
            self.assertEqual(f.read(), before)
        self.assertEqual(os.path.getmtime(path), mtime)


SCRIPT_LATE_WRAP = """\
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

model = AutoModelForCausalLM.from_pretrained("Qwen/Qwen2.5-0.5B")
model = get_peft_model(model, LoraConfig(r=8, target_modules=["q_proj"]))
model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": True})
"""

SCRIPT_CKPT = """\
import torch
from torch.utils.checkpoint import checkpoint as ckpt


def run(block, x):
    return ckpt(block, x)
"""


def torch_api_include():
    for d in ["/usr/include/torch/csrc/api/include", "/usr/local/include/torch/csrc/api/include"]:
        if os.path.exists(os.path.join(d, "torch", "torch.h")):
            return d
    return None


def have_cxx():
    return os.path.exists(os.path.join(os.path.dirname(GCHECK), "gcheck-cxx")) and torch_api_include()


class Scripts(Base):
    def test_script_findings_locations_and_exit_code(self):
        self.t.write("train.py", SCRIPT_LATE_WRAP)
        p, j = self.lint_json("train.py")
        self.assertEqual(p.returncode, 1, p.stderr)
        got = {(f["rule"], f["line"], f["severity"]) for f in j["findings"]}
        self.assertIn(("GC204", 6, "warning"), got)   # enabled after the wrap, reentrant, no hook
        self.assertIn(("GC101", 6, "error"), got)     # the LoRA layers get no gradient (at the use_reentrant the user wrote)
        gc204 = [f for f in j["findings"] if f["rule"] == "GC204"][0]
        self.assertIn("get_peft_model(...) (line 5)", gc204["message"])
        self.assertEqual(j["files_checked"], 1)

    def test_script_text_sarif_github(self):
        self.t.write("train.py", SCRIPT_CKPT)
        p = run(["lint", "train.py"], cwd=self.t.dir)
        self.assertEqual(p.returncode, 1)
        self.assertIn("train.py:6:12: warning: checkpoint(...) is called without use_reentrant", p.stdout)
        self.assertIn("[GC105 implicit-use-reentrant]", p.stdout)
        s = json.loads(run(["lint", "--format", "sarif", "train.py"], cwd=self.t.dir).stdout)
        res = s["runs"][0]["results"]
        self.assertEqual(res[0]["ruleId"], "GC105")
        loc = res[0]["locations"][0]["physicalLocation"]
        self.assertEqual((loc["artifactLocation"]["uri"], loc["region"]["startLine"]), ("train.py", 6))
        g = run(["lint", "--format", "github", "train.py"], cwd=self.t.dir).stdout
        self.assertIn("::warning file=train.py,line=6,col=12", g)

    def test_noqa_and_gcheck_ignore_in_scripts(self):
        self.t.write("a.py", SCRIPT_CKPT.replace("return ckpt(block, x)", "return ckpt(block, x)  # noqa: GC105"))
        self.t.write("b.py", SCRIPT_CKPT.replace("return ckpt(block, x)", "return ckpt(block, x)  # gcheck: ignore[GC105]"))
        self.t.write("c.py", SCRIPT_CKPT.replace("return ckpt(block, x)", "return ckpt(block, x)  # noqa: E501"))
        p, j = self.lint_json("a.py", "b.py", "c.py")
        self.assertEqual(sorted((f["file"], f["rule"]) for f in j["findings"]), [("c.py", "GC105")])

    def test_broken_script_is_exit_2_and_the_rest_is_linted(self):
        self.t.write("broken.py", "import torch\nx = (1,\n")
        self.t.write("train.py", SCRIPT_CKPT)
        p, j = self.lint_json(".")
        self.assertEqual(p.returncode, 2)
        self.assertIn("broken.py:2", p.stderr)
        self.assertEqual([f["rule"] for f in j["findings"]], ["GC105"])

    def test_pair_script_with_its_yaml(self):
        self.t.write("sft.py", "from trl import SFTTrainer, TrlParser, SFTConfig, ModelConfig\n"
                                "parser = TrlParser((SFTConfig, ModelConfig))\n"
                                "args, model_args = parser.parse_args_and_config()\n"
                                "SFTTrainer(model='x', args=args).train()\n")
        self.t.write("recipe.yaml", "model_name_or_path: Qwen/Qwen2.5-0.5B\nuse_peft: true\n"
                                    "gradient_checkpointing: true\n"
                                    "gradient_checkpointing_kwargs:\n  use_reentrant: false\n"
                                    "deepspeed: ds.json\n")
        self.t.write("ds.json", '{"zero_optimization": {"stage": 3}}')
        p, j = self.lint_json(".", "--pair", "sft.py=recipe.yaml", "--assume", "trl=0.29.0")
        got = {(f["file"], f["rule"], f["line"]) for f in j["findings"]}
        self.assertIn(("recipe.yaml", "GC401", 5), got)   # TRL overrides the YAML's false
        self.assertEqual(j["files_checked"], 2)           # sft.py (with the YAML) and ds.json
        # The same through the project configuration.
        self.t.write(".gcheck.toml", '[pairs]\n"sft.py" = "recipe.yaml"\n')
        p, j2 = self.lint_json(".", "--assume", "trl=0.29.0")
        self.assertIn(("recipe.yaml", "GC401", 5), {(f["file"], f["rule"], f["line"]) for f in j2["findings"]})
        # Explain shows the merged setup.
        e = run(["explain", "sft.py", "--assume", "trl=0.29.0"], cwd=self.t.dir)
        self.assertEqual(e.returncode, 0, e.stderr)
        self.assertIn("paired with recipe.yaml", e.stdout)
        bad = run(["lint", "sft.py", "--pair", "sft.py"], cwd=self.t.dir)
        self.assertEqual(bad.returncode, 2)

    def test_explain_a_script_lists_its_checkpoint_sites(self):
        self.t.write("train.py", SCRIPT_CKPT)
        e = run(["explain", "train.py"], cwd=self.t.dir)
        self.assertEqual(e.returncode, 0, e.stderr)
        self.assertIn("Checkpointing in code", e.stdout)
        self.assertIn("train.py:6:12 torch.utils.checkpoint.checkpoint(...)  use_reentrant=True (torch)", e.stdout)

    GC_ENABLE = textwrap.dedent("""\
        from transformers import AutoModelForCausalLM
        from transformers.utils import check_min_version

        check_min_version("MIN")
        model = AutoModelForCausalLM.from_pretrained("gpt2")
        model.gradient_checkpointing_enable()
        """)

    def test_the_scripts_own_version_declaration(self):
        # Unstated, gradient_checkpointing_enable() without kwargs is explored on every version.
        self.t.write("plain.py", self.GC_ENABLE.replace('check_min_version("MIN")\n', ""))
        _, j = self.lint_json("plain.py")
        self.assertEqual(sorted((f["rule"], f["condition"]) for f in j["findings"]),
                         [("GC105", "transformers < 4.37.0"),
                          ("GC403", "4.37.0 <= transformers < 5.1.0")])
        # check_min_version("5.2.0"): the script cannot run on the versions those hold for.
        self.t.write("train.py", self.GC_ENABLE.replace("MIN", "5.2.0"))
        _, j = self.lint_json("train.py")
        self.assertEqual(j["findings"], [])
        e = run(["explain", "train.py"], cwd=self.t.dir)
        self.assertEqual(e.returncode, 0, e.stderr)
        self.assertIn('transformers >= 5.2.0 (train.py:4 check_min_version("5.2.0"))', e.stdout)
        self.assertNotIn("unknowns explored", e.stdout)
        # --assume wins over the script.
        e = run(["explain", "train.py", "--assume", "transformers=4.40.0"], cwd=self.t.dir)
        self.assertIn("transformers 4.40.0 (--assume)", e.stdout)

    def test_pep723_header_pins_the_version(self):
        self.t.write("sft.py", "# /// script\n# dependencies = [\n#   \"transformers==4.40.0\",\n# ]\n# ///\n"
                     + self.GC_ENABLE.replace('check_min_version("MIN")\n', ""))
        _, j = self.lint_json("sft.py")
        self.assertEqual([(f["rule"], f["severity"], f["condition"]) for f in j["findings"]],
                         [("GC403", "info", None)])
        e = run(["explain", "sft.py"], cwd=self.t.dir)
        self.assertIn('transformers 4.40.0 (sft.py:3 PEP 723 script metadata "transformers==4.40.0")',
                      e.stdout)

    def test_script_declaration_meets_the_pin_file(self):
        # Both hold for the run: the intersection, citing both.
        self.t.write("requirements.txt", "transformers>=4.30,<5\n")
        self.t.write("train.py", self.GC_ENABLE.replace("MIN", "4.45.0"))
        e = run(["explain", "train.py"], cwd=self.t.dir)
        self.assertIn('4.45.0 <= transformers < 5 (train.py:4 check_min_version("4.45.0") and '
                      'requirements.txt:1)', e.stdout)
        _, j = self.lint_json("train.py")
        self.assertEqual([(f["rule"], f["condition"]) for f in j["findings"]], [("GC403", None)])
        # A contradiction: the pin file stands, and nothing new is reported.
        self.t.write("requirements.txt", "transformers==4.36.0\n")
        self.t.write("train.py", self.GC_ENABLE.replace("MIN", "5.2.0"))
        e = run(["explain", "train.py"], cwd=self.t.dir)
        self.assertIn("transformers 4.36.0 (requirements.txt:1)", e.stdout)
        _, j = self.lint_json("train.py")
        self.assertEqual([(f["rule"], f["condition"]) for f in j["findings"]], [("GC105", None)])


CXX_FROZEN = """\
#include <torch/torch.h>

struct Ckpt : public torch::autograd::Function<Ckpt> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor x,
                               torch::nn::Linear* fc) {
    ctx->saved_data["fc"] = reinterpret_cast<int64_t>(fc);
    ctx->save_for_backward({x});
    torch::NoGradGuard no_grad;
    return (*fc)(x);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto x = ctx->get_saved_variables()[0].detach().requires_grad_(true);
    auto* fc = reinterpret_cast<torch::nn::Linear*>(ctx->saved_data["fc"].toInt());
    torch::Tensor y;
    {
      torch::AutoGradMode on(true);
      y = (*fc)(x);
    }
    torch::autograd::backward({y}, {grads[0]});
    return {x.grad(), torch::Tensor()};
  }
};

int main() {
  torch::nn::Embedding emb(100, 16);
  emb->weight.requires_grad_(false);
  torch::nn::Linear fc(16, 16);
  auto h = emb(torch::randint(100, {4}));
  auto y = Ckpt::apply(h, &fc);MARK
  y.sum().backward();
}
"""


@unittest.skipUnless(have_cxx(), "gcheck-cxx or LibTorch headers not available")
class Cxx(Base):
    def flags(self):
        return ["--", "-std=c++17", "-I" + torch_api_include()]

    def test_cpp_finding_with_flags_after_double_dash(self):
        self.t.write("train.cpp", CXX_FROZEN.replace("MARK", ""))
        p, j = self.lint_json("train.cpp", *self.flags())
        self.assertEqual(p.returncode, 1, p.stderr)
        got = {(f["rule"], f["file"], f["line"]) for f in j["findings"]}
        self.assertIn(("GC101", "train.cpp", 30), got)

    def test_cpp_suppressions(self):
        self.t.write("a.cpp", CXX_FROZEN.replace("MARK", "  // NOLINT(gcheck-GC101)"))
        self.t.write("b.cpp", CXX_FROZEN.replace("MARK", "  // gcheck: ignore[GC101]"))
        p, j = self.lint_json("a.cpp", "b.cpp", *self.flags())
        self.assertEqual([f for f in j["findings"] if f["rule"] == "GC101"], [])
        self.assertEqual(p.returncode, 0, p.stdout)

    def test_cpp_compile_error_is_exit_2(self):
        self.t.write("train.cpp", CXX_FROZEN.replace("MARK", ""))
        p = run(["lint", "train.cpp"], cwd=self.t.dir)   # no flags: torch/torch.h not found
        self.assertEqual(p.returncode, 2)
        self.assertIn("train.cpp:1:10: error: 'torch/torch.h' file not found", p.stderr)

    def test_folders_yield_cpp_only_with_flags(self):
        self.t.write("src/train.cpp", CXX_FROZEN.replace("MARK", ""))
        p, j = self.lint_json(".")
        self.assertEqual(j["files_checked"], 0)
        p, j = self.lint_json(".", *self.flags())
        self.assertIn("GC101", {f["rule"] for f in j["findings"]})

    def test_explain_cpp(self):
        self.t.write("train.cpp", CXX_FROZEN.replace("MARK", ""))
        e = run(["explain", "train.cpp"] + self.flags(), cwd=self.t.dir)
        self.assertEqual(e.returncode, 0, e.stderr)
        self.assertIn("a hand-rolled recompute Function", e.stdout)
        self.assertIn("recompute Function Ckpt", e.stdout)


class Examples(unittest.TestCase):
    def test_bundled_examples(self):
        p = run(["lint", "--format", "json", "examples"], cwd=ROOT)
        self.assertEqual(p.returncode, 1)
        j = json.loads(p.stdout)
        got = sorted((f["file"], f["rule"]) for f in j["findings"])
        self.assertIn(("examples/axolotl/partial-freeze.yaml", "GC101"), got)
        self.assertIn(("examples/trl/sft-qlora-zero3.yaml", "GC401"), got)
        self.assertIn(("examples/trl/dpo-lora-ddp.yaml", "GC301"), got)
        self.assertIn(("examples/python/finetune_lora.py", "GC204"), got)
        self.assertIn(("examples/python/finetune_lora.py", "GC101"), got)
        clean = {f for f, _ in got}
        self.assertNotIn("examples/trl/sft-clean.yaml", clean)
        self.assertNotIn("examples/axolotl/lora-clean.yaml", clean)


if __name__ == "__main__":
    unittest.main(verbosity=2)
