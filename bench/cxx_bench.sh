#!/usr/bin/env bash
# C++ front end benchmark: gcheck-cxx on a LibTorch translation unit against
# `clang++ -fsyntax-only` on the same unit with the same flags, interleaved in one run;
# medians of N runs each, and the ratio. Then the startup costs: `gcheck lint` on one config
# (which never loads libclang-cpp), gcheck-cxx's own start, and a unit it skips.
#
#   bench/cxx_bench.sh [BUILD_DIR] [RUNS]          (defaults: build, 7)
#   CLANGXX=clang++-14 TU=path.cpp FLAGS="-std=c++17 -I..." bench/cxx_bench.sh
#
# Prints a Markdown section for bench/RESULTS.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(realpath "${1:-$root/build}")
runs=${2:-7}
(( runs >= 5 )) || { echo "use at least 5 runs" >&2; exit 2; }
clangxx=${CLANGXX:-clang++-14}
tu=${TU:-$root/tests/fixtures/cpp/frozen_embedding_dropout.cpp}
torch_inc=${TORCH_INC:-/usr/include/torch/csrc/api/include}
read -r -a flags <<< "${FLAGS:--std=c++17 -I$torch_inc}"
cxx=$build/gcheck-cxx
gcheck=$build/gcheck
for b in "$cxx" "$gcheck"; do [[ -x $b ]] || { echo "missing $b (build first)" >&2; exit 2; }; done
command -v "$clangxx" >/dev/null || { echo "missing $clangxx" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# time_one NAME CMD...: appends "wall cpu" (seconds) to $tmp/NAME; the command's stdout to $tmp/NAME.out
time_one() {
  local name=$1; shift
  /usr/bin/time -f "%e %U %S" -o "$tmp/t" "$@" > "$tmp/$name.out" 2>/dev/null || true
  awk '{ printf "%s %.3f\n", $1, $2 + $3 }' "$tmp/t" >> "$tmp/$name"
}

# Warm the page cache (headers, libraries) once, untimed.
"$clangxx" -fsyntax-only "${flags[@]}" "$tu" >/dev/null 2>&1 || true
"$cxx" --format=json "$tu" -- "${flags[@]}" >/dev/null 2>&1 || true
run_syntax() { time_one syntax "$clangxx" -fsyntax-only "${flags[@]}" "$tu"; }
run_cxx() {
  time_one cxx "$cxx" --format=json "$tu" -- "${flags[@]}"
  sed -n 's/.*"analysis_ms":\([0-9.e+-]*\).*/\1/p' "$tmp/cxx.out" >> "$tmp/analysis"
}
run_full() { time_one full "$cxx" --format=json --full-bodies "$tu" -- "${flags[@]}"; }
# Interleaved, and the order rotates each round, so that load from other users of a shared
# machine does not land on one command more than on the others.
order=(run_syntax run_cxx run_full)
for ((i = 0; i < runs; i++)); do
  for ((k = 0; k < 3; k++)); do "${order[(i + k) % 3]}"; done
done
col() { awk -v c="$1" '{ print $c }' "$tmp/$2" | median; }
sw=$(col 1 syntax) sc=$(col 2 syntax)
cw=$(col 1 cxx) cc=$(col 2 cxx)
fw=$(col 1 full) fc=$(col 2 full)
am=$(median < "$tmp/analysis" | awk '{ printf "%.1f", $1 }')
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# Startup: many short runs, median milliseconds per run.
cfg=$tmp/axolotl.yml
printf 'base_model: meta-llama/Llama-3.2-1B\nadapter: lora\ngradient_checkpointing: true\n' > "$cfg"
startup() {
  local n=$1; shift
  for ((k = 0; k < n; k++)); do
    local t0 t1
    t0=$(date +%s%N)
    "$@" >/dev/null 2>&1 || true
    t1=$(date +%s%N)
    echo $(( (t1 - t0) / 1000 ))
  done | median | awk '{ printf "%.1f", $1 / 1000 }'
}
lint_ms=$(startup 50 "$gcheck" lint "$cfg")
cxx_version_ms=$(startup 20 "$cxx" --version)
cxx_skip_ms=$(startup 20 "$cxx" --format=json "$root/tests/fixtures/cpp/no_libtorch.cpp" -- -std=c++17)
clang_libs=$(ldd "$gcheck" | grep -c -E 'libclang|libLLVM' || true)

cat <<EOF
## C++ front end

Machine: 2-core shared VM (Debian 12, $(nproc) cores visible, load average at start
$(cut -d' ' -f1 /proc/loadavg)); Clang 14.0.6, Debian's LibTorch 1.13 headers. Unit:
\`$(basename "$tu")\` (includes \`<torch/torch.h>\`), flags \`${flags[*]}\`. $runs runs of each,
interleaved in rotating order, medians; CPU is user + system time (on a shared machine the
CPU column is the steadier one: wall time also counts waiting for a core).

| command | wall (s) | CPU (s) | vs \`-fsyntax-only\` (wall / CPU) |
|---|---|---|---|
| \`$clangxx -fsyntax-only\` | $sw | $sc | 1.00 / 1.00 |
| \`gcheck-cxx\` (default: bodies in system and LibTorch headers skipped) | $cw | $cc | $(ratio "$cw" "$sw") / $(ratio "$cc" "$sc") |
| \`gcheck-cxx --full-bodies\` (parses exactly what clang++ parses) | $fw | $fc | $(ratio "$fw" "$sw") / $(ratio "$fc" "$sc") |

gcheck's own AST analysis inside that time: median $am ms per unit.

Startup (median of short runs):

| what | ms |
|---|---|
| \`gcheck lint\` on one Axolotl config (links no Clang: $clang_libs libclang/libLLVM libraries) | $lint_ms |
| \`gcheck-cxx --version\` (process start, libclang-cpp and libLLVM loaded) | $cxx_version_ms |
| \`gcheck-cxx\` on a unit that includes no LibTorch header (start, include scan, JSON) | $cxx_skip_ms |
EOF
