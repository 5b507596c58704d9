#!/usr/bin/env python3
"""Proof of faithfulness for gcheck-probe's checkpoint engines.

gcheck-probe --dump DIR writes, per scenario, the model's weights (quantized buffers
included), the token ids, and for every run (the no-checkpoint reference and each mode) its
configuration, the gradients of every trainable parameter, the error it raised and the warnings.
This script rebuilds the same model in PyTorch from those tensors, runs every mode with
torch.utils.checkpoint.checkpoint (use_reentrant=True/False), PyTorch's own DDP for the DDP
runs, and checks, run by run:

  * gradients: relative L2 error <= --rtol (1e-6) per parameter, and the same set of
    parameters with and without a gradient;
  * errors: raised where the C++ engine raised, with the same first sentence;
  * warnings: every warning the C++ engine raised is raised by PyTorch;
  * forward calls per layer (nesting).

Run with the PyTorch whose LibTorch built gcheck-probe (CI: Debian's python3-torch 1.13 with
libtorch-dev 1.13). Torch 1.13's non-reentrant checkpoint predates the metadata check that
gcheck-probe implements (PyTorch >= 2.0's _CheckpointFrame): where the C++ engine raises that
CheckpointError and torch 1.13 cannot, the run is reported as VERSION-GATED, not as a pass.

Usage: parity.py DIR [--rtol 1e-6] [--json OUT]   exit 0: all runs agree, 1: a mismatch.
"""
import argparse
import contextlib
import functools
import gc
import glob
import json
import math
import os
import sys
import tempfile
import warnings

import torch
import torch.nn.functional as F
import torch.utils.checkpoint as tuc

TORCH_MAJOR = int(torch.__version__.split(".")[0])
HAS_NEW_NONREENTRANT = hasattr(tuc, "_CheckpointFrame")


def first_sentence(text):
    line = (text or "").split("\n", 1)[0].strip()
    cut = line.find(". ")
    return line if cut < 0 else line[: cut + 1]


# ---- the model, op for op as runtime_probe/model.cpp -------------------------------------------


class Zero3Gather(torch.autograd.Function):
    """DeepSpeed ZeRO-3's pre-backward hook: gathers the parameters before their backward."""

    @staticmethod
    def forward(ctx, x, gather):
        ctx.gather = gather
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g):
        ctx.gather()
        return g, None


