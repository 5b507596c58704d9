// The Python front end: TrainingArguments and the TRL configs into the ordinary Facts fields,
// the trainer that runs them, gradient_checkpointing_enable, from_pretrained and quantization,
// model.config.use_cache, argument parsers.
#include <fmt/format.h>

#include "tests/unit/python_test_util.h"

using namespace gcheck;
using gcheck::test::has_unreadable;
using gcheck::test::line_of;
using gcheck::test::py;

TEST_CASE("python: TrainingArguments values into Facts, located at the keyword's value") {
  auto f =
      py("from transformers import TrainingArguments\n"
         "args = TrainingArguments(\n"
         "    output_dir=\"out\",\n"
         "    gradient_checkpointing=True,\n"
         "    gradient_checkpointing_kwargs={\"use_reentrant\": False, \"preserve_rng_state\": "
         "True},\n"
         "    ddp_find_unused_parameters=False,\n"
         "    torch_compile=True,\n"
         "    deepspeed=\"ds/zero3.json\",\n"
         "    fsdp=[\"full_shard\", \"auto_wrap\"],\n"
         "    fsdp_config={\"activation_checkpointing\": True, \"version\": 2},\n"
         ")\n");
  REQUIRE(f->gradient_checkpointing);
  CHECK(f->gradient_checkpointing->value);
  CHECK(line_of(f->gradient_checkpointing->loc) == 4);
  CHECK(f->gradient_checkpointing->loc.span.begin.column == 28);
  CHECK(f->gradient_checkpointing->key == "gradient_checkpointing");
  CHECK(f->gradient_checkpointing->raw == "True");
  REQUIRE(f->gc_kwargs);
  CHECK(f->gc_kwargs->value);
  REQUIRE(f->use_reentrant);
  CHECK_FALSE(f->use_reentrant->value);
  CHECK(f->use_reentrant->key == "gradient_checkpointing_kwargs.use_reentrant");
  CHECK(line_of(f->use_reentrant->key_loc) == 5);
  CHECK(f->preserve_rng_state->value);
  CHECK_FALSE(f->ddp_find_unused_parameters->value);
  CHECK(f->torch_compile->value);
  CHECK(f->deepspeed_path->value == "ds/zero3.json");
  CHECK(f->fsdp->value == "full_shard auto_wrap");
  CHECK(f->fsdp_ac->value);
  CHECK(f->fsdp_version->value == 2);
  CHECK_FALSE(f->trl);
  CHECK_FALSE(f->trainer);
  CHECK(f->format == Format::Python);
  CHECK(line_of(f->anchor) == 2);
  CHECK(f->unreadable.empty());
}

TEST_CASE("python: gradient_checkpointing_kwargs through a name, {}, a JSON string, **splat") {
  auto named =
      py("import transformers\ngc_kwargs = {\"use_reentrant\": True}\n"
         "args = transformers.Seq2SeqTrainingArguments(\"out\", "
         "gradient_checkpointing_kwargs=gc_kwargs)\n");
  REQUIRE(named->use_reentrant);
  CHECK(named->use_reentrant->value);
  CHECK(line_of(named->use_reentrant->loc) == 2);  // where the value is written
  auto empty =
      py("from transformers import TrainingArguments\n"
         "args = TrainingArguments(\"out\", gradient_checkpointing=True, "
         "gradient_checkpointing_kwargs={})\n");
  REQUIRE(empty->gc_kwargs);
  CHECK_FALSE(empty->gc_kwargs->value);
  CHECK_FALSE(empty->use_reentrant);
  auto json =
      py("from transformers import TrainingArguments\n"
         "args = TrainingArguments(\"out\", gradient_checkpointing_kwargs='{\"use_reentrant\": "
         "false}')\n");
  REQUIRE(json->use_reentrant);
  CHECK_FALSE(json->use_reentrant->value);
  auto dictcall =
      py("from transformers import TrainingArguments\n"
         "args = TrainingArguments(\"out\", "
         "gradient_checkpointing_kwargs=dict(use_reentrant=False))\n");
  REQUIRE(dictcall->use_reentrant);
  CHECK_FALSE(dictcall->use_reentrant->value);
  auto open =
      py("from transformers import TrainingArguments\ndef make(extra):\n"
         "    return TrainingArguments(\"o\", gradient_checkpointing_kwargs={**extra})\n");
  CHECK_FALSE(open->use_reentrant);
  CHECK(has_unreadable(*open, "gradient_checkpointing_kwargs.use_reentrant", "**extra"));
  auto mutated =
      py("from transformers import TrainingArguments\ngc = {\"use_reentrant\": True}\n"
         "gc[\"use_reentrant\"] = False\nargs = TrainingArguments(\"o\", "
         "gradient_checkpointing_kwargs=gc)\n");
  CHECK_FALSE(mutated->use_reentrant);
  CHECK(has_unreadable(*mutated, "gradient_checkpointing_kwargs",
                       "changed after it is bound (line 3)"));
  auto updated =
      py("from transformers import TrainingArguments\ngc = {}\ngc.update(use_reentrant=False)\n"
         "args = TrainingArguments(\"o\", gradient_checkpointing_kwargs=gc)\n");
  CHECK_FALSE(updated->gc_kwargs);
  CHECK(has_unreadable(*updated, "gradient_checkpointing_kwargs", "changed after it is bound"));
}

