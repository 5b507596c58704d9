// C++ translations of torch/utils/checkpoint.py (see checkpoint.h). Names follow PyTorch's:
// CheckpointFunction, _CheckpointFrame (Frame), _checkpoint_hook (CheckpointHook),
// _recomputation_hook (RecomputationHook), _NoopSaveInputs (NoopSaveInputs), _Holder.
#include "runtime_probe/checkpoint.h"

#include <c10/core/GradMode.h>
#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/csrc/autograd/engine.h>
#include <torch/csrc/autograd/graph_task.h>
#include <torch/csrc/autograd/saved_variable_hooks.h>

#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>

#include "runtime_probe/torch_compat.h"

namespace gprobe {

namespace ag = torch::autograd;

const char* const kNoInputsRequireGradWarning =
    "None of the inputs have requires_grad=True. Gradients will be None";

#if GPROBE_TORCH_AT_LEAST(2, 4)
const char* const kCheckpointGradError =
    "When use_reentrant=True, torch.utils.checkpoint is incompatible with .grad() or passing "
    "an `inputs` parameter to .backward(). To resolve this error, you can either set "
    "use_reentrant=False, or call .backward() without passing the `inputs` argument.";
#else
const char* const kCheckpointGradError =
    "Checkpointing is not compatible with .grad() or when an `inputs` parameter is passed to "
    ".backward(). Please use .backward() and do not pass its `inputs` argument.";
#endif

const char* const kMetadataMismatchError =
    "torch.utils.checkpoint: Recomputed values for the following tensors have different "
    "metadata than during the forward pass.";

const char* mode_name(CkptMode m) {
  switch (m) {
    case CkptMode::None:
      return "none";
    case CkptMode::Reentrant:
      return "reentrant";
    case CkptMode::NonReentrant:
      return "non-reentrant";
  }
  return "?";
}

// ---- the saved-tensor hooks stack (torch.autograd.graph.saved_tensors_hooks) ----------------

namespace {

class HookSet {
 public:
  virtual ~HookSet() = default;
  virtual std::unique_ptr<ag::SavedVariableHooks> make() = 0;
};

thread_local std::vector<std::shared_ptr<HookSet>> t_hook_stack;

// `with saved_tensors_hooks(pack, unpack):` as an RAII guard.
class HooksGuard {
 public:
  explicit HooksGuard(std::shared_ptr<HookSet> h) { t_hook_stack.push_back(std::move(h)); }
  ~HooksGuard() { t_hook_stack.pop_back(); }
  HooksGuard(const HooksGuard&) = delete;
  HooksGuard& operator=(const HooksGuard&) = delete;
};

// The engine autograd asks for the hooks of every tensor it saves.
class ProbeEngine final : public ag::Engine {
 public:
  std::unique_ptr<ag::SavedVariableHooks> get_default_saved_variable_hooks() override {
    if (t_hook_stack.empty()) return nullptr;
    return t_hook_stack.back()->make();
  }
  ~ProbeEngine() override { stop(); }
  static ag::Engine& get() {
    static ProbeEngine engine;
    return engine;
  }
};

// CheckpointError (torch.utils.checkpoint.CheckpointError is a RuntimeError).
[[noreturn]] void checkpoint_error(const std::string& msg) {
  TORCH_CHECK(false, msg);
}

// ---- RNG state: torch.get_rng_state / get_device_states / fork_rng ----------------------------

at::Tensor get_rng_state(at::Device d) {
  auto gen = at::globalContext().defaultGenerator(d);
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}

void set_rng_state(at::Device d, const at::Tensor& state) {
  auto gen = at::globalContext().defaultGenerator(d);
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
}

struct RngState {
  at::Tensor cpu;
  std::vector<std::pair<at::Device, at::Tensor>> devices;  // fwd_gpu_devices, fwd_gpu_states
};

// Stashes the CPU state and that of every accelerator device a tensor argument lives on.
RngState stash_rng(const TensorVec& args) {
  RngState s;
  s.cpu = get_rng_state(at::Device(at::kCPU));
  for (const auto& a : args) {
    if (!a.defined() || !a.is_cuda()) continue;
    bool seen = false;
    for (const auto& [d, st] : s.devices) seen |= d == a.device();
    if (!seen) s.devices.emplace_back(a.device(), get_rng_state(a.device()));
  }
  return s;
}

void restore_rng(const RngState& s) {
  set_rng_state(at::Device(at::kCPU), s.cpu);
  for (const auto& [d, st] : s.devices) set_rng_state(d, st);
}

// torch.random.fork_rng(devices=..., enabled=...): the surrounding state comes back on exit.
class ForkRng {
 public:
  ForkRng(const RngState& like, bool enabled) : enabled_(enabled) {
    if (!enabled_) return;
    saved_.cpu = get_rng_state(at::Device(at::kCPU));
    for (const auto& [d, st] : like.devices) saved_.devices.emplace_back(d, get_rng_state(d));
  }
  ~ForkRng() {
    if (enabled_) restore_rng(saved_);
  }
  ForkRng(const ForkRng&) = delete;
  ForkRng& operator=(const ForkRng&) = delete;

