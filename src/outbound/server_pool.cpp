#include "vmlocal/outbound/server_pool.hpp"

#include <algorithm>
#include <variant>

#include "vmlocal/outbound/vmess_stream.hpp"
#include "vmlocal/transport/upstream.hpp"
#include "vmlocal/util/http_url.hpp"

namespace vmlocal::outbound {

Result<bool> ServerPool::configure(const config::Profile& profile) {
  stop_checks();
  auto set = std::make_shared<ServerSet>();
  std::vector<bool> reused(set_ ? set_->servers.size() : 0, false);
  for (const config::Profile::Server& server : profile.servers) {
    // A reload keeps an unchanged server's context: its state (fail-fast mark, clock offset),
    // TLS session cache and Mux.Cool connections go on.
    std::shared_ptr<const ServerContext> same;
    for (size_t i = 0; i < reused.size() && !same; ++i) {
      if (!reused[i] && set_->servers[i]->settings == server) {
        reused[i] = true;
        same = set_->servers[i];
      }
    }
    if (same) {
      set->servers.push_back(std::move(same));
      continue;
    }
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
  for (const auto& server : set->servers)
    set->warm.push_back(warm_pool(server));
  set->mux = &mux_;
  set_ = std::move(set);
  stop_unused_warm_pools();
  return true;
}

void ServerPool::start_checks(const config::Profile& profile, bool health_checks) {
  stop_checks();
  ProbeOptions options;
  auto url = http::parse_url(profile.probe.url);
  // url = "" (the only URL the loader lets through unparsed): clock checks only, no probes.
  const bool probes = std::holds_alternative<http::Url>(url);
  if (probes) options.url = std::get<http::Url>(url);
  options.connect_timeout = profile.timeouts.connect;
  options.timeout = profile.probe.timeout;
  for (size_t i = 0; i < set_->servers.size(); ++i) {
    checks_.push_back(FailFast::start(context_, set_->servers[i], ProbeRecord{health_.get(), i},
                                      options, probes, probes && profile.probe.url_set));
  }
  // url = "" turns every probe off, the health checks too (they would fetch an empty URL).
  if (health_checks && probes && health_->probes_enabled()) {
    health_checker_ = HealthChecker::start(context_, set_, options, health_->probe_interval());
  }
}

void ServerPool::stop_checks() {
  for (FailFast* check : checks_)
    check->stop();
  checks_.clear();
  if (health_checker_ != nullptr) health_checker_->stop();
  health_checker_ = nullptr;
}

Result<std::unique_ptr<transport::Stream>> ServerPool::dial(const TargetAddress& target,
                                                            transport::StreamHandler& handler) {
  // A server that refuses us (fail-fast) is not tried; with none left, fail at once.
  std::vector<size_t> order = health_->order();
  std::erase_if(order, [&](size_t i) {
    ServerState& state = *set_->servers[i]->state;
    if (!state.refusing()) return false;
    state.note_refused_tunnel();
    health_->counters(i).failures[static_cast<size_t>(ErrorKind::kRefusedLogin)].fetch_add(
        1, std::memory_order_relaxed);
    return true;
  });
  if (order.empty()) {
    const ServerContext& server = *set_->servers.front();
    return Error{ErrorKind::kRefusedLogin,
                 "server " + server.settings.address + ":" + std::to_string(server.settings.port) +
                     (set_->servers.size() > 1 ? " and every other server" : "") +
                     " refuses us (a probe got no response; see the warning above): failing at "
                     "once"};
  }
  // Each attempt on a server with [server.mux] on is a session of a shared connection
  // (FailoverStream::open_attempt); a connection that fails while connecting sends each of its
  // sessions on to the next server.
  auto made = FailoverStream::open(context_, set_, std::move(order), target, handler);
  if (!made) return made.error();
  return std::unique_ptr<transport::Stream>(std::move(*made));
}

Result<std::unique_ptr<transport::Stream>> ServerPool::dial_udp(const TargetAddress& target,
                                                                transport::StreamHandler& handler) {
  // As dial(): a server that refuses us is not tried, and the servers are tried in order until
  // one connects (FailoverStream). On a server with [server.mux] on the destination is a UDP
  // sub-stream of its shared connection (mux_session.hpp), where any security will do: each
  // datagram is a frame of its own. Without mux it is a VMess UDP connection of its own, which
  // needs a body with chunks (security "zero" cannot keep datagrams apart, §13).
  std::vector<size_t> order = health_->order();
  std::erase_if(order, [&](size_t i) {
    const ServerContext& server = *set_->servers[i];
    return server.state->refusing() ||
           (server.settings.security == vmess::Security::kZero && !server.settings.mux.enabled);
  });
  if (order.empty()) {
    return Error{ErrorKind::kRefusedLogin,
                 "UDP: no server to send it to (each refuses us, or has security \"zero\", which "
                 "cannot carry datagrams without [server.mux])"};
  }
  auto made =
      FailoverStream::open(context_, set_, std::move(order), target, handler, vmess::Command::kUdp);
  if (!made) return made.error();
  return std::unique_ptr<transport::Stream>(std::move(*made));
}

ServerPool::~ServerPool() {
  // stop() ran on the loop (Proxy::stop or release_handles); the checks free themselves.
  // Pools whose connections are still closing are let go rather than freed under libuv: that
  // happens only when the loop did not run to the end after stop(), i.e. the process exits.
  for (auto& [server, warm] : warm_) {
    if (warm->pool && !warm->pool->closed_all()) static_cast<void>(warm->pool.release());
  }
}

WarmPool* ServerPool::warm_pool(const std::shared_ptr<const ServerContext>& server) {
  const config::Profile::Server& settings = server->settings;
  const bool early_data =
      settings.transport == config::Transport::kWs && settings.ws.max_early_data > 0;
  if (settings.warm == 0 || settings.mux.enabled || early_data || stopped_) return nullptr;
  auto found = warm_.find(server);
  if (found != warm_.end()) return found->second->pool.get();
  auto warm = std::make_unique<Warm>();
  Warm* entry = warm.get();
  entry->clock = WarmPool::uv_clock(context_.loop, [entry] { entry->pool->on_wake(); });
  const WarmPool::Settings limits{settings.warm,
                                  static_cast<uint64_t>(settings.warm_max_age.count()),
                                  static_cast<uint64_t>(settings.warm_idle.count())};
  auto make_stack = [this, server](transport::StreamHandler& handler) {
    return transport::make_upstream(context_.loop, handler, server->settings, server->tls.get(),
                                    context_.random);
  };
  entry->pool = std::make_unique<WarmPool>(limits, std::move(make_stack), *entry->clock);
  warm_.emplace(server, std::move(warm));
  return entry->pool.get();
}

void ServerPool::stop_unused_warm_pools() {
  for (auto& [server, warm] : warm_) {
    if (!warm->clock) continue;  // stopped already
    if (std::find(set_->servers.begin(), set_->servers.end(), server) != set_->servers.end()) {
      continue;
    }
    warm->pool->stop();  // it calls its clock no more
    warm->clock.reset();
  }
}

void ServerPool::stop() {
  stop_checks();
  mux_.stop();
  stopped_ = true;
  for (auto& [server, warm] : warm_) {
    if (!warm->clock) continue;
    warm->pool->stop();
    warm->clock.reset();
  }
}

}  // namespace vmlocal::outbound