TEST_CASE("python: values known only at run time are unreadable, never guessed") {
  auto f =
      py("import argparse\nfrom transformers import TrainingArguments\n"
         "def main(args):\n"
         "    ta = TrainingArguments(args.out, gradient_checkpointing=args.gc,\n"
         "                           ddp_find_unused_parameters=not args.lora)\n");
  CHECK_FALSE(f->gradient_checkpointing);
  CHECK(has_unreadable(*f, "gradient_checkpointing", "`args.gc` is known only at run time"));
  CHECK_FALSE(f->ddp_find_unused_parameters);
  CHECK(has_unreadable(*f, "ddp_find_unused_parameters"));
  auto splat =
      py("from transformers import TrainingArguments\nimport yaml\ncfg = "
         "yaml.safe_load(open('c.yaml'))\n"
         "ta = TrainingArguments(**cfg)\n");
  CHECK(has_unreadable(*splat, "TrainingArguments", "**cfg"));
  auto literal_splat =
      py("from transformers import TrainingArguments\n"
         "CFG = {\"output_dir\": \"o\", \"gradient_checkpointing\": True}\nta = "
         "TrainingArguments(**CFG)\n");
  REQUIRE(literal_splat->gradient_checkpointing);
  CHECK(literal_splat->gradient_checkpointing->value);
  CHECK(literal_splat->unreadable.empty());
}

TEST_CASE("python: a value stated twice: kept when equal, unreadable when different") {
  auto same = py(
      "from transformers import TrainingArguments\n"
      "if fast:\n    a = TrainingArguments('o', gradient_checkpointing=True)\n"
      "else:\n    a = TrainingArguments('o', gradient_checkpointing=True, learning_rate=1e-5)\n");
  REQUIRE(same->gradient_checkpointing);
  CHECK(line_of(same->gradient_checkpointing->loc) == 3);
  auto differ =
      py("from transformers import TrainingArguments\n"
         "if fast:\n    a = TrainingArguments('o', gradient_checkpointing=False)\n"
         "else:\n    a = TrainingArguments('o', gradient_checkpointing=True)\n");
  CHECK_FALSE(differ->gradient_checkpointing);
  CHECK(has_unreadable(*differ, "gradient_checkpointing", "line 3: False; line 5: True"));
  auto cache =
      py("from transformers import AutoModelForCausalLM\n"
         "model = AutoModelForCausalLM.from_pretrained('m')\nmodel.config.use_cache = False\n"
         "train(model)\nmodel.config.use_cache = True\n");
  CHECK_FALSE(cache->use_cache);
  CHECK(has_unreadable(*cache, "config.use_cache", "stated more than once"));
}

TEST_CASE("python: TRL configs and the trainer that runs them") {
  struct Case {
    const char* config;
    const char* trainer;
    const char* kind;
  };
  const Case cases[] = {
      {"SFTConfig", "SFTTrainer", "sft"},    {"DPOConfig", "DPOTrainer", "dpo"},
      {"GRPOConfig", "GRPOTrainer", "grpo"}, {"KTOConfig", "KTOTrainer", "kto"},
      {"ORPOConfig", "ORPOTrainer", "orpo"}, {"RewardConfig", "RewardTrainer", "reward"},
      {"PPOConfig", "PPOTrainer", "ppo"},    {"RLOOConfig", "RLOOTrainer", "rloo"}};
  for (const Case& c : cases) {
    std::string code = fmt::format(
        "from trl import {0}, {1}\nargs = {0}(output_dir='o', gradient_checkpointing=False)\n"
        "trainer = {1}(model=model, args=args, train_dataset=ds)\n",
        c.config, c.trainer);
    CAPTURE(code);
    auto f = py(code);
    REQUIRE(f->trl);
    CHECK(f->trl->value);
    REQUIRE(f->trainer);
    CHECK(f->trainer->value == c.kind);
    CHECK_FALSE(f->gradient_checkpointing->value);
    REQUIRE(f->code->trainers.size() == 1);
    CHECK(f->code->trainers[0].cls == c.trainer);
    CHECK(f->code->trainers[0].kind == c.kind);
    CHECK(line_of(f->anchor) == 2);
  }
  auto plain =
      py("from transformers import Trainer, TrainingArguments\n"
         "t = Trainer(model=m, args=TrainingArguments('o'))\n");
  REQUIRE(plain->code->trainers.size() == 1);
  CHECK(plain->code->trainers[0].kind == "");
  CHECK_FALSE(plain->trainer);
  CHECK_FALSE(plain->trl);
}

