// The servers new tunnels may use, per event loop, and the choice among them. One server today;
// [[servers]] with health and failover plug in here (pick() and a retry in dial()).
#pragma once

#include <memory>
#include <vector>

#include "vmlocal/config/profile.hpp"
#include "vmlocal/outbound/dialer.hpp"
#include "vmlocal/outbound/outbound_context.hpp"
#include "vmlocal/outbound/server_context.hpp"

namespace vmlocal::outbound {

class ServerPool final : public Dialer, public UdpDialer {
 public:
  ServerPool(uv_loop_t* loop, crypto::Random& random) : context_(loop, random) {}

  // Builds the servers of `profile` for this loop; they replace the current ones for new tunnels
  // only. Errors: as ServerContext::make.
  Result<bool> configure(const config::Profile& profile);

  // The server the next tunnel uses.
  const std::shared_ptr<const ServerContext>& pick() const { return servers_.front(); }
  const std::vector<std::shared_ptr<const ServerContext>>& servers() const { return servers_; }

  Result<std::unique_ptr<transport::Stream>> dial(const TargetAddress& target,
                                                  transport::StreamHandler& handler) override;

  // A VMess UDP tunnel (Cmd 2, packet mode, vmess-protocol.md §13) to `target` on the picked
  // server, for one destination of a SOCKS5 UDP association. Errors: as VmessStream::open.
  Result<std::unique_ptr<transport::Stream>> dial_udp(const TargetAddress& target,
                                                      transport::StreamHandler& handler) override;

 private:
  OutboundContext context_;
  std::vector<std::shared_ptr<const ServerContext>> servers_;
};

}  // namespace vmlocal::outbound
