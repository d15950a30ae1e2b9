#include "vmlocal/uv/sockaddr.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

namespace vmlocal::uv {

std::string format_sockaddr(const sockaddr* addr) {
  char text[INET6_ADDRSTRLEN] = {};
  if (addr->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(addr);
    inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
    return std::string(text) + ":" + std::to_string(ntohs(in->sin_port));
  }
  if (addr->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(addr);
    inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
    return "[" + std::string(text) + "]:" + std::to_string(ntohs(in6->sin6_port));
  }
  return "?";
}

std::string peer_name(const uv_tcp_t* tcp) {
  sockaddr_storage storage{};
  int len = sizeof storage;
  if (uv_tcp_getpeername(tcp, reinterpret_cast<sockaddr*>(&storage), &len) != 0) return "?";
  return format_sockaddr(reinterpret_cast<const sockaddr*>(&storage));
}

}  // namespace vmlocal::uv
