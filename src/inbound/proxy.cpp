#include "vmlocal/inbound/proxy.hpp"

#include <netinet/in.h>

#include <algorithm>

#include "connection_dialer.hpp"
#include "vmlocal/handshake/sniff_handshake.hpp"
#include "vmlocal/log/log.hpp"
#include "vmlocal/platform/descriptor_limit.hpp"
#include "vmlocal/platform/socket_options.hpp"
#include "vmlocal/tunnel/tunnel.hpp"
#include "vmlocal/uv/sockaddr.hpp"

namespace vmlocal::inbound {
Proxy::Proxy(uv_loop_t* loop, config::Profile profile, WorkerSlot worker)
    : profile_(std::make_shared<const config::Profile>(std::move(profile))),
      worker_(worker),
      tunnels_(loop),
      servers_(loop, random_),
      router_(loop, servers_, profile_->route, &servers_) {
  set_limits();
}

void Proxy::set_limits() {
  max_tunnels_ = SIZE_MAX;
  profile_max_tunnels_ = SIZE_MAX;
  // Every tunnel holds two descriptors (app and upstream); keep some for listeners, DNS and
  // logs, so accept() never runs into EMFILE halfway through a tunnel.
  if (const std::optional<size_t> limit = platform::descriptor_limit()) {
    const size_t usable = *limit > kReservedDescriptors ? *limit - kReservedDescriptors : 0;
    max_tunnels_ = std::max<size_t>(1, usable / 2 / worker_.count);
  }
  if (profile_->local.max_connections > 0) {
    // The kernel spreads connections over the workers' listeners: each takes its share.
    profile_max_tunnels_ =
        std::max<size_t>(1, (profile_->local.max_connections + worker_.count - 1) / worker_.count);
    max_tunnels_ = std::min(max_tunnels_, profile_max_tunnels_);
  }
}

std::optional<std::string> Proxy::start() {
  if (servers_.servers().empty()) {
    Result<bool> configured = servers_.configure(*profile_);
    if (!configured) return configured.error().message;
  }
  for (const config::ListenEndpoint& endpoint : profile_->local.listen) {
    Result<Listener*> listener = open_listener(endpoint);
    if (!listener) return listener.error().message;
    listeners_.push_back(*listener);
  }
  if (auto error = start_udp_relay()) return error;
  // Health checks on worker 1 only: the health is shared by every worker.
  servers_.start_checks(*profile_, worker_.index == 0);
  log_started("vmess-local listening on ");
  return std::nullopt;
}

std::optional<std::string> Proxy::reload(config::Profile profile,
                                         std::shared_ptr<outbound::ServerHealth> health) {
  if (stopped_) return std::string("stopping");
  auto next = std::make_shared<const config::Profile>(std::move(profile));
  // Listeners first: the kept ones by endpoint, the new ones opened now, so that a port in use
  // leaves everything as it was.
  std::vector<Listener*> listeners;
  std::vector<Listener*> opened;
  std::vector<bool> kept(listeners_.size(), false);
  // Old listeners closed early to hand their port over (below): their endpoints, to take back.
  std::vector<std::optional<config::ListenEndpoint>> handed_over(listeners_.size());
  auto undo = [&] {
    for (Listener* listener : opened)
      close_listener(listener);
    for (size_t i = 0; i < listeners_.size(); ++i) {
      if (!handed_over[i]) continue;
      Result<Listener*> back = open_listener(*handed_over[i]);
      if (back) {
        listeners_[i] = *back;
      } else {  // lost meanwhile: say so, and serve on the others
        log::error(back.error().message, " (closed for a reload that was then refused)");
      }
    }
    std::erase(listeners_, nullptr);
  };
  for (const config::ListenEndpoint& endpoint : next->local.listen) {
    Listener* same = nullptr;
    for (size_t i = 0; i < listeners_.size() && same == nullptr; ++i) {
      if (!kept[i] && listeners_[i] != nullptr && listeners_[i]->endpoint == endpoint) {
        kept[i] = true;
        same = listeners_[i];
      }
    }
    if (same == nullptr) {
      int uv_error = 0;
      Result<Listener*> listener = open_listener(endpoint, &uv_error);
      if (!listener && uv_error == UV_EADDRINUSE && hand_over_port(*next, endpoint, handed_over)) {
        listener = open_listener(endpoint);
      }
      if (!listener) {
        undo();
        return listener.error().message;
      }
      same = *listener;
      opened.push_back(same);
    }
    listeners.push_back(same);
  }
  servers_.share_health(std::move(health));
  if (Result<bool> configured = servers_.configure(*next); !configured) {
    undo();
    servers_.start_checks(*profile_, worker_.index == 0);  // configure() stopped them
    return configured.error().message;
  }
  // Committed. Connections already queued on a closed listener are refused by the kernel.
  for (size_t i = 0; i < listeners_.size(); ++i) {
    if (!kept[i] && listeners_[i] != nullptr) close_listener(listeners_[i]);
  }
  listeners_ = std::move(listeners);
  warn_if_udp_stays(*profile_, *next);
  profile_ = std::move(next);
  router_.set_rules(profile_->route);
  set_limits();
  servers_.start_checks(*profile_, worker_.index == 0);
  log_started("profile reloaded: listening on ");
  return std::nullopt;
}

// The UDP relay is shared by the workers and bound beside the listeners at start; a reload
// reaches its routing (the router's rules) and servers (the pool), but not its sockets or its
// limits: rebinding UDP ports under live associations would drop their datagrams. Say so once
// (worker 1) when the reload changed what it cannot apply.
void Proxy::warn_if_udp_stays(const config::Profile& before, const config::Profile& after) const {
  if (worker_.index != 0) return;
  const auto& a = before.local;
  const auto& b = after.local;
  const bool was_on = udp_relay_ != nullptr;
  const bool changed =
      was_on != config::udp_enabled(after) ||
      (was_on &&
       (a.listen != b.listen || a.udp_idle_timeout != b.udp_idle_timeout ||
        a.udp_max_destinations != b.udp_max_destinations || a.udp_max_queued != b.udp_max_queued));
  if (changed) {
    log::warn(
        "reload: UDP keeps the sockets and limits it started with ([local] listen, udp, "
        "udp_* keys); restart vmess-local to apply the change to UDP");
  }
}

// The port of a new endpoint may be ours: an old listener that the new profile drops holds it
// under an address that overlaps (127.0.0.1:1080 -> 0.0.0.0:1080), and the kernel refuses the
// overlap without SO_REUSEPORT (set only with several workers, which therefore never get here,
// so that a second vmess-local on the port fails loudly). Such listeners are closed now (libuv
// closes the socket at once) so the caller can bind again; reload's undo() takes them back.
// Connections that arrive in between, microseconds, are refused. Returns whether one was.
bool Proxy::hand_over_port(const config::Profile& next, const config::ListenEndpoint& endpoint,
                           std::vector<std::optional<config::ListenEndpoint>>& handed_over) {
  bool any = false;
  for (size_t i = 0; i < listeners_.size(); ++i) {
    Listener* old = listeners_[i];
    if (old == nullptr || old->endpoint.port != endpoint.port) continue;
    const auto& listen = next.local.listen;
    if (std::find(listen.begin(), listen.end(), old->endpoint) != listen.end()) continue;
    handed_over[i] = old->endpoint;
    close_listener(old);
    listeners_[i] = nullptr;
    any = true;
  }
  return any;
}

void Proxy::close_listener(Listener* listener) {
  uv_close(reinterpret_cast<uv_handle_t*>(&listener->handle),
           [](uv_handle_t* handle) { delete static_cast<Listener*>(handle->data); });
}

Result<Proxy::Listener*> Proxy::open_listener(const config::ListenEndpoint& endpoint,
                                              int* uv_error) {
  sockaddr_storage addr{};
  if (uv_ip4_addr(endpoint.host.c_str(), endpoint.port, reinterpret_cast<sockaddr_in*>(&addr)) !=
          0 &&
      uv_ip6_addr(endpoint.host.c_str(), endpoint.port, reinterpret_cast<sockaddr_in6*>(&addr)) !=
          0) {
    return Error{ErrorKind::kOther, "listen " + endpoint.to_string() + ": not an IP address"};
  }
  auto* listener = new Listener{};
  listener->proxy = this;
  listener->name = endpoint.to_string();
  listener->endpoint = endpoint;
  // The socket is made now (not at bind) so SO_REUSEPORT can be set before binding.
  int rc = uv_tcp_init_ex(tunnels_.loop, &listener->handle, addr.ss_family);
  if (rc != 0) {
    delete listener;
    return Error{ErrorKind::kOther, "listen " + endpoint.to_string() + ": " + uv_strerror(rc)};
  }
  listener->handle.data = listener;
  auto fail = [&](std::string why) -> Result<Listener*> {
    if (uv_error != nullptr) *uv_error = rc;
    close_listener(listener);
    return Error{ErrorKind::kOther, "listen " + endpoint.to_string() + ": " + why};
  };
  if (worker_.count > 1) {
    uv_os_fd_t fd = -1;
    if (uv_fileno(reinterpret_cast<uv_handle_t*>(&listener->handle), &fd) != 0 ||
        !platform::enable_reuseport(fd)) {
      return fail("cannot set SO_REUSEPORT for workers");
    }
  }
  // IPv6 listeners take only IPv6, so "[::]:1080" and "0.0.0.0:1080" can both be listed.
  unsigned flags = addr.ss_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0;
  rc = uv_tcp_bind(&listener->handle, reinterpret_cast<const sockaddr*>(&addr), flags);
  if (rc == 0)
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(&listener->handle), 1024, on_connection);
  if (rc != 0) return fail(uv_strerror(rc));
  return listener;
}

