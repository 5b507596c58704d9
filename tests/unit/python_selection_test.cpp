// The statement selection (relevance.h): which lines of a script are parsed. It follows the
// bindings of a name only where the front end can read the name, so a realistic script's data
// pipeline, logging and evaluation are not parsed, while every fact stays what a full parse
// reads (test::py compares both readings of every snippet here).
#include "analyzer/python/relevance.h"
#include "analyzer/python/syntax.h"
#include "tests/unit/python_test_util.h"

using namespace gcheck;

namespace {

// Whether the line holding `needle` (its first occurrence) is among the parsed ranges.
bool parsed(const std::string& code, std::string_view needle) {
  SourceFile src("t.py", "t.py", code);
  py::Selection sel = py::select_statements(src);
  size_t at = code.find(needle);
  REQUIRE(at != std::string::npos);
  if (sel.whole) return true;
  for (const auto& r : sel.ranges)
    if (at >= r.start_byte && at < r.end_byte) return true;
  return false;
}

// A QLoRA fine-tune as people write them: arguments, a tokenized dataset, a collator, a
// quantized model with adapters, a trainer, a hand-written evaluation.
const std::string kScript = R"(import argparse
import math

import torch
from datasets import load_dataset
from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    BitsAndBytesConfig,
    DataCollatorForLanguageModeling,
    Trainer,
    TrainingArguments,
)

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj"]
GC_KWARGS = {"use_reentrant": False}


def parse_args():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="meta-llama/Llama-3.1-8B")
    parser.add_argument("--data", default="tatsu-lab/alpaca")
    parser.add_argument("--lr", type=float, default=2e-4)
    return parser.parse_args()


def tokenize(batch, tokenizer, max_len):
    text = [p + "\n" + r for p, r in zip(batch["instruction"], batch["output"])]
    return tokenizer(text, truncation=True, max_length=max_len)


def main():
    args = parse_args()
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    tokenizer.pad_token = tokenizer.eos_token
    raw = load_dataset(args.data, split="train")
    split = raw.train_test_split(test_size=0.05, seed=0)
    train_ds = split["train"].map(lambda b: tokenize(b, tokenizer, 1024), batched=True)
    eval_ds = split["test"].map(lambda b: tokenize(b, tokenizer, 1024), batched=True)
    collator = DataCollatorForLanguageModeling(tokenizer, mlm=False)

    bnb = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4")
    model = AutoModelForCausalLM.from_pretrained(args.model, quantization_config=bnb)
    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=True)
    lora = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules=TARGETS)
    model = get_peft_model(model, lora)

    steps = math.ceil(len(train_ds) / 16) * 3
    training_args = TrainingArguments(
        output_dir="out",
        learning_rate=args.lr,
        max_steps=steps,
        gradient_checkpointing=True,
        gradient_checkpointing_kwargs=GC_KWARGS,
    )
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        data_collator=collator,
    )
    trainer.train()
    metrics = trainer.evaluate()
    perplexity = math.exp(metrics["eval_loss"])
    print(f"perplexity {perplexity:.2f}")


if __name__ == "__main__":
    main()
)";

}  // namespace

