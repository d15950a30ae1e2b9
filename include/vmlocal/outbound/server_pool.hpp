// The servers new tunnels may use, per event loop, and the choice among them: dial() returns a
// FailoverStream that tries the servers in the order the shared ServerHealth gives (health,
// [balancer] strategy) until one connects.
#pragma once

#include <memory>
#include <vector>

#include "vmlocal/config/profile.hpp"
#include "vmlocal/outbound/dialer.hpp"
#include "vmlocal/outbound/failover_stream.hpp"
#include "vmlocal/outbound/outbound_context.hpp"
#include "vmlocal/outbound/server_context.hpp"
#include "vmlocal/outbound/server_health.hpp"

namespace vmlocal::outbound {

class ServerPool final : public Dialer {
 public:
  ServerPool(uv_loop_t* loop, crypto::Random& random) : context_(loop, random) {}

  // Workers share one ServerHealth: call before configure() to use `health` rather than a new
  // one (it must have been built for the same servers).
  void share_health(std::shared_ptr<ServerHealth> health) { shared_health_ = std::move(health); }

  // Builds the servers of `profile` for this loop; they replace the current ones for new tunnels
  // only. Errors: as ServerContext::make.
  Result<bool> configure(const config::Profile& profile);

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

 private:
  OutboundContext context_;
  std::shared_ptr<ServerHealth> shared_health_;
  std::shared_ptr<ServerHealth> health_;
  std::shared_ptr<const ServerSet> set_;
};

}  // namespace vmlocal::outbound
