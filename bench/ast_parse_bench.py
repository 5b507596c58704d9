#!/usr/bin/python3
"""The lower bound of any Python-based linter: read and ast.parse every .py file under the given
paths, in one process, run after run. Prints each run's wall-clock and process CPU time and the
medians, in the same format as gcheck-pybench.

Usage: ast_parse_bench.py [--runs N] PATH...
"""
import ast
import os
import statistics
import sys
import time


def collect(path, out):
    if os.path.isfile(path):
        if path.endswith(".py"):
            out.append(path)
        return
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            if name.endswith(".py"):
                out.append(os.path.join(root, name))


def main():
    args = sys.argv[1:]
    runs = 5
    if len(args) >= 2 and args[0] == "--runs":
        runs = int(args[1])
        args = args[2:]
    files = []
    for a in args:
        collect(a, files)
    if not files:
        sys.exit("ast_parse_bench.py: no .py files given")
    walls, cpus = [], []
    size = 0
    for r in range(runs):
        c0 = time.process_time()
        t0 = time.perf_counter()
        size = 0
        for f in files:
            with open(f, "rb") as h:
                src = h.read()
            size += len(src)
            ast.parse(src, filename=f)
        t1 = time.perf_counter()
        c1 = time.process_time()
        walls.append(t1 - t0)
        cpus.append(c1 - c0)
        print("run %d: %.4f s wall, %.4f s cpu" % (r + 1, t1 - t0, c1 - c0))
    print("files %d, %.2f MB, python %s" % (len(files), size / 1e6, sys.version.split()[0]))
    wall = statistics.median(walls)
    print("median %.4f s wall, %.4f s cpu  (%.1f MB/s, %.0f files/s wall)"
          % (wall, statistics.median(cpus), size / 1e6 / wall, len(files) / wall))


if __name__ == "__main__":
    main()
