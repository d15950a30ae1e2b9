// The servers new tunnels may use, per event loop, and the choice among them. One server today;
// [[servers]] with health and failover plug in here (pick() and a retry in dial()).
#pragma once

#include <memory>
#include <vector>

#include "vmlocal/config/profile.hpp"
#include "vmlocal/outbound/dialer.hpp"
#include "vmlocal/outbound/fail_fast.hpp"
#include "vmlocal/outbound/mux_connection.hpp"
#include "vmlocal/outbound/outbound_context.hpp"
#include "vmlocal/outbound/server_context.hpp"

namespace vmlocal::outbound {

class ServerPool final : public Dialer {
 public:
  ServerPool(uv_loop_t* loop, crypto::Random& random) : context_(loop, random), mux_(context_) {}
  ~ServerPool();
  ServerPool(const ServerPool&) = delete;
  ServerPool& operator=(const ServerPool&) = delete;

  // Builds the servers of `profile` for this loop; they replace the current ones for new tunnels
  // only (and their fail-fast checks stop). Errors: as ServerContext::make.
  Result<bool> configure(const config::Profile& profile);
  // Starts the fail-fast checks of the configured servers (fail_fast.hpp): a probe now when the
  // profile names [probe] url, and after silent tunnels.
  void start_checks(const config::Profile& profile);
  // Stops the checks (a probe in flight is cancelled), and shared connections (Mux.Cool) close
  // once their last tunnel has. Call on the loop before it ends; idempotent.
  void stop();

  // The server the next tunnel uses.
  const std::shared_ptr<const ServerContext>& pick() const { return servers_.front(); }
  const std::vector<std::shared_ptr<const ServerContext>>& servers() const { return servers_; }

  Result<std::unique_ptr<transport::Stream>> dial(const TargetAddress& target,
                                                  transport::StreamHandler& handler) override;

  size_t mux_connection_count() const { return mux_.connection_count(); }

 private:
  OutboundContext context_;
  MuxPool mux_;  // [server.mux] on: tunnels are sessions of shared connections
  std::vector<std::shared_ptr<const ServerContext>> servers_;
  std::vector<FailFast*> checks_;  // each frees itself after stop()
};

}  // namespace vmlocal::outbound
