#include "vmlocal/outbound/server_pool.hpp"

#include "vmlocal/outbound/vmess_stream.hpp"

namespace vmlocal::outbound {

Result<bool> ServerPool::configure(const config::Profile& profile) {
  auto made = ServerContext::make(profile.server);
  if (!made) return made.error();
  servers_ = {std::move(*made)};
  return true;
}

Result<std::unique_ptr<transport::Stream>> ServerPool::dial(const TargetAddress& target,
                                                            transport::StreamHandler& handler) {
  auto made = VmessStream::open(context_, pick(), target, handler);
  if (!made) return made.error();
  return std::unique_ptr<transport::Stream>(std::move(*made));
}

Result<std::unique_ptr<transport::Stream>> ServerPool::dial_udp(const TargetAddress& target,
                                                                transport::StreamHandler& handler) {
  auto made = VmessStream::open(context_, pick(), target, handler, vmess::Command::kUdp);
  if (!made) return made.error();
  return std::unique_ptr<transport::Stream>(std::move(*made));
}

}  // namespace vmlocal::outbound
