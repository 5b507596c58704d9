// The Python front end: torch.utils.checkpoint calls through every import spelling, and their
// options (use_reentrant, preserve_rng_state, context_fn, determinism_check, debug, early_stop,
// keyword and container tensors), checkpoint_sequential, checkpoint_wrapper,
// apply_activation_checkpointing, save_on_cpu.
#include <algorithm>
#include <cstring>

#include "tests/unit/python_test_util.h"

using namespace gcheck;
using gcheck::test::has_unreadable;
using gcheck::test::line_of;
using gcheck::test::py;

namespace {
const CheckpointCallFact& only_call(const Facts& f) {
  REQUIRE(f.code->checkpoint_calls.size() == 1);
  return f.code->checkpoint_calls[0];
}
}  // namespace

TEST_CASE("python: checkpoint resolved through every import spelling") {
  const char* spellings[] = {
      "import torch\nimport torch.utils.checkpoint\ny = torch.utils.checkpoint.checkpoint(f, x)\n",
      "import torch.utils.checkpoint as cp\ny = cp.checkpoint(f, x)\n",
      "from torch.utils.checkpoint import checkpoint\ny = checkpoint(f, x)\n",
      "from torch.utils.checkpoint import checkpoint as ckpt\ny = ckpt(f, x)\n",
      "from torch.utils import checkpoint\ny = checkpoint.checkpoint(f, x)\n",
      "import torch.utils.checkpoint\nck = torch.utils.checkpoint.checkpoint\ny = ck(f, x)\n",
      "try:\n    from torch.utils.checkpoint import checkpoint\nexcept ImportError:\n    "
      "checkpoint = None\n"
      "y = checkpoint(f, x)\n",
      "from torch.utils.checkpoint import *\ny = checkpoint(f, x)\n",
  };
  for (const char* code : spellings) {
    CAPTURE(code);
    auto f = py(code);
    const auto& c = only_call(*f);
    CHECK(c.api == CheckpointCallFact::Api::Checkpoint);
    CHECK(c.call.callee == "torch.utils.checkpoint.checkpoint");
    CHECK_FALSE(c.use_reentrant_given);
    CHECK_FALSE(c.use_reentrant.has_value());
    CHECK(line_of(c.call.loc) ==
          static_cast<uint32_t>(std::count(code, code + std::strlen(code), '\n')));
  }
}

TEST_CASE("python: names that are not torch's checkpoint are not checkpoint calls") {
  const char* others[] = {
      // a function of the script's own
      "import torch\ndef checkpoint(fn, *a):\n    return fn(*a)\ny = checkpoint(f, x)\n",
      // a parameter shadows the import
      "from torch.utils.checkpoint import checkpoint\ndef run(checkpoint, x):\n    return "
      "checkpoint(x)\n",
      // a local assignment shadows it inside the function
      "from torch.utils.checkpoint import checkpoint\ndef load(p):\n    checkpoint = "
      "torch.load(p)\n"
      "    return checkpoint(p)\n",
      // another library's checkpoint
      "import torch\nimport deepspeed\ny = deepspeed.checkpointing.checkpoint(f, x)\n",
      "import torch\nfrom mylib import checkpoint\ny = checkpoint(f, x)\n",
      // never imported
      "import torch\ny = checkpoint(f, x)\n",
      // the module, not the function
      "import torch\nfrom torch.utils import checkpoint\ny = checkpoint(f, x)\n",
      // bound two different ways
      "import torch\ntry:\n    from torch.utils.checkpoint import checkpoint\nexcept ImportError:\n"
      "    from mylib import checkpoint\ny = checkpoint(f, x)\n",
  };
  for (const char* code : others) {
    CAPTURE(code);
    CHECK(py(code)->code->checkpoint_calls.empty());
  }
}

TEST_CASE(
    "python: imports are resolved where the function runs (module bindings after it, local "
    "imports)") {
  // As in TorchFix's fixture: the function body reads the module-level import made later.
  auto f =
      py("import torch\ndef fn(x, y):\n    return checkpoint(gn, x, y)\n\n"
         "from torch.utils.checkpoint import checkpoint\n");
  REQUIRE(f->code->checkpoint_calls.size() == 1);
  CHECK(f->code->checkpoint_calls[0].call.scope == "fn");
  auto g =
      py("import torch\ndef fn(x):\n    from torch.utils.checkpoint import checkpoint as c\n"
         "    return c(gn, x, use_reentrant=False)\ndef other(x):\n    return c(gn, x)\n");
  REQUIRE(g->code->checkpoint_calls.size() == 1);
  CHECK(g->code->checkpoint_calls[0].use_reentrant == false);
  // Methods see the module, not the class body.
  auto h =
      py("import torch\nclass M:\n    checkpoint = None\n    def forward(self, x):\n"
         "        return checkpoint(self.f, x)\nfrom torch.utils.checkpoint import checkpoint\n");
  REQUIRE(h->code->checkpoint_calls.size() == 1);
  CHECK(h->code->checkpoint_calls[0].call.scope == "M.forward");
}