 private:
  bool enabled_;
  RngState saved_;
};

void check_backward_validity(const TensorVec& inputs) {
  bool any = false;
  for (const auto& t : inputs) any |= t.defined() && t.requires_grad();
  if (!any) TORCH_WARN(kNoInputsRequireGradWarning);
}

// detach_variable: detached copies that keep requires_grad.
TensorVec detach_variable(const TensorVec& inputs) {
  TensorVec out;
  out.reserve(inputs.size());
  for (const auto& inp : inputs) {
    if (!inp.defined()) {
      out.push_back(inp);
      continue;
    }
    auto x = inp.detach();
    x.requires_grad_(inp.requires_grad());
    out.push_back(x);
  }
  return out;
}

// ---- reentrant: CheckpointFunction ---------------------------------------------------------

struct RunBox {
  RunFn fn;
};

struct CheckpointFunction : public ag::Function<CheckpointFunction> {
  static ag::variable_list forward(ag::AutogradContext* ctx, std::shared_ptr<RunBox> run,
                                   bool preserve_rng_state, at::TensorList args) {
    TensorVec inputs(args.begin(), args.end());
    check_backward_validity(inputs);
    ctx->saved_data["preserve_rng_state"] = preserve_rng_state;
    auto state = std::make_shared<RngState>();
    if (preserve_rng_state) *state = stash_rng(inputs);
    ctx->saved_data["rng"] = c10::IValue::make_capsule(c10::make_intrusive<RngHolder>(state));
    ctx->saved_data["run"] =
        c10::IValue::make_capsule(c10::make_intrusive<RunHolder>(std::move(run)));
    ctx->save_for_backward(inputs);
    c10::NoGradGuard no_grad;
    return ctx_run(ctx, inputs);
  }

  static ag::variable_list backward(ag::AutogradContext* ctx, ag::variable_list grad_outputs) {
    if (!ag::Engine::get_default_engine().is_checkpoint_valid())
      TORCH_CHECK(false, kCheckpointGradError);
    TensorVec inputs = ctx->get_saved_variables();
    bool preserve = ctx->saved_data["preserve_rng_state"].toBool();
    const RngState& fwd = *capsule<RngHolder>(ctx, "rng").state;

    TensorVec detached, outputs;
    {
      // Stash the surrounding rng state, mimic the state of the forward, restore on exit.
      ForkRng fork(fwd, preserve);
      if (preserve) restore_rng(fwd);
      detached = detach_variable(inputs);
      c10::AutoGradMode enable_grad(true);
      outputs = ctx_run(ctx, detached);
    }
    // run backward() with only tensors that require grad
    TensorVec outputs_with_grad, args_with_grad;
    for (size_t i = 0; i < outputs.size(); ++i) {
      if (outputs[i].defined() && outputs[i].requires_grad()) {
        outputs_with_grad.push_back(outputs[i]);
        args_with_grad.push_back(grad_outputs[i]);
      }
    }
    if (outputs_with_grad.empty())
      TORCH_CHECK(false,
                  "none of output has requires_grad=True, this checkpoint() is not necessary");
    ag::backward(outputs_with_grad, args_with_grad);
    ag::variable_list grads{at::Tensor(), at::Tensor()};
    for (const auto& inp : detached) grads.push_back(inp.defined() ? inp.grad() : at::Tensor());
    return grads;
  }

