#include "runtime_probe/ddp.h"

#include <functional>

#if defined(GPROBE_HAVE_GLOO)
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/distributed/c10d/HashStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/reducer.hpp>
#if defined(GPROBE_HAVE_NCCL)
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <type_traits>

#include "runtime_probe/torch_compat.h"
#endif

namespace gprobe {

#if defined(GPROBE_HAVE_GLOO)

namespace {

using PG = c10::intrusive_ptr<c10d::ProcessGroup>;
using StoreP = c10::intrusive_ptr<c10d::Store>;

template <class, class T>
struct Dependent {
  using type = T;
};

// The group that c10d's collectives and the Reducer take, around a backend. LibTorch 2.x
// splits ProcessGroup (the front) from its backends; 1.13's ProcessGroupGloo and
// ProcessGroupNCCL are groups themselves. The template parameter only makes the branch for
// the other version a discarded one.
template <class B>
PG as_process_group(c10::intrusive_ptr<B> be, const StoreP& store, int rank, int size, bool nccl) {
  if constexpr (std::is_base_of_v<c10d::ProcessGroup, B>) {
    (void)store, (void)rank, (void)size, (void)nccl;
    return be;
  } else {
    using Front = typename Dependent<B, c10d::ProcessGroup>::type;
    using Base = typename B::Backend;  // c10d::Backend, through the derived class
    const auto type = nccl ? Front::BackendType::NCCL : Front::BackendType::GLOO;
    c10::intrusive_ptr<Front> pg;
    if constexpr (std::is_constructible_v<Front, StoreP, int, int>) {
      pg = c10::make_intrusive<Front>(store, rank, size);
    } else {  // 2.0 .. 2.5: ProcessGroup(store, rank, size, options)
      pg = c10::make_intrusive<Front>(
          store, rank, size, c10::make_intrusive<typename Front::Options>(nccl ? "nccl" : "gloo"));
    }
    c10::intrusive_ptr<Base> backend(be);
    if (!nccl) pg->setBackend(c10::DeviceType::CPU, type, backend);
    pg->setBackend(c10::DeviceType::CUDA, type, backend);
    if constexpr (requires { pg->setDefaultBackend(type); }) pg->setDefaultBackend(type);
    return pg;
  }
}

// A one-process Gloo group on the loopback device (the single-process probe).
PG make_group() {
  using G = c10d::ProcessGroupGloo;
  auto store = c10::make_intrusive<c10d::HashStore>();
  auto opts = G::Options::create();
  opts->devices.push_back(G::createDeviceForHostname("127.0.0.1"));
  return as_process_group(c10::make_intrusive<G>(store, 0, 1, opts), StoreP(store), 0, 1, false);
}

// The Reducer's constructor has changed across releases; use whichever this LibTorch has.
template <class R = c10d::Reducer>
std::unique_ptr<R> make_reducer(std::vector<at::Tensor> params, PG pg, bool find_unused) {
  std::vector<std::vector<size_t>> buckets(1);
  for (size_t i = 0; i < params.size(); ++i) buckets[0].push_back(i);
  std::vector<size_t> limits{static_cast<size_t>(c10d::kDefaultBucketBytesCap)};
  std::vector<bool> sparse(params.size(), false);
  std::unordered_map<size_t, std::string> names;
  const int64_t cap = c10d::kDefaultBucketBytesCap, first = c10d::kDefaultFirstBucketBytes;
  using P = std::vector<at::Tensor>;
  using B = std::vector<std::vector<size_t>>;
  using L = std::vector<size_t>;
  using S = std::vector<bool>;
  using N = std::unordered_map<size_t, std::string>;
  if constexpr (std::is_constructible_v<R, P, B, L, PG, S, int64_t, bool, bool, N, int64_t>) {
    return std::make_unique<R>(params, buckets, limits, pg, sparse, cap, find_unused, false, names,
                               first);
  } else if constexpr (std::is_constructible_v<R, P, B, L, PG, S, int64_t, bool, bool, N, int64_t,
                                               bool, bool>) {
    return std::make_unique<R>(params, buckets, limits, pg, sparse, cap, find_unused, false, names,
                               first, false, false);
  } else if constexpr (std::is_constructible_v<R, P, B, PG, S, int64_t, bool, bool, N, int64_t,
                                               bool, bool>) {
    return std::make_unique<R>(params, buckets, pg, sparse, cap, find_unused, false, names, first,
                               false, false);
  } else if constexpr (std::is_constructible_v<R, P, B, PG, S, int64_t, bool, bool, N, int64_t,
                                               bool, bool, std::vector<int64_t>>) {
    return std::make_unique<R>(params, buckets, pg, sparse, cap, find_unused, false, names, first,
                               false, false, std::vector<int64_t>{cap});
  } else {
    static_assert(sizeof(R) == 0, "unknown c10d::Reducer constructor: add it to ddp.cpp");
  }
}

}  // namespace

std::optional<std::string> ddp_unavailable() {
  return std::nullopt;
}

namespace {

void run_ddp_step(std::vector<at::Tensor> params, PG pg, bool find_unused_parameters,
                  const std::function<at::Tensor()>& forward) {
  auto reducer = make_reducer(std::move(params), std::move(pg), find_unused_parameters);
  reducer->prepare_for_forward();
  at::Tensor loss = forward();
  // DistributedDataParallel.forward: the outputs to search for unused parameters, or none.
  if (find_unused_parameters)
    reducer->prepare_for_backward({loss});
  else
    reducer->prepare_for_backward({});
  torch::autograd::backward({loss});
}

std::string first_line_of(const std::exception& e) {
  std::string s = error_text(e);
  auto nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

std::string seconds_text(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", s);
  return buf;
}

// What Gloo, NCCL and c10d's Work say when a peer is gone or late (never a Reducer hazard).
bool is_communication_failure(const std::string& m) {
  for (const char* k : {"gloo/transport", "Connection closed by peer", "Connection reset by peer",
                        "Timed out waiting", "Operation timed out", "NCCL error",
                        "Watchdog caught collective operation timeout"})
    if (m.find(k) != std::string::npos) return true;
  return false;
}

// Gloo's network device: GLOO_SOCKET_IFNAME as PyTorch reads it, the loopback device when
// every rank is on this host, else the address this host's name resolves to.
auto gloo_device(const std::string& master_addr) {
  using G = c10d::ProcessGroupGloo;
  if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname != nullptr && *ifname)
    return G::createDeviceForInterface(ifname);
  if (master_addr == "localhost" || master_addr.rfind("127.", 0) == 0 || master_addr == "::1")
    return G::createDeviceForHostname("127.0.0.1");
  return G::createDefaultDevice();
}

}  // namespace

void ddp_step(const std::vector<at::Tensor>& params, bool find_unused_parameters,
              const std::function<at::Tensor()>& forward) {
  run_ddp_step(params, make_group(), find_unused_parameters, forward);
}

struct Group::Impl {
  StoreP store;
  PG pg;
  int rank = 0;
  int size = 1;
  std::string backend;
  std::chrono::milliseconds timeout{60000};
  std::optional<std::string> failure;
#if defined(GPROBE_HAVE_NCCL)
  // Shut down before it is destroyed (else NCCL warns that destroy_process_group() was not
  // called and may leak its communicators).
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> nccl;
#endif