class ProbeModel(torch.nn.Module):
    def __init__(self, spec, tensors, trainable):
        super().__init__()
        self.s = spec
        self.t = tensors
        self.params = {}
        self.plist = torch.nn.ParameterList()
        for name, t in tensors.items():
            if ".quant." in name or name.startswith("rope.") or name.startswith("nf4."):
                continue
            p = torch.nn.Parameter(t.clone(), requires_grad=name in trainable)
            self.params[name] = p
            self.plist.append(p)
        self.trainable = [n for n in trainable]
        self.cos = tensors["rope.cos"]
        self.sin = tensors["rope.sin"]
        self.levels = tensors.get("nf4.levels")
        self.zero3_full = {}
        self.cfg = None
        self.st = None
        self.ids = None

    # ZeRO-3 emulation
    def zero3_partition_all(self):
        for p in self.params.values():
            if p.requires_grad:
                continue
            full = p.detach().clone()
            self.zero3_full[id(p)] = (p, full)
            p.data = torch.empty(0, dtype=full.dtype, device=full.device)

    def zero3_restore_all(self):
        for p, full in self.zero3_full.values():
            p.data = full
        self.zero3_full = {}

    def zero3_scope(self, names, f):
        if not self.cfg["zero3"]:
            return f()
        ps = [self.zero3_full[id(self.params[n])] for n in names if n and id(self.params[n]) in self.zero3_full]
        if not ps:
            return f()

        def gather():
            for p, full in ps:
                p.data = full

        gather()
        y = f()
        for p, full in ps:
            p.data = torch.empty(0, dtype=full.dtype, device=full.device)
        if y.requires_grad:
            y = Zero3Gather.apply(y, gather)
        return y

    # quantized weights
    def nf4_absmax(self, q):
        if q + ".quant.absmax_q" not in self.t:
            return self.t[q + ".quant.absmax"]
        aq = self.t[q + ".quant.absmax_q"]
        nblocks = aq.numel()
        scale = self.t[q + ".quant.absmax_scale"].repeat_interleave(256).narrow(0, 0, nblocks)
        return (aq.to(torch.float32) - 128) * scale + self.t[q + ".quant.absmax_offset"].item()

    def dequantize(self, name, rows, cols, dtype):
        bits = self.s["quant_bits"]
        if bits == 8:
            return (self.t[name + ".quant.q"].to(torch.float32) * self.t[name + ".quant.row_scale"].unsqueeze(1)).to(dtype)
        codes = self.t[name + ".quant.codes"]
        absmax = self.nf4_absmax(name)
        hi = torch.floor_divide(codes, 16)
        lo = torch.remainder(codes, 16)
        idx = torch.stack([hi, lo], 1).reshape(-1).to(torch.int64)
        vals = self.levels.index_select(0, idx)
        nblocks = absmax.numel()
        padded = vals.narrow(0, 0, nblocks * 64).view(nblocks, 64)
        return (padded * absmax.unsqueeze(1)).reshape(-1).narrow(0, 0, rows * cols).view(rows, cols).to(dtype)

    def linear(self, name, x, adapter, out, inp):
        s = self.s
        if s["quant_bits"] in (4, 8):
            y = F.linear(x, self.dequantize(name, out, inp, x.dtype))
        else:
            w = name + ".weight"
            y = self.zero3_scope([w], lambda: F.linear(x, self.params[w]))
        adapters = []
        if name + ".lora_A.weight" in self.params:
            adapters.append(("lora_A.weight", "lora_B.weight"))
            if name + ".lora_A.other.weight" in self.params:
                adapters.append(("lora_A.other.weight", "lora_B.other.weight"))
        if not adapters:
            return y
        a, b = adapters[adapter % len(adapters)]
        p = s["lora_dropout"]
        xd = torch.dropout(x, p, True) if (p > 0 and self.cfg["train"]) else x
        scaling = s["lora_alpha"] / float(s["lora_rank"])
        return y + F.linear(F.linear(xd, self.params[name + "." + a]), self.params[name + "." + b]) * scaling

    def rmsnorm(self, w, x):
        def f():
            var = x.pow(2).mean(-1, keepdim=True)
            h = x * torch.rsqrt(var + self.s["rms_eps"])
            return self.params[w] * h

        return self.zero3_scope([w], f)

    @staticmethod
    def rotate_half(x):
        d = x.size(-1)
        return torch.cat([-x.narrow(-1, d // 2, d // 2), x.narrow(-1, 0, d // 2)], -1)

    @staticmethod
    def repeat_kv(x, rep):
        if rep == 1:
            return x
        b, kv, t, d = x.shape
        return x.unsqueeze(2).expand(b, kv, rep, t, d).reshape(b, kv * rep, t, d)

    def layer(self, i, x, shared_kv):
        s, cfg, st = self.s, self.cfg, self.st
        st["layer_calls"][i] += 1
        adapter = st["active"][i]
        if cfg["switch_adapter"]:
            st["active"][i] ^= 1
        B, S = x.size(0), x.size(1)
        H, KV = s["heads"], s["kv_heads"]
        D = s["hidden"] // H
        hid, inter = s["hidden"], s["intermediate"]
        p = "model.layers.%d." % i
        residual = x
        h = self.rmsnorm(p + "input_layernorm.weight", x)
        q = self.linear(p + "self_attn.q_proj", h, adapter, H * D, hid).view(B, S, H, D).transpose(1, 2)
        consumer = cfg["share_kv"] and s["layers"] > 1 and i == s["layers"] - 1
        past = 0
        if not consumer:
            k = self.linear(p + "self_attn.k_proj", h, adapter, KV * D, hid).view(B, S, KV, D).transpose(1, 2)
            v = self.linear(p + "self_attn.v_proj", h, adapter, KV * D, hid).view(B, S, KV, D).transpose(1, 2)
            if cfg["use_cache"] and st["cache"][i] is not None:
                past = st["cache"][i][0].size(2)
        cos = self.cos.narrow(0, past, S)
        sin = self.sin.narrow(0, past, S)
        q = q * cos + self.rotate_half(q) * sin
        if not consumer:
            k = k * cos + self.rotate_half(k) * sin
            if cfg["use_cache"]:
                if st["cache"][i] is not None:
                    k = torch.cat([st["cache"][i][0], k], 2)
                    v = torch.cat([st["cache"][i][1], v], 2)
                st["cache"][i] = (k, v)
            if cfg["share_kv"] and i == 0:
                shared_kv["0"] = (k, v)
        else:
            k, v = shared_kv["0"]
        T = k.size(2)
        k = self.repeat_kv(k, H // KV)
        v = self.repeat_kv(v, H // KV)
        scores = torch.matmul(q, k.transpose(2, 3)) * (1.0 / math.sqrt(float(D)))
        upper = torch.ones(S, T, dtype=torch.bool, device=x.device).triu(past + 1)
        mask = torch.zeros(S, T, dtype=x.dtype, device=x.device).masked_fill(upper, -1e9)
        scores = scores + mask
        probs = torch.softmax(scores, -1)
        if s["attention_dropout"] > 0 and cfg["train"]:
            probs = torch.dropout(probs, s["attention_dropout"], True)
        attn = torch.matmul(probs, v).transpose(1, 2).reshape(B, S, H * D)
        hs = residual + self.linear(p + "self_attn.o_proj", attn, adapter, hid, H * D)
        residual = hs
        h = self.rmsnorm(p + "post_attention_layernorm.weight", hs)
        gate = F.silu(self.linear(p + "mlp.gate_proj", h, adapter, inter, hid))
        up = self.linear(p + "mlp.up_proj", h, adapter, inter, hid)
        mlp = self.linear(p + "mlp.down_proj", gate * up, adapter, hid, inter)
        return residual + mlp

    def forward(self, ids):
        s, cfg = self.s, self.cfg
        L = s["layers"]
        self.st = {"layer_calls": [0] * L, "active": [0] * L, "cache": [None] * L}
        shared = {}
        emb = "model.embed_tokens.weight"
        h = self.zero3_scope([emb], lambda: F.embedding(ids, self.params[emb]))
        if cfg["input_hook"] and not h.requires_grad:
            h.requires_grad_(True)
        for i in range(L):
            # transformers' GradientCheckpointingLayer: keyword arguments bound with partial
            fn = functools.partial(self.layer, i, shared_kv=shared)
            for mode in reversed(cfg["wrap"]):
                fn = wrap_checkpoint(fn, mode, cfg["preserve_rng_state"])
            h = fn(h)
        h = self.rmsnorm("model.norm.weight", h)
        logits = self.zero3_scope(["lm_head.weight"], lambda: F.linear(h, self.params["lm_head.weight"]))
        V, S = s["vocab"], s["seq"]
        shift_logits = logits.narrow(1, 0, S - 1).contiguous().view(-1, V)
        shift_labels = ids.narrow(1, 1, S - 1).contiguous().view(-1)
        return F.cross_entropy(shift_logits, shift_labels)


def wrap_checkpoint(inner, mode, preserve):
    reentrant = mode == "reentrant"

    def run(x):
        return tuc.checkpoint(inner, x, use_reentrant=reentrant, preserve_rng_state=preserve)

    return run


# ---- running one recorded run in PyTorch ---------------------------------------------------------


_DDP_READY = [False]


def ddp_init():
    if _DDP_READY[0]:
        return
    import torch.distributed as dist

    f = tempfile.NamedTemporaryFile(delete=False)
    f.close()
    os.unlink(f.name)
    dist.init_process_group("gloo", init_method="file://" + f.name, rank=0, world_size=1)
    _DDP_READY[0] = True


def run_python(model, ids, run, step_seed):
    cfg = {
        "wrap": list(run["wrap"]),
        "preserve_rng_state": run["preserve_rng_state"],
        "input_hook": run["input_hook"],
        "use_cache": run["use_cache"],
        "zero3": run["zero3"],
        "share_kv": run["share_kv"],
        "switch_adapter": run["switch_adapter"],
        "train": True,
    }
    model.cfg = cfg
    for p in model.params.values():
        p.grad = None
    torch.manual_seed(step_seed)
    if cfg["zero3"]:
        model.zero3_partition_all()
    out = {"error": None, "grads": {}, "warnings": [], "layer_calls": []}
    trainable = [model.params[n] for n in model.trainable]
    # set_checkpoint_early_stop (PyTorch >= 2.0; 1.13 has no early stop at all)
    early = tuc.set_checkpoint_early_stop(run["early_stop"]) if hasattr(tuc, "set_checkpoint_early_stop") \
        else contextlib.nullcontext()
    with warnings.catch_warnings(record=True) as caught, early:
        warnings.simplefilter("always")
        try:
            returned = None
            if run["ddp_find_unused"] >= 0:
                from torch.nn.parallel import DistributedDataParallel as DDP

                ddp_init()
                ddp = DDP(model, find_unused_parameters=run["ddp_find_unused"] == 1)
                try:
                    loss = ddp(ids)
                    loss.backward()
                finally:
                    del ddp
                    gc.collect()
            else:
                loss = model(ids)
                if run["grad_mode"] == "backward":
                    loss.backward()
                elif run["grad_mode"] == "grad":
                    returned = torch.autograd.grad(loss, trainable)
                else:
                    loss.backward(inputs=trainable)
            for k, n in enumerate(model.trainable):
                g = returned[k] if returned is not None else model.params[n].grad
                out["grads"][n] = None if g is None else g.detach().clone()
        except Exception as e:  # noqa: BLE001 - any error is a result to compare
            out["error"] = str(e)
        out["warnings"] = [str(w.message) for w in caught]
    if cfg["zero3"]:
        model.zero3_restore_all()
    out["layer_calls"] = list(model.st["layer_calls"]) if model.st else []
    return out


def compare(scenario, variant, run, py, rtol):
    """Returns (status, detail): PASS, FAIL or VERSION-GATED."""
    cpp_err, py_err = run["error"], py["error"]
    nonreentrant_check = cpp_err is not None and cpp_err.startswith("torch.utils.checkpoint:") and \
        "non-reentrant" in run["wrap"]
    if cpp_err is not None or py_err is not None:
        if cpp_err is not None and py_err is not None:
            if first_sentence(cpp_err) == first_sentence(py_err):
                return "PASS", "both raise: " + first_sentence(cpp_err)
            if nonreentrant_check and not HAS_NEW_NONREENTRANT:
                return "VERSION-GATED", ("C++ raises %r; torch %s (no metadata check) raises %r"
                                         % (first_sentence(cpp_err), torch.__version__, first_sentence(py_err)))
            return "FAIL", "C++ raises %r, PyTorch raises %r" % (first_sentence(cpp_err), first_sentence(py_err))
        if cpp_err is not None:
            if nonreentrant_check and not HAS_NEW_NONREENTRANT:
                return "VERSION-GATED", ("C++ raises %r; torch %s's non-reentrant checkpoint has no "
                                         "metadata check and raises nothing" % (first_sentence(cpp_err), torch.__version__))
            return "FAIL", "C++ raises %r, PyTorch raises nothing" % first_sentence(cpp_err)
        return "FAIL", "PyTorch raises %r, C++ raises nothing" % first_sentence(py_err)
    worst = 0.0
    for name, cg in run["grads"].items():
        pg = py["grads"].get(name)
        if (cg is None) != (pg is None):
            return "FAIL", "%s: gradient %s in C++, %s in PyTorch" % (
                name, "absent" if cg is None else "present", "absent" if pg is None else "present")
        if cg is None:
            continue
        ref = pg.double().cpu()
        n = ref.norm().item()
        diff = (cg.double() - ref).norm().item()
        rel = diff / n if n > 0 else (0.0 if diff == 0 else float("inf"))
        worst = max(worst, rel)
        if rel > rtol:
            return "FAIL", "%s: relative error %.3g > %g" % (name, rel, rtol)
    for w in run["warnings"]:
        # c10d's Reducer logs through glog in PyTorch, not through Python warnings
        if w.startswith("find_unused_parameters=True was specified"):
            continue
        if w not in py["warnings"]:
            return "FAIL", "C++ warns %r, PyTorch does not" % w
    calls_comparable = HAS_NEW_NONREENTRANT or "non-reentrant" not in run["wrap"]
    if calls_comparable and list(run["layer_calls"]) != py["layer_calls"]:
        return "FAIL", "forward calls per layer: C++ %s, PyTorch %s" % (list(run["layer_calls"]), py["layer_calls"])
    return "PASS", "%d gradients, max relative error %.3g" % (len(run["grads"]), worst)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--rtol", type=float, default=1e-6)
    ap.add_argument("--json")
    ap.add_argument("--device", default="cpu", help="run PyTorch on this device (cuda on the GPU machine)")
    args = ap.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    files = sorted(glob.glob(os.path.join(args.dir, "*.pt")))
    if not files:
        print("parity: no dumps in %s (run gcheck-probe --dump %s)" % (args.dir, args.dir))
        return 2
    results, failed = [], 0
    print("parity: PyTorch %s against gcheck-probe dumps in %s" % (torch.__version__, args.dir))
    for path in files:
        try:  # the dump holds typed lists (torch.jit._pickle): not a weights-only file
            d = torch.load(path, weights_only=False)
        except TypeError:
            d = torch.load(path)
        scenario = d["scenario"]
        for v in d["variants"]:
            tensors = {k: t.to(args.device) for k, t in v["tensors"].items()}
            model = ProbeModel(v["spec"], tensors, set(v["trainable"]))
            ids = v["ids"].to(args.device)
            for run in v["runs"]:
                py = run_python(model, ids, run, v["step_seed"])
                status, detail = compare(scenario, v["name"], run, py, args.rtol)
                failed += status == "FAIL"
                label = "%s/%s/%s" % (scenario, v["name"], run["mode"])
                print("  %-14s %-60s %s" % (status, label, detail))
                results.append({"scenario": scenario, "variant": v["name"], "mode": run["mode"],
                                "status": status, "detail": detail})
    gated = sum(r["status"] == "VERSION-GATED" for r in results)
    passed = sum(r["status"] == "PASS" for r in results)
    print("parity: %d passed, %d failed, %d version-gated (torch %s)" % (passed, failed, gated, torch.__version__))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"torch": torch.__version__, "results": results}, f, indent=2)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
