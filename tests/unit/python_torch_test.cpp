// The Python front end: freezing (requires_grad_ / .requires_grad and the loops that select
// parameters), torch.autograd.grad and backward, DDP, torch.compile.
#include "tests/unit/python_test_util.h"

using namespace gcheck;
using gcheck::test::has_unreadable;
using gcheck::test::line_of;
using gcheck::test::py;

namespace {
const FreezeFact& only_freeze(const Facts& f) {
  REQUIRE(f.code->freezes.size() == 1);
  return f.code->freezes[0];
}
}  // namespace

TEST_CASE("python: freezing a module or a tensor directly") {
  auto e = py("import torch\nmodel.model.embed_tokens.requires_grad_(False)\n");
  CHECK(only_freeze(*e).embeddings);
  CHECK_FALSE(only_freeze(*e).whole_model);
  CHECK(only_freeze(*e).target == "model.model.embed_tokens");
  auto w = py("import torch\nmodel.get_input_embeddings().weight.requires_grad = False\n");
  CHECK(only_freeze(*w).embeddings);
  auto whole = py("import torch\nref_model.requires_grad_(False)\n");
  CHECK(only_freeze(*whole).whole_model);
  CHECK(only_freeze(*whole).target == "ref_model");
  // A bare name that does not say it is a model is recorded as what it is.
  auto vae = py("import torch\nvae.requires_grad_(False)\nlabels.requires_grad = False\n");
  REQUIRE(vae->code->freezes.size() == 2);
  CHECK_FALSE(vae->code->freezes[0].whole_model);
  CHECK(vae->code->freezes[0].target == "vae");
  CHECK_FALSE(vae->code->freezes[1].whole_model);
  auto kw = py("import torch\nmodel.transformer.wte.requires_grad_(requires_grad=False)\n");
  CHECK(only_freeze(*kw).embeddings);
  auto head = py("import torch\nmodel.lm_head.requires_grad_(False)\n");
  CHECK_FALSE(only_freeze(*head).embeddings);
  CHECK_FALSE(only_freeze(*head).whole_model);
  // Unfreezing, and flags known only at run time.
  CHECK(py("import torch\nmodel.requires_grad_(True)\nmodel.embed.requires_grad_()\n")
            ->code->freezes.empty());
  auto unk = py("import torch\ndef f(flag):\n    model.embed_tokens.requires_grad_(flag)\n");
  CHECK(unk->code->freezes.empty());
  CHECK(has_unreadable(*unk, "requires_grad", "parameter of f()"));
}

TEST_CASE("python: freezing loops over named_parameters / parameters") {
  auto embed =
      py("import torch\nfor name, p in model.named_parameters():\n"
         "    if \"embed\" in name:\n        p.requires_grad = False\n");
  CHECK(only_freeze(*embed).embeddings);
  CHECK_FALSE(only_freeze(*embed).whole_model);
  CHECK(line_of(only_freeze(*embed).loc) == 4);
  CHECK(only_freeze(*embed).target == "model.named_parameters() named like \"embed\"");

  auto all_but =
      py("import torch\nfor n, param in model.named_parameters():\n"
         "    if 'lora' not in n:\n        param.requires_grad_(False)\n");
  CHECK(only_freeze(*all_but).whole_model);
  CHECK(only_freeze(*all_but).embeddings);

  auto assigned = py(
      "import torch\nfor n, p in model.named_parameters():\n    p.requires_grad = 'lora' in n\n");
  CHECK(only_freeze(*assigned).whole_model);
  CHECK(only_freeze(*assigned).embeddings);

  auto all = py("import torch\nfor p in model.parameters():\n    p.requires_grad = False\n");
  CHECK(only_freeze(*all).whole_model);
  CHECK(only_freeze(*all).embeddings);

  auto sub =
      py("import torch\nfor p in model.model.embed_tokens.parameters():\n    p.requires_grad = "
         "False\n");
  CHECK(only_freeze(*sub).embeddings);
  CHECK_FALSE(only_freeze(*sub).whole_model);

  auto any =
      py("import torch\nFROZEN = ['embed_tokens', 'layers.0.']\nfor n, p in "
         "model.named_parameters():\n"
         "    if any(k in n for k in FROZEN):\n        p.requires_grad = False\n");
  CHECK(only_freeze(*any).embeddings);

  auto starts =
      py("import torch\nfor n, p in model.named_parameters():\n"
         "    if n.startswith(('model.layers.0.', 'model.layers.1.')):\n        p.requires_grad = "
         "False\n");
  CHECK_FALSE(only_freeze(*starts).embeddings);
  CHECK_FALSE(only_freeze(*starts).whole_model);

  auto elsebranch =
      py("import torch\nfor n, p in model.named_parameters():\n"
         "    if 'lora' in n:\n        p.requires_grad = True\n    else:\n        p.requires_grad "
         "= False\n");
  CHECK(only_freeze(*elsebranch).whole_model);
  CHECK(only_freeze(*elsebranch).embeddings);

  auto layers =
      py("import torch\nfor layer in model.model.layers[:8]:\n    for p in layer.parameters():\n"
         "        p.requires_grad = False\n");
  CHECK_FALSE(only_freeze(*layers).embeddings);
  CHECK_FALSE(only_freeze(*layers).whole_model);
  auto each = py("import torch\nfor block in model.blocks[:4]:\n    block.requires_grad_(False)\n");
  CHECK(only_freeze(*each).target == "each of model.blocks[:4]");

  auto unread =
      py("import torch\nfor n, p in model.named_parameters():\n"
         "    if should_freeze(n):\n        p.requires_grad = False\n");
  CHECK_FALSE(only_freeze(*unread).embeddings);
  CHECK_FALSE(only_freeze(*unread).whole_model);
  CHECK(has_unreadable(*unread, "requires_grad", "should_freeze(n)"));
}

