#include "runtime_probe/ddp.h"

#include <functional>

#if defined(GPROBE_HAVE_GLOO)
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/distributed/c10d/HashStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/reducer.hpp>

#include <type_traits>

#include "runtime_probe/torch_compat.h"
#endif

namespace gprobe {

#if defined(GPROBE_HAVE_GLOO)

namespace {

using PG = c10::intrusive_ptr<c10d::ProcessGroup>;

template <class, class T>
struct Dependent {
  using type = T;
};

// A one-process Gloo group on the loopback device. LibTorch 2.x splits ProcessGroup (the
// front) from its backends; 1.13's ProcessGroupGloo is the group itself. The template
// parameter only makes the branch for the other version a discarded one.
template <class G = c10d::ProcessGroupGloo>
PG make_group() {
  auto store = c10::make_intrusive<c10d::HashStore>();
  auto opts = G::Options::create();
  opts->devices.push_back(G::createDeviceForHostname("127.0.0.1"));
  auto gloo = c10::make_intrusive<G>(store, 0, 1, opts);
  if constexpr (std::is_base_of_v<c10d::ProcessGroup, G>) {
    return gloo;
  } else {
    using Front = typename Dependent<G, c10d::ProcessGroup>::type;
    using Base = typename G::Backend;  // c10d::Backend, through the derived class
    using StoreP = c10::intrusive_ptr<c10d::Store>;
    c10::intrusive_ptr<Front> pg;
    if constexpr (std::is_constructible_v<Front, StoreP, int, int>) {
      pg = c10::make_intrusive<Front>(StoreP(store), 0, 1);
    } else {  // 2.0 .. 2.5: ProcessGroup(store, rank, size, options)
      pg = c10::make_intrusive<Front>(StoreP(store), 0, 1,
                                      c10::make_intrusive<typename Front::Options>("gloo"));
    }
    c10::intrusive_ptr<Base> backend(gloo);
    pg->setBackend(c10::DeviceType::CPU, Front::BackendType::GLOO, backend);
    pg->setBackend(c10::DeviceType::CUDA, Front::BackendType::GLOO, backend);
    if constexpr (requires { pg->setDefaultBackend(Front::BackendType::GLOO); })
      pg->setDefaultBackend(Front::BackendType::GLOO);
    return pg;
  }
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

void ddp_step(const std::vector<at::Tensor>& params, bool find_unused_parameters,
              const std::function<at::Tensor()>& forward) {
  auto reducer = make_reducer(params, make_group(), find_unused_parameters);
  reducer->prepare_for_forward();
  at::Tensor loss = forward();
  // DistributedDataParallel.forward: the outputs to search for unused parameters, or none.
  if (find_unused_parameters)
    reducer->prepare_for_backward({loss});
  else
    reducer->prepare_for_backward({});
  torch::autograd::backward({loss});
}

#else

std::optional<std::string> ddp_unavailable() {
  return std::string(
      "gcheck-probe was built without Gloo's headers, so c10d's Reducer cannot be driven "
      "(Debian: apt-get install libgloo-dev, then rebuild)");
}

void ddp_step(const std::vector<at::Tensor>&, bool, const std::function<at::Tensor()>&) {}

#endif

}  // namespace gprobe