TEST_CASE("python: use_reentrant literal, name, None, and values known only at run time") {
  auto t = py(
      "from torch.utils.checkpoint import checkpoint\ny = checkpoint(f, x, use_reentrant=True)\n");
  CHECK(only_call(*t).use_reentrant == true);
  CHECK(only_call(*t).use_reentrant_given);
  CHECK(line_of(only_call(*t).use_reentrant_loc) == 2);

  auto n =
      py("from torch.utils.checkpoint import checkpoint\nREENTRANT = False\n"
         "def g(x):\n    return checkpoint(f, x, use_reentrant=REENTRANT)\n");
  CHECK(only_call(*n).use_reentrant == false);

  // None is the default: as if not passed.
  auto none = py(
      "from torch.utils.checkpoint import checkpoint\ny = checkpoint(f, x, use_reentrant=None)\n");
  CHECK_FALSE(only_call(*none).use_reentrant_given);

  auto u =
      py("from torch.utils.checkpoint import checkpoint\ndef g(args, x):\n"
         "    return checkpoint(f, x, use_reentrant=args.reentrant)\n");
  CHECK(only_call(*u).use_reentrant_given);
  CHECK_FALSE(only_call(*u).use_reentrant.has_value());
  CHECK(has_unreadable(*u, "use_reentrant", "args.reentrant"));

  auto twice =
      py("from torch.utils.checkpoint import checkpoint\nR = True\nR = False\n"
         "y = checkpoint(f, x, use_reentrant=R)\n");
  CHECK_FALSE(only_call(*twice).use_reentrant.has_value());
  CHECK(has_unreadable(*twice, "use_reentrant", "bound more than once"));

  auto param =
      py("from torch.utils.checkpoint import checkpoint\ndef g(x, reentrant=True):\n"
         "    return checkpoint(f, x, use_reentrant=reentrant)\n");
  CHECK(has_unreadable(*param, "use_reentrant", "parameter of g()"));
}

TEST_CASE("python: the other checkpoint options") {
  auto f =
      py("from torch.utils.checkpoint import checkpoint\n"
         "y = checkpoint(f, x, use_reentrant=False, preserve_rng_state=False,\n"
         "               context_fn=policy, determinism_check=\"none\", debug=True, "
         "early_stop=False)\n");
  const auto& c = only_call(*f);
  CHECK(c.use_reentrant == false);
  CHECK(c.preserve_rng_state == false);
  CHECK(line_of(c.preserve_rng_state_loc) == 2);
  CHECK(c.context_fn);
  CHECK(line_of(c.context_fn_loc) == 3);
  CHECK(c.determinism_check == std::string("none"));
  CHECK(c.debug == true);
  CHECK(c.early_stop == false);
  CHECK_FALSE(c.keyword_tensors);

  auto plain = py(
      "from torch.utils.checkpoint import checkpoint\ny = checkpoint(f, x, use_reentrant=False)\n");
  CHECK_FALSE(only_call(*plain).context_fn);
  CHECK_FALSE(only_call(*plain).preserve_rng_state.has_value());
  CHECK_FALSE(only_call(*plain).debug.has_value());
}

TEST_CASE("python: options from a **dict the file spells out, from a partial, or unknown") {
  auto d =
      py("from torch.utils.checkpoint import checkpoint\nCK = {\"use_reentrant\": False}\n"
         "y = checkpoint(f, x, **CK)\n");
  CHECK(only_call(*d).use_reentrant == false);
  CHECK(line_of(only_call(*d).use_reentrant_loc) == 2);
  CHECK_FALSE(only_call(*d).keyword_tensors);

  auto p =
      py("import functools\nfrom torch.utils.checkpoint import checkpoint\n"
         "ck = functools.partial(checkpoint, use_reentrant=False, preserve_rng_state=True)\n"
         "def g(x):\n    return ck(f, x)\n");
  CHECK(only_call(*p).call.callee == "torch.utils.checkpoint.checkpoint");
  CHECK(only_call(*p).use_reentrant == false);
  CHECK(only_call(*p).preserve_rng_state == true);

  auto u =
      py("from torch.utils.checkpoint import checkpoint\ndef g(x, **kw):\n"
         "    return checkpoint(f, x, **kw)\n");
  CHECK_FALSE(only_call(*u).use_reentrant_given);
  CHECK(has_unreadable(*u, "use_reentrant", "**kw"));
}

