#!/usr/bin/env bash
# The Python front end against CPython's ast.parse, side by side over the same files.
#
# Generates COUNT (default 1000) varied training scripts (gen_training_scripts.py), checks that
# the front end reads the same facts from them with and without its statement selection, then
# runs ROUNDS (default 7) interleaved rounds of:
#   gcheck   gcheck-pybench: load_python on every file (read, pre-filter, scan, parse, extract)
#   full     the same with --full (every statement parsed)
#   2thr     the same as gcheck on 2 threads
#   lint     the whole `gcheck lint --format json -j 1` over the folder: walk, parse, resolve
#            the effective setup on every path through the unknown versions, run every rule,
#            report (process start included; wall time of the command, CPU time of the child)
#   lint2    the same with -j 2 (files read and parsed on two threads; the default on 2 cores)
#   ast      ast_parse_bench.py: read + ast.parse on every file, /usr/bin/python3
# each in one process, and prints the medians (wall-clock and process CPU time) and the ratios.
#
#   bench/python_bench.sh [BUILD_DIR]      (default: build/ beside this folder)
#   COUNT=1000 ROUNDS=7 SEED=1 bench/python_bench.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}
bench=$build/bench/gcheck-pybench
gcheck=$build/gcheck
py=/usr/bin/python3
count=${COUNT:-1000}
rounds=${ROUNDS:-7}
seed=${SEED:-1}
[ -x "$bench" ] || { echo "python_bench.sh: $bench not built (cmake --build $build --target gcheck-pybench)" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
scripts=$work/scripts
"$py" "$here/gen_training_scripts.py" "$scripts" "$count" "$seed"
lines=$(cat "$scripts"/*.py | wc -l)
echo "scripts: $count files, $(du -sb "$scripts" | cut -f1) bytes, $lines lines (seed $seed)"

# Correctness gates: CPython accepts every script; the selection changes no fact.
"$py" "$here/ast_parse_bench.py" --runs 1 "$scripts" > /dev/null
"$bench" --dump "$scripts" > "$work/selected.txt"
"$bench" --dump --full "$scripts" > "$work/full.txt"
if ! cmp -s "$work/selected.txt" "$work/full.txt"; then
  echo "python_bench.sh: the selection changed the facts:" >&2
  diff "$work/selected.txt" "$work/full.txt" | head -20 >&2
  exit 1
fi
echo "facts: identical with and without the statement selection ($(grep -vc "^== \|^format \|^anchor " "$work/full.txt") fact lines)"
stats=$("$bench" --stats "$scripts" | head -1)
echo "$stats"
case "$stats" in
  *"parsed again whole 0") ;;
  *) echo "python_bench.sh: some selections did not parse on their own (the front end parsed those files again whole)" >&2; exit 1 ;;
esac

median_line() { grep '^median' | sed -E 's/median ([0-9.]+) s wall, ([0-9.]+) s cpu.*/\1 \2/'; }
: > "$work/times"
# A warm-up round, not counted.
"$bench" --runs 1 "$scripts" > /dev/null
"$py" "$here/ast_parse_bench.py" --runs 1 "$scripts" > /dev/null
# The full lint, timed from outside: "median <wall> s wall, <cpu> s cpu" like the others.
lint_time() {
  "$py" - "$gcheck" "$scripts" "$1" <<'PYEOF'
import resource, subprocess, sys, time
t = time.perf_counter()
subprocess.run([sys.argv[1], "lint", "--exit-zero", "--format", "json", "-o", "/dev/null",
                "-j", sys.argv[3], sys.argv[2]], check=True)
w = time.perf_counter() - t
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print("median %.6f s wall, %.6f s cpu" % (w, r.ru_utime + r.ru_stime))
PYEOF
}
lint_time 1 > /dev/null
for r in $(seq "$rounds"); do
  echo "lint $(lint_time 1 | median_line)" >> "$work/times"
  echo "lint2 $(lint_time 2 | median_line)" >> "$work/times"
  echo "gcheck $("$bench" --runs 1 "$scripts" | median_line)" >> "$work/times"
  echo "ast $("$py" "$here/ast_parse_bench.py" --runs 1 "$scripts" | median_line)" >> "$work/times"
  echo "full $("$bench" --runs 1 --full "$scripts" | median_line)" >> "$work/times"
  echo "2thr $("$bench" --runs 1 --threads 2 "$scripts" | median_line)" >> "$work/times"
done

"$py" - "$work/times" "$rounds" <<'PYEOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, wall, cpu = line.split()
    rows.setdefault(name, ([], []))
    rows[name][0].append(float(wall))
    rows[name][1].append(float(cpu))
med = {k: (statistics.median(w), statistics.median(c)) for k, (w, c) in rows.items()}
aw, ac = med["ast"]
print("\nmedians of %s interleaved rounds (seconds for all files; ratio = ast.parse time / this time)" % sys.argv[2])
print("| run | wall | cpu | ratio (wall) | ratio (cpu) |")
print("|---|---|---|---|---|")
names = {"lint": "gcheck lint, whole command, -j 1", "lint2": "gcheck lint, whole command, -j 2", "gcheck": "gcheck front end (1 thread)", "full": "gcheck front end, --full (1 thread)",
         "2thr": "gcheck front end (2 threads)", "ast": "CPython ast.parse (1 process)"}
for k in ("lint", "lint2", "gcheck", "full", "2thr", "ast"):
    w, c = med[k]
    print("| %s | %.3f | %.3f | %.2fx | %.2fx |" % (names[k], w, c, aw / w, ac / c))
PYEOF
echo
echo "machine: $(nproc) cores ($(lscpu | sed -n 's/^Model name: *//p')), load average $(cut -d' ' -f1-3 /proc/loadavg)"
