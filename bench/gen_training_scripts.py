#!/usr/bin/python3
"""Generates varied, realistic Python training scripts for the front-end benchmark.

Usage: gen_training_scripts.py OUT_DIR [COUNT] [SEED]

Each script is 100-400 lines and mixes the shapes public training scripts use: imports in
every style (aliases included), argument dataclasses and argparse, dataset preprocessing,
model loading with quantization, PEFT, freezing loops, TrainingArguments or a TRL config with
its trainer, custom models whose forward calls torch.utils.checkpoint, hand-written training
loops, DDP, torch.compile. Deterministic for a given seed. Every script is valid Python (the
benchmark checks that ast.parse accepts all of them).
"""
import os
import random
import sys

TRL = [("SFTConfig", "SFTTrainer"), ("DPOConfig", "DPOTrainer"), ("GRPOConfig", "GRPOTrainer"),
       ("KTOConfig", "KTOTrainer"), ("ORPOConfig", "ORPOTrainer"), ("RewardConfig", "RewardTrainer"),
       ("PPOConfig", "PPOTrainer"), ("RLOOConfig", "RLOOTrainer")]
MODELS = ["meta-llama/Llama-3.2-1B", "Qwen/Qwen2.5-0.5B", "mistralai/Mistral-7B-v0.3",
          "google/gemma-2-2b", "microsoft/phi-2", "EleutherAI/pythia-410m", "gpt2"]
TARGETS = ['"q_proj", "k_proj", "v_proj", "o_proj"', '"q_proj", "v_proj"', '"all-linear"',
           '"c_attn", "c_proj"', '"gate_proj", "up_proj", "down_proj"']


class Script:
    def __init__(self, rng):
        self.rng = rng
        self.lines = []

    def add(self, text, indent=0):
        pad = "    " * indent
        for line in text.strip("\n").split("\n"):
            self.lines.append(pad + line if line else "")

    def blank(self):
        self.lines.append("")


def header(s, r):
    s.add('#!/usr/bin/env python')
    s.add('# Copyright 2024 The Example Authors. Licensed under the Apache License, Version 2.0.')
    s.add('"""Fine-tune a causal language model%s.\n\nRun with accelerate launch or torchrun."""' %
          r.choice(["", " with LoRA", " with QLoRA", " on instruction data", " with a TRL trainer"]))
    s.blank()


def imports(s, r, plan):
    s.add("import argparse\nimport logging\nimport math\nimport os\nimport sys")
    if r.random() < 0.5:
        s.add("from dataclasses import dataclass, field\nfrom typing import Optional, List, Dict")
    s.blank()
    s.add("import torch")
    s.add(r.choice(["import torch.nn as nn", "from torch import nn"]))
    if plan["ckpt_style"] == "from":
        s.add("from torch.utils.checkpoint import checkpoint, checkpoint_sequential")
    elif plan["ckpt_style"] == "alias":
        s.add("from torch.utils.checkpoint import checkpoint as ckpt")
    elif plan["ckpt_style"] == "module":
        s.add("import torch.utils.checkpoint as cp")
    else:
        s.add("import torch.utils.checkpoint")
    if plan["ddp"]:
        s.add("import torch.distributed as dist")
        s.add("from torch.nn.parallel import DistributedDataParallel as DDP")
    s.add("from torch.utils.data import DataLoader")
    s.add("from datasets import load_dataset")
    names = ["AutoModelForCausalLM", "AutoTokenizer"]
    if plan["quant"]:
        names.append("BitsAndBytesConfig")
    if plan["trainer"] == "hf":
        names += ["Trainer", "TrainingArguments", "DataCollatorForLanguageModeling"]
    names.append("get_scheduler")
    s.add("from transformers import (\n" + "".join("    %s,\n" % n for n in names) + ")")
    if plan["peft"]:
        pn = ["LoraConfig", "get_peft_model", "TaskType"]
        if plan["quant"]:
            pn.append("prepare_model_for_kbit_training")
        s.add("from peft import " + ", ".join(pn))
    if plan["trainer"] == "trl":
        cfg, tr = plan["trl"]
        s.add("from trl import %s, %s" % (cfg, tr))
    s.blank()
    s.add("logger = logging.getLogger(__name__)")
    s.add('MAX_LENGTH = %d' % r.choice([512, 1024, 2048, 4096]))
    if plan["kwargs_name"]:
        s.add('gc_kwargs = {"use_reentrant": %s}' % r.choice(["False", "True"]))
    s.blank(); s.blank()