  struct RunHolder : torch::CustomClassHolder {
    explicit RunHolder(std::shared_ptr<RunBox> r) : run(std::move(r)) {}
    std::shared_ptr<RunBox> run;
  };
  struct RngHolder : torch::CustomClassHolder {
    explicit RngHolder(std::shared_ptr<RngState> s) : state(std::move(s)) {}
    std::shared_ptr<RngState> state;
  };

  template <class T>
  static T& capsule(ag::AutogradContext* ctx, const char* key) {
    return *static_cast<T*>(ctx->saved_data[key].toCapsule().get());
  }

  static TensorVec ctx_run(ag::AutogradContext* ctx, const TensorVec& args) {
    return capsule<RunHolder>(ctx, "run").run->fn(args);
  }
};

// ---- non-reentrant: the saved-tensor-hooks frame ----------------------------------------------

struct TensorMeta {
  bool present = false;  // determinism_check="none" records nothing, and nothing differs
  std::vector<int64_t> shape;
  at::ScalarType dtype = at::kFloat;
  at::Device device = at::Device(at::kCPU);
  bool operator==(const TensorMeta& o) const {
    return present == o.present &&
           (!present || (shape == o.shape && dtype == o.dtype && device == o.device));
  }
};

std::string dtype_repr(at::ScalarType t) {
  switch (t) {
    case at::kFloat:
      return "torch.float32";
    case at::kDouble:
      return "torch.float64";
    case at::kHalf:
      return "torch.float16";
    case at::kBFloat16:
      return "torch.bfloat16";
    case at::kLong:
      return "torch.int64";
    case at::kInt:
      return "torch.int32";
    case at::kShort:
      return "torch.int16";
    case at::kChar:
      return "torch.int8";
    case at::kByte:
      return "torch.uint8";
    case at::kBool:
      return "torch.bool";
    default:
      return std::string("torch.") + c10::toString(t);
  }
}

// Python's repr of _default_meta_extractor's dict.
std::string meta_repr(const TensorMeta& m) {
  if (!m.present) return "None";
  std::ostringstream s;
  s << "{'shape': torch.Size([";
  for (size_t i = 0; i < m.shape.size(); ++i) s << (i ? ", " : "") << m.shape[i];
  s << "]), 'dtype': " << dtype_repr(m.dtype) << ", 'device': device(type='"
    << c10::DeviceTypeName(m.device.type(), /*lower_case=*/true) << "'";
  if (m.device.has_index()) s << ", index=" << static_cast<int>(m.device.index());
  s << ")}";
  return s.str();
}

TensorMeta meta_of(const at::Tensor& x) {
  return TensorMeta{true, x.sizes().vec(), x.scalar_type(), x.device()};
}

struct StopRecomputation {};  // _StopRecomputationError

// _Holder: owned by the SavedVariable (through its hooks); the frame keeps a weak reference.
// handles[gid]: the recomputed tensor for that graph task; nullopt once it was unpacked.
struct Holder {
  std::map<int64_t, std::optional<at::Tensor>> handles;
};

struct Frame {
  std::function<void(const TensorVec&)> recompute_fn;
  std::shared_ptr<ag::Node> input_saver;  // grad_fn of _NoopSaveInputs' output
  std::vector<std::weak_ptr<Holder>> weak_holders;
  std::map<int64_t, int64_t> recomp_counter;
  std::map<int64_t, bool> is_recomputed;
  bool early_stop = true;
  bool metadata_check = true;
  std::vector<TensorMeta> x_metadatas;
  bool forward_completed = false;
  bool ignore_saved_mismatch = false;