TEST_CASE("python: freezing in comprehensions") {
  auto embed = py(
      "import torch\n[p.requires_grad_(False) for p in model.model.embed_tokens.parameters()]\n");
  CHECK(only_freeze(*embed).embeddings);
  CHECK_FALSE(only_freeze(*embed).whole_model);
  auto cond =
      py("import torch\nlist(p.requires_grad_(False) for n, p in model.named_parameters() if "
         "'lora' not in n)\n");
  CHECK(only_freeze(*cond).whole_model);
  CHECK(only_freeze(*cond).embeddings);
  CHECK(only_freeze(*cond).target == "model.named_parameters() except those named like \"lora\"");
  auto other = py("import torch\n[t.requires_grad_(False) for t in tensors]\n");
  CHECK_FALSE(only_freeze(*other).whole_model);
  CHECK_FALSE(only_freeze(*other).embeddings);
}

TEST_CASE("python: torch.autograd.grad and backward") {
  auto f =
      py("import torch\nfrom torch import autograd\n"
         "g = torch.autograd.grad(loss, params, create_graph=True)\n"
         "h = autograd.grad(loss, params)\n"
         "loss.backward()\n"
         "loss.backward(inputs=[w])\n"
         "out.backward(gradient=torch.ones_like(out))\n"
         "out.backward(torch.ones_like(out))\n"
         "accelerator.backward(loss)\n"
         "torch.autograd.backward([a, b], [ga, gb])\n"
         "loss.backward(inputs=None)\n");
  REQUIRE(f->code->autograd_grad.size() == 3);
  CHECK(line_of(f->code->autograd_grad[0].loc) == 3);
  CHECK(line_of(f->code->autograd_grad[1].loc) == 4);
  CHECK(line_of(f->code->autograd_grad[2].loc) == 6);
  REQUIRE(f->code->nonscalar_backward.size() == 3);
  CHECK(line_of(f->code->nonscalar_backward[0].loc) == 7);
  CHECK(line_of(f->code->nonscalar_backward[1].loc) == 8);
  CHECK(line_of(f->code->nonscalar_backward[2].loc) == 10);
  // grad of something else
  CHECK(py("import torch\nimport jax\ng = jax.grad(f)\n")->code->autograd_grad.empty());
}

TEST_CASE("python: DistributedDataParallel and accelerate's kwargs handler") {
  auto f =
      py("import torch\nfrom torch.nn.parallel import DistributedDataParallel as DDP\n"
         "from accelerate import DistributedDataParallelKwargs\n"
         "model = DDP(model, device_ids=[rank], find_unused_parameters=True, static_graph=False)\n"
         "m2 = torch.nn.parallel.DistributedDataParallel(model)\n"
         "kw = DistributedDataParallelKwargs(find_unused_parameters=False)\n");
  const auto& d = f->code->ddps;
  REQUIRE(d.size() == 3);
  CHECK(d[0].find_unused_parameters == true);
  CHECK(line_of(d[0].find_unused_loc) == 4);
  CHECK(d[0].static_graph == false);
  CHECK_FALSE(d[1].find_unused_parameters.has_value());
  CHECK(d[2].find_unused_parameters == false);
}

TEST_CASE("python: torch.compile") {
  auto f =
      py("import torch\nmodel = torch.compile(model, mode='max-autotune')\nimport re\np = "
         "re.compile('x')\n");
  REQUIRE(f->code->compiles.size() == 1);
  CHECK(f->code->compiles[0].callee == "torch.compile");
}
