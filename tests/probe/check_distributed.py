#!/usr/bin/env python3
"""CTest driver for `gcheck-probe --distributed`: starts the ranks itself, as a launcher would
(RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT), so that no torchrun is needed, and
asserts what a user sees: every rank's exit code, rank 0's report, the messages.

  check_distributed.py --probe BIN GROUP

GROUP: ddp-unused | zero3 | rl | failures | torchrun
Exit 0: pass, 1: a check failed, 77: skipped (torchrun: no torch.distributed.run here).
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time

FAILS = []
WORLD = 2


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL: " + what)
    return cond


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Rank:
    def __init__(self, rank):
        self.rank = rank
        self.rc = None
        self.out = ""
        self.err = ""
        self.seconds = None


def launch(probe, args, ranks=None, env_of=None, args_of=None, deadline=120, world=WORLD):
    """Starts `ranks` (default: all) of a `world`-rank job on this host and waits for them."""
    port = free_port()
    ranks = list(range(world)) if ranks is None else ranks
    env_of = env_of or {}
    args_of = args_of or {}
    results = [Rank(r) for r in ranks]
    t0 = time.monotonic()

    def run(res):
        env = dict(os.environ, RANK=str(res.rank), WORLD_SIZE=str(world), LOCAL_RANK=str(res.rank),
                   MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), OMP_NUM_THREADS="1")
        env.pop("GCHECK_PROBE_INJECT", None)
        env.update(env_of.get(res.rank, {}))
        cmd = [probe, "--distributed", "--device", "cpu"] + args + args_of.get(res.rank, [])
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        try:
            res.out, res.err = p.communicate(timeout=deadline)
        except subprocess.TimeoutExpired:
            p.kill()
            res.out, res.err = p.communicate()
            res.err += "\n[driver: killed after %d s: HANG]" % deadline
        res.rc = p.returncode
        res.seconds = time.monotonic() - t0

    threads = [threading.Thread(target=run, args=(res,)) for res in results]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for res in results:
        print("rank %d: exit %s after %.2f s" % (res.rank, res.rc, res.seconds))
        if res.err.strip():
            print("  stderr: " + res.err.strip().replace("\n", "\n          ")[-1500:])
    return results


def report(res):
    try:
        return json.loads(res.out)
    except json.JSONDecodeError:
        check(False, "rank 0: no JSON report on stdout: %r %r" % (res.out[:300], res.err[-300:]))
        return None


def scen(r, name):
    for s in (r or {}).get("scenarios", []):
        if s["name"] == name:
            return s
    check(False, "scenario %s missing from the report" % name)
    return {"modes": [], "verdict": None, "summary": "", "notes": []}


def mode(s, name):
    for m in s["modes"]:
        if m["name"] == name:
            return m
    check(False, "mode %s missing from %s" % (name, s.get("name")))
    return {"error": None, "hazard": None, "params": [], "metrics": {}, "differing": -1}


def matches(m):
    return m["error"] is None and not m["hazard"] and m["differing"] == 0


def equal_across_ranks(s, names):
    for n in names:
        m = mode(s, n)
        d = m["metrics"].get("cross_rank_max_rel_diff")
        check(d is not None and d <= 1e-6, "%s %s: gradients equal on every rank (max rel diff %s)" % (s["name"], n, d))
        check(m["metrics"].get("ranks") == WORLD, "%s %s: compared over %d ranks" % (s["name"], n, WORLD))
        check(m["max_rel_err"] is not None and m["max_rel_err"] < 1e-5,
              "%s %s: equal to the averaged reference (max rel err %s)" % (s["name"], n, m["max_rel_err"]))


def common(results, rc, scenario):
    check(all(r.rc == rc for r in results), "every rank exits %d: %s" % (rc, [r.rc for r in results]))
    check(all(r.out == "" for r in results[1:]), "only rank 0 prints the report")
    r = report(results[0])
    if r:
        d = r.get("distributed") or {}
        check(d.get("world_size") == WORLD and d.get("backend") == "gloo", "the report names the group: %s" % d)
        check([s["name"] for s in r["scenarios"]] == [scenario], "the report holds %s" % scenario)
        s = scen(r, scenario)
        check(any("each of the 2 ranks trained on its own batch" in n for n in s.get("notes", [])),
              "%s: says each rank had its own batch" % scenario)
    return r


# ---- groups ------------------------------------------------------------------------------------


def g_ddp_unused(args):
    res = launch(args.probe, ["--scenario", "ddp-unused", "--format", "json", "--quiet", "--timeout", "30"])
    r = common(res, 1, "ddp-unused")
    if not r:
        return
    s = scen(r, "ddp-unused")
    check(s["verdict"] == "CONFIRMED", "ddp-unused: CONFIRMED, got %s (%s)" % (s["verdict"], s["summary"]))
    e = mode(s, "reentrant/find_unused_parameters=True")["error"] or ""
    check(e.startswith("Expected to mark a variable ready only once"),
          "ddp-unused: reentrant + find_unused raises the Reducer's error across ranks: %r" % e[:120])
    ok = ["reentrant/find_unused_parameters=False", "non-reentrant/find_unused_parameters=True",
          "non-reentrant/find_unused_parameters=False"]
    for n in ok:
        check(matches(mode(s, n)), "ddp-unused: %s passes" % n)
    equal_across_ranks(s, ok)
    # The reference is the average over both ranks' batches, not rank 0's batch alone (which
    # is the single-process probe's batch): its gradients differ from the single-process ones.
    p = subprocess.run([args.probe, "--device", "cpu", "--scenario", "ddp-unused", "--format", "json", "--quiet"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
    single = {x["name"]: x["ref_norm"] for x in mode(scen(json.loads(p.stdout), "ddp-unused"), ok[0])["params"]}
    dist = {x["name"]: x["ref_norm"] for x in mode(s, ok[0])["params"]}
    check(single.keys() == dist.keys() and single, "same trainable parameters as the single-process probe")
    diff = [n for n in dist if abs(dist[n] - single.get(n, 0)) > 1e-3 * max(1e-12, single.get(n, 0))]
    check(len(diff) == len(dist), "the distributed reference averages both ranks' batches (%d/%d norms differ from one batch's)" % (len(diff), len(dist)))
    # text report, same verdict; output options may differ between ranks (rank 1 quiet)
    res = launch(args.probe, ["--scenario", "ddp-unused", "--timeout", "30"], args_of={1: ["--quiet", "--format", "json"]})
    check(all(x.rc == 1 for x in res), "text: every rank exits 1")
    check("ddp-unused (GC301): CONFIRMED" in res[0].out, "text: the verdict line")
    check("distributed: 2 ranks, c10d gloo group" in res[0].out, "text: the distributed line")
    check("[1/1] ddp-unused" in res[0].err and res[1].err.strip() == "", "text: progress from rank 0 only")


def g_zero3(args):
    res = launch(args.probe, ["--scenario", "zero3-partition", "--format", "json", "--quiet", "--timeout", "30"])
    r = common(res, 1, "zero3-partition")
    if r:
        s = scen(r, "zero3-partition")
        check(s["verdict"] == "CONFIRMED", "zero3: CONFIRMED, got %s (%s)" % (s["verdict"], s["summary"]))
        e = mode(s, "non-reentrant/deepspeed<0.19.3")["error"] or ""
        check(e.startswith("torch.utils.checkpoint: Recomputed values for the following tensors have different metadata"),
              "zero3: non-reentrant under the old rule raises the metadata CheckpointError: %r" % e[:120])
        check("saved metadata: {'shape': torch.Size([64])" in e and "recomputed metadata: {'shape': torch.Size([0])" in e,
              "zero3: saved [64] vs recomputed [0]")
        ok = ["reentrant/deepspeed<0.19.3", "reentrant/deepspeed>=0.19.3", "non-reentrant/deepspeed>=0.19.3"]
        for n in ok:
            check(matches(mode(s, n)), "zero3: %s passes" % n)
        equal_across_ranks(s, ok)
        check(any("DeepSpeed is Python-only: ZeRO-3 is emulated on c10d collectives" in n for n in s["notes"]),
              "zero3: says that ZeRO-3 is emulated")
    # the fixed rule alone: nothing to confirm
    res = launch(args.probe, ["--scenario", "zero3-partition", "--deepspeed", "0.19.3", "--format", "json", "--quiet", "--timeout", "30"])
    r = common(res, 0, "zero3-partition")
    if r:
        s = scen(r, "zero3-partition")
        check(s["verdict"] == "REFUTED", "zero3 --deepspeed 0.19.3: REFUTED, got %s" % s["verdict"])
        check([m["name"] for m in s["modes"]] == ["reentrant/deepspeed>=0.19.3", "non-reentrant/deepspeed>=0.19.3"],
              "zero3 --deepspeed 0.19.3: only the fixed rule's modes")
    res = launch(args.probe, ["--scenario", "zero3-partition", "--deepspeed", "0.18.4", "--format", "json", "--quiet", "--timeout", "30"])
    r = common(res, 1, "zero3-partition")
    if r:
        s = scen(r, "zero3-partition")
        check([m["name"] for m in s["modes"]] == ["reentrant/deepspeed<0.19.3", "non-reentrant/deepspeed<0.19.3"],
              "zero3 --deepspeed 0.18.4: only the old rule's modes")


def g_rl(args):
    res = launch(args.probe, ["--scenario", "rl-qlora", "--format", "json", "--quiet", "--timeout", "30"])
    r = common(res, 1, "rl-qlora")
    if not r:
        return
    s = scen(r, "rl-qlora")
    check(s["verdict"] == "CONFIRMED" and s["rules"] == "GC303", "rl-qlora (GC303): CONFIRMED, got %s (%s)" % (s["verdict"], s["summary"]))
    # find_unused_parameters=True: the Reducer refuses the second mark of a parameter
    e = mode(s, "reentrant/two-policy-passes/find_unused_parameters=True")["error"] or ""
    check(e.startswith("Expected to mark a variable ready only once"), "rl-qlora: find_unused=True raises marked-ready-twice: %r" % e[:120])
    # find_unused_parameters=False: DDP finishes after the first reentrant backward of every
    # parameter and ignores the later ones: no error, wrong gradients that differ across ranks
    # (PyTorch 1.13's own DDP does the same)
    m = mode(s, "reentrant/two-policy-passes")
    check(m["error"] is None and m["hazard"] and m["differing"] > 0, "rl-qlora: find_unused=False silently differs from the reference")
    check(m["metrics"].get("cross_rank_max_rel_diff", 0) > 1e-3 and "gradients differ across ranks" in m["finding"],
          "rl-qlora: find_unused=False leaves the ranks with different gradients: %s" % m["finding"])
    ok = ["reentrant/concatenated", "non-reentrant/two-policy-passes"]
    for n in ok:
        check(matches(mode(s, n)), "rl-qlora: %s passes" % n)
    equal_across_ranks(s, ok)
    lora = [p for p in mode(s, ok[1])["params"] if ".lora_" in p["name"]]
    check(lora and all(p["ref_norm"] > 0 for p in lora), "rl-qlora: every LoRA parameter has a reference gradient")
    check(any("NF4 frozen base + LoRA" in n for n in s["notes"]), "rl-qlora: QLoRA (NF4 base) said in the notes")


def g_failures(args):
    # 1. A rank fails in a scenario's local part: the error is agreed, both ranks report the
    #    scenario in ERROR, the next scenario still runs, both exit 2.
    res = launch(args.probe, ["--scenario", "zero3-partition,ddp-unused", "--format", "json", "--quiet", "--timeout", "20"],
                 env_of={1: {"GCHECK_PROBE_INJECT": "1:zero3-partition:error"}})
    check(all(x.rc == 2 for x in res), "injected error: every rank exits 2: %s" % [x.rc for x in res])
    check(max(x.seconds for x in res) < 60, "injected error: no hang")
    r = report(res[0])
    if r:
        s = scen(r, "zero3-partition")
        check(s["verdict"] == "ERROR" and "rank 1: failure injected by GCHECK_PROBE_INJECT" in s["summary"],
              "injected error: the scenario is ERROR, naming rank 1: %s" % s["summary"])
        check(scen(r, "ddp-unused")["verdict"] == "CONFIRMED", "injected error: the next scenario still ran")

    # 2. A rank is killed: the other one exits 2 at its next collective, naming it.
    timeout = 5
    res = launch(args.probe, ["--scenario", "ddp-unused", "--quiet", "--timeout", str(timeout)],
                 env_of={1: {"GCHECK_PROBE_INJECT": "1:ddp-unused:crash"}}, deadline=60)
    check(res[1].rc == -9, "crash: rank 1 was killed (got %s)" % res[1].rc)
    check(res[0].rc == 2, "crash: rank 0 exits 2, got %s" % res[0].rc)
    check(res[0].seconds < timeout + 15, "crash: rank 0 stops within the timeout (%.1f s)" % res[0].seconds)
    check("rank 0 of 2: collective " in res[0].err and "failed" in res[0].err,
          "crash: rank 0 names the failed collective: %r" % res[0].err[-400:])

    # 3. A rank stops (hangs) for twice the timeout: the other one times out and exits 2; the
    #    stopped one finds the group gone when it resumes and exits 2 too.
    timeout = 3
    res = launch(args.probe, ["--scenario", "ddp-unused", "--quiet", "--timeout", str(timeout)],
                 env_of={1: {"GCHECK_PROBE_INJECT": "1:ddp-unused:hang"}}, deadline=60)
    check(all(x.rc == 2 for x in res), "hang: every rank exits 2: %s" % [x.rc for x in res])
    check(res[0].seconds < timeout + 12, "hang: rank 0 stops after about the timeout (%.1f s)" % res[0].seconds)
    check("rank 0 of 2: collective " in res[0].err, "hang: rank 0 names the collective: %r" % res[0].err[-400:])
    check("rank 1 of 2: collective " in res[1].err, "hang: rank 1 names the collective: %r" % res[1].err[-400:])

    # 4. Ranks started with different options: both refuse, exit 2.
    res = launch(args.probe, ["--scenario", "ddp-unused", "--quiet", "--timeout", "20"], args_of={1: ["--seq", "8"]})
    check(all(x.rc == 2 for x in res), "different options: every rank exits 2: %s" % [x.rc for x in res])
    check(all("every rank must be started with the same options, and rank 1 got other options than rank 0" in x.err for x in res),
          "different options: both ranks say so")

    # 5. Only rank 0 starts: the rendezvous times out.
    res = launch(args.probe, ["--scenario", "ddp-unused", "--quiet", "--timeout", "2"], ranks=[0], deadline=60)
    check(res[0].rc == 2 and res[0].seconds < 20, "rendezvous: rank 0 alone exits 2 after the timeout (%.1f s)" % res[0].seconds)
    check("rendezvous at 127.0.0.1:" in res[0].err and ("1 of 2 ranks joined" in res[0].err or "1/2 clients joined" in res[0].err),
          "rendezvous: says how many ranks joined: %r" % res[0].err[-300:])

    # 6. Usage: no launcher variables; options that need --distributed; a bad version.
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "LOCAL_RANK")}
    cases = [([args.probe, "--distributed", "--device", "cpu"], env, "missing: RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT"),
             ([args.probe, "--device", "cpu", "--timeout", "5"], env, "--timeout requires --distributed"),
             ([args.probe, "--distributed", "--scenario", "nested"], env, "unknown scenario 'nested' for --distributed"),
             ([args.probe, "--distributed", "--deepspeed", "zero"], env, "--deepspeed wants a version"),
             ([args.probe, "--distributed", "--dump", "/tmp/x"], env, "--dump is not available with --distributed"),
             ([args.probe, "--distributed"], dict(env, RANK="2", WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT="1"),
              "RANK must be an integer from 0 to WORLD_SIZE - 1")]
    for cmd, e, text in cases:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e, timeout=60)
        check(p.returncode == 2 and text in p.stderr, "%s: exit 2 with %r, got %d %r" % (cmd[1:], text, p.returncode, p.stderr.strip()[:300]))
    p = subprocess.run([args.probe, "--distributed", "--list"], stdout=subprocess.PIPE, text=True, timeout=60)
    check(p.returncode == 0 and [l.split()[0] for l in p.stdout.splitlines()] == ["ddp-unused", "zero3-partition", "rl-qlora"],
          "--distributed --list: the three distributed scenarios")


def g_torchrun(args):
    py = sys.executable
    p = subprocess.run([py, "-c", "import torch.distributed.run"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        print("SKIP: %s has no torch.distributed.run (torchrun)" % py)
        sys.exit(77)
    # torchrun itself must work here: Debian 12's torch 1.13 on Python 3.11 fails before it
    # starts a worker ("'NoneType' object has no attribute 'get'" in its redirects map).
    p = subprocess.run([py, "-m", "torch.distributed.run", "--nproc_per_node", "1", "--master_port", str(free_port()),
                        "--no_python", "true"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
    if p.returncode != 0:
        last = (p.stderr.strip().splitlines() or ["?"])[-1]
        print("SKIP: torchrun does not start a trivial job on this machine: %s" % last)
        sys.exit(77)
    for extra, rc, verdict in ((["--scenario", "zero3-partition", "--deepspeed", "0.19.3"], 0, "REFUTED"),
                               (["--scenario", "rl-qlora"], 1, "CONFIRMED")):
        port = free_port()
        t0 = time.monotonic()
        p = subprocess.run([py, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
                            "--master_port", str(port), "--no_python", args.probe, "--distributed", "--device", "cpu", "--format", "json",
                            "--quiet", "--timeout", "30"] + extra,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300)
        print("torchrun %s: exit %d after %.2f s" % (" ".join(extra), p.returncode, time.monotonic() - t0))
        # torchrun exits 0 when every rank did, else 1 (it reports the first failed rank's code)
        check(p.returncode == rc, "torchrun %s: exit %d, got %d: %s" % (extra, rc, p.returncode, p.stderr[-500:]))
        check(("exitcode  : %d" % rc) in p.stderr if rc else True, "torchrun: the ranks' exit code %d in its report" % rc)
        start = p.stdout.find("{")
        try:
            r = json.loads(p.stdout[start:])
        except json.JSONDecodeError:
            check(False, "torchrun: one JSON report on stdout (rank 0 only): %r" % p.stdout[:300])
            continue
        s = r["scenarios"][0]
        check(s["verdict"] == verdict, "torchrun %s: %s, got %s" % (extra, verdict, s["verdict"]))
        check(r["distributed"]["world_size"] == 2, "torchrun: 2 ranks")


GROUPS = {"ddp-unused": g_ddp_unused, "zero3": g_zero3, "rl": g_rl, "failures": g_failures, "torchrun": g_torchrun}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--probe", required=True)
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
