#include "harness/endpoint.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>
#include <stdexcept>

namespace vmlocal::itest {

Endpoint Endpoint::loopback(Family family, uint16_t port) {
  return Endpoint{family == Family::kV4 ? "127.0.0.1" : "::1", port};
}

Family Endpoint::family() const {
  sockaddr_storage ss{};
  to_sockaddr(ss);
  return ss.ss_family == AF_INET ? Family::kV4 : Family::kV6;
}

std::string Endpoint::to_string() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

socklen_t Endpoint::to_sockaddr(sockaddr_storage& out) const {
  std::memset(&out, 0, sizeof out);
  auto* v4 = reinterpret_cast<sockaddr_in*>(&out);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    return sizeof(sockaddr_in);
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&out);
  if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    return sizeof(sockaddr_in6);
  }
  throw std::invalid_argument("not an IP literal: '" + host + "'");
}

Endpoint Endpoint::from_sockaddr(const sockaddr* sa) {
  char text[INET6_ADDRSTRLEN] = {};
  if (sa->sa_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(sa);
    inet_ntop(AF_INET, &v4->sin_addr, text, sizeof text);
    return Endpoint{text, ntohs(v4->sin_port)};
  }
  if (sa->sa_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(sa);
    inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof text);
    return Endpoint{text, ntohs(v6->sin6_port)};
  }
  throw std::invalid_argument("unsupported address family " + std::to_string(sa->sa_family));
}

const char* to_string(Family family) {
  return family == Family::kV4 ? "IPv4" : "IPv6";
}

}  // namespace vmlocal::itest