def arguments(s, r):
    if r.random() < 0.5:
        s.add("@dataclass\nclass ScriptArguments:")
        for i in range(r.randint(4, 10)):
            kind = r.choice(["str", "int", "float", "bool"])
            default = {"str": '"%s"' % r.choice(MODELS), "int": str(r.randint(1, 4096)),
                       "float": str(r.choice([0.1, 1e-4, 2e-5, 0.05])),
                       "bool": r.choice(["True", "False"])}[kind]
            s.add('field_%d: %s = field(default=%s, metadata={"help": "Option %d of the run."})' %
                  (i, kind, default, i), 1)
        s.blank(); s.blank()
    s.add("def parse_args():")
    s.add('parser = argparse.ArgumentParser(description="Fine-tune a model.")', 1)
    for opt, typ, default in [("model_name", "str", '"%s"' % r.choice(MODELS)),
                              ("dataset_name", "str", '"tatsu-lab/alpaca"'),
                              ("learning_rate", "float", "2e-4"), ("epochs", "int", "3"),
                              ("batch_size", "int", "4"), ("grad_accum", "int", "8"),
                              ("seed", "int", "42"), ("output_dir", "str", '"out"')]:
        if r.random() < 0.85:
            s.add('parser.add_argument("--%s", type=%s, default=%s, help="The %s.")' %
                  (opt, typ, default, opt.replace("_", " ")), 1)
    s.add('parser.add_argument("--gradient_checkpointing", action="store_true")', 1)
    s.add("return parser.parse_args()", 1)
    s.blank(); s.blank()


def preprocessing(s, r):
    s.add("def format_example(example):")
    s.add('if example.get("input"):', 1)
    s.add('prompt = f"### Instruction:\\n{example[\'instruction\']}\\n\\n### Input:\\n{example[\'input\']}\\n\\n### Response:\\n"', 2)
    s.add("else:", 1)
    s.add('prompt = f"### Instruction:\\n{example[\'instruction\']}\\n\\n### Response:\\n"', 2)
    s.add('return {"text": prompt + example["output"]}', 1)
    s.blank(); s.blank()
    s.add("def tokenize(batch, tokenizer):")
    s.add('out = tokenizer(batch["text"], truncation=True, max_length=MAX_LENGTH, padding=False)', 1)
    s.add('out["labels"] = [list(ids) for ids in out["input_ids"]]', 1)
    if r.random() < 0.5:
        s.add("for i, ids in enumerate(out[\"labels\"]):", 1)
        s.add("mask = [t if t != tokenizer.pad_token_id else -100 for t in ids]", 2)
        s.add('out["labels"][i] = mask', 2)
    s.add("return out", 1)
    s.blank(); s.blank()
    for k in range(r.randint(0, 3)):
        s.add("def helper_%d(values, scale=%d):" % (k, r.randint(1, 9)))
        s.add('"""Utility %d: summarise a list of numbers."""' % k, 1)
        s.add("total = 0.0\ncount = 0", 1)
        s.add("for v in values:", 1)
        s.add("if v is None or math.isnan(v):\n    continue\ntotal += v * scale\ncount += 1", 2)
        s.add("return {'mean': total / max(count, 1), 'count': count, 'ok': count > 0}", 1)
        s.blank(); s.blank()