TEST_CASE("python: trainer subclasses, peft_config, a string model") {
  auto f =
      py("from trl import DPOTrainer\nfrom peft import LoraConfig\n"
         "class MyDPO(DPOTrainer):\n    pass\nclass Mine(MyDPO):\n    pass\n"
         "cfg = LoraConfig(r=8, lora_dropout=0.1)\n"
         "t = Mine(model='Qwen/Qwen2.5-0.5B', args=a, peft_config=cfg)\n");
  REQUIRE(f->code->trainers.size() == 1);
  CHECK(f->code->trainers[0].cls == "Mine");
  CHECK(f->code->trainers[0].kind == "dpo");
  CHECK(f->trainer->value == "dpo");
  CHECK(f->use_peft->value);
  CHECK(f->adapter->value == "lora");
  CHECK(line_of(f->adapter->loc) == 7);
  CHECK(f->model_name->value == "Qwen/Qwen2.5-0.5B");
  CHECK(f->lora_dropout->value == doctest::Approx(0.1));
  // A class named like a trainer that is not one.
  auto g = py("import torch\nclass SFTTrainer:\n    pass\nt = SFTTrainer(model=m)\n");
  CHECK(g->code->trainers.empty());
}

TEST_CASE("python: gradient_checkpointing_enable") {
  auto f =
      py("import torch\n"
         "model.gradient_checkpointing_enable()\n"
         "model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={\"use_reentrant\": "
         "False})\n"
         "peft_model.base_model.gradient_checkpointing_enable({\"use_reentrant\": True})\n"
         "model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={})\n"
         "model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=None)\n"
         "def f(kw):\n    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kw)\n");
  const auto& g = f->code->gc_enables;
  REQUIRE(g.size() == 6);
  CHECK_FALSE(g[0].has_kwargs);
  CHECK(g[0].receiver == "model");
  CHECK(g[1].has_kwargs);
  CHECK_FALSE(g[1].empty_kwargs);
  CHECK(g[1].use_reentrant == false);
  CHECK(line_of(g[1].use_reentrant_loc) == 3);
  CHECK(g[2].use_reentrant == true);
  CHECK(g[2].receiver == "peft_model.base_model");
  CHECK(g[3].has_kwargs);
  CHECK(g[3].empty_kwargs);
  CHECK_FALSE(g[4].has_kwargs);
  CHECK(g[5].has_kwargs);
  CHECK_FALSE(g[5].use_reentrant.has_value());
  CHECK(has_unreadable(*f, "gradient_checkpointing_kwargs", "parameter of f()"));
  CHECK(g[0].call.order < g[1].call.order);
  CHECK(g[5].call.scope == "f");
  // Not a method call of that name: nothing.
  CHECK(py("import torch\ngradient_checkpointing_enable(model)\n")->code->gc_enables.empty());
}

