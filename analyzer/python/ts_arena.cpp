#include "analyzer/python/ts_arena.h"

#include <tree_sitter/api.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

namespace gcheck::py {

namespace {

constexpr size_t kAlign = 16;
constexpr size_t kHeader = 16;              // the block's size, before the block
constexpr size_t kChunk = size_t{1} << 20;  // 1 MiB

struct Chunk {
  std::unique_ptr<char[]> mem;
  size_t size = 0;
};

class Arena {
 public:
  void* alloc(size_t n) {
    size_t need = kHeader + ((n + kAlign - 1) & ~(kAlign - 1));
    if (current_ >= chunks_.size() || used_ + need > chunks_[current_].size) next_chunk(need);
    char* base = chunks_[current_].mem.get() + used_;
    used_ += need;
    std::memcpy(base, &n, sizeof n);
    return base + kHeader;
  }
  bool owns(const void* p) const {
    auto c = static_cast<const char*>(p);
    for (size_t i = 0; i <= current_ && i < chunks_.size(); ++i) {
      const char* b = chunks_[i].mem.get();
      if (c >= b && c < b + chunks_[i].size) return true;
    }
    return false;
  }
  static size_t size_of(const void* p) {
    size_t n;
    std::memcpy(&n, static_cast<const char*>(p) - kHeader, sizeof n);
    return n;
  }
  void reset() {
    current_ = 0;
    used_ = 0;
    // Keep the first chunks for the next file; a file that needed many gives them back.
    if (chunks_.size() > 8) chunks_.resize(8);
  }
  bool active = false;

 private:
  void next_chunk(size_t need) {
    // Use the next kept chunk if it is big enough, else make one.
    ++current_;
    if (chunks_.empty()) current_ = 0;
    while (current_ < chunks_.size() && chunks_[current_].size < need) ++current_;
    if (current_ >= chunks_.size()) {
      size_t size = need > kChunk ? need : kChunk;
      chunks_.push_back(Chunk{std::make_unique_for_overwrite<char[]>(size), size});
      current_ = chunks_.size() - 1;
    }
    used_ = 0;
  }

  std::vector<Chunk> chunks_;
  size_t current_ = 0;
  size_t used_ = 0;
};

thread_local Arena t_arena;

void* ts_arena_malloc(size_t n) {
  return t_arena.active ? t_arena.alloc(n) : std::malloc(n);
}

void* ts_arena_calloc(size_t count, size_t n) {
  if (!t_arena.active) return std::calloc(count, n);
  void* p = t_arena.alloc(count * n);
  std::memset(p, 0, count * n);
  return p;
}

void* ts_arena_realloc(void* p, size_t n) {
  if (!p) return ts_arena_malloc(n);
  if (t_arena.active && t_arena.owns(p)) {
    size_t old = Arena::size_of(p);
    if (n <= old) return p;
    void* q = t_arena.alloc(n);
    std::memcpy(q, p, old);
    return q;
  }
  return std::realloc(p, n);  // made before the arena opened
}

void ts_arena_free(void* p) {
  if (!p || (t_arena.active && t_arena.owns(p))) return;
  std::free(p);
}

}  // namespace

void install_ts_allocator() {
  static std::once_flag once;
  std::call_once(once, [] {
    ts_set_allocator(ts_arena_malloc, ts_arena_calloc, ts_arena_realloc, ts_arena_free);
  });
}

TsArena::TsArena() {
  install_ts_allocator();
  t_arena.active = true;
}

TsArena::~TsArena() {
  t_arena.active = false;
  t_arena.reset();
}

bool TsArena::open() {
  return t_arena.active;
}

}  // namespace gcheck::py
