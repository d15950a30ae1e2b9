// A loopback server for the HTTP/1 upgrade transports vmess-local speaks to Xray, sing-box and
// v2ray 5 servers, none of which is packaged here: it takes the client's upgrade request, checks
// it byte by byte against the published transport documents, answers 101, and then relays the
// stream to a backend that speaks VMess over plain TCP (the real v2ray 4.34, whose inbounds
// relay only to loopback, or the scripted fake server). Written from the documents, not from
// vmess-local's code: its own RFC 6455 frame codec and its own early-data decoding.
//
// WebSocket (RFC 6455 §4.2, §5): GET with Upgrade: websocket, Connection: Upgrade,
// Sec-WebSocket-Version: 13 and a Sec-WebSocket-Key; the answer carries Sec-WebSocket-Accept.
// Early data (v2fly config/transport/websocket.md, maxEarlyData / earlyDataHeaderName; Xray
// config/transports/websocket "ed"; sing-box configuration/shared/v2ray-transport WebSocket
// max_early_data / early_data_header_name): base64url without padding (Go's RawURLEncoding) in
// the named header, echoed in the 101 when that header is Sec-WebSocket-Protocol (as Xray and
// sing-box do), or appended to the path. Those bytes are the stream's first. Client frames
// must be masked; the server's are not. The backend's end becomes a Close (1000).
//
// HTTPUpgrade (Xray config/transports/httpupgrade, v2fly v5 config/stream/httpupgrade, sing-box
// v2ray-transport HTTPUpgrade): GET with Upgrade: websocket and Connection: Upgrade, answered
// with "101 Switching Protocols" and the same two headers; after that raw bytes, with the
// half-close passed on each way.
//
// A request that does not match (path, Host, missing headers, bad early data) is answered
// "404 Not Found" or "400 Bad Request" and closed, like Xray's hub.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "harness/endpoint.hpp"
#include "harness/tcp_server.hpp"

namespace vmlocal::itest {

enum class FrontMode : std::uint8_t { kWebSocket, kHttpUpgrade };

struct Http1FrontOptions {
  FrontMode mode = FrontMode::kWebSocket;
  std::string path = "/";  // exact; with path-form early data, the prefix
  std::string host;        // when set, the Host header must equal it
  // WebSocket early data: > 0 accepts up to this many bytes in the request.
  std::size_t max_early_data = 0;
  std::string early_data_header;  // "": the path form
  Endpoint backend;               // VMess over plain TCP
};

class Http1Front {
 public:
  explicit Http1Front(Http1FrontOptions options);
  const Endpoint& endpoint() const { return server_.endpoint(); }
  uint16_t port() const { return server_.port(); }

  int upgrades() const { return upgrades_.load(); }
  int refusals() const { return refusals_.load(); }
  // Early-data bytes decoded from requests, over all connections.
  std::uint64_t early_data_bytes() const { return early_data_bytes_.load(); }
  // The request heads received, in order (for tests of the exact bytes).
  std::vector<std::string> request_heads() const;
  // Protocol errors of the client after the upgrade (an unmasked or unknown frame); empty when
  // every client kept to the protocol. Peers going away are not errors here.
  std::vector<std::string> errors() const;

 private:
  void serve(Socket& client);

  Http1FrontOptions options_;
  std::atomic<int> upgrades_{0};
  std::atomic<int> refusals_{0};
  std::atomic<std::uint64_t> early_data_bytes_{0};
  mutable std::mutex mutex_;
  std::vector<std::string> heads_;
  std::vector<std::string> errors_;
  TcpServer server_;  // last: its threads use the members above
};

}  // namespace vmlocal::itest
