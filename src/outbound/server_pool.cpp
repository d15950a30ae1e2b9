#include "vmlocal/outbound/server_pool.hpp"

#include <variant>

#include "vmlocal/outbound/vmess_stream.hpp"
#include "vmlocal/util/http_url.hpp"

namespace vmlocal::outbound {

ServerPool::~ServerPool() {
  // stop() ran on the loop (Proxy::stop or release_handles); the checks free themselves.
}

Result<bool> ServerPool::configure(const config::Profile& profile) {
  auto made = ServerContext::make(profile.server);
  if (!made) return made.error();
  stop();
  servers_ = {std::move(*made)};
  return true;
}

void ServerPool::start_checks(const config::Profile& profile) {
  stop();
  ProbeOptions options;
  auto url = http::parse_url(profile.probe.url);
  // url = "" (the only URL the loader lets through unparsed): clock checks only, no probes.
  const bool probes = std::holds_alternative<http::Url>(url);
  if (probes) options.url = std::get<http::Url>(url);
  options.connect_timeout = profile.timeouts.connect;
  options.timeout = profile.probe.timeout;
  for (const auto& server : servers_) {
    checks_.push_back(
        FailFast::start(context_, server, options, probes, probes && profile.probe.url_set));
  }
}

void ServerPool::stop() {
  for (FailFast* check : checks_)
    check->stop();
  checks_.clear();
  mux_.stop();
}

Result<std::unique_ptr<transport::Stream>> ServerPool::dial(const TargetAddress& target,
                                                            transport::StreamHandler& handler) {
  const std::shared_ptr<const ServerContext>& server = pick();
  if (server->state->refusing()) {
    return Error{ErrorKind::kRefusedLogin,
                 "server " + server->settings.address + ":" +
                     std::to_string(server->settings.port) +
                     " refuses us (a probe got no response; see the warning above): failing at "
                     "once"};
  }
  if (server->settings.mux.enabled) return mux_.open(server, target, handler);
  auto made = VmessStream::open(context_, server, target, handler);
  if (!made) return made.error();
  return std::unique_ptr<transport::Stream>(std::move(*made));
}

}  // namespace vmlocal::outbound
