// The servers new tunnels may use, per event loop, and the choice among them. One server today;
// [[servers]] with health and failover plug in here (pick() and a retry in dial()).
#pragma once

#include <memory>
#include <vector>

#include "vmlocal/config/profile.hpp"
#include "vmlocal/outbound/dialer.hpp"
#include "vmlocal/outbound/mux_connection.hpp"
#include "vmlocal/outbound/outbound_context.hpp"
#include "vmlocal/outbound/server_context.hpp"

namespace vmlocal::outbound {

class ServerPool final : public Dialer {
 public:
  ServerPool(uv_loop_t* loop, crypto::Random& random) : context_(loop, random), mux_(context_) {}

  // Builds the servers of `profile` for this loop; they replace the current ones for new tunnels
  // only. Errors: as ServerContext::make.
  Result<bool> configure(const config::Profile& profile);

  // The server the next tunnel uses.
  const std::shared_ptr<const ServerContext>& pick() const { return servers_.front(); }
  const std::vector<std::shared_ptr<const ServerContext>>& servers() const { return servers_; }

  Result<std::unique_ptr<transport::Stream>> dial(const TargetAddress& target,
                                                  transport::StreamHandler& handler) override;

  // The proxy is stopping: shared connections (Mux.Cool) close once their last tunnel has.
  void stop() { mux_.stop(); }
  size_t mux_connection_count() const { return mux_.connection_count(); }

 private:
  OutboundContext context_;
  MuxPool mux_;  // [server.mux] on: tunnels are sessions of shared connections
  std::vector<std::shared_ptr<const ServerContext>> servers_;
};

}  // namespace vmlocal::outbound
