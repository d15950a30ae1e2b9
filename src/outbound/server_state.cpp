#include "vmlocal/outbound/server_state.hpp"

#include <algorithm>
#include <cstdlib>

namespace vmlocal::outbound {

bool ServerState::note_server_date(int64_t server_unix, int64_t local_unix) {
  const int64_t estimate = server_unix - local_unix;
  estimated_offset_ = estimate;
  if (configured_offset_) return false;
  const int64_t applied = std::llabs(estimate) > kAutoClockThreshold ? estimate : 0;
  // Within a few seconds of what is applied: the same estimate, read at another moment.
  if (std::llabs(applied - applied_offset_) <= 2 && (applied == 0) == (applied_offset_ == 0)) {
    return false;
  }
  applied_offset_ = applied;
  return true;
}

void ServerState::note_tunnel(bool responded) {
  if (responded) {
    silent_in_a_row_ = 0;
    return;
  }
  ++silent_in_a_row_;
  if (silent_in_a_row_ >= kSilentTunnelsBeforeProbe && !probing_ && !refusing_) {
    silent_in_a_row_ = 0;
    if (on_probe_wanted) on_probe_wanted();
  }
}

uint64_t ServerState::note_probe_result(ProbeOutcome outcome, const std::string& reason) {
  probing_ = false;
  switch (outcome) {
    case ProbeOutcome::kAnswered:
      silent_in_a_row_ = 0;
      next_retry_ms_ = kFirstRetryMs;
      if (refusing_) {
        refusing_ = false;
        refusing_reason_.clear();
        if (on_change) on_change(false);
        refused_tunnels_ = 0;
      }
      return 0;
    case ProbeOutcome::kRefused: {
      const uint64_t delay = next_retry_ms_;
      next_retry_ms_ = std::min(next_retry_ms_ * 2, kMaxRetryMs);
      refusing_reason_ = reason;
      if (!refusing_) {
        refusing_ = true;
        if (on_change) on_change(true);
      }
      return delay;
    }
    case ProbeOutcome::kUnreachable:
      // Says nothing about the login: keep the mark as it is, and keep checking while marked.
      if (!refusing_) return 0;
      {
        const uint64_t delay = next_retry_ms_;
        next_retry_ms_ = std::min(next_retry_ms_ * 2, kMaxRetryMs);
        return delay;
      }
  }
  return 0;
}

}  // namespace vmlocal::outbound
