#include "vmlocal/net/proxy.hpp"

#include "vmlocal/log/log.hpp"
#include "vmlocal/net/session.hpp"
#include "vmlocal/net/uv_util.hpp"

namespace vmlocal::net {
namespace {

std::string_view header_mode_name(vmess::HeaderMode mode) {
  return mode == vmess::HeaderMode::kAead ? "AEAD header" : "legacy header";
}

std::string_view wire_security_name(vmess::BodyFormat format) {
  switch (format.security) {
    case vmess::SecurityType::kAes128Gcm:
      return "aes-128-gcm";
    case vmess::SecurityType::kChacha20Poly1305:
      return "chacha20-poly1305";
    case vmess::SecurityType::kNone:
      return format.options == 0 ? "zero" : "none";
    default:
      return "?";
  }
}

}  // namespace

Proxy::Proxy(uv_loop_t* loop, const config::Profile& profile)
    : profile_(profile),
      account_(vmess::Account::make(profile.server.uuid, profile.server.alter_id)) {
  context_.loop = loop;
  context_.profile = &profile_;
  context_.account = &account_;
  context_.header_mode =
      profile.server.alter_id > 0 ? vmess::HeaderMode::kLegacy : vmess::HeaderMode::kAead;
  context_.body_format = vmess::resolve_body_format(profile.server.security);
  context_.random = &random_;
}

Proxy::~Proxy() = default;

std::optional<std::string> Proxy::start() {
  for (const config::ListenEndpoint& endpoint : profile_.local.listen) {
    sockaddr_storage addr{};
    if (uv_ip4_addr(endpoint.host.c_str(), endpoint.port, reinterpret_cast<sockaddr_in*>(&addr)) !=
            0 &&
        uv_ip6_addr(endpoint.host.c_str(), endpoint.port, reinterpret_cast<sockaddr_in6*>(&addr)) !=
            0) {
      return "listen " + endpoint.to_string() + ": not an IP address";
    }
    auto* listener = new Listener{};
    listener->proxy = this;
    listener->name = endpoint.to_string();
    uv_tcp_init(context_.loop, &listener->handle);
    listener->handle.data = listener;
    listeners_.push_back(listener);
    // IPv6 listeners take only IPv6, so "[::]:1080" and "0.0.0.0:1080" can both be listed.
    unsigned flags = addr.ss_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0;
    int rc = uv_tcp_bind(&listener->handle, reinterpret_cast<const sockaddr*>(&addr), flags);
    if (rc == 0)
      rc = uv_listen(reinterpret_cast<uv_stream_t*>(&listener->handle), 1024, on_connection);
    if (rc != 0) return "listen " + endpoint.to_string() + ": " + uv_strerror(rc);
  }
  std::string where;
  for (const Listener* listener : listeners_)
    where += (where.empty() ? "" : ", ") + listener->name;
  log::info("vmess-local listening on ", where, " (SOCKS5); server ", profile_.server.address, ":",
            profile_.server.port, " over tcp, ", wire_security_name(context_.body_format), ", ",
            header_mode_name(context_.header_mode));
  if (context_.header_mode == vmess::HeaderMode::kLegacy) {
    log::warn(
        "alter_id > 0 selects the legacy VMess header; servers updated since 2022 usually "
        "refuse it. Use alter_id = 0 unless your server needs it.");
  }
  return std::nullopt;
}

std::vector<std::string> Proxy::bound_addresses() const {
  std::vector<std::string> names;
  for (const Listener* listener : listeners_) {
    sockaddr_storage addr{};
    int len = sizeof addr;
    if (uv_tcp_getsockname(&listener->handle, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      names.push_back(format_sockaddr(reinterpret_cast<const sockaddr*>(&addr)));
    }
  }
  return names;
}

void Proxy::on_connection(uv_stream_t* server, int status) {
  auto* listener = static_cast<Listener*>(server->data);
  Proxy* self = listener->proxy;
  if (status != 0) {
    log::warn("accept on ", listener->name, ": ", uv_strerror(status));
    return;
  }
  if (self->stopped_) return;
  Session::accept(self->context_, server);
}

void Proxy::stop(std::string_view why) {
  if (stopped_) return;
  stopped_ = true;
  context_.stopping = true;
  log::info("stopping (", why, "): closing ", context_.session_count, " tunnel(s)");
  for (Listener* listener : listeners_) {
    uv_close(reinterpret_cast<uv_handle_t*>(&listener->handle),
             [](uv_handle_t* handle) { delete static_cast<Listener*>(handle->data); });
  }
  listeners_.clear();
  while (context_.sessions != nullptr) {
    context_.sessions->close(Session::End::kShutdown, "closed: vmess-local is stopping");
  }
}

}  // namespace vmlocal::net