TEST_CASE("python: tensors passed by keyword or in containers (keyword_tensors)") {
  const char* yes[] = {
      "y = checkpoint(layer, h, mask=m, use_reentrant=True)\n",
      "y = checkpoint(layer, (h, m))\n",
      "y = checkpoint(layer, [h, m])\n",
      "y = checkpoint(layer, {\"h\": h})\n",
      "y = checkpoint(functools.partial(layer, mask=m), h)\n",
      "y = checkpoint(layer, h, **{\"mask\": m, \"use_reentrant\": False})\n",
  };
  for (const char* call : yes) {
    std::string code =
        std::string("import functools\nfrom torch.utils.checkpoint import checkpoint\n") + call;
    CAPTURE(code);
    auto f = py(code);
    CHECK(only_call(*f).keyword_tensors);
    CHECK(line_of(only_call(*f).keyword_tensors_loc) == 3);
  }
  const char* no[] = {
      "y = checkpoint(layer, h, m, use_reentrant=True)\n",
      "y = checkpoint(layer, *inputs, use_reentrant=True)\n",
      "y = checkpoint(layer, h, preserve_rng_state=False)\n",
      "y = checkpoint(layer, h, None, 3, \"x\")\n",
  };
  for (const char* call : no) {
    std::string code =
        std::string("import functools\nfrom torch.utils.checkpoint import checkpoint\n") + call;
    CAPTURE(code);
    CHECK_FALSE(only_call(*py(code)).keyword_tensors);
  }
}

TEST_CASE("python: checkpoint_sequential") {
  auto f =
      py("import torch.utils.checkpoint as cp\nout = cp.checkpoint_sequential(model, 2, x)\n"
         "out = cp.checkpoint_sequential(model, 2, x, use_reentrant=False)\n");
  REQUIRE(f->code->checkpoint_calls.size() == 2);
  CHECK(f->code->checkpoint_calls[0].api == CheckpointCallFact::Api::CheckpointSequential);
  CHECK_FALSE(f->code->checkpoint_calls[0].use_reentrant_given);
  CHECK(f->code->checkpoint_calls[1].use_reentrant == false);
  // input= is checkpoint_sequential's own parameter, not a keyword tensor.
  auto g =
      py("from torch.utils.checkpoint import checkpoint_sequential\nout = checkpoint_sequential(m, "
         "2, input=x)\n");
  CHECK_FALSE(only_call(*g).keyword_tensors);
}

TEST_CASE("python: checkpoint_wrapper and apply_activation_checkpointing") {
  const std::string imp =
      "import functools\nfrom torch.distributed.algorithms._checkpoint.checkpoint_wrapper import "
      "(\n"
      "    CheckpointImpl, apply_activation_checkpointing, checkpoint_wrapper)\n";
  auto r =
      py(imp + "layer = checkpoint_wrapper(layer, checkpoint_impl=CheckpointImpl.REENTRANT)\n");
  CHECK(only_call(*r).api == CheckpointCallFact::Api::CheckpointWrapper);
  CHECK(only_call(*r).use_reentrant == true);
  CHECK(only_call(*r).use_reentrant_given);
  auto n = py(imp +
              "layer = checkpoint_wrapper(layer, checkpoint_impl=CheckpointImpl.NO_REENTRANT,\n"
              "                           preserve_rng_state=False)\n");
  CHECK(only_call(*n).use_reentrant == false);
  CHECK(only_call(*n).preserve_rng_state == false);
  auto d = py(imp + "layer = checkpoint_wrapper(layer)\n");
  CHECK_FALSE(only_call(*d).use_reentrant_given);

  auto a = py(
      imp +
      "wrapper = functools.partial(checkpoint_wrapper, "
      "checkpoint_impl=CheckpointImpl.NO_REENTRANT)\n"
      "apply_activation_checkpointing(model, checkpoint_wrapper_fn=wrapper, check_fn=is_layer)\n");
  CHECK(only_call(*a).api == CheckpointCallFact::Api::ApplyActivationCheckpointing);
  CHECK(only_call(*a).use_reentrant == false);
  CHECK(line_of(only_call(*a).use_reentrant_loc) == 4);
  auto ad = py(imp + "apply_activation_checkpointing(model, check_fn=is_layer)\n");
  CHECK_FALSE(only_call(*ad).use_reentrant_given);
  auto au = py(
      imp +
      "def go(model, fn):\n    apply_activation_checkpointing(model, checkpoint_wrapper_fn=fn)\n");
  CHECK_FALSE(only_call(*au).use_reentrant_given);
  CHECK(has_unreadable(*au, "checkpoint_wrapper_fn", "parameter of go()"));
}

TEST_CASE("python: checkpoint calls inside save_on_cpu() blocks") {
  auto f =
      py("import torch\nfrom torch.utils.checkpoint import checkpoint\n"
         "with torch.autograd.graph.save_on_cpu(pin_memory=True):\n"
         "    y = checkpoint(f, x, use_reentrant=False)\n"
         "z = checkpoint(f, y, use_reentrant=False)\n"
         "def g():\n    with torch.autograd.graph.save_on_cpu():\n        pass\n");
  REQUIRE(f->code->checkpoint_calls.size() == 2);
  CHECK(f->code->checkpoint_calls[0].in_save_on_cpu);
  CHECK(line_of(f->code->checkpoint_calls[0].save_on_cpu_loc) == 3);
  CHECK_FALSE(f->code->checkpoint_calls[1].in_save_on_cpu);
  CHECK(f->code->save_on_cpu.size() == 2);
}
