// The servers new tunnels may use, per event loop, and the choice among them. One server today;
// [[servers]] with health and failover plug in here (pick() and a retry in dial()).
#pragma once

#include <map>
#include <memory>
#include <vector>

#include "vmlocal/config/profile.hpp"
#include "vmlocal/outbound/dialer.hpp"
#include "vmlocal/outbound/outbound_context.hpp"
#include "vmlocal/outbound/server_context.hpp"
#include "vmlocal/outbound/warm_pool.hpp"

namespace vmlocal::outbound {

class ServerPool final : public Dialer {
 public:
  ServerPool(uv_loop_t* loop, crypto::Random& random) : context_(loop, random) {}
  ~ServerPool();

  // Builds the servers of `profile` for this loop; they replace the current ones for new tunnels
  // only. Errors: as ServerContext::make.
  Result<bool> configure(const config::Profile& profile);

  // The server the next tunnel uses.
  const std::shared_ptr<const ServerContext>& pick() const { return servers_.front(); }
  const std::vector<std::shared_ptr<const ServerContext>>& servers() const { return servers_; }

  Result<std::unique_ptr<transport::Stream>> dial(const TargetAddress& target,
                                                  transport::StreamHandler& handler) override;

  // Closes the warm connections and their timers, and dials no more (the proxy is stopping).
  // Call it inside the running loop, which then finishes the closes.
  void stop();

 private:
  // The warm pool of `server` on this loop (made on first use), or null when warm = 0.
  WarmPool* warm_pool(const std::shared_ptr<const ServerContext>& server);

  OutboundContext context_;
  std::vector<std::shared_ptr<const ServerContext>> servers_;
  // Warm connections (warm_pool.hpp): one pool per ServerContext, each with its own timer.
  struct Warm {
    std::unique_ptr<WarmPool::Clock> clock;  // reset by stop(), inside the running loop
    std::unique_ptr<WarmPool> pool;
  };
  std::map<const ServerContext*, std::unique_ptr<Warm>> warm_;
  bool stopped_ = false;
};

}  // namespace vmlocal::outbound
