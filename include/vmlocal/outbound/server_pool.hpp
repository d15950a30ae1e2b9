// The servers new tunnels may use, per event loop, and the choice among them: dial() returns a
// FailoverStream that tries the servers in the order the shared ServerHealth gives (health,
// [balancer] strategy) until one connects — each attempt on a server with [server.mux] on a
// session of this loop's MuxPool, so a dead mux server is failed over like any other before the
// app is answered. A server the fail-fast check marked as refusing us is skipped; when every
// server is, the tunnel fails at once (kRefusedLogin).
#pragma once

#include <map>
#include <memory>
#include <vector>

#include "vmlocal/config/profile.hpp"
#include "vmlocal/outbound/dialer.hpp"
#include "vmlocal/outbound/fail_fast.hpp"
#include "vmlocal/outbound/failover_stream.hpp"
#include "vmlocal/outbound/health_checker.hpp"
#include "vmlocal/outbound/mux_connection.hpp"
#include "vmlocal/outbound/outbound_context.hpp"
#include "vmlocal/outbound/server_context.hpp"
#include "vmlocal/outbound/server_health.hpp"
#include "vmlocal/outbound/warm_pool.hpp"

namespace vmlocal::outbound {

class ServerPool final : public Dialer, public UdpDialer {
 public:
  ServerPool(uv_loop_t* loop, crypto::Random& random) : context_(loop, random), mux_(context_) {}
  ~ServerPool();
  ServerPool(const ServerPool&) = delete;
  ServerPool& operator=(const ServerPool&) = delete;

  // Workers share one ServerHealth: call before configure() to use `health` rather than a new
  // one (it must have been built for the same servers).
  void share_health(std::shared_ptr<ServerHealth> health) { shared_health_ = std::move(health); }

  // Builds the servers of `profile` for this loop; they replace the current ones for new tunnels
  // only (and their fail-fast checks stop). A server whose settings did not change (a reload)
  // keeps its ServerContext. On an error nothing is replaced, but the checks have stopped:
  // start_checks() again. Errors: as ServerContext::make.
  Result<bool> configure(const config::Profile& profile);
  // Starts the fail-fast checks of the configured servers (fail_fast.hpp): a probe now when the
  // profile names [probe] url, and after silent tunnels. `health_checks`: also the health
  // checks (health_checker.hpp) when the servers' health wants them — on one worker only, since
  // the health is shared.
  void start_checks(const config::Profile& profile, bool health_checks = false);
  // Stops the checks (a probe in flight is cancelled) and closes the warm connections (their
  // timers too; no more are dialled); shared connections (Mux.Cool) close once their last
  // tunnel has. Call inside the running loop before it ends, which then finishes the closes;
  // idempotent.
  void stop();

  // The first server of the profile.
  const std::shared_ptr<const ServerContext>& pick() const { return set_->servers.front(); }
  const std::vector<std::shared_ptr<const ServerContext>>& servers() const {
    static const std::vector<std::shared_ptr<const ServerContext>> kNone;
    return set_ ? set_->servers : kNone;
  }
  // Null before configure().
  const std::shared_ptr<ServerHealth>& health() const { return health_; }
  OutboundContext& context() { return context_; }

  Result<std::unique_ptr<transport::Stream>> dial(const TargetAddress& target,
                                                  transport::StreamHandler& handler) override;

  // One destination of a SOCKS5 UDP association, as a packet-mode Stream that fails over like
  // dial()'s: on each server tried, a Mux.Cool UDP sub-stream of its shared connection when it
  // has [server.mux] on (§14), else a VMess UDP tunnel (Cmd 2, §13) of its own. Servers with
  // security "zero" are left out unless mux is on. Errors: as FailoverStream::open.
  Result<std::unique_ptr<transport::Stream>> dial_udp(const TargetAddress& target,
                                                      transport::StreamHandler& handler) override;

  size_t mux_connection_count() const { return mux_.connection_count(); }

 private:
  void stop_checks();
  // The warm pool of `server` on this loop, made on first call, or null: warm = 0, [server.mux]
  // on (its connections are long-lived already), ws early data on (the upgrade waits for the
  // app's first bytes, so a warm connection could only be held at TLS), or stopped.
  WarmPool* warm_pool(const std::shared_ptr<const ServerContext>& server);
  // Stops the pools of servers no longer configured; they stay allocated (see ServerSet::warm).
  void stop_unused_warm_pools();

  OutboundContext context_;
  MuxPool mux_;  // [server.mux] on: attempts are sessions of shared connections (ServerSet::mux)
  std::shared_ptr<ServerHealth> shared_health_;
  std::shared_ptr<ServerHealth> health_;
  std::shared_ptr<const ServerSet> set_;
  std::vector<FailFast*> checks_;            // each frees itself after stop()
  HealthChecker* health_checker_ = nullptr;  // frees itself after stop()
  // Warm connections (warm_pool.hpp): one pool per server, each with its own timer. Keyed by
  // the pinned ServerContext, so an address is never reused for another server's pool.
  struct Warm {
    std::unique_ptr<WarmPool::Clock> clock;  // reset by stop(), inside the running loop
    std::unique_ptr<WarmPool> pool;
  };
  std::map<std::shared_ptr<const ServerContext>, std::unique_ptr<Warm>> warm_;
  bool stopped_ = false;
};

}  // namespace vmlocal::outbound
