// PyTorch calls: torch.utils.checkpoint.checkpoint / checkpoint_sequential, checkpoint_wrapper
// and apply_activation_checkpointing, torch.autograd.grad / backward, DistributedDataParallel,
// torch.compile, torch.autograd.graph.save_on_cpu.
#include <fmt/format.h>

#include "analyzer/python/extractor.h"

namespace gcheck::py {

namespace {

constexpr std::string_view kCheckpoint = "torch.utils.checkpoint.checkpoint";
constexpr std::string_view kCheckpointSequential = "torch.utils.checkpoint.checkpoint_sequential";
constexpr std::string_view kWrapperModule =
    "torch.distributed.algorithms._checkpoint.checkpoint_wrapper";

bool is_wrapper(std::string_view q, std::string_view name) {
  return q.size() == kWrapperModule.size() + 1 + name.size() &&
         q.substr(0, kWrapperModule.size()) == kWrapperModule && last_of(q) == name;
}

bool is_container(const Symbols& y, TSNode n) {
  return is(n, y.list) || is(n, y.tuple) || is(n, y.dictionary) || is(n, y.set) ||
         is(n, y.list_comprehension) || is(n, y.dictionary_comprehension) ||
         is(n, y.set_comprehension);
}

}  // namespace

bool Extractor::torch_call(TSNode call, const Callee& c, const Args& a) {
  const std::string& q = c.qual;
  if (root_of(q) != "torch") return false;
  if (q == kCheckpoint) {
    checkpoint_call(call, c, a, CheckpointCallFact::Api::Checkpoint);
  } else if (q == kCheckpointSequential) {
    checkpoint_call(call, c, a, CheckpointCallFact::Api::CheckpointSequential);
  } else if (is_wrapper(q, "checkpoint_wrapper")) {
    checkpoint_call(call, c, a, CheckpointCallFact::Api::CheckpointWrapper);
  } else if (is_wrapper(q, "apply_activation_checkpointing")) {
    checkpoint_call(call, c, a, CheckpointCallFact::Api::ApplyActivationCheckpointing);
  } else if (q == "torch.autograd.grad") {
    code_.autograd_grad.push_back(code_call(call, c));
    if (!anchor_other_) anchor_other_ = loc(call);
  } else if (q == "torch.autograd.backward") {
    backward_call(call, c, a);
  } else if (q == "torch.nn.parallel.DistributedDataParallel" ||
             q == "torch.nn.parallel.distributed.DistributedDataParallel") {
    ddp_call(call, c, a);
  } else if (q == "torch.compile") {
    code_.compiles.push_back(code_call(call, c));
  } else if (q == "torch.autograd.graph.save_on_cpu") {
    code_.save_on_cpu.push_back(code_call(call, c));
  } else {
    return false;
  }
  return true;
}

void Extractor::read_checkpoint_options(CheckpointCallFact& fc, const Args& a, const Callee* c,
                                        const Value* bound) {
  // Options come from the call's keywords, a **dict the file spells out, a partial the callee
  // is bound to, or (apply_activation_checkpointing) the partial it is given.
  auto find = [&](ReadKeyword kw) -> Option {
    std::string_view name = kw;
    Option o = option(a, kw, c);
    if (o.found || !bound) return o;
    for (size_t i = 0; i < bound->keys.size(); ++i) {
      if (bound->keys[i].s == name) {
        o.found = true;
        o.key = bound->key_nodes[i];
        o.value = bound->items[i];
      }
    }
    return o;
  };
  auto read_bool = [&](ReadKeyword name, std::optional<bool>& out, Location* at) {
    Option o = find(name);
    if (!o.found) return false;
    if (at) *at = loc(o.key);
    if (o.value.kind == Value::Kind::Bool)
      out = o.value.b;
    else if (o.value.kind != Value::Kind::None)
      sink_.unreadable(unreadable(o.value, o.key, std::string(name.name())));
    return true;
  };
  if (fc.api == CheckpointCallFact::Api::CheckpointWrapper ||
      fc.api == CheckpointCallFact::Api::ApplyActivationCheckpointing) {
    Option impl = find("checkpoint_impl");
    if (impl.found) {
      fc.use_reentrant_given = true;
      fc.use_reentrant_loc = loc(impl.key);
      std::string_view member = last_of(impl.value.s);
      if (impl.value.kind == Value::Kind::Ref && member == "REENTRANT")
        fc.use_reentrant = true;
      else if (impl.value.kind == Value::Kind::Ref && member == "NO_REENTRANT")
        fc.use_reentrant = false;
      else
        sink_.unreadable(unreadable(impl.value, impl.key, "checkpoint_impl"));
    }
  }
  {
    Option o = find("use_reentrant");
    if (o.found && o.value.kind != Value::Kind::None) {
      fc.use_reentrant_given = true;
      fc.use_reentrant_loc = loc(o.key);
      if (o.value.kind == Value::Kind::Bool)
        fc.use_reentrant = o.value.b;
      else
        sink_.unreadable(unreadable(o.value, o.key, "use_reentrant"));
    }
  }
  read_bool("preserve_rng_state", fc.preserve_rng_state, &fc.preserve_rng_state_loc);
  {
    Option o = find("context_fn");
    if (o.found && o.value.kind != Value::Kind::None) {
      fc.context_fn = true;
      fc.context_fn_loc = loc(o.key);
    }
  }
  read_bool("debug", fc.debug, nullptr);
  {
    Option o = find("determinism_check");
    if (o.found) {
      fc.determinism_check_loc = loc(o.key);
      if (o.value.kind == Value::Kind::Str)
        fc.determinism_check = o.value.s;
      else
        sink_.unreadable(unreadable(o.value, o.key, "determinism_check"));
    }
  }
  read_bool("early_stop", fc.early_stop, &fc.early_stop_loc);
  if (!fc.use_reentrant_given) {
    TSNode splat = opaque_splat(a);
    if (!ts_node_is_null(splat)) {
      sink_.unreadable(Unreadable{loc(splat), "use_reentrant",
                                  fmt::format("`{}` may pass use_reentrant; what it holds is known "
                                              "only at run time",
                                              short_text(m_, splat))});
    }
  }
}

void Extractor::checkpoint_call(TSNode call, const Callee& c, const Args& a,
                                CheckpointCallFact::Api api) {
  const Symbols& y = sym();
  CheckpointCallFact fc;
  fc.call = code_call(call, c);
  fc.api = api;
  if (save_on_cpu_) {
    fc.in_save_on_cpu = true;
    fc.save_on_cpu_loc = *save_on_cpu_;
  }
  const Value* bound = nullptr;
  Value wrapper_fn;
  if (api == CheckpointCallFact::Api::ApplyActivationCheckpointing) {
    // apply_activation_checkpointing(model, checkpoint_wrapper_fn=partial(checkpoint_wrapper,
    // checkpoint_impl=...)): the options are the partial's.
    Option o = option(a, "checkpoint_wrapper_fn", &c);
    if (o.found) {
      wrapper_fn = o.value;
      if (wrapper_fn.kind == Value::Kind::Partial &&
          is_wrapper(wrapper_fn.s, "checkpoint_wrapper")) {
        bound = &wrapper_fn;
      } else if (!(wrapper_fn.kind == Value::Kind::Ref &&
                   is_wrapper(wrapper_fn.s, "checkpoint_wrapper"))) {
        sink_.unreadable(unreadable(wrapper_fn, o.key, "checkpoint_wrapper_fn"));
      }
    }
  }
  read_checkpoint_options(fc, a, &c, bound);

  if (api == CheckpointCallFact::Api::Checkpoint) {
    // Tensors that reach the function by keyword or inside a container: reentrant checkpoint
    // does not see them (GC102).
    auto mark = [&](TSNode at) {
      if (fc.keyword_tensors) return;
      fc.keyword_tensors = true;
      fc.keyword_tensors_loc = loc(at);
    };
    for (TSNode k : a.keywords) {
      if (!is_checkpoint_option(m_.text(field(k, y.f_name)))) mark(k);
    }
    for (TSNode s : a.dict_splats) {
      Value d = ev_.eval(ts_node_named_child(s, 0), scope_);
      if (!d.is_dict()) continue;
      for (size_t i = 0; i < d.keys.size(); ++i) {
        if (d.keys[i].kind == Value::Kind::Str && !is_checkpoint_option(d.keys[i].s)) mark(s);
      }
    }
    for (size_t i = 1; i < a.positional.size(); ++i) {
      if (is_container(y, a.positional[i])) mark(a.positional[i]);
    }
    if (!a.positional.empty()) {
      TSNode fn = a.positional[0];
      Value fv = ev_.eval(fn, scope_);
      bool partial_args =
          fv.kind == Value::Kind::Partial && (fv.positional > 0 || !fv.keys.empty() || fv.open);
      if (partial_args) mark(fn);
    }
  }
  code_.checkpoint_calls.push_back(std::move(fc));
  if (!anchor_other_) anchor_other_ = loc(call);
}

void Extractor::backward_call(TSNode call, const Callee& c, const Args& a) {
  // x.backward(gradient=None, retain_graph=None, create_graph=False, inputs=None);
  // torch.autograd.backward(tensors, grad_tensors=None, ..., inputs=None);
  // accelerator.backward(loss, **kwargs) / engine.backward(loss) forward to loss.backward.
  bool function = c.qual == "torch.autograd.backward";
  Option inputs = option(a, "inputs");
  if (inputs.found && inputs.value.kind != Value::Kind::None) {
    code_.autograd_grad.push_back(code_call(call, c));
    if (!anchor_other_) anchor_other_ = loc(call);
  }
  Option grad = function ? option(a, "grad_tensors") : option(a, "gradient");
  bool nonscalar = grad.found && grad.value.kind != Value::Kind::None;
  if (!grad.found) {
    std::string_view recv = m_.text(c.receiver);
    bool wrapper = recv.find("accelerator") != std::string_view::npos ||
                   recv.find("engine") != std::string_view::npos;
    size_t at = function ? 1 : 0;
    if (!wrapper && a.positional.size() > at) {
      Value v = ev_.eval(a.positional[at], scope_);
      nonscalar = v.kind != Value::Kind::None;
    }
  }
  if (nonscalar) code_.nonscalar_backward.push_back(code_call(call, c));
}

void Extractor::ddp_call(TSNode call, const Callee& c, const Args& a) {
  DdpFact d;
  d.call = code_call(call, c);
  Option fu = option(a, "find_unused_parameters");
  if (fu.found) {
    d.find_unused_loc = loc(fu.key);
    if (fu.value.kind == Value::Kind::Bool)
      d.find_unused_parameters = fu.value.b;
    else
      sink_.unreadable(unreadable(fu.value, fu.key, "find_unused_parameters"));
  }
  Option sg = option(a, "static_graph");
  if (sg.found) {
    if (sg.value.kind == Value::Kind::Bool)
      d.static_graph = sg.value.b;
    else
      sink_.unreadable(unreadable(sg.value, sg.key, "static_graph"));
  }
  code_.ddps.push_back(std::move(d));
}

}  // namespace gcheck::py