def custom_model(s, r, plan):
    s.add("class Block(nn.Module):")
    s.add("def __init__(self, dim, hidden, dropout=0.1):", 1)
    s.add("super().__init__()\nself.norm = nn.LayerNorm(dim)\nself.fc1 = nn.Linear(dim, hidden)\n"
          "self.fc2 = nn.Linear(hidden, dim)\nself.drop = nn.Dropout(dropout)", 2)
    s.blank()
    s.add("def forward(self, x, mask=None):", 1)
    s.add("h = self.fc2(self.drop(torch.nn.functional.gelu(self.fc1(self.norm(x)))))", 2)
    s.add("if mask is not None:\n    h = h * mask.unsqueeze(-1)\nreturn x + h", 2)
    s.blank(); s.blank()
    s.add("class Tower(nn.Module):")
    s.add("def __init__(self, dim=%d, depth=%d):" % (r.choice([256, 512, 768]), r.randint(2, 12)), 1)
    s.add("super().__init__()\nself.embed = nn.Embedding(32000, dim)\n"
          "self.layers = nn.ModuleList([Block(dim, 4 * dim) for _ in range(depth)])\n"
          "self.gradient_checkpointing = False", 2)
    s.blank()
    s.add("def forward(self, ids, mask=None):", 1)
    s.add("h = self.embed(ids)", 2)
    s.add("for layer in self.layers:", 2)
    s.add("if self.gradient_checkpointing and self.training:", 3)
    reent = r.choice(["", ", use_reentrant=False", ", use_reentrant=True"])
    call = {"from": "checkpoint", "alias": "ckpt", "module": "cp.checkpoint",
            "full": "torch.utils.checkpoint.checkpoint"}[plan["ckpt_style"]]
    if r.random() < 0.3:
        s.add("h = %s(layer, h, mask=mask%s)" % (call, reent), 4)
    else:
        s.add("h = %s(layer, h, mask%s)" % (call, reent), 4)
    s.add("else:\n    h = layer(h, mask)", 3)
    s.add("return h", 2)
    if plan["ckpt_style"] in ("from", "full") and r.random() < 0.5:
        seq = "checkpoint_sequential" if plan["ckpt_style"] == "from" else \
            "torch.utils.checkpoint.checkpoint_sequential"
        s.blank()
        s.add("def forward_sequential(self, ids, segments=2):", 1)
        s.add("h = self.embed(ids)", 2)
        s.add("return %s(nn.Sequential(*self.layers), segments, h%s)" % (seq, reent), 2)
    s.blank(); s.blank()


def load_model(s, r, plan):
    s.add("def load_model(args):")
    s.add("tokenizer = AutoTokenizer.from_pretrained(args.model_name)", 1)
    s.add("if tokenizer.pad_token is None:\n    tokenizer.pad_token = tokenizer.eos_token", 1)
    kw = ["args.model_name", "torch_dtype=torch.bfloat16"]
    if plan["quant"]:
        s.add("bnb_config = BitsAndBytesConfig(\n    load_in_4bit=True,\n"
              "    bnb_4bit_quant_type=\"nf4\",\n    bnb_4bit_compute_dtype=torch.bfloat16,\n"
              "    bnb_4bit_use_double_quant=%s,\n)" % r.choice(["True", "False"]), 1)
        kw.append("quantization_config=bnb_config")
    if r.random() < 0.5:
        kw.append("use_cache=False")
    kw.append('device_map={"": int(os.environ.get("LOCAL_RANK", 0))}')
    s.add("model = AutoModelForCausalLM.from_pretrained(\n" + "".join("    %s,\n" % k for k in kw) + ")", 1)
    if r.random() < 0.5:
        s.add("model.config.use_cache = False", 1)
    if plan["gc_enable_first"]:
        s.add("model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=%s)" %
              ("gc_kwargs" if plan["kwargs_name"] else '{"use_reentrant": False}'), 1)
    if plan["peft"]:
        if plan["quant"]:
            s.add("model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=True)", 1)
        s.add("lora_config = LoraConfig(\n    r=%d,\n    lora_alpha=%d,\n    lora_dropout=%s,\n"
              "    target_modules=[%s],\n    bias=\"none\",\n    task_type=TaskType.CAUSAL_LM,\n)" %
              (r.choice([8, 16, 64]), r.choice([16, 32]), r.choice(["0.0", "0.05", "0.1"]),
               r.choice(TARGETS)), 1)
        s.add("model = get_peft_model(model, lora_config)", 1)
        s.add("model.print_trainable_parameters()", 1)
    if plan["freeze"]:
        s.add('for name, param in model.named_parameters():\n    if "embed" in name:\n'
              '        param.requires_grad = False', 1)
        if r.random() < 0.5:
            s.add("model.enable_input_require_grads()", 1)
    if not plan["gc_enable_first"] and r.random() < 0.4:
        s.add("model.gradient_checkpointing_enable()", 1)
    if plan["compile"]:
        s.add("model = torch.compile(model)", 1)
    s.add("return model, tokenizer", 1)
    s.blank(); s.blank()