  TensorMeta metadata_fn(const at::Tensor& x) const {
    return metadata_check ? meta_of(x) : TensorMeta{};
  }

  void check_recomputed_tensors_match(int64_t gid) {
    if (ignore_saved_mismatch) return;
    if (static_cast<int64_t>(weak_holders.size()) != recomp_counter[gid]) {
      // During recompute, fewer tensors were saved
      checkpoint_error(
          "torch.utils.checkpoint: A different number of tensors was saved during the original "
          "forward and recomputation.\nNumber of tensors saved during forward: " +
          std::to_string(weak_holders.size()) +
          "\nNumber of tensors saved during recomputation: " + std::to_string(recomp_counter[gid]));
    }
    // During recompute, the same tensors were saved, but they have different metadata
    std::string mismatched;
    for (size_t idx = 0; idx < weak_holders.size(); ++idx) {
      auto holder = weak_holders[idx].lock();
      if (!holder) continue;
      auto it = holder->handles.find(gid);
      TORCH_INTERNAL_ASSERT(it != holder->handles.end() && it->second.has_value());
      const TensorMeta& x_meta = x_metadatas[idx];
      TensorMeta recomputed_meta = metadata_fn(*it->second);
      if (!(x_meta == recomputed_meta)) {
        mismatched += "tensor at position " + std::to_string(idx) +
                      ":\nsaved metadata: " + meta_repr(x_meta) +
                      "\nrecomputed metadata: " + meta_repr(recomputed_meta) + "\n";
      }
    }
    if (!mismatched.empty())
      checkpoint_error(std::string(kMetadataMismatchError) + "\n" + mismatched);
  }
};

// The graph task a backward call runs in (torch._C._current_graph_task_id). LibTorch 1.13
// has no id, so the address of the running task's exec_info stands for it, and a final
// callback forgets the frame's state for it when the task ends, so that an address reused by
// a later task starts fresh. Outside backward, a fresh id each time (Python: uuid4).
std::atomic<int64_t> g_fresh_gid{-2};

int64_t current_gid(const std::shared_ptr<Frame>& frame) {
  const void* exec_info = ag::get_current_graph_task_exec_info();
  if (exec_info == nullptr) return g_fresh_gid.fetch_sub(1);
  auto gid = static_cast<int64_t>(reinterpret_cast<intptr_t>(exec_info));
  if (!frame->is_recomputed.count(gid)) {
    std::weak_ptr<Frame> weak = frame;
    ag::Engine::get_default_engine().queue_callback([weak, gid] {
      if (auto f = weak.lock()) {
        f->recomp_counter.erase(gid);
        f->is_recomputed.erase(gid);
        for (auto& wh : f->weak_holders)
          if (auto h = wh.lock()) h->handles.erase(gid);
      }
    });
  }
  return gid;
}

// _NoopSaveInputs: saves the checkpoint's tensor inputs on the graph (so that a parent
// checkpoint manages them, Rule 2 of "Nestable Checkpoint"); never differentiated.
struct NoopSaveInputs : public ag::Function<NoopSaveInputs> {
  static at::Tensor forward(ag::AutogradContext* ctx, const at::Tensor& /*dummy*/,
                            at::TensorList args) {
    ctx->save_for_backward(TensorVec(args.begin(), args.end()));
    return at::empty({0});
  }
  static ag::variable_list backward(ag::AutogradContext*, ag::variable_list) {
    TORCH_INTERNAL_ASSERT(false, "Did not expect to backward on this graph");
  }
};

// _recomputation_hook: during recomputation, hands each saved tensor to the holder that the
// original forward created for it, and stops once all of them are back (early stop).
class RecomputationHooks final : public ag::SavedVariableHooks {
 public:
  RecomputationHooks(std::weak_ptr<Frame> f, int64_t gid) : frame_(std::move(f)), gid_(gid) {}
  void call_pack_hook(const at::Tensor& in) override {
    at::Tensor x = in.requires_grad() ? in.detach() : in;
    auto target_frame = frame_.lock();
    TORCH_INTERNAL_ASSERT(target_frame);
    int64_t recomp_idx = target_frame->recomp_counter[gid_]++;
    if (recomp_idx >= static_cast<int64_t>(target_frame->weak_holders.size())) {
      TORCH_INTERNAL_ASSERT(!target_frame->early_stop);
      if (!target_frame->forward_completed) {
        // grad within checkpoint without early stop
        target_frame->ignore_saved_mismatch = true;
        packed_ = x;
        return;
      }
      checkpoint_error(
          "torch.utils.checkpoint: trying to save more tensors during recomputation than during "
          "the original forward pass.");
    }
    if (auto holder = target_frame->weak_holders[recomp_idx].lock()) {
      TORCH_INTERNAL_ASSERT(!holder->handles.count(gid_));
      holder->handles[gid_] = x;
    }
    packed_ = x;
    if (target_frame->early_stop && target_frame->recomp_counter[gid_] ==
                                        static_cast<int64_t>(target_frame->weak_holders.size()))
      throw StopRecomputation{};
  }
  at::Tensor call_unpack_hook() override { return packed_; }