TEST_CASE("python selection: a realistic script's data pipeline is not parsed") {
  // The facts: those of a full parse (test::py checks), and the ones this script states.
  auto f = test::py(kScript);
  REQUIRE(f->gradient_checkpointing);
  CHECK(f->gradient_checkpointing->value);
  REQUIRE(f->use_reentrant);
  CHECK_FALSE(f->use_reentrant->value);
  REQUIRE(f->quant_bits);
  CHECK(f->quant_bits->value == 4);
  REQUIRE(f->lora_dropout);
  CHECK(f->lora_dropout->value == doctest::Approx(0.05));
  CHECK(f->code->trainers.size() == 1);
  CHECK(f->code->kbit_prepares.size() == 1);
  CHECK(f->code->peft_wraps.size() == 1);

  // What the front end reads, and the bindings of what it reads.
  CHECK(parsed(kScript, "training_args = TrainingArguments("));
  CHECK(parsed(kScript, "GC_KWARGS = {"));              // gradient_checkpointing_kwargs=GC_KWARGS
  CHECK(parsed(kScript, "TARGETS = ["));                // target_modules=TARGETS
  CHECK(parsed(kScript, "bnb = BitsAndBytesConfig("));  // quantization_config=bnb
  CHECK(parsed(kScript, "lora = LoraConfig("));         // get_peft_model(model, lora)
  CHECK(parsed(kScript, "    args = parse_args()"));    // from_pretrained(args.model)
  // What it cannot read: train_dataset=, eval_dataset=, data_collator=, args= of the trainer
  // (the TrainingArguments call is read where it is), max_steps=, learning_rate=, print(...).
  CHECK_FALSE(parsed(kScript, "raw = load_dataset("));
  CHECK_FALSE(parsed(kScript, "split = raw.train_test_split("));
  CHECK_FALSE(parsed(kScript, "train_ds = split"));
  CHECK_FALSE(parsed(kScript, "eval_ds = split"));
  CHECK_FALSE(parsed(kScript, "collator = DataCollatorForLanguageModeling("));
  CHECK_FALSE(parsed(kScript, "steps = math.ceil("));
  CHECK_FALSE(parsed(kScript, "perplexity = math.exp("));
  CHECK_FALSE(parsed(kScript, "    text = ["));
  CHECK_FALSE(parsed(kScript, "parser.add_argument(\"--data\""));
}

TEST_CASE("python selection: names are still followed wherever the front end reads them") {
  // Each snippet's facts are compared with a full parse by test::py; a few are checked too.
  const char* hdr =
      "import functools\nimport torch\nfrom functools import partial\n"
      "from torch.utils.checkpoint import checkpoint\n"
      "from transformers import Trainer, TrainingArguments\n"
      "from peft import LoraConfig, get_peft_model\n";
  // Statements that hold no fact, so that the snippet is parsed in part.
  const char* tail =
      "\n\ndef report(rows, out):\n    total = 0\n    for r in rows:\n        total += r['n']\n"
      "        out.write(f\"{r['name']}: {r['n']}\\n\")\n    out.write(f\"total {total}\\n\")\n"
      "    return total\n\n\nclass Meter:\n    def __init__(self):\n        self.sum = 0.0\n"
      "        self.count = 0\n\n    def update(self, v, n=1):\n        self.sum += v * n\n"
      "        self.count += n\n\n    @property\n    def avg(self):\n"
      "        return self.sum / max(1, self.count)\n";
  auto with = [&](const std::string& body) {
    std::string code = hdr + body + tail;
    CAPTURE(code);
    CHECK_FALSE(py::select_statements(SourceFile("t.py", "t.py", code)).whole);
    return test::py(code);
  };

  // A read keyword's value through dict(...), a conditional expression and a unary minus.
  auto a = with(
      "ur = False\nkw = dict(use_reentrant=ur)\nx = kw if True else kw\n"
      "TrainingArguments(gradient_checkpointing_kwargs=x)\n");
  REQUIRE(a->use_reentrant);
  CHECK_FALSE(a->use_reentrant->value);
  // A TrainingArguments call in a keyword the trainer does not read is read where it is.
  auto b =
      with("flag = True\nTrainer(model=m, args=TrainingArguments(gradient_checkpointing=flag))\n");
  REQUIRE(b->gradient_checkpointing);
  CHECK(b->gradient_checkpointing->value);
  // **splats of a call the handlers read.
  auto c =
      with("opts = {'gradient_checkpointing': True}\nTrainingArguments(output_dir='o', **opts)\n");
  REQUIRE(c->gradient_checkpointing);
  // A callee bound to partial(...), and partial under another name.
  auto d = with(
      "ck = partial(checkpoint, use_reentrant=False)\ny = ck(f, x)\n"
      "P = functools.partial\nck2 = P(checkpoint, use_reentrant=True)\nz = ck2(f, x)\n");
  REQUIRE(d->code->checkpoint_calls.size() == 2);
  CHECK(d->code->checkpoint_calls[0].use_reentrant == false);
  CHECK(d->code->checkpoint_calls[1].use_reentrant == true);
  // A name bound more than once, or changed after it is bound: every binding is parsed, so the
  // reason names the same lines.
  with("ur = False\nif cond:\n    ur = True\ncheckpoint(f, x, use_reentrant=ur)\n");
  with(
      "kw = {'use_reentrant': "
      "False}\nkw.update(other)\nTrainingArguments(gradient_checkpointing_kwargs=kw)\n");
  with(
      "kw = {}\nkw['use_reentrant'] = flag\nTrainingArguments(gradient_checkpointing_kwargs=kw)\n");
  // A function's positional argument and a parameter.
  with("def f(block, x, ur):\n    return checkpoint(block, x, use_reentrant=ur)\n");
  // The adapter through names; the model through the name it is bound to.
  auto e = with(
      "cfg = LoraConfig(r=8, lora_dropout=0.1)\npc = cfg\nm = get_peft_model(base, pc)\n"
      "Trainer(model=m, peft_config=pc)\n");
  REQUIRE(e->adapter);
  CHECK(e->adapter->value == "lora");
  // Freeze conditions read names in if conditions and in any(...).
  auto g = with(
      "FROZEN = ['embed', 'lm_head']\nfor n, p in model.named_parameters():\n"
      "    if any(k in n for k in FROZEN):\n        p.requires_grad = False\n");
  REQUIRE(g->code->freezes.size() == 1);
  CHECK(g->code->freezes[0].target.find("embed") != std::string::npos);
  with(
      "KEEP = ('lora_',)\nfor n, p in model.named_parameters():\n"
      "    p.requires_grad = any(k in n for k in KEEP)\n");
  // The receiver of a method the handlers read, through an alias.
  with(
      "import transformers as tf\nM = tf.AutoModelForCausalLM\n"
      "model = M.from_pretrained('gpt2', "
      "use_cache=False)\nmodel.gradient_checkpointing_enable()\n");
}