def hf_trainer(s, r, plan):
    s.add("def build_trainer(args, model, tokenizer, train_ds, eval_ds):")
    cls = "TrainingArguments" if plan["trainer"] == "hf" else plan["trl"][0]
    kws = ["output_dir=args.output_dir", "per_device_train_batch_size=args.batch_size",
           "gradient_accumulation_steps=args.grad_accum", "learning_rate=args.learning_rate",
           "num_train_epochs=args.epochs", 'lr_scheduler_type="cosine"', "warmup_ratio=0.03",
           "logging_steps=10", 'save_strategy="steps"', "save_steps=500", "bf16=True",
           'report_to="none"']
    if r.random() < 0.8:
        kws.append("gradient_checkpointing=True")
    if r.random() < 0.6:
        kws.append("gradient_checkpointing_kwargs=%s" %
                   ("gc_kwargs" if plan["kwargs_name"] else
                    r.choice(['{"use_reentrant": False}', '{"use_reentrant": True}', "{}"])))
    if plan["ddp"]:
        kws.append("ddp_find_unused_parameters=%s" % r.choice(["False", "True"]))
    if r.random() < 0.3:
        kws.append("torch_compile=True")
    r.shuffle(kws)
    s.add("training_args = %s(\n" % cls + "".join("    %s,\n" % k for k in kws) + ")", 1)
    if plan["trainer"] == "hf":
        s.add("collator = DataCollatorForLanguageModeling(tokenizer, mlm=False)", 1)
        s.add("trainer = Trainer(\n    model=model,\n    args=training_args,\n"
              "    train_dataset=train_ds,\n    eval_dataset=eval_ds,\n    data_collator=collator,\n)", 1)
    else:
        s.add("trainer = %s(\n    model=model,\n    args=training_args,\n    train_dataset=train_ds,\n"
              "    processing_class=tokenizer,\n)" % plan["trl"][1], 1)
    s.add("return trainer", 1)
    s.blank(); s.blank()


def custom_loop(s, r, plan):
    s.add("def train_loop(args, model, loader, eval_loader):")
    s.add("optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate, weight_decay=0.01)", 1)
    s.add('scheduler = get_scheduler("cosine", optimizer, num_warmup_steps=100,\n'
          '                          num_training_steps=args.epochs * len(loader))', 1)
    if plan["ddp"]:
        s.add('dist.init_process_group("nccl")', 1)
        s.add("model = DDP(model, device_ids=[int(os.environ[\"LOCAL_RANK\"])], "
              "find_unused_parameters=%s)" % r.choice(["False", "True"]), 1)
    s.add("model.train()\nglobal_step = 0\nbest = float(\"inf\")", 1)
    s.add("for epoch in range(args.epochs):", 1)
    s.add("for step, batch in enumerate(loader):", 2)
    s.add('batch = {k: v.to("cuda") for k, v in batch.items()}', 3)
    s.add("with torch.autocast(device_type=\"cuda\", dtype=torch.bfloat16):", 3)
    s.add("outputs = model(**batch)\nloss = outputs.loss / args.grad_accum", 4)
    if r.random() < 0.15:
        s.add("grads = torch.autograd.grad(loss, [p for p in model.parameters() if p.requires_grad],"
              " create_graph=True)", 3)
        s.add("penalty = sum(g.pow(2).sum() for g in grads)\nloss = loss + 0.01 * penalty", 3)
    s.add("loss.backward()", 3)
    s.add("if (step + 1) % args.grad_accum == 0:", 3)
    s.add("torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)\noptimizer.step()\n"
          "scheduler.step()\noptimizer.zero_grad(set_to_none=True)\nglobal_step += 1", 4)
    s.add("if global_step % 10 == 0:", 4)
    s.add('logger.info("epoch %d step %d loss %.4f lr %.2e", epoch, global_step, '
          'loss.item() * args.grad_accum, scheduler.get_last_lr()[0])', 5)
    s.add("model.eval()\ntotal, n = 0.0, 0", 2)
    s.add("with torch.no_grad():", 2)
    s.add("for batch in eval_loader:", 3)
    s.add('batch = {k: v.to("cuda") for k, v in batch.items()}\n'
          "total += model(**batch).loss.item()\nn += 1", 4)
    s.add("ppl = math.exp(total / max(n, 1))", 2)
    s.add('logger.info("epoch %d eval perplexity %.3f", epoch, ppl)', 2)
    s.add("if ppl < best:\n    best = ppl\n    model.save_pretrained(os.path.join(args.output_dir, \"best\"))", 2)
    s.add("model.train()", 2)
    s.add("return best", 1)
    s.blank(); s.blank()


