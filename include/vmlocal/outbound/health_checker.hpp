// Health checks with two or more servers: every [probe] interval (and once at start), one VMess
// probe (probe.hpp: an HTTP GET to [probe] url through the server) per server, all at once; the
// time to each answer, or the failure, goes to the shared ServerHealth, which marks servers down
// and up and ranks them for "fastest". Runs on one worker's loop (the health is shared).
//
// Lifetime: start() returns a checker that owns itself; stop() (on the loop, before it ends)
// cancels the probes in flight and frees it once its timer has closed. Its timer never keeps
// the loop alive; a probe in flight does, until stop().
#pragma once

#include <uv.h>

#include <memory>
#include <vector>

#include "vmlocal/outbound/failover_stream.hpp"
#include "vmlocal/outbound/outbound_context.hpp"
#include "vmlocal/outbound/probe.hpp"

namespace vmlocal::outbound {

class HealthChecker {
 public:
  static HealthChecker* start(OutboundContext& context, std::shared_ptr<const ServerSet> set,
                              ProbeOptions options, Millis interval);
  // Idempotent.
  void stop();

  HealthChecker(const HealthChecker&) = delete;
  HealthChecker& operator=(const HealthChecker&) = delete;

 private:
  HealthChecker(OutboundContext& context, std::shared_ptr<const ServerSet> set,
                ProbeOptions options);
  ~HealthChecker() = default;

  void run_round();
  void on_result(size_t server, const ProbeResult& result);

  OutboundContext& context_;
  std::shared_ptr<const ServerSet> set_;
  ProbeOptions options_;
  uv_timer_t timer_{};
  std::vector<Probe*> probes_;  // per server: the probe in flight, or null
  bool stopped_ = false;
};

}  // namespace vmlocal::outbound
