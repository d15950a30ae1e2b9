// One listener, several protocols: picks the inbound handshake from the first byte the app
// sends and hands every byte (that one included) to it. Pure: no sockets, no libuv.
//
//   0x05            SOCKS5 (socks5_handshake.hpp)
//   0x04            SOCKS4 / 4a (socks4_handshake.hpp)
//   'A'-'Z', 'a'-'z' an HTTP/1.x request line: the HTTP proxy (http_proxy_handshake.hpp)
//   0x16            a TLS ClientHello: an HTTPS client pointed at the proxy port. Closed with a
//                   log line saying how to point it at the proxy instead.
//   anything else   closed, the log line shows the first bytes in hex (at most 4).
// A protocol left out of [local] protocols is closed with a log line naming the key.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "vmlocal/handshake/http_proxy_handshake.hpp"
#include "vmlocal/handshake/inbound_handshake.hpp"
#include "vmlocal/handshake/socks5_handshake.hpp"

namespace vmlocal::handshake {

// Which protocols a listener accepts ([local] protocols).
struct Protocols {
  bool socks5 = true;
  bool socks4 = true;
  bool http = true;
  // SOCKS5 UDP ASSOCIATE (RFC 1928 §7) is answered: the UDP relay runs.
  bool socks5_udp_associate = false;
};

class SniffHandshake final : public InboundHandshake {
 public:
  // `credentials`: the profile's username and password (views into the profile), for SOCKS5
  // and HTTP; their presence also makes SOCKS4 refuse.
  SniffHandshake(Protocols enabled, std::optional<socks5::Credentials> credentials);

  // Before the first byte: "inbound"; then the chosen protocol's name.
  std::string_view protocol() const override;
  Step feed(ByteView input) override;
  const Request& request() const override { return chosen_->request(); }
  Reply success_reply() override { return chosen_->success_reply(); }
  Reply success_reply_bound(const TargetAddress& bound) override {
    return chosen_->success_reply_bound(bound);
  }
  Reply failure_reply(ErrorKind kind) override { return chosen_->failure_reply(kind); }

  // After kRequest: the HTTP proxy handshake when that is what the app spoke and it asked for
  // plain forwarding (an absolute-form request), else null.
  const http_proxy::HandshakeParser* http_forwarding() const;
  size_t carried_bytes() const override;

 private:
  Step refuse(std::string reason);

  Protocols enabled_;
  std::optional<socks5::Credentials> credentials_;
  std::unique_ptr<InboundHandshake> chosen_;
  http_proxy::HandshakeParser* http_ = nullptr;  // chosen_, when it is the HTTP proxy
  std::string reason_;
  bool failed_ = false;
};

}  // namespace vmlocal::handshake
