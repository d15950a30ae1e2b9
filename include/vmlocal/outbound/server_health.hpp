// The health of the servers and their counters, shared by every worker (one per process, built
// from the profile): the Balancer behind a mutex with a monotonic clock, the log lines for each
// change (a server marked down, back up, a new choice — each said once), and per-server counters
// that the tunnels update without a lock.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "vmlocal/config/profile.hpp"
#include "vmlocal/outbound/balancer.hpp"
#include "vmlocal/util/error.hpp"

namespace vmlocal::outbound {

// Counted per server, summed over the workers. Relaxed atomics: figures for people, not locks.
struct ServerCounters {
  std::atomic<uint64_t> tunnels_open{0};
  std::atomic<uint64_t> tunnels_total{0};  // tunnels whose upstream connected through it
  std::atomic<uint64_t> bytes_up{0};       // app -> server, plaintext
  std::atomic<uint64_t> bytes_down{0};     // server -> app, plaintext
  // Failures by ErrorKind: attempts that failed before connecting (DNS, TCP, TLS, WebSocket,
  // a per-attempt timeout) and tunnels that failed afterwards.
  std::array<std::atomic<uint64_t>, static_cast<size_t>(ErrorKind::kOther) + 1> failures{};
  std::atomic<uint64_t> probes_failed{0};
};

class ServerHealth {
 public:
  using Clock = std::chrono::steady_clock;

  explicit ServerHealth(const config::Profile& profile);
  ServerHealth(const ServerHealth&) = delete;
  ServerHealth& operator=(const ServerHealth&) = delete;

  size_t size() const { return names_.size(); }
  const std::string& name(size_t i) const { return names_[i]; }
  // Whether health checks run: [probe] interval > 0 and two or more servers.
  bool probes_enabled() const { return probe_interval_.count() > 0 && size() >= 2; }
  Millis probe_interval() const { return probe_interval_; }

  // The order a new tunnel tries the servers in (Balancer::order).
  std::vector<size_t> order();
  // A tunnel's upstream stack connected through server `i`.
  void record_success(size_t i);
  // A tunnel's upstream failed through server `i` before connecting (`before_connect`: counts
  // for health) or after (counted only).
  void record_failure(size_t i, const Error& error, bool before_connect);
  // A health probe's result: the time to the answer, or (time empty) the failure, `why`.
  void record_probe(size_t i, std::optional<Millis> time, const std::string& why = {});

  ServerCounters& counters(size_t i) { return *counters_[i]; }
  // A reload: server `i` here is server `old_index` of `old` with the same settings. It takes
  // that server's health state, probe time and counters — the same counters object, so the
  // tunnels still open on the old generation keep counting into the numbers shown. Call before
  // this health is in use (any thread: `old` is read under its lock).
  void carry_over(size_t i, ServerHealth& old, size_t old_index);
  // The health for the servers of a reloaded profile: server i of `next` carries over this
  // one's server same_server[i] when set (config::ReloadPlan), the others start fresh.
  std::shared_ptr<ServerHealth> successor(const config::Profile& next,
                                          const std::vector<std::optional<size_t>>& same_server);
  // One line per server: tunnels open and total, bytes up/down, failures by kind, health, the
  // last probe time. For SIGUSR1 and --stats-interval.
  std::vector<std::string> stats_lines();

 private:
  Millis now() const;
  // Logs what changed in `i`'s state and in the choice (each once). Called with mu_ held.
  void report_locked(size_t i, bool was_down);

  std::vector<std::string> names_;
  Millis probe_interval_;
  Clock::time_point epoch_ = Clock::now();
  std::mutex mu_;
  Balancer balancer_;                                      // guarded by mu_
  std::vector<std::optional<Millis>> probed_at_;           // guarded by mu_
  std::vector<std::shared_ptr<ServerCounters>> counters_;  // shared with a reload's successor
};

}  // namespace vmlocal::outbound
