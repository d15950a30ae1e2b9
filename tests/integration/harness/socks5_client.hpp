// A blocking SOCKS5 client (RFC 1928, RFC 1929) for tests: every call has a deadline, protocol
// refusals come back as values, I/O failures as SocketError. The raw building blocks are
// public so tests can send malformed or pipelined bytes of their own.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "harness/endpoint.hpp"
#include "harness/socket.hpp"

namespace vmlocal::itest {

struct Socks5Target {
  enum class Kind : std::uint8_t { kIpv4 = 0x01, kDomain = 0x03, kIpv6 = 0x04 };  // ATYP
  Kind kind = Kind::kIpv4;
  std::string host;  // IP literal or domain name
  std::uint16_t port = 0;

  static Socks5Target to(const Endpoint& e);  // IPv4 or IPv6 by the literal
  static Socks5Target domain(std::string name, std::uint16_t port);
  std::string to_string() const;
};

struct Socks5Credentials {
  std::string username;
  std::string password;
};

namespace socks5 {
inline constexpr std::uint8_t kVersion = 0x05;
inline constexpr std::uint8_t kMethodNoAuth = 0x00;
inline constexpr std::uint8_t kMethodUserPass = 0x02;
inline constexpr std::uint8_t kMethodNone = 0xFF;  // "no acceptable methods"
inline constexpr std::uint8_t kCmdConnect = 0x01;
inline constexpr std::uint8_t kCmdBind = 0x02;
inline constexpr std::uint8_t kCmdUdpAssociate = 0x03;
inline constexpr std::uint8_t kReplySucceeded = 0x00;

// "general failure", "connection refused", ... for messages.
const char* reply_name(std::uint8_t rep);

Bytes greeting(std::initializer_list<std::uint8_t> methods);
Bytes userpass_request(const Socks5Credentials& c);
Bytes request(const Socks5Target& target, std::uint8_t command = kCmdConnect);
}  // namespace socks5

struct Socks5Result {
  enum class Stage { kMethodRejected, kAuthRejected, kReplied };
  Stage stage = Stage::kReplied;
  std::uint8_t method = socks5::kMethodNone;  // the method the proxy chose
  std::uint8_t reply = 0xFF;                  // REP, when stage == kReplied
  Endpoint bound;                             // BND.ADDR/BND.PORT (domain shown as host)
  Socket socket;                              // the tunnel when ok(); else the control socket

  bool ok() const { return stage == Stage::kReplied && reply == socks5::kReplySucceeded; }
  std::string describe() const;
};

class Socks5Client {
 public:
  struct Options {
    std::optional<Socks5Credentials> credentials;  // offer only user/password when set
    // Send greeting, authentication and request in one write before reading anything, as
    // some clients do; a proxy must handle both.
    bool pipelined = false;
  };

  explicit Socks5Client(Endpoint proxy) : proxy_(std::move(proxy)) {}
  Socks5Client(Endpoint proxy, Options options)
      : proxy_(std::move(proxy)), options_(std::move(options)) {}

  const Endpoint& proxy() const { return proxy_; }

  // A plain TCP connection to the proxy, nothing sent: for malformed-input tests.
  Socket open_raw(Deadline deadline) const;
  // The whole handshake. Refusals are in the result; I/O errors and timeouts throw.
  Socks5Result connect(const Socks5Target& target, Deadline deadline) const;
  // connect(), throwing unless the proxy replied success; returns the tunnel.
  Socket open_tunnel(const Socks5Target& target, Deadline deadline) const;

  // The reply to a request, read from `s` (VER REP RSV ATYP ADDR PORT); for raw tests.
  static Socks5Result read_reply(Socket s, Deadline deadline);

 private:
  Endpoint proxy_;
  Options options_;
};

}  // namespace vmlocal::itest
