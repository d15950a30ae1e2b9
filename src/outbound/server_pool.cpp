#include "vmlocal/outbound/server_pool.hpp"

#include "vmlocal/outbound/vmess_stream.hpp"
#include "vmlocal/transport/upstream.hpp"

namespace vmlocal::outbound {

Result<bool> ServerPool::configure(const config::Profile& profile) {
  auto made = ServerContext::make(profile.server);
  if (!made) return made.error();
  servers_ = {std::move(*made)};
  return true;
}

Result<std::unique_ptr<transport::Stream>> ServerPool::dial(const TargetAddress& target,
                                                            transport::StreamHandler& handler) {
  auto made = VmessStream::open(context_, pick(), target, handler, warm_pool(pick()));
  if (!made) return made.error();
  return std::unique_ptr<transport::Stream>(std::move(*made));
}

ServerPool::~ServerPool() {
  // Pools whose connections are still closing are let go rather than freed under libuv: that
  // happens only when the loop did not run to the end after stop(), i.e. the process exits.
  for (auto& [server, warm] : warm_) {
    if (warm->pool && !warm->pool->closed_all()) static_cast<void>(warm->pool.release());
  }
}

WarmPool* ServerPool::warm_pool(const std::shared_ptr<const ServerContext>& server) {
  if (server->settings.warm == 0 || stopped_) return nullptr;
  auto found = warm_.find(server.get());
  if (found != warm_.end()) return found->second->pool.get();
  auto warm = std::make_unique<Warm>();
  Warm* entry = warm.get();
  entry->clock = WarmPool::uv_clock(context_.loop, [entry] { entry->pool->on_wake(); });
  const config::Profile::Server& settings = server->settings;
  const WarmPool::Settings limits{settings.warm,
                                  static_cast<uint64_t>(settings.warm_max_age.count()),
                                  static_cast<uint64_t>(settings.warm_idle.count())};
  auto make_stack = [this, server](transport::StreamHandler& handler) {
    return transport::make_upstream(context_.loop, handler, server->settings, server->tls.get(),
                                    context_.random);
  };
  entry->pool = std::make_unique<WarmPool>(limits, std::move(make_stack), *entry->clock);
  warm_.emplace(server.get(), std::move(warm));
  return entry->pool.get();
}

void ServerPool::stop() {
  stopped_ = true;
  for (auto& [server, warm] : warm_) {
    warm->pool->stop();  // it calls its clock no more
    warm->clock.reset();
  }
}

}  // namespace vmlocal::outbound
