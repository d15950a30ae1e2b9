#include "vmlocal/transport/upstream.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include "vmlocal/transport/h2_stream.hpp"
#include "vmlocal/transport/http_header_stream.hpp"
#include "vmlocal/transport/httpupgrade_stream.hpp"
#include "vmlocal/transport/tcp_stream.hpp"
#include "vmlocal/transport/tls_stream.hpp"

namespace vmlocal::transport {
namespace {

bool is_ipv4(const std::string& host) {
  in_addr v4{};
  return inet_pton(AF_INET, host.c_str(), &v4) == 1;
}

bool is_ipv6(const std::string& host) {
  in6_addr v6{};
  return inet_pton(AF_INET6, host.c_str(), &v6) == 1;
}

}  // namespace

TlsOptions tls_options_for(const config::Profile::Server& server) {
  TlsOptions options;
  // Both WebSocket and HTTPUpgrade open with an HTTP/1.1 request.
  const bool ws = server.transport == config::Transport::kWs ||
                  server.transport == config::Transport::kHttpUpgrade;
  const bool h2 =
      server.transport == config::Transport::kH2 || server.transport == config::Transport::kGrpc;
  if (!server.tls) return options;
  const config::TlsSettings& tls = *server.tls;
  const bool address_is_ip = is_ipv4(server.address) || is_ipv6(server.address);
  options.server_name = !tls.sni.empty() ? tls.sni : (address_is_ip ? "" : server.address);
  options.verify_name = !tls.sni.empty() ? tls.sni : server.address;
  // The WebSocket upgrade is an HTTP/1.1 request: offer exactly "http/1.1", whatever the
  // profile lists (the loader has warned about anything else, see config/constraints.hpp). A
  // server offered "h2" would take it.
  // h2 and gRPC are HTTP/2 over TLS, which RFC 9113 §3.2 negotiates with ALPN "h2" (and
  // v2ray's client refuses a server that picks anything else): offer exactly that.
  if (ws) {
    options.alpn = {"http/1.1"};
  } else if (h2) {
    options.alpn = {"h2"};
  } else if (tls.alpn) {
    options.alpn = *tls.alpn;
  }
  options.require_http11 = ws;
  options.require_h2 = h2;
  options.insecure = tls.insecure;
  options.ca_file = tls.ca_file;
  options.pins = tls.pin_sha256;
  return options;
}

namespace {

// The Host header of an HTTP/1.1 upgrade: `configured`, else sni, else the address, with
// ":port" unless it is the scheme's default.
std::string upgrade_host(const config::Profile::Server& server, const std::string& configured) {
  if (!configured.empty()) return configured;
  const std::string& name =
      server.tls && !server.tls->sni.empty() ? server.tls->sni : server.address;
  std::string host = is_ipv6(name) ? "[" + name + "]" : name;
  const uint16_t default_port = server.tls ? 443 : 80;
  if (server.port != default_port) host += ":" + std::to_string(server.port);
  return host;
}

}  // namespace

httpupgrade::Request httpupgrade_request_for(const config::Profile::Server& server) {
  return httpupgrade::Request{upgrade_host(server, server.httpupgrade.host),
                              server.httpupgrade.path};
}

WsOptions ws_options_for(const config::Profile::Server& server) {
  WsOptions options;
  options.request.path = server.ws.path;
  options.request.headers = server.ws.headers;
  options.max_early_data = server.ws.max_early_data;
  options.early_data_header = server.ws.early_data_header;
  options.request.host = upgrade_host(server, server.ws.host);
  return options;
}

H2Options h2_options_for(const config::Profile::Server& server, crypto::Random& random) {
  H2Options options;
  if (server.transport == config::Transport::kGrpc) {
    // grpc-go, which Xray's client is, sends the dial target "host:port" as :authority.
    options.grpc = true;
    options.path = config::grpc_path(server.grpc);
    const std::string& name =
        server.tls && !server.tls->sni.empty() ? server.tls->sni : server.address;
    options.authority =
        (is_ipv6(name) ? "[" + name + "]" : name) + ":" + std::to_string(server.port);
    return options;
  }
  options.path = server.h2.path;
  // v2ray's getRandomHost: one of the hosts per request, "www.example.com" when none is set.
  if (server.h2.host.empty()) {
    options.authority = "www.example.com";
  } else {
    options.authority =
        server.h2.host[random.uniform(static_cast<uint32_t>(server.h2.host.size()))];
  }
  return options;
}

http_header::RequestOptions http_header_options_for(const config::Profile::Server& server) {
  return http_header::RequestOptions{server.tcp.path, server.tcp.host};
}

std::unique_ptr<Stream> make_upstream(uv_loop_t* loop, StreamHandler& handler,
                                      const config::Profile::Server& server, TlsContext* tls,
                                      crypto::Random& random) {
  // Each layer builds the one below it with itself as the handler.
  MakeInner below = [loop, &server](StreamHandler& h) -> std::unique_ptr<Stream> {
    return std::make_unique<TcpStream>(loop, h, server.address, server.port, server.tcp_fast_open);
  };
  if (server.tls) {
    below = [loop, tls, tcp = below](StreamHandler& h) -> std::unique_ptr<Stream> {
      return std::make_unique<TlsStream>(loop, h, *tls, tcp);
    };
  }
  if (server.transport == config::Transport::kWs) {
    return std::make_unique<WsStream>(loop, handler, ws_options_for(server), random, below);
  }
  if (server.transport == config::Transport::kH2 || server.transport == config::Transport::kGrpc) {
    return std::make_unique<H2Stream>(loop, handler, h2_options_for(server, random), below);
  }
  if (server.transport == config::Transport::kHttpUpgrade) {
    return std::make_unique<HttpUpgradeStream>(loop, handler, httpupgrade_request_for(server),
                                               below);
  }
  if (server.transport == config::Transport::kTcp &&
      server.tcp.header == config::TcpHeader::kHttp) {
    return std::make_unique<HttpHeaderStream>(loop, handler, http_header_options_for(server),
                                              random, below);
  }
  return below(handler);
}

std::string describe_upstream(const config::Profile::Server& server) {
  std::string text = config::transport_name(server);
  // The upgrade transports show their URL: "ws+tls (wss://cdn.example.org/ws, SNI ...)"; h2
  // and grpc their request.
  std::string url;
  if (server.transport == config::Transport::kWs) {
    const WsOptions ws = ws_options_for(server);
    url = std::string(server.tls ? "wss://" : "ws://") + ws.request.host + ws.request.path;
  } else if (server.transport == config::Transport::kHttpUpgrade) {
    const httpupgrade::Request up = httpupgrade_request_for(server);
    url = std::string(server.tls ? "https://" : "http://") + up.host + up.path;
  } else if (server.transport == config::Transport::kH2) {
    url = "PUT " + server.h2.path + ", host " +
          (server.h2.host.empty()       ? std::string("www.example.com")
           : server.h2.host.size() == 1 ? server.h2.host.front()
                                        : "one of " + std::to_string(server.h2.host.size()));
  } else if (server.transport == config::Transport::kGrpc) {
    url = "POST " + config::grpc_path(server.grpc);
  }
  if (url.empty() && !server.tls) return text;
  text += " (" + url;
  if (server.tls) {
    const TlsOptions tls = tls_options_for(server);
    if (!url.empty()) text += ", ";
    text += tls.server_name.empty() ? "no SNI" : "SNI " + tls.server_name;
    if (tls.insecure) {
      text += ", certificate NOT verified";
    } else if (!tls.pins.empty()) {
      text += ", pinned key";
    } else if (!tls.ca_file.empty()) {
      text += ", CA " + tls.ca_file;
    }
  }
  return text + ")";
}

}  // namespace vmlocal::transport
