#include "cli/probe_launch.h"

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "analyzer/project.h"

namespace gcheck {

std::string find_probe_binary(const char* argv0) {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  std::string self = n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string(argv0);
  std::string dir = parent_dir(self);
  for (const char* rel : {"gcheck-probe", "runtime_probe/gcheck-probe", "../libexec/gcheck/gcheck-probe"}) {
    std::string cand = join_path(dir, rel);
    if (::access(cand.c_str(), X_OK) == 0) return cand;
  }
  if (const char* path = std::getenv("PATH")) {
    std::string p(path);
    size_t start = 0;
    while (start <= p.size()) {
      size_t colon = p.find(':', start);
      std::string d = p.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
      std::string cand = join_path(d.empty() ? "." : d, "gcheck-probe");
      if (::access(cand.c_str(), X_OK) == 0) return cand;
      if (colon == std::string::npos) break;
      start = colon + 1;
    }
  }
  return "";
}

namespace {
constexpr const char* kMissing =
    "gcheck: error: `gcheck probe` needs the gcheck-probe binary, which is built when LibTorch "
    "is found.\n"
    "  CPU:  apt-get install -y libtorch-dev && cmake -S . -B build && cmake --build build\n"
    "  CUDA: cmake -S . -B build -DGCHECK_CUDA=ON -DTorch_DIR=$(python3 -c 'import torch; "
    "print(torch.utils.cmake_prefix_path)')/Torch && cmake --build build\n";
}

int launch_probe(const char* argv0, const std::vector<std::string>& args) {
  std::string bin = find_probe_binary(argv0);
  if (bin.empty()) {
    std::fputs(kMissing, stderr);
    return 2;
  }
  std::vector<char*> av;
  av.push_back(const_cast<char*>(bin.c_str()));
  for (const auto& a : args) av.push_back(const_cast<char*>(a.c_str()));
  av.push_back(nullptr);
  ::execv(bin.c_str(), av.data());
  std::fprintf(stderr, "gcheck: error: cannot run %s: %s\n", bin.c_str(), std::strerror(errno));
  return 2;
}

void attach_probe_verdicts(const char* argv0, LintResult& r, const LintOptions&) {
  std::set<std::string> scenarios;
  for (const auto& f : r.findings)
    if (!f.probe.empty()) scenarios.insert(f.probe);
  if (scenarios.empty()) return;
  std::string bin = find_probe_binary(argv0);
  if (bin.empty()) {
    for (auto& f : r.findings)
      if (!f.probe.empty()) f.verdict = "not run: gcheck-probe is not installed";
    return;
  }
  std::string list;
  for (const auto& s : scenarios) list += (list.empty() ? "" : ",") + s;
  std::string cmd = fmt::format("'{}' --format json --quiet --scenario {}", bin, list);
  std::string out;
  if (FILE* p = ::popen(cmd.c_str(), "r")) {
    std::array<char, 4096> buf;
    size_t n;
    while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
    ::pclose(p);
  }
  auto j = nlohmann::json::parse(out, nullptr, false);
  std::map<std::string, std::string> verdicts;
  if (j.is_object() && j.contains("scenarios")) {
    for (const auto& s : j["scenarios"]) {
      std::string name = s.value("name", "");
      verdicts[name] = fmt::format("{}: {}", s.value("verdict", "ERROR"), s.value("summary", ""));
    }
  }
  for (auto& f : r.findings) {
    if (f.probe.empty()) continue;
    auto it = verdicts.find(f.probe);
    f.verdict = it != verdicts.end() ? it->second : "ERROR: the probe returned no verdict";
  }
}

}  // namespace gcheck
