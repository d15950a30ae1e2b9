// "Free after the last close callback", written once. An object that owns libuv handles (or
// streams that close asynchronously) counts them here as it opens them; every close callback
// calls closed(), and the one that brings the count to zero frees the owner. libuv may still
// touch a handle until its close callback has run, so nothing may free the owner earlier.
#pragma once

#include <cassert>

namespace vmlocal::uv {

class CloseLatch {
 public:
  void opened(int n = 1) { open_ += n; }
  // True for the last close: the owner frees itself now and touches nothing afterwards.
  [[nodiscard]] bool closed() {
    assert(open_ > 0);
    return --open_ == 0;
  }
  int open() const { return open_; }

 private:
  int open_ = 0;
};

}  // namespace vmlocal::uv
