// A per-loop free list of fixed-size I/O blocks. Tunnels take a block only while bytes are
// moving and hand it back as soon as it is empty, so idle tunnels hold no buffers.
#pragma once

#include <cstddef>
#include <vector>

namespace vmlocal::uv {

template <typename Block>
class BlockPool {
 public:
  explicit BlockPool(size_t max_idle) : max_idle_(max_idle) { idle_.reserve(max_idle); }
  ~BlockPool() {
    for (Block* block : idle_)
      delete block;
  }
  BlockPool(const BlockPool&) = delete;
  BlockPool& operator=(const BlockPool&) = delete;

  // Contents are unspecified (not zeroed): every user overwrites before reading.
  Block* acquire() {
    ++in_use_;
    if (idle_.empty()) return new Block;
    Block* block = idle_.back();
    idle_.pop_back();
    return block;
  }

  void release(Block* block) {
    --in_use_;
    if (idle_.size() < max_idle_) {
      idle_.push_back(block);
    } else {
      delete block;
    }
  }

  size_t in_use() const { return in_use_; }
  size_t idle() const { return idle_.size(); }

 private:
  size_t max_idle_;
  size_t in_use_ = 0;
  std::vector<Block*> idle_;
};

}  // namespace vmlocal::uv
