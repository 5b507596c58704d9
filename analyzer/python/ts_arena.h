// A bump arena for tree-sitter's allocations while one file is parsed and read. A parse makes
// hundreds of thousands of small allocations, and freeing the tree walks all of it again;
// with the arena both cost nothing: the memory is dropped at once when the file is done.
//
// tree-sitter allocates through function pointers (ts_set_allocator); gcheck installs its own
// once, which use the calling thread's arena while one is open (TsArena's lifetime) and the C
// library otherwise. Everything tree-sitter allocates while the arena is open (the parser,
// the tree, cursors) must be made and dropped within that lifetime; a tree made under the
// arena needs no delete call (ts_handles.h).
#pragma once

#include <cstddef>

namespace gcheck::py {

class TsArena {
 public:
  TsArena();   // opens this thread's arena (it must not be open already)
  ~TsArena();  // drops everything allocated in it; keeps its memory for the next file
  TsArena(const TsArena&) = delete;
  TsArena& operator=(const TsArena&) = delete;

  // True while this thread has an open arena.
  static bool open();
};

// Installs gcheck's allocator into tree-sitter (once, before the first parser is made).
void install_ts_allocator();

}  // namespace gcheck::py