TEST_CASE("python: from_pretrained, BitsAndBytesConfig, use_cache") {
  auto f =
      py("import torch\nfrom transformers import AutoModelForCausalLM, AutoTokenizer, "
         "BitsAndBytesConfig\n"
         "bnb = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type='nf4')\n"
         "tok = AutoTokenizer.from_pretrained('tok-name')\n"
         "model = AutoModelForCausalLM.from_pretrained('meta-llama/Llama-3.2-1B', "
         "quantization_config=bnb,\n"
         "                                             use_cache=False, trust_remote_code=True)\n");
  CHECK(f->quant_bits->value == 4);
  CHECK(line_of(f->quant_bits->loc) == 3);
  CHECK(f->model_name->value == "meta-llama/Llama-3.2-1B");
  CHECK_FALSE(f->use_cache->value);
  CHECK(f->trust_remote_code->value);
  CHECK(f->unreadable.empty());

  auto eight =
      py("from transformers import AutoModelForCausalLM\n"
         "m = AutoModelForCausalLM.from_pretrained('x', load_in_8bit=True)\n");
  CHECK(eight->quant_bits->value == 8);
  auto dict =
      py("from transformers import AutoModelForCausalLM\n"
         "m = AutoModelForCausalLM.from_pretrained('x', quantization_config={'load_in_4bit': "
         "True})\n");
  CHECK(dict->quant_bits->value == 4);
  auto off = py(
      "from transformers import BitsAndBytesConfig\nb = BitsAndBytesConfig(load_in_4bit=False)\n");
  CHECK_FALSE(off->quant_bits);
  auto unk =
      py("from transformers import AutoModelForCausalLM\ndef load(q):\n"
         "    return AutoModelForCausalLM.from_pretrained('x', quantization_config=q)\n");
  CHECK_FALSE(unk->quant_bits);
  CHECK(has_unreadable(*unk, "quantization_config"));

  auto cfg = py("import torch\nmodel.config.use_cache = False\n");
  REQUIRE(cfg->use_cache);
  CHECK_FALSE(cfg->use_cache->value);
  CHECK(cfg->use_cache->key == "config.use_cache");
  // Not the model's config.
  CHECK_FALSE(py("import torch\nmodel.generation_config.use_cache = True\nargs.use_cache = True\n")
                  ->use_cache);
}

TEST_CASE("python: argument parsers are recorded (values come from the command line or a YAML)") {
  auto f =
      py("from trl import SFTConfig, SFTTrainer, TrlParser, ModelConfig\n"
         "parser = TrlParser((ScriptArguments, SFTConfig, ModelConfig))\n"
         "script_args, training_args, model_args = parser.parse_args_and_config()\n"
         "trainer = SFTTrainer(model=model_args.model_name_or_path, args=training_args)\n");
  REQUIRE(f->code->arg_parsers.size() == 1);
  CHECK(f->code->arg_parsers[0].callee == "trl.TrlParser");
  CHECK(f->trainer->value == "sft");
  CHECK_FALSE(f->gradient_checkpointing);
  auto h =
      py("from transformers import HfArgumentParser, TrainingArguments\n"
         "p = HfArgumentParser((ModelArguments, TrainingArguments))\n");
  CHECK(h->code->arg_parsers.size() == 1);
}

TEST_CASE("python: TRL ModelConfig") {
  auto f =
      py("from trl import ModelConfig\nm = ModelConfig(model_name_or_path='q', use_peft=True, "
         "load_in_4bit=True,\n"
         "                lora_dropout=0.0, lora_target_modules=['q_proj'])\n");
  CHECK(f->use_peft->value);
  CHECK(f->quant_bits->value == 4);
  CHECK(f->lora_dropout->value == 0.0);
  CHECK(f->model_name->value == "q");
}

TEST_CASE("python: settings assigned onto parsed arguments; a peft_config known only at run time") {
  // As in PEFT's examples/sft/train.py: the arguments come from HfArgumentParser, then the
  // script sets the checkpointing kwargs on them.
  auto f = py(
      "from transformers import HfArgumentParser, TrainingArguments\nfrom trl import SFTTrainer\n"
      "def main(model_args, training_args, peft_config):\n"
      "    if training_args.gradient_checkpointing:\n"
      "        training_args.gradient_checkpointing_kwargs = {\"use_reentrant\": "
      "model_args.use_reentrant}\n"
      "    SFTTrainer(model=m, args=training_args, peft_config=peft_config)\n");
  REQUIRE(f->gc_kwargs);
  CHECK(f->gc_kwargs->value);
  CHECK_FALSE(f->use_reentrant);
  CHECK(has_unreadable(*f, "gradient_checkpointing_kwargs.use_reentrant",
                       "model_args.use_reentrant"));
  // get_peft_config(...) may return None: PEFT is not assumed.
  CHECK_FALSE(f->use_peft);
  CHECK_FALSE(f->adapter);
  CHECK(has_unreadable(*f, "peft_config", "may be None"));
  auto lit =
      py("from transformers import TrainingArguments\nargs = TrainingArguments('o')\n"
         "args.gradient_checkpointing_kwargs = {'use_reentrant': False}\n");
  REQUIRE(lit->use_reentrant);
  CHECK_FALSE(lit->use_reentrant->value);
}
