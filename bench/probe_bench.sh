#!/usr/bin/env bash
# gcheck-probe on the GPU machine, one command that prints everything bench/RESULTS.md needs:
#   1. all scenarios, wall time including CUDA start-up (target: <= 3 s on an H100), and the
#      Python parity script running the same scenarios on the same GPU (ratio);
#   2. the parity results on the GPU (gradients C++ vs PyTorch, errors raised in both);
#   3. the NF4 dequantization kernel on an 8192x8192 weight against a device-to-device copy of
#      the same output, measured in the same run (target: >= 70% of the copy bandwidth);
#   4. the memory scenario: activation memory saved and time overhead per checkpoint mode,
#      against the rule of thumb (50-60% less activation memory for 20-30% more time).
#
# Usage: bench/probe_bench.sh [BUILD_DIR] [OUT_DIR]
#   BUILD_DIR  default build-cuda; configured and built here when gcheck-probe is missing
#              (CUDA flavour against the LibTorch inside this machine's PyTorch)
#   OUT_DIR    default a temporary folder; keeps probe.json, parity.json, the dumps and
#              RESULTS-snippet.md
# Environment: PYTHON (default python3, must import torch with CUDA)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build-cuda}
OUT=${2:-$(mktemp -d)}
PY=${PYTHON:-python3}
mkdir -p "$OUT"

now() { date +%s.%N; }
secs() { "$PY" -c "import sys; print('%.3f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$1" "$2"; }

if [ ! -x "$BUILD/gcheck-probe" ]; then
  TORCH_DIR=$("$PY" -c 'import torch; print(torch.utils.cmake_prefix_path)')/Torch
  echo "== building the CUDA flavour in $BUILD (Torch_DIR=$TORCH_DIR)"
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGCHECK_PROBE=ON \
    -DGCHECK_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCH:-90}" -DTorch_DIR="$TORCH_DIR" \
    -DGCHECK_TESTS=OFF >"$OUT/cmake.log"
  cmake --build "$BUILD" --target gcheck-probe gcheck -j "$(nproc)" >"$OUT/build.log"
fi
PROBE="$BUILD/gcheck-probe"

echo "== machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
"$PY" -c 'import torch; print("PyTorch", torch.__version__, "CUDA", torch.version.cuda)'
"$PROBE" --device cuda --list >/dev/null

echo
echo "== 1. all scenarios on the GPU, wall time including CUDA start-up"
t0=$(now)
set +e
"$PROBE" --device cuda --quiet --format json >"$OUT/probe.json"
rc=$?
set -e
t1=$(now)
CPP_S=$(secs "$t0" "$t1")
echo "gcheck-probe: ${CPP_S} s (exit $rc; target <= 3 s)"
"$PY" - "$OUT/probe.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
print("device:", r["device"])
for s in r["scenarios"]:
    print("  %-20s %-10s %6.3f s  %s" % (s["name"], s["verdict"], s["seconds"], s["summary"][:150]))
EOF

echo
echo "== 2. the gradient scenarios in gcheck-probe and in PyTorch (parity.py) on the same GPU"
# memory has no PyTorch counterpart in parity.py: the ratio is over the nine other scenarios
GRAD_SCENARIOS=frozen-inputs,keyword-tensors,autograd-grad,dropout-rng,stateful-recompute,kv-cache,zero3-partition,ddp-unused,nested
t0=$(now)
"$PROBE" --device cuda --quiet --format json --scenario "$GRAD_SCENARIOS" >/dev/null || true
t1=$(now)
CPP_S=$(secs "$t0" "$t1")
echo "gcheck-probe, nine gradient scenarios: ${CPP_S} s"
rm -rf "$OUT/dump"
set +e
"$PROBE" --device cuda --quiet --format json --scenario "$GRAD_SCENARIOS" --dump "$OUT/dump" >/dev/null
t0=$(now)
"$PY" "$ROOT/tests/probe/parity.py" "$OUT/dump" --device "${PARITY_DEVICE:-cuda}" --rtol "${PARITY_RTOL:-1e-5}" \
  --json "$OUT/parity.json" | tee "$OUT/parity.txt"
prc=${PIPESTATUS[0]}
t1=$(now)
set -e
PY_S=$(secs "$t0" "$t1")
echo "parity.py, the same nine scenarios (import, model rebuild, every mode, checks): ${PY_S} s (exit $prc)"
"$PY" -c "import sys; c, p = float(sys.argv[1]), float(sys.argv[2]); print('ratio Python / gcheck-probe: %.2f' % (p / c))" "$CPP_S" "$PY_S"

echo
echo "== 3. NF4 dequantization kernel, 8192x8192, against a device copy in the same run"
"$PROBE" --device cuda --quiet --bench-dequant 8192x8192 | tee "$OUT/dequant.txt"

echo
echo "== 4. memory scenario: activation memory and step time per mode"
"$PY" - "$OUT/probe.json" <<'EOF' | tee "$OUT/RESULTS-snippet.md"
import json, sys
r = json.load(open(sys.argv[1]))
m = {x["name"]: x for x in r["scenarios"]}.get("memory")
if not m:
    sys.exit("memory scenario missing")
print("| mode | saved for backward | peak above model | step | activation saving | peak saving | time overhead |")
print("|---|---|---|---|---|---|---|")
for md in m["modes"]:
    k = md["metrics"]
    f = lambda key, scale=1.0, unit="": ("%.1f%s" % (k[key] * scale, unit)) if key in k and k[key] is not None else "-"
    print("| %s | %s | %s | %s | %s | %s | %s |" % (
        md["name"], f("saved_activation_bytes", 1 / 2**20, " MiB"), f("peak_step_bytes", 1 / 2**20, " MiB"),
        f("step_ms", 1, " ms"), f("activation_saving", 100, "%"), f("peak_saving", 100, "%"), f("time_overhead", 100, "%")))
print()
print("Rule of thumb: 50-60% less activation memory for 20-30% more time. Full per-layer")
print("checkpointing keeps only each layer's input (and the loss head), so the saving is larger")
print("than the rule of thumb (which assumes selective or partial checkpointing); the overhead")
print("is one extra forward per layer (about a third of a forward+backward step).")
EOF
echo
echo "outputs in $OUT"