TEST_CASE("python selection: the statements a fact needs are parsed, the others are not") {
  // Each case: the facts equal a full parse's (test::py), the lines the facts depend on are
  // parsed, and a line the front end cannot read is not.
  const std::string pad =
      "\n\ndef report(rows, out):\n    total = 0\n    for r in rows:\n        total += r['n']\n"
      "        out.write(f\"{r['name']}: {r['n']}\\n\")\n    return total\n";
  auto check = [&](const std::string& body, std::initializer_list<std::string_view> needed,
                   std::initializer_list<std::string_view> skipped) {
    std::string code = body + pad;
    CAPTURE(code);
    CHECK_FALSE(py::select_statements(SourceFile("t.py", "t.py", code)).whole);
    for (auto n : needed) {
      CAPTURE(n);
      CHECK(parsed(code, n));
    }
    for (auto n : skipped) {
      CAPTURE(n);
      CHECK_FALSE(parsed(code, n));
    }
    return test::py(code);
  };

  SUBCASE("the script's version declarations and the names they read are parsed") {
    auto f = check(
        "from transformers.utils import check_min_version\n"
        "from transformers.utils.versions import require_version\n"
        "MIN = '4.57.0.dev0'\nMSG = make_hint()\n"
        "check_min_version(MIN)\n"
        "require_version('peft>=0.10', MSG)\n",
        {"MIN = ", "check_min_version(MIN)", "require_version('peft"}, {"total = 0"});
    CHECK(f->code->version_decls.size() == 2);
  }

  SUBCASE("keyword arguments: read ones pull in their bindings, others do not") {
    auto f = check(
        "from transformers import TrainingArguments, Trainer\n"
        "GC = True\nKW = {'use_reentrant': False}\nLR = compute_lr()\nds = load()\n"
        "args = TrainingArguments(output_dir='o', learning_rate=LR, gradient_checkpointing=GC,\n"
        "                         gradient_checkpointing_kwargs=KW)\n"
        "Trainer(model=m, args=args, train_dataset=ds)\n",
        {"GC = True", "KW = {"}, {"LR = compute_lr()", "ds = load()"});
    REQUIRE(f->gradient_checkpointing);
    CHECK(f->gradient_checkpointing->value);
    REQUIRE(f->use_reentrant);
    CHECK_FALSE(f->use_reentrant->value);
  }

  SUBCASE("aliases through partial, under any name of functools") {
    auto f = check(
        "import functools as ft\nfrom functools import partial as P\nimport torch\n"
        "from torch.utils.checkpoint import checkpoint\n"
        "UR = False\nck = ft.partial(checkpoint, use_reentrant=UR)\n"
        "wrap = P\nck2 = wrap(torch.utils.checkpoint.checkpoint, use_reentrant=True)\n"
        "def fwd(f, x):\n    y = ck(f, x)\n    z = ck2(f, y)\n    w = other(f, z)\n"
        "    return w\n",
        {"UR = False", "y = ck(f, x)", "z = ck2(f, y)", "wrap = P"}, {"w = other(f, z)"});
    REQUIRE(f->code->checkpoint_calls.size() == 2);
    CHECK(f->code->checkpoint_calls[0].use_reentrant == false);
    CHECK(f->code->checkpoint_calls[1].use_reentrant == true);
  }

  SUBCASE("dict splats of a read call, and dict(...) values") {
    auto f = check(
        "from transformers import TrainingArguments\n"
        "base = dict(gradient_checkpointing=GC, "
        "gradient_checkpointing_kwargs=dict(use_reentrant=UR))\n"
        "GC = True\nUR = True\nEXTRA = {'report_to': 'none'}\nunused = make()\n"
        "TrainingArguments(output_dir='o', **base, **EXTRA)\n",
        {"GC = True", "UR = True", "base = dict(", "EXTRA = {"}, {"unused = make()"});
    REQUIRE(f->gradient_checkpointing);
    CHECK(f->gradient_checkpointing->value);
    REQUIRE(f->use_reentrant);
    CHECK(f->use_reentrant->value);
  }

  SUBCASE("names read in if conditions and requires_grad freezing loops") {
    auto f = check(
        "from transformers import AutoModelForCausalLM\n"
        "model = AutoModelForCausalLM.from_pretrained('gpt2')\n"
        "FROZEN = ['embed', 'wte']\nPREFIX = 'lm_head'\nKEEP = ('lora_',)\nlog = open('x')\n"
        "for n, p in model.named_parameters():\n"
        "    log.write(n)\n"
        "    if any(k in n for k in FROZEN):\n        p.requires_grad = False\n"
        "    elif n.startswith(PREFIX):\n        p.requires_grad_(False)\n"
        "for n, p in model.named_parameters():\n    p.requires_grad = any(k in n for k in KEEP)\n",
        {"FROZEN = [", "PREFIX = 'lm_head'", "KEEP = (", "if any(", "elif n.startswith"},
        {"log = open('x')", "log.write(n)"});
    REQUIRE(f->code->freezes.size() == 3);
    CHECK(f->code->freezes[0].target.find("embed") != std::string::npos);
    CHECK(f->code->freezes[1].target.find("lm_head") != std::string::npos);
  }

  SUBCASE("class-based trainers, through a local base class") {
    auto f = check(
        "from trl import SFTTrainer, SFTConfig\n"
        "class Base(SFTTrainer):\n    pass\n"
        "class Mine(Base):\n"
        "    def compute_loss(self, model, inputs, return_outputs=False):\n"
        "        out = model(**inputs)\n        return out.loss\n"
        "cfg = SFTConfig(output_dir='o', gradient_checkpointing=True)\ncollate = make_collator()\n"
        "t = Mine(model=m, args=cfg, data_collator=collate)\nt.train()\n",
        {"class Base(SFTTrainer):", "class Mine(Base):", "t = Mine("},
        {"collate = make_collator()"});
    REQUIRE(f->code->trainers.size() == 1);
    REQUIRE(f->gradient_checkpointing);
    CHECK(f->gradient_checkpointing->value);
  }
}

