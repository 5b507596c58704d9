// The Python front end: PEFT (prepare_model_for_kbit_training, get_peft_model and the order
// against gradient_checkpointing_enable, PeftModel.from_pretrained, LoraConfig), input hooks,
// Unsloth's use_gradient_checkpointing.
#include "tests/unit/python_test_util.h"

using namespace gcheck;
using gcheck::test::has_unreadable;
using gcheck::test::line_of;
using gcheck::test::py;

TEST_CASE("python: prepare_model_for_kbit_training") {
  auto f =
      py("from peft import prepare_model_for_kbit_training\n"
         "m = prepare_model_for_kbit_training(m)\n"
         "m = prepare_model_for_kbit_training(m, use_gradient_checkpointing=False)\n"
         "m = prepare_model_for_kbit_training(m, True, {\"use_reentrant\": False})\n"
         "m = prepare_model_for_kbit_training(m, gradient_checkpointing_kwargs={})\n");
  const auto& k = f->code->kbit_prepares;
  REQUIRE(k.size() == 4);
  CHECK_FALSE(
      k[0].use_gradient_checkpointing.has_value());  // PEFT's default (True) is the resolver's
  CHECK_FALSE(k[0].has_kwargs);
  CHECK(k[1].use_gradient_checkpointing == false);
  CHECK(k[2].use_gradient_checkpointing == true);
  CHECK(k[2].has_kwargs);
  CHECK(k[2].use_reentrant == false);
  CHECK(line_of(k[2].use_reentrant_loc) == 4);
  CHECK(k[3].has_kwargs);
  CHECK_FALSE(k[3].use_reentrant.has_value());
  CHECK(k[0].call.callee == "peft.prepare_model_for_kbit_training");
}

TEST_CASE("python: checkpointing enabled before or after get_peft_model (order, scope)") {
  auto after =
      py("from peft import LoraConfig, get_peft_model\n"
         "def build(model):\n"
         "    model = get_peft_model(model, LoraConfig(r=8))\n"
         "    model.gradient_checkpointing_enable()\n"
         "    return model\n");
  REQUIRE(after->code->peft_wraps.size() == 1);
  REQUIRE(after->code->gc_enables.size() == 1);
  CHECK(after->code->peft_wraps[0].order < after->code->gc_enables[0].call.order);
  CHECK(after->code->peft_wraps[0].scope == "build");
  CHECK(after->code->gc_enables[0].call.scope == "build");
  CHECK(after->adapter->value == "lora");

  auto before =
      py("import peft\nmodel.gradient_checkpointing_enable()\n"
         "cfg = peft.LoraConfig(r=8)\nmodel = peft.get_peft_model(model, peft_config=cfg)\n");
  CHECK(before->code->gc_enables[0].call.order < before->code->peft_wraps[0].order);
  CHECK(before->code->peft_wraps[0].scope == "");
  CHECK(before->adapter->value == "lora");
  CHECK(line_of(before->adapter->loc) == 3);

  auto other =
      py("from peft import IA3Config, get_peft_model\nm = get_peft_model(m, IA3Config())\n");
  CHECK(other->adapter->value == "ia3");
  auto unknown =
      py("from peft import get_peft_model\ndef w(m, c):\n    return get_peft_model(m, c)\n");
  CHECK_FALSE(unknown->adapter);
  CHECK(has_unreadable(*unknown, "adapter"));

  auto loaded =
      py("from peft import PeftModel\nm = PeftModel.from_pretrained(base, 'adapter-dir')\n");
  REQUIRE(loaded->code->peft_wraps.size() == 1);
  CHECK_FALSE(loaded->model_name);
  CHECK(has_unreadable(*loaded, "adapter", "saved adapter"));
}

TEST_CASE("python: LoraConfig dropout, target modules, modules to save") {
  auto f =
      py("from peft import LoraConfig\n"
         "c = LoraConfig(r=16, lora_dropout=0, target_modules=[\"q_proj\", "
         "\"visual.blocks.0.attn.qkv\"],\n"
         "               modules_to_save=[\"embed_tokens\", \"lm_head\"])\n");
  REQUIRE(f->lora_dropout);
  CHECK(f->lora_dropout->value == 0.0);
  REQUIRE(f->vision_lora);
  CHECK(f->vision_lora->raw == "visual.blocks.0.attn.qkv");
  REQUIRE(f->embeddings_trainable);
  CHECK(line_of(f->embeddings_trainable->loc) == 3);
  auto plain =
      py("from peft import LoraConfig\nc = LoraConfig(lora_dropout=0.05, "
         "target_modules='all-linear',\n"
         "               modules_to_save=['lm_head'])\n");
  CHECK_FALSE(plain->vision_lora);
  CHECK_FALSE(plain->embeddings_trainable);
  auto unk =
      py("from peft import LoraConfig\ndef mk(a):\n    return LoraConfig(lora_dropout=a.dropout, "
         "target_modules=a.t)\n");
  CHECK_FALSE(unk->lora_dropout);
  CHECK(has_unreadable(*unk, "lora_dropout"));
  CHECK(has_unreadable(*unk, "target_modules"));
}

TEST_CASE("python: input-require-grads hooks") {
  auto f =
      py("import torch\nmodel.enable_input_require_grads()\n"
         "def make_inputs_require_grad(module, input, output):\n    output.requires_grad_(True)\n"
         "model.get_input_embeddings().register_forward_hook(make_inputs_require_grad)\n"
         "model.lm_head.register_forward_hook(log)\n");
  REQUIRE(f->code->input_hooks.size() == 2);
  CHECK(line_of(f->code->input_hooks[0].loc) == 2);
  CHECK(line_of(f->code->input_hooks[1].loc) == 5);
  CHECK(f->code->freezes.empty());  // requires_grad_(True) unfreezes
}

TEST_CASE("python: Unsloth use_gradient_checkpointing") {
  auto f =
      py("from unsloth import FastLanguageModel\n"
         "model, tok = FastLanguageModel.from_pretrained(model_name='unsloth/llama-3-8b', "
         "load_in_4bit=True,\n"
         "                                               use_gradient_checkpointing=True)\n"
         "model = FastLanguageModel.get_peft_model(model, r=16, lora_dropout=0,\n"
         "                                         use_gradient_checkpointing=\"unsloth\")\n");
  REQUIRE(f->code->unsloth_gc.size() == 1);
  CHECK(line_of(f->code->unsloth_gc[0].loc) == 4);
  // True at one call, "unsloth" at the other: stated two ways.
  CHECK_FALSE(f->unsloth_gc);
  CHECK(has_unreadable(*f, "use_gradient_checkpointing", "stated more than once"));
  CHECK(f->quant_bits->value == 4);
  CHECK(f->model_name->value == "unsloth/llama-3-8b");
  REQUIRE(f->code->peft_wraps.size() == 1);
  CHECK(f->adapter->value == "lora");
  CHECK(f->lora_dropout->value == 0.0);

  auto only =
      py("from unsloth import FastLanguageModel\n"
         "model = FastLanguageModel.get_peft_model(model, use_gradient_checkpointing='unsloth')\n");
  REQUIRE(only->unsloth_gc);
  CHECK(only->unsloth_gc->value == "unsloth");
  auto off =
      py("from unsloth import FastLanguageModel\n"
         "model = FastLanguageModel.get_peft_model(model, use_gradient_checkpointing=False)\n");
  CHECK(off->unsloth_gc->value == "False");
  CHECK(off->code->unsloth_gc.empty());
}