def main_fn(s, r, plan):
    s.add("def main():")
    s.add("args = parse_args()", 1)
    s.add("logging.basicConfig(level=logging.INFO, format=\"%(asctime)s %(levelname)s %(message)s\")", 1)
    s.add("torch.manual_seed(args.seed)", 1)
    s.add("model, tokenizer = load_model(args)", 1)
    s.add('raw = load_dataset(args.dataset_name, split="train")', 1)
    s.add("raw = raw.map(format_example)", 1)
    s.add("ds = raw.map(lambda b: tokenize(b, tokenizer), batched=True, remove_columns=raw.column_names)", 1)
    s.add("split = ds.train_test_split(test_size=0.02, seed=args.seed)", 1)
    if plan["loop"]:
        s.add("loader = DataLoader(split[\"train\"], batch_size=args.batch_size, shuffle=True)", 1)
        s.add("eval_loader = DataLoader(split[\"test\"], batch_size=args.batch_size)", 1)
        s.add("best = train_loop(args, model, loader, eval_loader)", 1)
        s.add('print(f"best perplexity: {best:.3f}")', 1)
    else:
        s.add('trainer = build_trainer(args, model, tokenizer, split["train"], split["test"])', 1)
        s.add("trainer.train()\ntrainer.save_model(args.output_dir)", 1)
    s.blank(); s.blank()
    s.add('if __name__ == "__main__":\n    main()')


def make(rng, target_lines):
    plan = {
        "ckpt_style": rng.choice(["from", "alias", "module", "full"]),
        "ddp": rng.random() < 0.3, "quant": rng.random() < 0.4, "peft": rng.random() < 0.6,
        "trainer": rng.choice(["hf", "trl", "trl"]), "trl": rng.choice(TRL),
        "kwargs_name": rng.random() < 0.3, "gc_enable_first": rng.random() < 0.4,
        "freeze": rng.random() < 0.3, "compile": rng.random() < 0.2, "loop": rng.random() < 0.5,
    }
    s = Script(rng)
    header(s, rng)
    imports(s, rng, plan)
    arguments(s, rng)
    preprocessing(s, rng)
    if rng.random() < 0.7:
        custom_model(s, rng, plan)
    load_model(s, rng, plan)
    hf_trainer(s, rng, plan)
    if plan["loop"]:
        custom_loop(s, rng, plan)
    # Pad with more helpers (as real scripts carry utilities) up to the drawn length.
    k = 0
    while len(s.lines) < target_lines - 20:
        s.add("def metric_%d(preds, labels, ignore_index=-100):" % k)
        s.add('"""Token accuracy over positions that are not ignored."""', 1)
        s.add("correct = 0\ntotal = 0", 1)
        s.add("for p, l in zip(preds, labels):", 1)
        s.add("if l == ignore_index:\n    continue\ncorrect += int(p == l)\ntotal += 1", 2)
        s.add("return correct / total if total else 0.0", 1)
        s.blank(); s.blank()
        k += 1
    main_fn(s, rng, plan)
    return "\n".join(s.lines) + "\n"


def main():
    out = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    rng = random.Random(seed)
    os.makedirs(out, exist_ok=True)
    for i in range(count):
        text = make(rng, rng.randint(100, 400))
        with open(os.path.join(out, "train_%04d.py" % i), "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
