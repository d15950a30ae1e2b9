// The WebSocket opening handshake (RFC 6455 §4), sans I/O: the client's HTTP/1.1 upgrade
// request and a push-style reader that checks the server's answer.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "vmlocal/util/bytes.hpp"

namespace vmlocal::transport::ws {

struct UpgradeRequest {
  std::string host;  // the Host header (a name, optionally ":port")
  std::string path;  // request target, starts with "/"
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers, in order
};

// A fresh Sec-WebSocket-Key: base64 of 16 bytes (the caller draws them at random).
std::string make_key(ByteView sixteen_random_bytes);
// Sec-WebSocket-Accept for a key: base64(SHA-1(key + the RFC's GUID)).
std::string accept_for_key(std::string_view key);
// "GET /path HTTP/1.1\r\nHost: ...\r\n...\r\n\r\n".
std::string build_upgrade_request(const UpgradeRequest& request, std::string_view key);

// WebSocket early data: the first bytes of the stream ride in the upgrade request, base64url
// without padding (Go's RawURLEncoding), either in the header `header_name` (Xray; sing-box with
// early_data_header_name "Sec-WebSocket-Protocol") or appended to the path when `header_name`
// is empty (v2fly, sing-box's default). Sources: v2fly's transport docs, config/transport/
// websocket.md ("maxEarlyData ... 数据会以 Base64 RawURLEncoding 的形式附加在 path 之后 ...
// 如果设置 earlyDataHeaderName 则会将前置数据放置于该 HTTP 头"); Xray's transports/websocket
// ("ed" in the path: the first packet in Sec-WebSocket-Protocol); sing-box's
// configuration/shared/v2ray-transport (WebSocket: max_early_data, early_data_header_name).
UpgradeRequest with_early_data(UpgradeRequest request, ByteView early,
                               std::string_view header_name);

// Reads the server's response head (status line and headers) as bytes arrive, and checks it:
// status 101, "Upgrade: websocket", "Connection: upgrade", the right Sec-WebSocket-Accept, and
// no extension or subprotocol, except that an early-data value offered in
// Sec-WebSocket-Protocol may be echoed (Xray and sing-box echo it, as browsers require). Bytes
// after the head are WebSocket frames and are left to the caller (see Step::consumed).
class UpgradeResponseReader {
 public:
  // A response head longer than this is refused (v2ray sends ~130 bytes; CDNs a few hundred).
  static constexpr size_t kMaxHead = 16 * 1024;

  enum class Status : uint8_t { kNeedMore, kDone, kError };
  struct Step {
    Status status = Status::kNeedMore;
    size_t consumed = 0;  // bytes of this input that belong to the head
  };

  // `offered_protocol`: the Sec-WebSocket-Protocol value the request carried ("" for none).
  explicit UpgradeResponseReader(std::string key, std::string offered_protocol = {});
  // The HTTPUpgrade transport's answer (httpupgrade.hpp): the same 101 head, without
  // Sec-WebSocket-Accept, since its request carries no key.
  static UpgradeResponseReader without_accept() { return UpgradeResponseReader(); }

  Step feed(ByteView bytes);

  // kError: what is wrong, e.g. "upgrade refused: HTTP 404 Not Found".
  const std::string& error() const { return error_; }
  // The status code once the status line was read (0 before).
  int status_code() const { return status_code_; }
  // Once the head was read, whatever the answer: the status line and the Date header ("" when
  // absent), for the doctor and the clock offset estimate.
  const std::string& status_line() const { return status_line_; }
  const std::string& date() const { return date_; }

 private:
  UpgradeResponseReader() = default;
  Step fail(std::string why);
  void check_head();

  std::string expected_accept_;  // "": not checked (HTTPUpgrade)
  std::string offered_protocol_;
  std::string head_;
  std::string error_;
  std::string status_line_;
  std::string date_;
  int status_code_ = 0;
  bool done_ = false;
};

}  // namespace vmlocal::transport::ws