 private:
  std::weak_ptr<Frame> frame_;
  int64_t gid_;
  at::Tensor packed_;
};

class RecomputationHookSet final : public HookSet {
 public:
  RecomputationHookSet(std::weak_ptr<Frame> f, int64_t gid) : frame_(std::move(f)), gid_(gid) {}
  std::unique_ptr<ag::SavedVariableHooks> make() override {
    return std::make_unique<RecomputationHooks>(frame_, gid_);
  }

 private:
  std::weak_ptr<Frame> frame_;
  int64_t gid_;
};

// _checkpoint_hook: forward keeps a holder and the metadata, not the tensor; the first
// unpack in a graph task recomputes the whole frame.
class CheckpointHooks final : public ag::SavedVariableHooks {
 public:
  explicit CheckpointHooks(std::shared_ptr<Frame> f) : frame_(std::move(f)) {}

  void call_pack_hook(const at::Tensor& x) override {
    holder_ = std::make_shared<Holder>();
    frame_->weak_holders.push_back(holder_);
    c10::NoGradGuard no_grad;
    frame_->x_metadatas.push_back(frame_->metadata_fn(x));
  }

  at::Tensor call_unpack_hook() override {
    const auto& frame = frame_;
    int64_t gid = current_gid(frame);
    if (!frame->is_recomputed[gid]) {
      auto* ctx_node = dynamic_cast<ag::CppNode<NoopSaveInputs>*>(frame->input_saver.get());
      TORCH_INTERNAL_ASSERT(ctx_node != nullptr);
      TensorVec args = ctx_node->ctx_.get_saved_variables();
      try {
        HooksGuard hooks(std::make_shared<RecomputationHookSet>(frame, gid));
        c10::AutoGradMode enable_grad(true);
        frame->recompute_fn(args);
      } catch (const StopRecomputation&) {
      }
      frame->is_recomputed[gid] = true;
      frame->check_recomputed_tensors_match(gid);
    }
    auto it = holder_->handles.find(gid);
    TORCH_INTERNAL_ASSERT(it != holder_->handles.end());
    if (!it->second.has_value()) {
      checkpoint_error(
          "torch.utils.checkpoint: Unpack is being triggered for a tensor that was already "
          "unpacked once. If you are calling ctx.saved_tensors in backward, make sure to do so "
          "only once. Otherwise please open an issue with details on your use case.");
    }
    at::Tensor ret = *it->second;
    it->second.reset();
    return ret;
  }

 private:
  std::shared_ptr<Frame> frame_;
  std::shared_ptr<Holder> holder_;
};

class CheckpointHookSet final : public HookSet {
 public:
  explicit CheckpointHookSet(std::shared_ptr<Frame> f) : frame_(std::move(f)) {}
  std::unique_ptr<ag::SavedVariableHooks> make() override {
    return std::make_unique<CheckpointHooks>(frame_);
  }