// The first worker binds a UDP socket beside each TCP listener, on the address and port the
// listener got; the others were handed its relay (share_udp_relay).
std::optional<std::string> Proxy::start_udp_relay() {
  if (!config::udp_enabled(*profile_)) return std::nullopt;
  if (worker_.index == 0) {
    udp_relay_ = std::make_shared<UdpRelay>(tunnels_.loop, profile_, router_);
    for (const Listener* listener : listeners_) {
      sockaddr_storage addr{};
      int len = sizeof addr;
      if (uv_tcp_getsockname(&listener->handle, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        continue;
      }
      if (auto error =
              udp_relay_->bind(*reinterpret_cast<const sockaddr*>(&addr), listener->name)) {
        return error;
      }
    }
  }
  tunnels_.udp = udp_relay_.get();
  return std::nullopt;
}

void Proxy::log_started(std::string_view what) const {
  std::string where;
  for (const std::string& name : bound_addresses())
    where += (where.empty() ? "" : ", ") + name;
  const std::string worker_note = worker_.count > 1
                                      ? " [worker " + std::to_string(worker_.index + 1) + " of " +
                                            std::to_string(worker_.count) + "]"
                                      : std::string();
  std::string servers;
  for (const auto& server : servers_.servers())
    servers += (servers.empty() ? "" : "; ") + server->describe();
  const config::Profile::Local::Protocols& p = profile_->local.protocols;
  std::string protocols;
  // UDP off although [local] udp is on (security "zero" everywhere): say why, since nothing
  // else will.
  std::string socks5 = udp_relay_ ? "SOCKS5 with UDP" : "SOCKS5";
  if (udp_relay_) {
    // After a reload that added a listen address: UDP only where it started (its sockets stay).
    const std::vector<std::string> udp = udp_relay_->bound_names();
    std::string only;
    bool all = true;
    for (const std::string& name : bound_addresses()) {
      if (std::find(udp.begin(), udp.end(), name) != udp.end()) {
        only += (only.empty() ? "" : ", ") + name;
      } else {
        all = false;
      }
    }
    if (!all && !only.empty()) {
      socks5 +=
          " on " + only + " only (UDP keeps the addresses it started with: restart for the others)";
    } else if (!all) {
      std::string started;
      for (const std::string& name : udp)
        started += (started.empty() ? "" : ", ") + name;
      socks5 = "SOCKS5 without UDP here (UDP keeps the addresses it started with, " + started +
               ": restart for UDP on these)";
    }
  }
  if (!udp_relay_ && profile_->local.udp && !config::udp_enabled(*profile_)) {
    socks5 += " without UDP (" + config::udp_off_reason(*profile_) + ")";
  }
  for (const auto& [on, name] : {std::pair<bool, std::string>{p.socks5, socks5},
                                 {p.socks4, "SOCKS4/4a"},
                                 {p.http, "HTTP"}}) {
    if (on) protocols += (protocols.empty() ? "" : ", ") + name;
  }
  const route::Decision private_targets = profile_->route.private_targets;
  log::info(what, where, worker_note, " (", protocols, "); ",
            servers_.servers().size() > 1 ? "servers " : "server ", servers, "; private targets: ",
            private_targets == route::Decision::kProxy    ? "through the server"
            : private_targets == route::Decision::kDirect ? "direct"
                                                          : "blocked");
}

std::vector<std::string> Proxy::bound_addresses() const {
  std::vector<std::string> names;
  for (const Listener* listener : listeners_) {
    sockaddr_storage addr{};
    int len = sizeof addr;
    if (uv_tcp_getsockname(&listener->handle, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      names.push_back(uv::format_sockaddr(reinterpret_cast<const sockaddr*>(&addr)));
    }
  }
  return names;
}

std::vector<uint16_t> Proxy::bound_ports() const {
  std::vector<uint16_t> ports;
  for (const Listener* listener : listeners_) {
    sockaddr_storage addr{};
    int len = sizeof addr;
    uint16_t port = 0;
    if (uv_tcp_getsockname(&listener->handle, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port = ntohs(addr.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port
                                              : reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
    }
    ports.push_back(port);
  }
  return ports;
}

void Proxy::on_connection(uv_stream_t* server, int status) {
  auto* listener = static_cast<Listener*>(server->data);
  Proxy* self = listener->proxy;
  if (status == UV_EMFILE || status == UV_ENFILE) {
    // libuv has already dropped the pending connections to stay responsive; live tunnels go on.
    self->note_refusal("out of file descriptors");
    return;
  }
  if (status != 0) {
    log::warn("accept on ", listener->name, ": ", uv_strerror(status));
    return;
  }
  if (self->stopped_) return;
  if (self->tunnels_.tunnel_count >= self->max_tunnels_) {
    self->refuse(server);
    return;
  }
  self->accept_tunnel(server);
}

void Proxy::accept_tunnel(uv_stream_t* server) {
  const config::Profile::Local& local = profile_->local;
  std::optional<socks5::Credentials> credentials;
  // Views into the snapshot, which the tunnel keeps alive as long as the handshake.
  if (!local.username.empty()) credentials = socks5::Credentials{local.username, local.password};
  const handshake::Protocols protocols{local.protocols.socks5, local.protocols.socks4,
                                       local.protocols.http, tunnels_.udp != nullptr};
  auto handshake = std::make_unique<handshake::SniffHandshake>(protocols, credentials);
  auto dialer =
      std::make_unique<ConnectionDialer>(tunnels_.loop, router_, *handshake,
                                         static_cast<uint64_t>(profile_->timeouts.connect.count()));
  tunnel::Tunnel::accept(tunnels_, profile_, std::move(handshake), std::move(dialer), server);
}

void Proxy::refuse(uv_stream_t* server) {
  // Take the connection off the queue and close it at once: the app sees its connection end
  // instead of waiting in a backlog, and the descriptors stay below the limit.
  auto* handle = new uv_tcp_t;
  uv_tcp_init(tunnels_.loop, handle);
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(handle)) == 0) {
    note_refusal(max_tunnels_ == profile_max_tunnels_ ? "max_connections reached"
                                                      : "the file descriptor limit is near");
  }
  uv_close(reinterpret_cast<uv_handle_t*>(handle),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
}

void Proxy::note_refusal(const char* why) {
  // One line per burst, not one per connection: a flood must not flood the log too.
  ++refused_since_log_;
  const uint64_t now = uv_now(tunnels_.loop);
  if (last_refusal_log_ms_ != 0 && now - last_refusal_log_ms_ < 10'000) return;
  log::warn("refusing new connections: ", why, " (", tunnels_.tunnel_count, " tunnels open, ",
            refused_since_log_, " refused since the last report)");
  last_refusal_log_ms_ = now;
  refused_since_log_ = 0;
}

void Proxy::stop(std::string_view why) {
  if (stopped_) return;
  stopped_ = true;
  for (Listener* listener : listeners_)
    close_listener(listener);
  listeners_.clear();
  // Only the first worker runs the relay; the UDP socket stops with the listeners.
  if (udp_relay_ && worker_.index == 0) udp_relay_->stop();
  tunnels_.udp = nullptr;
  servers_.stop();  // fail-fast checks and warm connections end; shared connections close as
                    // their last tunnel does
  const auto grace = profile_->timeouts.shutdown_grace;
  if (grace.count() > 0 && tunnels_.tunnel_count > 0) {
    log::info("stopping (", why, "): no new connections; waiting up to ",
              static_cast<double>(grace.count()) / 1000.0, " s for ", tunnels_.tunnel_count,
              " tunnel(s) to finish");
    // Unreferenced: once the last tunnel has closed, the loop ends without waiting for it.
    uv_timer_init(tunnels_.loop, &grace_timer_);
    grace_timer_.data = this;
    uv_timer_start(
        &grace_timer_,
        [](uv_timer_t* timer) { static_cast<Proxy*>(timer->data)->close_all("grace period over"); },
        static_cast<uint64_t>(grace.count()), 0);
    uv_unref(reinterpret_cast<uv_handle_t*>(&grace_timer_));
    grace_timer_started_ = true;
    return;
  }
  close_all(why);
}

void Proxy::close_all(std::string_view why) {
  log::info("stopping (", why, "): closing ", tunnels_.tunnel_count, " tunnel(s)");
  tunnels_.close_all("closed: vmess-local is stopping");
}

void Proxy::release_handles() {
  servers_.stop();
  if (grace_timer_started_) {
    grace_timer_started_ = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&grace_timer_), nullptr);
  }
}

Proxy::~Proxy() = default;

}  // namespace vmlocal::inbound
