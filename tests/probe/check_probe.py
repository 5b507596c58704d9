#!/usr/bin/env python3
"""CTest driver for gcheck-probe: runs the binary as a user would and asserts what they see
(exit codes, verdicts, numbers, error texts). One group of checks per CTest test:

  check_probe.py --probe BIN [--gcheck BIN] [--fixtures DIR] GROUP

GROUP: verdicts | refuted | bad-input | config | model-config | launcher | parity | cuda
Exit 0: pass, 1: a check failed, 77: skipped (no torch for parity, no GPU for cuda).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

FAILS = []


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL: " + what)
    return cond


def run(cmd, timeout=300):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def probe_json(args, extra):
    rc, out, err = run([args.probe, "--device", "cpu", "--format", "json", "--quiet"] + extra)
    try:
        return rc, json.loads(out), err
    except json.JSONDecodeError:
        check(False, "no JSON on stdout for %s: %s %s" % (extra, out[:300], err[:300]))
        return rc, None, err


def scen(report, name):
    for s in report["scenarios"]:
        if s["name"] == name:
            return s
    check(False, "scenario %s missing from the report" % name)
    return {"modes": [], "verdict": None}


def mode(s, name):
    for m in s["modes"]:
        if m["name"] == name:
            return m
    check(False, "mode %s missing from %s" % (name, s.get("name")))
    return {"error": None, "hazard": None, "params": [], "metrics": {}, "warnings": []}


def matches(m):
    return m["error"] is None and not m["hazard"] and m["differing"] == 0


# ---- groups ------------------------------------------------------------------------------------


def g_verdicts(args):
    rc, r, err = probe_json(args, [])
    if r is None:
        return
    check(rc == 1, "all scenarios: exit 1 (something CONFIRMED), got %d" % rc)
    check(r["device"] == "cpu", "device is cpu")
    names = [s["name"] for s in r["scenarios"]]
    check(names == ["frozen-inputs", "keyword-tensors", "autograd-grad", "dropout-rng", "stateful-recompute",
                    "kv-cache", "zero3-partition", "ddp-unused", "nested", "memory"], "all ten scenarios in order: %s" % names)
    for s in r["scenarios"]:
        check(s["verdict"] == "CONFIRMED", "%s: CONFIRMED, got %s (%s)" % (s["name"], s["verdict"], s["summary"]))
        check(s["summary"] and "\n" not in s["summary"], "%s: one-line summary" % s["name"])

    s = scen(r, "frozen-inputs")
    m = mode(s, "lora/reentrant")
    check(m["error"] and "element 0 of tensors does not require grad" in m["error"], "frozen-inputs: reentrant LoRA raises element 0 ...")
    check("None of the inputs have requires_grad=True. Gradients will be None" in m["warnings"], "frozen-inputs: PyTorch's warning")
    check(matches(mode(s, "lora/reentrant+input-hook")), "frozen-inputs: the input hook fixes reentrant")
    check(matches(mode(s, "lora/non-reentrant")), "frozen-inputs: non-reentrant matches")
    m = mode(s, "partial-freeze/reentrant")
    check(m["error"] is None and m["missing"] > 0, "partial freeze + reentrant: silently missing gradients")
    layer_params = [p for p in m["params"] if p["name"].startswith("model.layers.")]
    check(layer_params and all(p["all_zero"] and p["ref_norm"] > 0 for p in layer_params),
          "partial freeze + reentrant: every trainable layer parameter lost its gradient")
    head = [p for p in m["params"] if p["name"] == "lm_head.weight"]
    check(head and head[0]["has_grad"] and head[0]["rel_err"] < 1e-6, "partial freeze + reentrant: the head still trains")
    check(matches(mode(s, "partial-freeze/non-reentrant")), "partial freeze + non-reentrant matches")

    s = scen(r, "keyword-tensors")
    m = mode(s, "reentrant")
    bad = sorted(p["name"] for p in m["params"] if p["differs"])
    check(bad and all("layers.0.self_attn.k_proj" in n or "layers.0.self_attn.v_proj" in n for n in bad),
          "keyword-tensors: exactly the producer's K/V gradients are wrong: %s" % bad)
    check(all(p["cosine"] < 0.9999 for p in m["params"] if p["differs"]), "keyword-tensors: cosine below 1")
    check(matches(mode(s, "non-reentrant")), "keyword-tensors: non-reentrant matches")

    s = scen(r, "autograd-grad")
    for name in ("reentrant/autograd.grad", "reentrant/backward(inputs=)"):
        m = mode(s, name)
        check(m["error"] and ".grad()" in m["error"] and "`inputs`" in m["error"], "autograd-grad %s raises the .grad() error" % name)
    check(matches(mode(s, "non-reentrant/autograd.grad")), "autograd-grad: non-reentrant matches")

    s = scen(r, "dropout-rng")
    for eng in ("reentrant", "non-reentrant"):
        check(matches(mode(s, eng + "/preserve_rng_state=True")), "dropout-rng: %s preserving RNG matches" % eng)
        m = mode(s, eng + "/preserve_rng_state=False")
        check(m["error"] is None and m["differing"] > 0 and m["min_cosine"] < 0.99, "dropout-rng: %s without RNG state differs" % eng)

    s = scen(r, "stateful-recompute")
    for eng in ("reentrant", "non-reentrant"):
        m = mode(s, eng)
        check(m["error"] is None and m["differing"] > 0, "stateful-recompute: %s silently differs" % eng)

    s = scen(r, "kv-cache")
    m = mode(s, "reentrant")
    check(m["error"] is None and m["differing"] > 0, "kv-cache: reentrant silently differs")
    m = mode(s, "non-reentrant")
    e = m["error"] or ""
    check(e.startswith("torch.utils.checkpoint: Recomputed values for the following tensors have different metadata than during the forward pass."),
          "kv-cache: non-reentrant raises PyTorch's CheckpointError")
    check("torch.Size([2, 4, 16, 16])" in e and "torch.Size([2, 4, 16, 32])" in e, "kv-cache: the sequence doubles (16 -> 32) in the error")

    s = scen(r, "zero3-partition")
    check(matches(mode(s, "reentrant")), "zero3: reentrant matches")
    e = mode(s, "non-reentrant")["error"] or ""
    check("different metadata than during the forward pass" in e and "saved metadata: {'shape': torch.Size([64]), 'dtype': torch.float32, 'device': device(type='cpu')}" in e
          and "recomputed metadata: {'shape': torch.Size([0])" in e, "zero3: non-reentrant saved [64] vs recomputed [0]")

    s = scen(r, "ddp-unused")
    e = mode(s, "reentrant/find_unused_parameters=True")["error"] or ""
    check(e.startswith("Expected to mark a variable ready only once"), "ddp: reentrant + find_unused raises the Reducer's error")
    for name in ("reentrant/find_unused_parameters=False", "non-reentrant/find_unused_parameters=True", "non-reentrant/find_unused_parameters=False"):
        check(matches(mode(s, name)), "ddp: %s passes" % name)

    s = scen(r, "nested")
    want = {"reentrant": 2, "non-reentrant": 2, "reentrant-in-reentrant": 3, "reentrant-in-non-reentrant": 3,
            "non-reentrant-in-non-reentrant": 2, "non-reentrant-in-non-reentrant/early_stop=False": 3}
    for name, calls in want.items():
        m = mode(s, name)
        check(m["metrics"].get("forward_calls_per_layer") == calls, "nested %s: %d forward calls per layer, got %s" % (name, calls, m["metrics"].get("forward_calls_per_layer")))
        check(m["error"] is None and m["differing"] == 0, "nested %s: gradients match" % name)

    s = scen(r, "memory")
    none, re_, nre = mode(s, "none"), mode(s, "reentrant"), mode(s, "non-reentrant")
    check(none["metrics"].get("saved_activation_bytes", 0) > 0, "memory: bytes saved without checkpointing")
    for m in (re_, nre):
        check(m["metrics"].get("activation_saving", 0) > 0.5, "memory: %s saves more than half" % m["name"])
        check("step_ms" in m["metrics"], "memory: %s step time" % m["name"])
    check(any("CPU" in n for n in s.get("notes", [])), "memory: says what CPU cannot measure")

    # a trainable head makes the frozen-inputs loss silent: no error, the LoRA gradients are gone
    rc, r2, err = probe_json(args, ["--scenario", "frozen-inputs", "--trainable-head"])
    if r2:
        m = mode(scen(r2, "frozen-inputs"), "lora/reentrant")
        lora = [p for p in m["params"] if ".lora_" in p["name"]]
        check(m["error"] is None and lora and all(p["all_zero"] and p["ref_norm"] > 0 for p in lora),
              "frozen-inputs --trainable-head: reentrant silently leaves every LoRA gradient at zero")
        head = [p for p in m["params"] if p["name"] == "lm_head.weight"]
        check(head and not head[0]["differs"], "frozen-inputs --trainable-head: the head's gradient is right")

    # the text report shows the same
    rc, out, err = run([args.probe, "--device", "cpu", "--scenario", "frozen-inputs,zero3-partition"])
    check(rc == 1, "text: exit 1")
    check("frozen-inputs (GC101, GC204, GC205): CONFIRMED" in out, "text: verdict line")
    check("[1/2] frozen-inputs" in err and "[2/2] zero3-partition" in err, "text: a progress line per scenario on stderr")
    check("device: cpu" in err, "text: the device line")
    check("2 scenarios: 2 CONFIRMED, 0 REFUTED, 0 ERROR" in out, "text: closing counts")
    rc, out, err = run([args.probe, "--device", "cpu", "--scenario", "nested", "--quiet"])
    check(err.strip() == "", "--quiet: nothing on stderr, got %r" % err[:200])


def g_refuted(args):
    cases = [
        (["--scenario", "frozen-inputs", "--trainable-embeddings"], "frozen-inputs"),
        (["--scenario", "dropout-rng", "--lora-dropout", "0", "--attention-dropout", "0"], "dropout-rng"),
        (["--scenario", "zero3-partition", "--full"], "zero3-partition"),
        (["--scenario", "keyword-tensors", "--lora-targets", "q_proj,o_proj,gate_proj,up_proj,down_proj"], "keyword-tensors"),
    ]
    for extra, name in cases:
        rc, r, err = probe_json(args, extra)
        if r is None:
            continue
        check(rc == 0, "%s: exit 0 when REFUTED, got %d" % (extra, rc))
        s = scen(r, name)
        check(s["verdict"] == "REFUTED", "%s: REFUTED, got %s (%s)" % (extra, s["verdict"], s["summary"]))
        check(all(matches(m) for m in s["modes"]), "%s: every mode matches" % extra)


def g_bad_input(args):
    f = args.fixtures
    cases = [
        (["--scenario", "nope"], "unknown scenario 'nope'"),
        (["--hidden", "63"], "must be a multiple of --heads"),
        (["--heads", "4", "--kv-heads", "3"], "--kv-heads (3) must divide --heads (4)"),
        (["--seq", "1"], "--seq must be at least 2"),
        (["--layers", "0"], "--layers must be between 1 and 4096"),
        (["--layers", "4000", "--hidden", "16384", "--seq", "8192"], "impossible sizes"),
        (["--quant", "3"], "--quant must be 0, 4 or 8"),
        (["--lora-targets", "qq_proj"], "unknown LoRA target 'qq_proj'"),
        (["--unfrozen", "(["], "not a regular expression"),
        (["--model-config", os.path.join(f, "does_not_exist.json")], "cannot read the file"),
        (["--model-config", os.path.join(f, "config_missing_heads.json")], 'missing "num_attention_heads"'),
        (["--model-config", os.path.join(f, "config_absurd.json")], "is not a multiple of num_attention_heads"),
        (["--model-config", os.path.join(f, "config_negative.json")], 'is absurd'),
        (["--model-config", os.path.join(f, "config_truncated.json")], "not a JSON object"),
        (["--config", os.path.join(f, "does_not_exist.yml")], "does_not_exist.yml"),
        (["--device", "tpu"], "--device"),
        (["--seed", "abc"], "--seed"),
    ]
    # about 390 GiB for one step: more than this machine's memory (checked, not allocated)
    ram = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    if ram * 0.75 < 380 * 2**30:
        cases.append((["--layers", "45", "--hidden", "4096", "--intermediate", "11008", "--seq", "2048",
                       "--batch", "8"], "GiB of memory"))
    for extra, text in cases:
        rc, out, err = run([args.probe, "--device", "cpu", "--quiet"] + extra if extra[0] != "--device" else [args.probe] + extra)
        check(rc == 2, "%s: exit 2, got %d" % (extra, rc))
        check(text in err, "%s: message %r, got %r" % (extra, text, err.strip()[:300]))
        check("Traceback" not in err and "terminate called" not in err, "%s: no crash" % extra)


def g_config(args):
    f = os.path.join(args.fixtures, "axolotl_partial_freeze_reentrant.yml")
    rc, r, err = probe_json(args, ["--config", f])
    if r is None:
        return
    check(rc == 1, "--config: exit 1 (GC101 CONFIRMED), got %d" % rc)
    check([s["name"] for s in r["scenarios"]] == ["frozen-inputs"], "--config: runs only the scenarios its findings name")
    fs = r.get("findings", [])
    check(len(fs) == 1 and fs[0]["code"] == "GC101" and fs[0]["verdict"] == "CONFIRMED", "--config: GC101 CONFIRMED: %s" % fs)
    if fs:
        check(fs[0]["line"] == 7 and fs[0]["file"].endswith("axolotl_partial_freeze_reentrant.yml"), "--config: the finding's location")
        check(fs[0]["effective_finding"].startswith("partial-freeze/reentrant:") and "missing" in fs[0]["effective_finding"],
              "--config: the effective mode is the partially frozen reentrant run: %s" % fs[0]["effective_finding"])
    check(any("unfrozen_parameters" in n for n in r.get("config_notes", [])), "--config: the unfrozen_parameters regexes are used")
    # a config whose findings need no probe: exit 0, says so
    f2 = os.path.join(args.fixtures, "axolotl_qlora_hook.yml")
    rc, out, err = run([args.probe, "--device", "cpu", "--quiet", "--config", f2])
    check(rc == 0, "--config without probe findings: exit 0, got %d" % rc)
    check("no finding of this file names a probe scenario" in out, "--config without findings: says so")


def g_model_config(args):
    f = os.path.join(args.fixtures, "llama_config.json")
    d = tempfile.mkdtemp()
    try:
        rc, r, err = probe_json(args, ["--model-config", f, "--layers", "3", "--scenario", "frozen-inputs", "--dump", d])
        check(rc == 1, "--model-config: runs, exit 1")
        import pickle  # noqa: F401  (the dump is read by the parity test; here only its presence)
        check(os.path.exists(os.path.join(d, "frozen-inputs.pt")), "--dump writes the scenario file")
        s = scen(r, "frozen-inputs") if r else {"modes": []}
        names = [p["name"] for p in mode(s, "lora/non-reentrant")["params"]]
        check(any(n.startswith("model.layers.2.") for n in names) and not any(n.startswith("model.layers.3.") for n in names),
              "--model-config truncated to 3 layers")
    finally:
        shutil.rmtree(d, ignore_errors=True)


def g_launcher(args):
    rc, out, err = run([args.gcheck, "probe", "--device", "cpu", "--quiet", "--scenario", "nested"])
    check(rc == 1 and "nested (GC109, GC304): CONFIRMED" in out, "gcheck probe execs gcheck-probe: rc %d" % rc)
    f = os.path.join(args.fixtures, "axolotl_partial_freeze_reentrant.yml")
    rc, out, err = run([args.gcheck, "lint", "--probe", "--format", "json", f])
    try:
        j = json.loads(out)
        text = json.dumps(j)
        check("CONFIRMED" in text, "gcheck lint --probe attaches the verdict")
    except json.JSONDecodeError:
        check(False, "gcheck lint --probe --format json: JSON")


def g_parity(args):
    try:
        import torch  # noqa: F401
    except ImportError:
        print("SKIP: this python has no torch (set GCHECK_TORCH_PYTHON)")
        sys.exit(77)
    d = tempfile.mkdtemp()
    try:
        rc, out, err = run([args.probe, "--device", "cpu", "--quiet", "--format", "json", "--dump", d])
        check(rc == 1, "dump run: exit 1, got %d: %s" % (rc, err[-500:]))
        here = os.path.dirname(os.path.abspath(__file__))
        rc, out, err = run([sys.executable, os.path.join(here, "parity.py"), d, "--json", os.path.join(d, "parity.json")])
        print(out)
        check(rc == 0, "parity: every run agrees with PyTorch (rc %d) %s" % (rc, err[-500:]))
        res = json.load(open(os.path.join(d, "parity.json")))["results"]
        passed = [x for x in res if x["status"] == "PASS"]
        check(len(passed) >= 30, "parity: at least 30 runs compared, got %d" % len(passed))
        # the runs that must raise in both, with the same text
        for sc, md in (("frozen-inputs", "reentrant"), ("autograd-grad", "reentrant/autograd.grad"),
                       ("ddp-unused", "reentrant/find_unused_parameters=True")):
            x = [r for r in res if r["scenario"] == sc and r["mode"] == md]
            check(x and x[0]["status"] == "PASS" and x[0]["detail"].startswith("both raise"), "parity: %s %s raises in both" % (sc, md))
        # the other quantizations: int8, and NF4 without double quantization
        for extra in (["--quant", "8"], ["--no-double-quant", "--lora-dropout", "0.2"]):
            d2 = os.path.join(d, "q" + extra[0].strip("-"))
            rc, out, err = run([args.probe, "--device", "cpu", "--quiet", "--dump", d2,
                                "--scenario", "frozen-inputs,dropout-rng,zero3-partition"] + extra)
            rc, out, err = run([sys.executable, os.path.join(here, "parity.py"), d2])
            print(out)
            check(rc == 0, "parity %s: every run agrees with PyTorch" % extra)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def g_cuda(args):
    rc, out, err = run([args.probe, "--device", "cuda", "--format", "json", "--quiet", "--scenario", "memory"])
    try:
        r = json.loads(out)
    except json.JSONDecodeError:
        check(False, "cuda: JSON")
        return
    if not r["device"].startswith("cuda"):
        print("SKIP: no CUDA device (%s)" % r.get("device_line"))
        sys.exit(77)
    m = mode(scen(r, "memory"), "reentrant")
    check(m["metrics"].get("peak_step_bytes", 0) > 0, "cuda: peak memory measured")
    rc, out, err = run([args.probe, "--device", "cuda", "--bench-dequant", "1024x1024"])
    check(rc == 0 and "nf4-dequant" in out, "cuda: dequant bench runs")
    check("(identical)" in out, "cuda: the NF4 kernel gives exactly the ATen dequantization")


GROUPS = {"verdicts": g_verdicts, "refuted": g_refuted, "bad-input": g_bad_input, "config": g_config,
          "model-config": g_model_config, "launcher": g_launcher, "parity": g_parity, "cuda": g_cuda}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--probe", required=True)
    ap.add_argument("--gcheck")
    ap.add_argument("--fixtures", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures"))
    ap.add_argument("group", choices=sorted(GROUPS))
    args = ap.parse_args()
    GROUPS[args.group](args)
    if FAILS:
        print("%d check(s) failed" % len(FAILS))
        return 1
    print("ok: %s" % args.group)
    return 0


if __name__ == "__main__":
    sys.exit(main())
