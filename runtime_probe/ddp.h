// c10d from C++: DistributedDataParallel's engine, c10d::Reducer, over a one-process Gloo group
// (the single-process probe) or over a real process group across ranks (the distributed
// probe: a TCPStore rendezvous, Gloo on CPU, NCCL on CUDA devices when LibTorch has it). The
// same autograd hooks, unused-parameter search and "marked ready" bookkeeping that PyTorch's
// DDP runs, without Python. The only translation unit that includes c10d's headers.
#pragma once

#include <ATen/core/Tensor.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace gprobe {

// Empty when the Reducer can be used; else why not (built without Gloo headers).
std::optional<std::string> ddp_unavailable();

// One DDP step: builds a Reducer over `params` (find_unused_parameters as given), lets
// `forward` produce the loss, prepares the reducer for backward as DDP's forward does, and
// runs backward. Throws what the Reducer or autograd throws.
void ddp_step(const std::vector<at::Tensor>& params, bool find_unused_parameters,
              const std::function<at::Tensor()>& forward);

// ---- process groups across ranks ------------------------------------------------------------

struct GroupOptions {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  std::string master_addr;
  int master_port = 0;
  std::chrono::milliseconds timeout{60000};  // rendezvous and every collective
  bool cuda = false;                         // NCCL on cuda:local_rank (when built with it)
};

// A collective that failed: a peer died, stopped or left, or the timeout passed. what() names
// the collective and says what c10d reported.
class CollectiveError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Group {
 public:
  struct Impl;
  explicit Group(std::unique_ptr<Impl> impl);
  ~Group();
  Group(const Group&) = delete;
  Group& operator=(const Group&) = delete;

  int rank() const;
  int size() const;
  const std::string& backend() const;  // "gloo" or "nccl"
  std::chrono::milliseconds timeout() const;

  // Collectives; `what` names the collective in errors. Each waits at most the timeout, and
  // throws CollectiveError when it fails (after which the group is not used again).
  at::Tensor all_gather(const at::Tensor& t, const std::string& what);  // [size, *t.shape]
  at::Tensor all_reduce_sum(const at::Tensor& t, const std::string& what);
  at::Tensor all_reduce_max(const at::Tensor& t, const std::string& what);

  // The first collective failure seen (including those inside a DDP step), if any.
  const std::optional<std::string>& failure() const;

  // The rendezvous store, best effort (never throws): where a failing rank leaves its reason
  // for the others to read.
  void store_set(const std::string& key, const std::string& value) noexcept;
  std::optional<std::string> store_peek(const std::string& key) noexcept;

  // One DDP step over this group, as ddp_step. Throws what the Reducer or autograd throws; a
  // communication failure inside it (the bucket all-reduce) becomes a CollectiveError.
  void ddp_step(const std::vector<at::Tensor>& params, bool find_unused_parameters,
                const std::function<at::Tensor()>& forward);

 private:
  std::unique_ptr<Impl> impl_;
};

// Rendezvous at MASTER_ADDR:MASTER_PORT (rank 0 serves the TCPStore) and the process group
// over it. nullptr and `error` set when it fails (timeout, refused connection, no backend).
std::unique_ptr<Group> connect_group(const GroupOptions& opts, std::string& error);

// Whether this gcheck-probe can create NCCL groups (built with LibTorch's NCCL headers).
bool nccl_available();

}  // namespace gprobe
