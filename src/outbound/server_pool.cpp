#include "vmlocal/outbound/server_pool.hpp"

#include <algorithm>

namespace vmlocal::outbound {

Result<bool> ServerPool::configure(const config::Profile& profile) {
  auto set = std::make_shared<ServerSet>();
  for (const config::Profile::Server& server : profile.servers) {
    auto made = ServerContext::make(server);
    if (!made) return made.error();
    set->servers.push_back(std::move(*made));
  }
  if (shared_health_ && shared_health_->size() == set->servers.size()) {
    health_ = shared_health_;
  } else {
    health_ = std::make_shared<ServerHealth>(profile);
  }
  set->health = health_;
  // Shared out so that every server but the last can be tried within the connect timeout.
  const auto share = profile.timeouts.connect / static_cast<int64_t>(set->servers.size());
  set->attempt_timeout = std::max<Millis>(Millis(1'000), std::chrono::duration_cast<Millis>(share));
  set_ = std::move(set);
  return true;
}

Result<std::unique_ptr<transport::Stream>> ServerPool::dial(const TargetAddress& target,
                                                            transport::StreamHandler& handler) {
  auto made = FailoverStream::open(context_, set_, health_->order(), target, handler);
  if (!made) return made.error();
  return std::unique_ptr<transport::Stream>(std::move(*made));
}

}  // namespace vmlocal::outbound
