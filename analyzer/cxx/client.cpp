#include "analyzer/cxx/client.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "analyzer/project.h"

extern char** environ;

namespace gcheck::cxx {

std::string find_cxx_binary() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n > 0) {
    std::string dir = parent_dir(std::string(buf, static_cast<size_t>(n)));
    for (const char* rel : {"gcheck-cxx", "../gcheck-cxx", "../libexec/gcheck/gcheck-cxx"}) {
      std::string cand = join_path(dir, rel);
      if (::access(cand.c_str(), X_OK) == 0) return cand;
    }
  }
  if (const char* path = std::getenv("PATH")) {
    std::string p(path);
    size_t start = 0;
    while (start <= p.size()) {
      size_t colon = p.find(':', start);
      std::string d =
          p.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
      std::string cand = join_path(d.empty() ? "." : d, "gcheck-cxx");
      if (::access(cand.c_str(), X_OK) == 0) return cand;
      if (colon == std::string::npos) break;
      start = colon + 1;
    }
  }
  return "";
}

namespace {

// Owns a file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept {
    reset(o.release());
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  int get() const { return fd_; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }
  void reset(int f = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = f;
  }

 private:
  int fd_ = -1;
};

struct Pipe {
  Fd read, write;
  bool open() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return false;
    read.reset(fds[0]);
    write.reset(fds[1]);
    return true;
  }
};

// posix_spawn file actions and attributes, destroyed on every path.
struct SpawnActions {
  posix_spawn_file_actions_t a;
  SpawnActions() { posix_spawn_file_actions_init(&a); }
  ~SpawnActions() { posix_spawn_file_actions_destroy(&a); }
  SpawnActions(const SpawnActions&) = delete;
  SpawnActions& operator=(const SpawnActions&) = delete;
};

}  // namespace

Result<Report> run_cxx_frontend(const CxxRequest& req) {
  Location here{"gcheck-cxx", {}};
  std::string bin = req.binary.empty() ? find_cxx_binary() : req.binary;
  if (bin.empty() || ::access(bin.c_str(), X_OK) != 0) {
    return InputError{here,
                      "C++ sources need gcheck-cxx, which is built when Clang 14 is found: "
                      "apt-get install -y libclang-cpp14-dev libclang-14-dev llvm-14-dev, then "
                      "cmake -S . -B build && cmake --build build"};
  }
  std::vector<std::string> args{bin, "--format=json"};
  for (const auto& f : req.tool_flags) args.push_back(f);
  if (!req.compile_db_dir.empty()) args.push_back("-p=" + req.compile_db_dir);
  for (const auto& f : req.files) args.push_back(f);
  if (req.fixed_args) {
    args.push_back("--");
    for (const auto& a : req.extra_args) args.push_back(a);
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  Pipe out, err;
  if (!out.open() || !err.open())
    return InputError{here, fmt::format("cannot create a pipe: {}", std::strerror(errno))};
  SpawnActions act;
  posix_spawn_file_actions_adddup2(&act.a, out.write.get(), STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&act.a, err.write.get(), STDERR_FILENO);
  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, bin.c_str(), &act.a, nullptr, argv.data(), environ);
  out.write.reset();
  err.write.reset();
  if (rc != 0) return InputError{here, fmt::format("cannot run {}: {}", bin, std::strerror(rc))};

  std::string out_text, err_text;
  pollfd fds[2] = {{out.read.get(), POLLIN, 0}, {err.read.get(), POLLIN, 0}};
  int open_count = 2;
  char buf[65536];
  while (open_count > 0) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        (i == 0 ? out_text : err_text).append(buf, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        fds[i].fd = -1;
        --open_count;
      }
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  auto tail = [&] {
    std::string t =
        err_text.size() > 2000 ? "..." + err_text.substr(err_text.size() - 2000) : err_text;
    while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
    return t.empty() ? std::string() : ": " + t;
  };
  if (WIFSIGNALED(status))
    return InputError{
        here, fmt::format("gcheck-cxx was killed by signal {}{}", WTERMSIG(status), tail())};
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return InputError{here,
                      fmt::format("gcheck-cxx failed (exit {}){}", WEXITSTATUS(status), tail())};
  return report_from_json(out_text);
}

CxxFacts facts_from_report(const Report& r, const InputLimits& limits) {
  CxxFacts out;
  auto shown = [](Location l) {
    if (l.known()) l.file = relative_to_cwd(l.file);
    return l;
  };
  for (const auto& u : r.units) {
    std::string display = relative_to_cwd(u.file);
    for (const auto& d : u.diagnostics) out.errors.push_back({shown(d.loc), d.message});
    if (u.error_count > u.diagnostics.size()) {
      out.errors.push_back(
          {Location{display, {}},
           fmt::format("{} more compile errors", u.error_count - u.diagnostics.size())});
    }
    if (!u.analyzed) {
      out.notes.push_back(fmt::format("{}: skipped: {}", display, u.reason));
      continue;
    }
    auto src = read_source(u.file, display, limits);
    if (!src) {
      out.errors.push_back(src.error());
      continue;
    }
    auto f = std::make_shared<Facts>();
    f->format = Format::Cpp;
    f->source = src.value();
    f->format_reason = u.reason;
    f->anchor = Location{display, {{1, 1}, {}}};
    auto code = std::make_shared<CodeFacts>(u.code);
    for (auto& fn : code->recompute_functions) {
      fn.loc = shown(fn.loc);
      fn.dropout_loc = shown(fn.dropout_loc);
      fn.mutation_loc = shown(fn.mutation_loc);
      fn.nested_loc = shown(fn.nested_loc);
    }
    for (auto& c : code->recompute_calls) {
      c.call.loc = shown(c.call.loc);
      c.frozen_source_loc = shown(c.frozen_source_loc);
    }
    for (auto* v : {&code->autograd_grad, &code->nonscalar_backward})
      for (auto& c : *v) c.loc = shown(c.loc);
    for (auto& fr : code->freezes) fr.loc = shown(fr.loc);
    f->code = std::move(code);
    out.facts.push_back(std::move(f));
  }
  return out;
}

}  // namespace gcheck::cxx
