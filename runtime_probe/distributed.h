// gcheck-probe --distributed: the scenarios that need several processes, run across real
// ranks started by torchrun or any launcher that sets RANK, WORLD_SIZE, LOCAL_RANK,
// MASTER_ADDR and MASTER_PORT. c10d process groups over a TCPStore rendezvous: Gloo on CPU,
// NCCL on CUDA devices when this build has it. LibTorch-free: main.cpp includes it.
//
// Every rank runs every scenario; rank 0 reports. Whatever a rank decides alone is agreed with
// the others before anyone acts on it, so every rank reaches the same verdicts and exit code.
// A failed collective (a rank died, stopped or left; the timeout passed) is fatal: the session
// returns a text that names the collective, and the process exits 2.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime_probe/probe.h"

namespace gprobe {

// What the launcher tells this process.
struct DistributedEnv {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  std::string master_addr;
  int master_port = 0;
};

// Reads RANK, WORLD_SIZE, LOCAL_RANK (default: RANK), MASTER_ADDR and MASTER_PORT; an error
// text naming what is missing or wrong.
std::optional<std::string> read_distributed_env(DistributedEnv& out);

// The ZeRO-3 partitioning rules the zero3-partition scenario emulates.
enum class Zero3Rules {
  Both,   // DeepSpeed < 0.19.3 and >= 0.19.3
  Old,    // < 0.19.3: frozen parameters released after each submodule, also while recomputing
  Fixed,  // >= 0.19.3: frozen parameters stay gathered while a checkpoint recomputes
};

struct DistributedOptions {
  double timeout_s = 60;  // the rendezvous and every collective
  Zero3Rules zero3 = Zero3Rules::Both;
};

const std::vector<std::string>& distributed_scenario_names();
std::string distributed_scenario_rules(const std::string& name);
std::string distributed_scenario_title(const std::string& name);

class DistributedSession {
 public:
  // Rendezvous and process group. nullptr and `error` when they fail (on a timeout: how many
  // ranks joined). `dev` is the device chosen for a single process; the session may move it
  // (cuda:LOCAL_RANK under NCCL, or CPU when this build has no NCCL) and says so in its line.
  static std::unique_ptr<DistributedSession> join(const DistributedEnv& env,
                                                  const DistributedOptions& opts, DeviceInfo& dev,
                                                  std::string& error);
  ~DistributedSession();
  DistributedSession(const DistributedSession&) = delete;
  DistributedSession& operator=(const DistributedSession&) = delete;

  int rank() const;
  int world_size() const;
  std::string backend() const;
  std::string line() const;  // "distributed: 2 ranks, gloo, TCPStore 127.0.0.1:29500, ..."

  // The calls below are collective: every rank makes them in the same order. Each returns a
  // fatal text when a collective failed; the session is then not used again.

  // `mismatch` is set (the same on every rank) when some rank's `signature` (its options)
  // differs from rank 0's.
  std::optional<std::string> agree_options(const std::string& signature, std::string& mismatch);

  // Runs one scenario on every rank; `out` is this rank's result, the verdict agreed.
  std::optional<std::string> run_scenario(const std::string& name, const ProbeOptions& opts,
                                          ScenarioResult& out);

  // The highest exit code of any rank.
  std::optional<std::string> agree_exit_code(int local, int& agreed);

  // Leaves this rank's reason to stop for the others (best effort, never blocks for long).
  void announce_failure(const std::string& message) noexcept;

  struct Impl;

 private:
  explicit DistributedSession(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace gprobe
