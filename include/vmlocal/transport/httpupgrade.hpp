// The HTTPUpgrade transport (Xray, sing-box, v2ray >= 5.10), sans I/O: an HTTP/1.1 request with
// "Upgrade: websocket", a "101 Switching Protocols" answer, and then the connection carries the
// stream as raw bytes, without WebSocket framing.
//
// Sources: Xray's config/transports/httpupgrade ("a WebSocket-like ... HTTP/1.1 upgrade request
// and response ... without implementing the rest of the WebSocket protocol"; path default "/",
// host, headers); v2fly's v5 config/stream/httpupgrade ("complete a HTTP 1.1 Upgrade request and
// response before using the connection directly"); sing-box's configuration/shared/
// v2ray-transport (HTTPUpgrade: host, path, headers; "the server will verify"). The header
// names come from the Upgrade mechanism those documents name (RFC 9110 §7.8): Upgrade and
// Connection: Upgrade; no Sec-WebSocket-Key, since no WebSocket follows.
#pragma once

#include <string>

#include "vmlocal/transport/ws_handshake.hpp"

namespace vmlocal::transport::httpupgrade {

struct Request {
  std::string host;  // the Host header
  std::string path;  // request target, starts with "/"
};

// "GET <path> HTTP/1.1\r\nHost: <host>\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n".
std::string build_request(const Request& request);

// The answer's checks: status 101, "Upgrade: websocket", "Connection: upgrade" (tokens, any
// case), no extension or subprotocol. Bytes after the head are the stream's first.
inline ws::UpgradeResponseReader make_response_reader() {
  return ws::UpgradeResponseReader::without_accept();
}

}  // namespace vmlocal::transport::httpupgrade
