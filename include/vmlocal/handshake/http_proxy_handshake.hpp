// The app side of an HTTP proxy request (RFC 9110 §9.3.6 CONNECT, RFC 9112 §3.2 request
// targets) behind handshake::InboundHandshake. Pure: no sockets, no libuv.
//
// The parser takes the first request head (up to http1::kMaxHeadSize; longer: 431) and then:
//   CONNECT host:port        -> kRequest for host:port; success_reply() is "200 Connection
//                               established", after which the bytes are relayed untouched.
//   GET http://host[:port]/… -> kRequest for host:port (default 80) with forwarding() true:
//                               success_reply() is empty, and head() is the request head as
//                               the app sent it, for the forwarding adapter (inbound/) to
//                               rewrite and send; the rest of the connection goes through it.
// Anything else gets a response and a close: 400 with the reason (malformed head, origin-form
// target sent to a proxy, https:// without CONNECT, bad framing), 431 for a head over the
// limit, 407 with Proxy-Authenticate: Basic when credentials are required and missing or wrong
// (RFC 9110 §11.7.1; RFC 7617 Basic, compared in constant time). Failures to open the upstream
// (failure_reply) are 504 for a timeout and 502 otherwise, with a one-line body naming the
// cause's kind.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "vmlocal/handshake/inbound_handshake.hpp"
#include "vmlocal/handshake/socks5_handshake.hpp"

namespace vmlocal::http_proxy {

using Credentials = socks5::Credentials;

class HandshakeParser final : public handshake::InboundHandshake {
 public:
  // With credentials, every request must carry them in Proxy-Authorization: Basic.
  explicit HandshakeParser(std::optional<Credentials> required = std::nullopt);
  ~HandshakeParser() override;
  HandshakeParser(const HandshakeParser&) = delete;
  HandshakeParser& operator=(const HandshakeParser&) = delete;

  handshake::Step feed(ByteView input) override;
  std::string_view protocol() const override { return forwarding_ ? "http" : "http-connect"; }
  const handshake::Request& request() const override { return request_; }
  handshake::Reply success_reply() override;
  // Never asked: this protocol has no UDP command.
  handshake::Reply success_reply_bound(const TargetAddress&) override { return success_reply(); }
  handshake::Reply failure_reply(ErrorKind kind) override;

  // After kRequest: true for an absolute-form request (plain HTTP forwarding).
  bool forwarding() const { return forwarding_; }
  // After kRequest with forwarding(): the whole first request head, as the app sent it.
  std::string_view head() const { return head_; }

 private:
  enum class Phase : uint8_t { kHead, kDone, kFailed };
  handshake::Step fail(size_t consumed, int status, std::string_view status_text,
                       std::string reason, std::string_view extra_fields = {});
  handshake::Step finish(size_t consumed);
  bool authorized(std::string_view header_value) const;

  std::optional<Credentials> required_;
  Phase phase_ = Phase::kHead;
  std::string head_;
  bool forwarding_ = false;
  std::string reason_;
  std::string reply_;
  handshake::Request request_;
};

// Host text (a name or an IP literal without brackets) and port as a TargetAddress: literals
// become kIpv4/kIpv6 so the server gets an address, names stay names.
TargetAddress target_from_host(const std::string& host, uint16_t port);

}  // namespace vmlocal::http_proxy