  [[noreturn]] void fail(const std::string& what, const std::string& detail,
                         std::chrono::steady_clock::time_point t0) {
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::string text = "collective " + what + " failed after " + seconds_text(s) + " s: " + detail;
    if (!failure) failure = text;
    throw CollectiveError(text);
  }

  // Launches a collective and waits for it, at most the timeout (Gloo's own timeout fires
  // first and names the operation; the margin only covers a backend that ignores it).
  template <class Launch>
  void run(const std::string& what, Launch&& launch) {
    if (failure) throw CollectiveError("collective " + what + " not started: " + *failure);
    auto t0 = std::chrono::steady_clock::now();
    try {
      auto work = launch();
      work->wait(timeout + std::chrono::milliseconds(2000));
    } catch (const CollectiveError&) {
      throw;
    } catch (const std::exception& e) {
      fail(what, first_line_of(e), t0);
    }
  }

  at::Tensor all_reduce(const at::Tensor& t, c10d::ReduceOp::RedOpType op,
                        const std::string& what) {
    std::vector<at::Tensor> ts{t.contiguous().clone()};
    c10d::AllreduceOptions opts;
    opts.reduceOp = op;
    opts.timeout = timeout;
    run(what, [&] { return pg->allreduce(ts, opts); });
    return ts[0];
  }
};

Group::Group(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Group::~Group() {
#if defined(GPROBE_HAVE_NCCL)
  if (impl_ && impl_->nccl && !impl_->failure) {
    try {
      impl_->nccl->shutdown();
    } catch (const std::exception&) {
      // Leaving anyway: the process exits next.
    }
  }
#endif
}
int Group::rank() const {
  return impl_->rank;
}
int Group::size() const {
  return impl_->size;
}
const std::string& Group::backend() const {
  return impl_->backend;
}
std::chrono::milliseconds Group::timeout() const {
  return impl_->timeout;
}
const std::optional<std::string>& Group::failure() const {
  return impl_->failure;
}

at::Tensor Group::all_gather(const at::Tensor& t, const std::string& what) {
  auto in = t.contiguous();
  std::vector<at::Tensor> inputs{in};
  std::vector<std::vector<at::Tensor>> outputs(1);
  for (int r = 0; r < impl_->size; ++r) outputs[0].push_back(at::empty_like(in));
  c10d::AllgatherOptions opts;
  opts.timeout = impl_->timeout;
  impl_->run(what, [&] { return impl_->pg->allgather(outputs, inputs, opts); });
  return at::stack(outputs[0]);
}

at::Tensor Group::all_reduce_sum(const at::Tensor& t, const std::string& what) {
  return impl_->all_reduce(t, c10d::ReduceOp::SUM, what);
}

at::Tensor Group::all_reduce_max(const at::Tensor& t, const std::string& what) {
  return impl_->all_reduce(t, c10d::ReduceOp::MAX, what);
}

void Group::store_set(const std::string& key, const std::string& value) noexcept {
  try {
    impl_->store->set(key, std::vector<uint8_t>(value.begin(), value.end()));
  } catch (...) {  // the store's server (rank 0) may be gone: nothing more to do
  }
}

std::optional<std::string> Group::store_peek(const std::string& key) noexcept {
  try {
    if (!impl_->store->check({key})) return std::nullopt;
    auto v = impl_->store->get(key);
    return std::string(v.begin(), v.end());
  } catch (...) {
    return std::nullopt;
  }
}

void Group::ddp_step(const std::vector<at::Tensor>& params, bool find_unused_parameters,
                     const std::function<at::Tensor()>& forward) {
  if (impl_->failure) throw CollectiveError("DDP step not started: " + *impl_->failure);
  auto t0 = std::chrono::steady_clock::now();
  try {
    run_ddp_step(params, impl_->pg, find_unused_parameters, forward);
  } catch (const CollectiveError&) {
    throw;
  } catch (const std::exception& e) {
    std::string text = error_text(e);
    if (!is_communication_failure(text)) throw;
    impl_->fail("allreduce (DDP's gradient bucket, inside backward)", first_line_of(e), t0);
  }
}

std::unique_ptr<Group> connect_group(const GroupOptions& o, std::string& error) {
  auto impl = std::make_unique<Group::Impl>();
  impl->rank = o.rank;
  impl->size = o.world_size;
  impl->timeout = o.timeout;
  const std::string where = o.master_addr + ":" + std::to_string(o.master_port);
  try {
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(o.master_port);
    so.isServer = o.rank == 0;
    so.numWorkers = static_cast<std::size_t>(o.world_size);
    so.waitWorkers = false;  // the join count below waits, and says how many came
    so.timeout = o.timeout;
    impl->store = c10::make_intrusive<c10d::TCPStore>(o.master_addr, so);
    // Every rank counts itself in and waits for the others: LibTorch 1.13's server gives up
    // waiting for its clients without a word when the timeout passes.
    const std::string key = "gcheck-probe/joined";
    auto t0 = std::chrono::steady_clock::now();
    int64_t joined = impl->store->add(key, 1);
    while (joined < o.world_size) {
      if (std::chrono::steady_clock::now() - t0 > o.timeout) {
        error = "rendezvous at " + where + " timed out after " +
                seconds_text(std::chrono::duration<double>(o.timeout).count()) + " s on rank " +
                std::to_string(o.rank) + ": " + std::to_string(joined) + " of " +
                std::to_string(o.world_size) +
                " ranks joined (is every rank started, with the same MASTER_ADDR, MASTER_PORT "
                "and WORLD_SIZE?)";
        return nullptr;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      joined = impl->store->add(key, 0);
    }
  } catch (const std::exception& e) {
    error = "rendezvous at " + where + " failed on rank " + std::to_string(o.rank) + " of " +
            std::to_string(o.world_size) + " (" + (o.rank == 0 ? "serving" : "joining") +
            " the TCPStore): " + first_line_of(e);
    return nullptr;
  }
  try {
    if (o.cuda) {
#if defined(GPROBE_HAVE_NCCL)
      using N = c10d::ProcessGroupNCCL;
      auto opts = N::Options::create();
      opts->timeout = o.timeout;
      impl->nccl = c10::make_intrusive<N>(impl->store, o.rank, o.world_size, opts);
      impl->pg = as_process_group(impl->nccl, impl->store, o.rank, o.world_size, true);
      impl->backend = "nccl";
#else
      error = "this gcheck-probe was built without NCCL (LibTorch's NCCL headers and nccl.h)";
      return nullptr;
#endif
    } else {
      using G = c10d::ProcessGroupGloo;
      auto opts = G::Options::create(o.timeout);
      opts->devices.push_back(gloo_device(o.master_addr));
      impl->pg = as_process_group(c10::make_intrusive<G>(impl->store, o.rank, o.world_size, opts),
                                  impl->store, o.rank, o.world_size, false);
      impl->backend = "gloo";
    }
  } catch (const std::exception& e) {
    error = std::string("creating the ") + (o.cuda ? "NCCL" : "Gloo") + " group over " + where +
            " failed on rank " + std::to_string(o.rank) + " of " + std::to_string(o.world_size) +
            ": " + first_line_of(e);
    return nullptr;
  }
  return std::make_unique<Group>(std::move(impl));
}

bool nccl_available() {
#if defined(GPROBE_HAVE_NCCL)
  return true;
#else
  return false;
#endif
}

#else

std::optional<std::string> ddp_unavailable() {
  return std::string(
      "gcheck-probe was built without Gloo's headers, so c10d's Reducer cannot be driven "
      "(Debian: apt-get install libgloo-dev, then rebuild)");
}

void ddp_step(const std::vector<at::Tensor>&, bool, const std::function<at::Tensor()>&) {}

// Without c10d no group can be made: connect_group says why, and nothing else is reached.
struct Group::Impl {};
Group::Group(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Group::~Group() = default;
int Group::rank() const {
  return 0;
}
int Group::size() const {
  return 1;
}
const std::string& Group::backend() const {
  static const std::string none = "none";
  return none;
}
std::chrono::milliseconds Group::timeout() const {
  return {};
}
const std::optional<std::string>& Group::failure() const {
  static const std::optional<std::string> none;
  return none;
}
at::Tensor Group::all_gather(const at::Tensor&, const std::string& what) {
  throw CollectiveError("collective " + what + ": built without c10d");
}
at::Tensor Group::all_reduce_sum(const at::Tensor&, const std::string& what) {
  throw CollectiveError("collective " + what + ": built without c10d");
}
at::Tensor Group::all_reduce_max(const at::Tensor&, const std::string& what) {
  throw CollectiveError("collective " + what + ": built without c10d");
}
void Group::store_set(const std::string&, const std::string&) noexcept {}
std::optional<std::string> Group::store_peek(const std::string&) noexcept {
  return std::nullopt;
}
void Group::ddp_step(const std::vector<at::Tensor>&, bool, const std::function<at::Tensor()>&) {
  throw CollectiveError("DDP step: built without c10d");
}

std::unique_ptr<Group> connect_group(const GroupOptions&, std::string& error) {
  error = *ddp_unavailable();
  return nullptr;
}

bool nccl_available() {
  return false;
}

#endif

}  // namespace gprobe
