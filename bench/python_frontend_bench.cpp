// gcheck-pybench: times the Python front end (read, pre-filter, parse, extract: load_python)
// over a tree of .py files in one process, run after run, and prints each run's time and the
// median. --dump prints what the front end read from each file instead.
//
//   gcheck-pybench [--runs N] [--threads N] [--no-prefilter] [--full] [--dump] PATH...
//   --full: parse every statement (PythonOptions::full_parse), not only those that can hold facts
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "analyzer/python/dump.h"
#include "analyzer/python/load_python.h"
#include "analyzer/python/relevance.h"
#include "analyzer/python/syntax.h"
#include "analyzer/python/ts_arena.h"

namespace {

void collect(const std::string& path, std::vector<std::string>& out, int depth) {
  struct stat st {};
  if (depth > 64 || ::stat(path.c_str(), &st) != 0) return;
  if (S_ISREG(st.st_mode)) {
    if (path.size() > 3 && path.compare(path.size() - 3, 3, ".py") == 0) out.push_back(path);
    return;
  }
  if (!S_ISDIR(st.st_mode)) return;
  DIR* d = ::opendir(path.c_str());
  if (!d) return;
  std::vector<std::string> names;
  while (auto* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0)
      names.emplace_back(e->d_name);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  for (const auto& n : names) collect(path + "/" + n, out, depth + 1);
}

struct Tally {
  size_t ok = 0, skipped = 0, errors = 0, bytes = 0, records = 0;
};

Tally run_once(const std::vector<std::string>& files, unsigned threads,
               const gcheck::PythonOptions& po) {
  gcheck::InputLimits limits;
  std::vector<Tally> per(threads);
  std::atomic<size_t> next{0};
  auto work = [&](unsigned t) {
    Tally& my = per[t];
    for (size_t i = next++; i < files.size(); i = next++) {
      auto r = gcheck::load_python(files[i], files[i], limits, po);
      if (!r) {
        ++my.errors;
        continue;
      }
      const auto& f = *r.value();
      my.bytes += f.source->text().size();
      if (f.format != gcheck::Format::Python) {
        ++my.skipped;
        continue;
      }
      ++my.ok;
      const auto& c = *f.code;
      my.records += c.checkpoint_calls.size() + c.gc_enables.size() + c.kbit_prepares.size() +
                    c.peft_wraps.size() + c.freezes.size() + c.trainers.size() + c.ddps.size() +
                    f.unreadable.size();
    }
  };
  if (threads == 1) {
    work(0);
  } else {
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t) pool.emplace_back(work, t);
    for (auto& th : pool) th.join();
  }
  Tally all;
  for (const auto& t : per) {
    all.ok += t.ok;
    all.skipped += t.skipped;
    all.errors += t.errors;
    all.bytes += t.bytes;
    all.records += t.records;
  }
  return all;
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 5;
  unsigned threads = 1;
  bool dump = false;
  bool stats = false;
  bool selected_lines = false;
  gcheck::PythonOptions po;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--runs" && i + 1 < argc)
      runs = std::max(1, std::atoi(argv[++i]));
    else if (a == "--threads" && i + 1 < argc)
      threads = static_cast<unsigned>(std::max(1, std::atoi(argv[++i])));
    else if (a == "--dump")
      dump = true;
    else if (a == "--stats")
      stats = true;
    else if (a == "--selected")
      selected_lines = true;
    else if (a == "--full")
      po.full_parse = true;
    else if (a == "--no-prefilter")
      po.prefilter = false;
    else if (a == "-h" || a == "--help") {
      std::puts(
          "usage: gcheck-pybench [--runs N] [--threads N] [--no-prefilter] [--full] [--dump] "
          "PATH...");
      return 0;
    } else
      collect(a, files, 0);
  }
  if (files.empty()) {
    std::fprintf(stderr, "gcheck-pybench: no .py files given\n");
    return 2;
  }
  if (selected_lines) {
    // The file with the parsed bytes marked: '+' kept, ' ' skipped.
    gcheck::InputLimits limits;
    for (const auto& f : files) {
      auto src = gcheck::read_source(f, f, limits);
      if (!src) continue;
      const std::string& t = src.value()->text();
      auto sel = gcheck::py::select_statements(*src.value());
      std::printf("== %s (%s)\n", f.c_str(), sel.whole ? sel.why.c_str() : "in part");
      size_t line_start = 0;
      while (line_start < t.size()) {
        size_t e = t.find('\n', line_start);
        if (e == std::string::npos) e = t.size();
        bool in = sel.whole;
        for (const auto& r : sel.ranges)
          in = in || (line_start >= r.start_byte && line_start < r.end_byte);
        std::printf("%c %.*s\n", in ? '+' : ' ', static_cast<int>(e - line_start),
                    t.data() + line_start);
        line_start = e + 1;
      }
    }
    return 0;
  }
  if (stats) {
    // How much of each file the lexical scan selects for parsing, and why files are parsed whole.
    size_t bytes = 0, selected = 0, partial = 0, reparsed = 0;
    std::map<std::string, size_t> why;
    gcheck::InputLimits limits;
    for (const auto& f : files) {
      auto src = gcheck::read_source(f, f, limits);
      if (!src) continue;
      auto sel = gcheck::py::select_statements(*src.value());
      bytes += src.value()->text().size();
      if (sel.whole) {
        selected += src.value()->text().size();
        ++why[sel.why];
      } else {
        selected += sel.bytes;
        ++partial;
        // The selection must parse on its own: a file whose selected statements do not is
        // parsed again whole (correct, but the selection's time is lost).
        bool again = false;
        gcheck::py::TsArena arena;
        (void)gcheck::py::parse_module(src.value(), &sel.ranges, &again);
        reparsed += again ? 1 : 0;
      }
    }
    std::printf(
        "files %zu, parsed in part %zu, bytes %zu, selected %zu (%.1f%%), parsed again whole "
        "%zu\n",
        files.size(), partial, bytes, selected,
        100.0 * static_cast<double>(selected) / static_cast<double>(bytes ? bytes : 1), reparsed);
    for (const auto& [w, n] : why) std::printf("  whole: %zu: %s\n", n, w.c_str());
    return 0;
  }
  if (dump) {
    gcheck::InputLimits limits;
    int rc = 0;
    for (const auto& f : files) {
      auto r = gcheck::load_python(f, f, limits, po);
      std::printf("== %s\n", f.c_str());
      if (!r) {
        const auto& e = r.error();
        std::printf("error %u:%u: %s\n", e.loc.span.begin.line, e.loc.span.begin.column,
                    e.message.c_str());
        rc = 2;
        continue;
      }
      std::fputs(gcheck::dump_python_facts(*r.value()).c_str(), stdout);
    }
    return rc;
  }
  // Wall-clock and process CPU time per run (on a shared machine the CPU time is the steadier
  // of the two: it does not count time spent waiting for a core).
  std::vector<double> times, cpus;
  Tally t;
  auto cpu_now = [] {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
  };
  for (int r = 0; r < runs; ++r) {
    double c0 = cpu_now();
    auto t0 = std::chrono::steady_clock::now();
    t = run_once(files, threads, po);
    auto t1 = std::chrono::steady_clock::now();
    double c1 = cpu_now();
    double s = std::chrono::duration<double>(t1 - t0).count();
    times.push_back(s);
    cpus.push_back(c1 - c0);
    std::printf("run %d: %.4f s wall, %.4f s cpu\n", r + 1, s, c1 - c0);
  }
  auto median_of = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
  };
  double median = median_of(times);
  double median_cpu = median_of(cpus);
  std::printf("files %zu (parsed %zu, skipped %zu, errors %zu), %.2f MB, %zu records, threads %u\n",
              files.size(), t.ok, t.skipped, t.errors, static_cast<double>(t.bytes) / 1e6,
              t.records, threads);
  std::printf("median %.4f s wall, %.4f s cpu  (%.1f MB/s, %.0f files/s wall)\n", median,
              median_cpu, static_cast<double>(t.bytes) / 1e6 / median,
              static_cast<double>(files.size()) / median);
  return t.errors ? 1 : 0;
}
