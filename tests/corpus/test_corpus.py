#!/usr/bin/python3
"""Corpus regression: lints the shared corpus of real public configs and compares every finding
with the reviewed snapshot beside this script. Exits 77 (skipped) when the corpus is absent.

  GCHECK=build/gcheck /usr/bin/python3 tests/corpus/test_corpus.py            # check
  GCHECK=build/gcheck /usr/bin/python3 tests/corpus/test_corpus.py --update   # rewrite
"""
import difflib
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.environ.get("GCHECK_CORPUS", os.path.join(ROOT, "..", "shared", "corpus"))
GCHECK = os.environ.get("GCHECK", os.path.join(ROOT, "build", "gcheck"))
SNAPSHOT = os.path.join(HERE, "snapshot.txt")


def main():
    if not os.path.isdir(CORPUS):
        print("corpus not found at %s: skipped" % CORPUS)
        return 77
    corpus = os.path.relpath(CORPUS, ROOT)
    p = subprocess.run([GCHECK, "lint", "--format", "json", "--exit-zero", corpus],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        print(p.stderr)
        return 1
    d = json.loads(p.stdout)
    lines = ["# files checked: %d" % d["files_checked"]]
    for e in d["errors"]:
        lines.append("ERROR %s:%s %s" % (os.path.relpath(e["file"], corpus), e["line"], e["message"]))
    rows = []
    for f in d["findings"]:
        cond = " if " + f["condition"] if f["condition"] else ""
        rows.append("%s:%s:%s %s %s%s" % (os.path.relpath(f["file"], corpus), f["line"], f["column"],
                                           f["rule"], f["severity"], cond))
    lines += sorted(rows)
    text = "\n".join(lines) + "\n"
    if "--update" in sys.argv:
        with open(SNAPSHOT, "w") as f:
            f.write(text)
        print("snapshot written: %d findings" % len(rows))
        return 0
    with open(SNAPSHOT) as f:
        want = f.read()
    if want != text:
        sys.stdout.writelines(difflib.unified_diff(want.splitlines(True), text.splitlines(True),
                                                   "snapshot.txt", "now"))
        print("\ncorpus findings changed: review the diff; if every change is right, run with --update")
        return 1
    print("corpus snapshot matches: %d findings in %d files" % (len(rows), d["files_checked"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
