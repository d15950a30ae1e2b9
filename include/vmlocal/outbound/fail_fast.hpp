// Fail fast on a server that refuses us (issue 12): runs the probes one server's ServerState asks
// for — at start when the profile names `[probe] url`, and after several silent tunnels in a row
// (then with the configured or the default URL) — and the retries with back-off while the server
// is marked. Marking and clearing are logged once each; while marked, the pool fails new tunnels
// at once (ErrorKind::kRefusedLogin) instead of letting each hang until the server gives up.
//
// clock_offset = "auto" on a ws server: a ClockCheck (clock_check.hpp) at start, and again when a
// probe is refused; when it changes the offset, the probe runs again at once.
//
// One per server per loop, owned by the ServerPool. Its timer is unreferenced (it never keeps the
// loop alive); a probe in flight is, until stop() cancels it. stop() must run on the loop before
// it ends; the object frees itself once its timer closed.
#pragma once

#include <uv.h>

#include <memory>

#include <functional>

#include "vmlocal/outbound/clock_check.hpp"
#include "vmlocal/outbound/outbound_context.hpp"
#include "vmlocal/outbound/probe.hpp"
#include "vmlocal/outbound/server_context.hpp"

namespace vmlocal::outbound {

class ServerHealth;

// Where a probe's result is also recorded: the server's health entry (the counters' "probe"
// figure and the balancer), shared by the workers. health may be null (no record).
struct ProbeRecord {
  ServerHealth* health = nullptr;
  size_t index = 0;
};

class FailFast {
 public:
  static FailFast* start(OutboundContext& context, std::shared_ptr<const ServerContext> server,
                         ProbeRecord record, ProbeOptions options, bool probes,
                         bool probe_at_start);
  // Cancels a running probe and the timer; frees itself once they closed. Idempotent.
  void stop();

  FailFast(const FailFast&) = delete;
  FailFast& operator=(const FailFast&) = delete;

 private:
  FailFast(OutboundContext& context, std::shared_ptr<const ServerContext> server,
           ProbeRecord record, ProbeOptions options, bool probes);
  ~FailFast() = default;

  void run_probe();
  void on_probe_done(const ProbeResult& result);
  bool clock_checks() const;
  // then: runs after the check (with whether the applied offset changed).
  void run_clock_check(std::function<void(bool changed)> then);
  void schedule_probe(uint64_t delay_ms);
  std::string server_name() const;

  OutboundContext& context_;
  std::shared_ptr<const ServerContext> server_;
  ProbeRecord record_;
  ProbeOptions options_;
  uint64_t refused_reported_ = 0;  // ServerState::refused_tunnels() when last logged
  uv_timer_t timer_{};
  Probe* probe_ = nullptr;
  ClockCheck* clock_check_ = nullptr;
  bool stopped_ = false;
};

}  // namespace vmlocal::outbound
