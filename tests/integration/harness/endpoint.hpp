// A numeric TCP endpoint on this machine, and its conversion to and from sockaddr.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>

namespace vmlocal::itest {

enum class Family { kV4, kV6 };

struct Endpoint {
  std::string host;  // IP literal without brackets: "127.0.0.1", "::1"
  uint16_t port = 0;

  static Endpoint loopback(Family family, uint16_t port = 0);

  Family family() const;          // from the literal; throws if it is not an IP literal
  std::string to_string() const;  // "127.0.0.1:80", "[::1]:80" (as in a profile or URL)
  socklen_t to_sockaddr(sockaddr_storage& out) const;  // throws on a bad literal
  static Endpoint from_sockaddr(const sockaddr* sa);

  bool operator==(const Endpoint&) const = default;
};

const char* to_string(Family family);

}  // namespace vmlocal::itest
