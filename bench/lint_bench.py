#!/usr/bin/python3
"""Lint benchmark: `gcheck lint` over the whole shared corpus against PyYAML `safe_load` +
`json.load` of the same files in one Python process, side by side in one run.

  /usr/bin/python3 bench/lint_bench.py [--runs 7] [--gcheck build/gcheck] [--corpus ../shared/corpus]

Prints medians and the ratio; targets: >= 15x faster than PyYAML's parse alone, peak RSS
<= 40 MB, one file (the pre-commit case) <= 10 ms wall including process start.
"""
import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import textwrap
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def files_of(corpus):
    out = []
    for d, _, fs in os.walk(corpus):
        for f in fs:
            if f.endswith((".yaml", ".yml", ".json")):
                out.append(os.path.join(d, f))
    return sorted(out)


PYYAML = textwrap.dedent("""
    import json, sys, time, yaml
    paths = sys.argv[1:]
    t0 = time.perf_counter()
    for p in paths:
        with open(p, encoding="utf-8") as f:
            try:
                if p.endswith(".json"):
                    json.load(f)
                else:
                    yaml.safe_load(f)
            except Exception:
                pass  # templates and hjson files fail here, as they do for the stacks
    print(time.perf_counter() - t0)
""")


def wall(cmd, cwd):
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def peak_rss_mib(cmd, cwd):
    code = "import resource,subprocess,sys; subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    out = subprocess.run([sys.executable, "-c", code] + cmd, cwd=cwd, capture_output=True, text=True).stdout
    return int(out) / 1024.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--gcheck", default=os.path.join(ROOT, "build", "gcheck"))
    ap.add_argument("--corpus", default=os.path.join(ROOT, "..", "shared", "corpus"))
    a = ap.parse_args()
    corpus = os.path.relpath(a.corpus, ROOT)
    files = files_of(a.corpus)
    size = sum(os.path.getsize(f) for f in files)
    print("machine: %s, %d cores, %s" % (platform.machine(), os.cpu_count(), platform.platform()))
    print("corpus: %d files, %.2f MB" % (len(files), size / 1e6))
    lint = [a.gcheck, "lint", "--format", "json", "--exit-zero", corpus]
    wall(lint, ROOT)  # warm the page cache
    g, py_parse, py_wall = [], [], []
    for _ in range(a.runs):  # interleaved, so both see the same machine load
        g.append(wall(lint, ROOT))
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", PYYAML] + files, capture_output=True, text=True).stdout
        py_wall.append(time.perf_counter() - t0)
        py_parse.append(float(out))
    gm, pm, pw = statistics.median(g), statistics.median(py_parse), statistics.median(py_wall)
    print("gcheck lint (parse + link + resolve + all rules), wall incl. start: median %.1f ms  (runs: %s)"
          % (gm * 1e3, ", ".join("%.1f" % (x * 1e3) for x in g)))
    print("PyYAML safe_load + json.load, parse only:                    median %.1f ms" % (pm * 1e3))
    print("PyYAML process wall incl. interpreter start:                 median %.1f ms" % (pw * 1e3))
    print("ratio parse-only / gcheck: %.1fx   (target >= 15x)" % (pm / gm))
    rss = peak_rss_mib(lint, ROOT)
    print("gcheck peak RSS over the corpus: %.1f MiB   (target <= 40 MB)" % rss)
    one = os.path.relpath(os.path.join(a.corpus, "axolotl", "examples", "llama-3", "lora-1b-ray.yml"), ROOT)
    if not os.path.exists(os.path.join(ROOT, one)):
        one = os.path.relpath(files[0], ROOT)
    single = [a.gcheck, "lint", one]
    singles = [wall(single, ROOT) for _ in range(max(21, a.runs))]
    print("one file (%s), wall incl. process start: median %.2f ms, min %.2f ms   (target <= 10 ms)"
          % (os.path.basename(one), statistics.median(singles) * 1e3, min(singles) * 1e3))


if __name__ == "__main__":
    main()