TEST_CASE("python selection: keyword arguments no handler reads are left out of the parse") {
  const std::string code =
      "import torch\nfrom functools import partial\n"
      "from torch.utils.checkpoint import checkpoint\n"
      "from transformers import AutoModelForCausalLM, Trainer, TrainingArguments\n"
      "model = AutoModelForCausalLM.from_pretrained(\n"
      "    'gpt2',\n    torch_dtype=torch.bfloat16,  # a comment\n"
      "    device_map={'': 0},\n    use_cache=False,\n)\n"
      "args = TrainingArguments(output_dir='o', gradient_checkpointing=True, report_to='none')\n"
      "kw = dict(use_reentrant=False, debug=False)\n"
      "ck = partial(checkpoint, preserve_rng_state=False)\n"
      "def fwd(f, x, m):\n"
      "    a = checkpoint(f, x, use_reentrant=False, mask=m)\n"
      "    b = ck(f, a, mask2=m)\n"
      "    print(a, b, sep='', end='')\n"
      "    return b\n"
      "Trainer(model=model, args=TrainingArguments(output_dir='p', "
      "gradient_checkpointing_kwargs=kw),\n"
      "        train_dataset=ds, eval_dataset=None)\n"
      "\n\ndef report(rows, out):\n    total = 0\n    for r in rows:\n        total += r['n']\n"
      "    return total\n";
  auto f = test::py(code);
  CAPTURE(code);
  REQUIRE(f->use_cache);
  CHECK_FALSE(f->use_cache->value);
  REQUIRE(f->code->checkpoint_calls.size() == 2);
  CHECK(f->code->checkpoint_calls[0].keyword_tensors);  // mask=m: every keyword counts
  CHECK(f->code->checkpoint_calls[1].keyword_tensors);  // mask2=m of a partial of checkpoint
  // Left out: what no handler reads.
  CHECK_FALSE(parsed(code, "torch_dtype="));
  CHECK_FALSE(parsed(code, "device_map="));
  CHECK_FALSE(parsed(code, "report_to="));
  CHECK_FALSE(parsed(code, "sep=''"));
  CHECK_FALSE(parsed(code, "train_dataset=ds"));
  CHECK_FALSE(parsed(code, "eval_dataset=None"));
  // Parsed: listed keywords, the arguments of checkpoint APIs, aliases, dict(...) and
  // partial(...), and an argument that holds a call the handlers read.
  CHECK(parsed(code, "use_cache=False"));
  CHECK(parsed(code, "gradient_checkpointing=True"));
  CHECK(parsed(code, "debug=False"));
  CHECK(parsed(code, "preserve_rng_state=False"));
  CHECK(parsed(code, "mask=m"));
  CHECK(parsed(code, "mask2=m"));
  CHECK(parsed(code, "args=TrainingArguments(output_dir='p'"));
  CHECK_FALSE(parsed(code, "output_dir='p'"));  // inside it, unread again
  CHECK(parsed(code, "model=model"));
}

TEST_CASE("python selection: a file with nothing to select parses as selected") {
  // The module's one statement must parse on its own: not a bare `try:` or `def` header.
  for (const std::string code :
       {"try:\n    import torch\nexcept ImportError:\n    pass\nelse:\n    torch.manual_seed(0)\n",
        "def f():\n    return 1\n\nimport torch\nx = 1\n", "@decorate\ndef f():\n    return 1\n"}) {
    CAPTURE(code);
    SourceFile src("t.py", "t.py", code);
    py::Selection sel = py::select_statements(src);
    bool reparsed = true;
    auto again = py::parse_module(std::make_shared<SourceFile>("t.py", "t.py", code),
                                  sel.whole ? nullptr : &sel.ranges, &reparsed);
    REQUIRE(again);
    CHECK_FALSE(reparsed);
  }
}
