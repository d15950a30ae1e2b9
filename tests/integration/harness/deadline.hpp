// A point in time after which a wait gives up. Every blocking call in the harness takes one,
// so a broken proxy fails a test instead of hanging it.
#pragma once

#include <algorithm>
#include <chrono>
#include <climits>

namespace vmlocal::itest {

class Deadline {
 public:
  using Clock = std::chrono::steady_clock;

  static Deadline after(Clock::duration d) { return Deadline(Clock::now() + d); }
  static Deadline at(Clock::time_point when) { return Deadline(when); }

  Clock::time_point when() const { return when_; }
  bool expired() const { return Clock::now() >= when_; }

  std::chrono::milliseconds remaining() const {
    auto left = when_ - Clock::now();
    if (left <= Clock::duration::zero()) return std::chrono::milliseconds(0);
    // Round up so a wait never returns just before the deadline and spins.
    return std::chrono::ceil<std::chrono::milliseconds>(left);
  }

  // For poll(): never negative (that would mean "forever").
  int poll_timeout_ms() const {
    return static_cast<int>(std::min<long long>(remaining().count(), INT_MAX));
  }

  // The earlier of two deadlines: a per-operation limit inside an overall one.
  Deadline min(Deadline other) const { return Deadline(std::min(when_, other.when_)); }

 private:
  explicit Deadline(Clock::time_point when) : when_(when) {}

  Clock::time_point when_;
};

}  // namespace vmlocal::itest
