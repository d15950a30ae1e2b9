// Which server a new tunnel tries first, and which next: the choice among [[servers]] by their
// health. Pure (no I/O, no clock of its own: every call takes `now`, a monotonic time), so the
// policy is tested on a fake clock; outbound/server_health.hpp shares one between the workers.
//
// Health comes from two sources: tunnels (their upstream stack connected, or failed at DNS,
// TCP, TLS or WebSocket) and probes (a VMess request through the server, timed to its answer).
// A server is marked down after `failures_to_mark_down` failures in a row; while down it is
// tried only after its back-off (first_backoff, doubling to max_backoff each time a retry once
// due fails; failures of tunnels that were trying it already do not double it), or when every
// other server is down too, and the first success brings it back.
//
// Strategies ([balancer] strategy):
//  - "first": the servers that are up, in profile order.
//  - "fastest": the servers that are up, by their last probe time (unprobed ones after, in
//    profile order); the current choice is kept unless another is faster by more than
//    `tolerance`, so two servers of about the same speed do not take turns.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "vmlocal/config/profile.hpp"

namespace vmlocal::outbound {

using Millis = std::chrono::milliseconds;

struct BalancerSettings {
  config::Profile::Balancer::Strategy strategy = config::Profile::Balancer::Strategy::kFirst;
  Millis tolerance{50};
  unsigned failures_to_mark_down = 2;
  Millis first_backoff{2'000};
  Millis max_backoff{60'000};
};

struct HealthState {
  bool down = false;
  unsigned failures_in_a_row = 0;
  Millis backoff{0};                 // the current back-off while down
  Millis retry_at{0};                // while down: when a tunnel may try it again
  std::optional<Millis> probe_time;  // the last successful probe's time to the answer
  std::string last_failure;          // why the last attempt or probe failed ("" after a success)
};

class Balancer {
 public:
  Balancer(BalancerSettings settings, size_t server_count);

  // The order a new tunnel tries the servers in (indexes into the profile's servers): every
  // server, usable ones first by the strategy, then those that are down and not yet due for a
  // retry, soonest due first (a tunnel still gets a try when every server is down).
  std::vector<size_t> order(Millis now);

  // A tunnel's upstream connected through server `i`.
  void record_success(size_t i);
  // A tunnel's upstream failed at DNS, TCP, TLS or WebSocket. `why` is log-safe.
  void record_failure(size_t i, Millis now, std::string why);
  // A probe through server `i` answered after `time`, or failed (`time` empty, `why` says).
  void record_probe(size_t i, Millis now, std::optional<Millis> time, std::string why = {});

  // The server new tunnels go to first — the first in order() that is up; a down server due for
  // a retry counts only once it succeeds — when it differs from the one last returned here (the
  // first call returns the initial choice): the caller logs each change once.
  std::optional<size_t> take_choice_change(Millis now);

  const HealthState& state(size_t i) const { return servers_[i]; }
  // A reload kept server `i` unchanged: it takes the state it had (times on the same clock).
  void restore(size_t i, HealthState state) { servers_[i] = std::move(state); }
  size_t size() const { return servers_.size(); }

 private:
  bool usable(size_t i, Millis now) const;
  void failed(size_t i, Millis now, std::string why);

  BalancerSettings settings_;
  std::vector<HealthState> servers_;
  std::optional<size_t> reported_;  // the choice last returned by take_choice_change
  std::optional<size_t> fastest_;   // "fastest": the current pick, kept within the tolerance
};

}  // namespace vmlocal::outbound
