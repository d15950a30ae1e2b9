// The upstream stack a profile asks for, built from the layers: tcp, tcp -> tls, tcp -> ws,
// tcp -> tls -> ws, tcp -> tls -> h2 (h2 and grpc), tcp -> [tls] -> http-header,
// tcp -> [tls] -> httpupgrade. The session only ever sees the top Stream.
#pragma once

#include <uv.h>

#include <memory>
#include <string>

#include "vmlocal/config/profile.hpp"
#include "vmlocal/crypto/random.hpp"
#include "vmlocal/transport/h2_stream.hpp"
#include "vmlocal/transport/http_header.hpp"
#include "vmlocal/transport/httpupgrade.hpp"
#include "vmlocal/transport/stream.hpp"
#include "vmlocal/transport/tls_context.hpp"
#include "vmlocal/transport/ws_stream.hpp"

namespace vmlocal::transport {

// SNI: sni, else the address when it is a name. Certificate name: sni, else the address.
// ALPN: exactly "http/1.1" under ws and httpupgrade (HTTP/1.1 upgrades), exactly "h2" under
// h2 and grpc; over tcp as configured, else none.
TlsOptions tls_options_for(const config::Profile::Server& server);
// Host: host, else sni, else the address (":port" added unless it is 80 for ws, 443 for wss).
WsOptions ws_options_for(const config::Profile::Server& server);

// h2: :path from [server.h2], :authority one of its hosts drawn with `random` (v2ray's
// "www.example.com" when none). grpc: :path /<service_name>/Tun, :authority sni or address
// with the port.
H2Options h2_options_for(const config::Profile::Server& server, crypto::Random& random);
// [server.httpupgrade]: path, and Host as for ws.
httpupgrade::Request httpupgrade_request_for(const config::Profile::Server& server);
// [server.tcp] header = "http": the paths and hosts the request head draws from.
http_header::RequestOptions http_header_options_for(const config::Profile::Server& server);

// Builds the stack for `server`. `tls` must be the context made from tls_options_for(server)
// when server.tls is set (it may be null otherwise); `random` draws WebSocket keys and masks.
std::unique_ptr<Stream> make_upstream(uv_loop_t* loop, StreamHandler& handler,
                                      const config::Profile::Server& server, TlsContext* tls,
                                      crypto::Random& random);

// For the start-up log line: "ws+tls (wss://cdn.example.org/ws, SNI cdn.example.org)".
std::string describe_upstream(const config::Profile::Server& server);

}  // namespace vmlocal::transport