 private:
  std::shared_ptr<Frame> frame_;
};

TensorVec checkpoint_without_reentrant(const RunFn& fn, const TensorVec& args,
                                       const CkptOptions& opts) {
  auto fwd_state = std::make_shared<RngState>();
  if (opts.preserve_rng_state) *fwd_state = stash_rng(args);
  bool preserve = opts.preserve_rng_state;

  auto frame = std::make_shared<Frame>();
  frame->early_stop = opts.early_stop;
  frame->metadata_check = opts.determinism_check;
  frame->recompute_fn = [fn, preserve, fwd_state](const TensorVec& inputs) {
    // Called during recomputation; captures the global state of the forward.
    ForkRng fork(*fwd_state, preserve);
    if (preserve) restore_rng(*fwd_state);
    fn(inputs);
  };
  auto dummy = at::empty({0}).requires_grad_(true);
  auto saver_out = NoopSaveInputs::apply(dummy, at::TensorList(args));
  frame->input_saver = saver_out.grad_fn();
  // When ambient grad mode is False
  if (!frame->input_saver) return fn(args);

  TensorVec out;
  {
    HooksGuard hooks(std::make_shared<CheckpointHookSet>(frame));
    out = fn(args);
  }
  frame->forward_completed = true;
  return out;
}

// ---- counting hooks (memory scenario) ----------------------------------------------------------

}  // namespace

struct CountSavedBytes::State {
  std::unordered_set<const void*> exclude;
  std::unordered_set<const void*> seen;
  int64_t bytes = 0;
};

namespace {
class CountingHooks final : public ag::SavedVariableHooks {
 public:
  explicit CountingHooks(std::shared_ptr<CountSavedBytes::State> s) : s_(std::move(s)) {}
  void call_pack_hook(const at::Tensor& x) override {
    packed_ = x;
    if (!x.defined() || !x.has_storage()) return;
    const void* key = x.storage().unsafeGetStorageImpl();
    if (s_->exclude.count(key) || !s_->seen.insert(key).second) return;
    s_->bytes += static_cast<int64_t>(x.storage().nbytes());
  }
  at::Tensor call_unpack_hook() override { return packed_; }

 private:
  std::shared_ptr<CountSavedBytes::State> s_;
  at::Tensor packed_;
};

class CountingHookSet final : public HookSet {
 public:
  explicit CountingHookSet(std::shared_ptr<CountSavedBytes::State> s) : s_(std::move(s)) {}
  std::unique_ptr<ag::SavedVariableHooks> make() override {
    return std::make_unique<CountingHooks>(s_);
  }

 private:
  std::shared_ptr<CountSavedBytes::State> s_;
};
}  // namespace

CountSavedBytes::CountSavedBytes(const TensorVec& exclude) : state_(std::make_shared<State>()) {
  for (const auto& t : exclude)
    if (t.defined() && t.has_storage()) state_->exclude.insert(t.storage().unsafeGetStorageImpl());
  t_hook_stack.push_back(std::make_shared<CountingHookSet>(state_));
}
CountSavedBytes::~CountSavedBytes() {
  t_hook_stack.pop_back();
}
int64_t CountSavedBytes::bytes() const {
  return state_->bytes;
}

// ---- entry points
// --------------------------------------------------------------------------------

void install_engine() {
  static std::once_flag once;
  std::call_once(once, [] { ag::set_default_engine_stub(&ProbeEngine::get); });
}

TensorVec checkpoint(CkptMode mode, const RunFn& fn, const TensorVec& args,
                     const CkptOptions& opts) {
  switch (mode) {
    case CkptMode::None:
      return fn(args);
    case CkptMode::Reentrant: {
      auto box = std::make_shared<RunBox>();
      box->fn = fn;
      return CheckpointFunction::apply(box, opts.preserve_rng_state, at::TensorList(args));
    }
    case CkptMode::NonReentrant:
      return checkpoint_without_reentrant(fn, args, opts);
  }
  return fn(args);
}

}  // namespace gprobe
