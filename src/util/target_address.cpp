#include "vmlocal/util/target_address.hpp"

#include <arpa/inet.h>

#include <algorithm>

namespace vmlocal {

TargetAddress TargetAddress::ipv4(std::array<uint8_t, 4> addr, uint16_t port) {
  TargetAddress t;
  t.type = Type::kIpv4;
  std::copy(addr.begin(), addr.end(), t.ip.begin());
  t.port = port;
  return t;
}

TargetAddress TargetAddress::ipv6(std::array<uint8_t, 16> addr, uint16_t port) {
  TargetAddress t;
  t.type = Type::kIpv6;
  t.ip = addr;
  t.port = port;
  return t;
}

TargetAddress TargetAddress::from_domain(std::string name, uint16_t port) {
  TargetAddress t;
  t.type = Type::kDomain;
  t.domain = std::move(name);
  t.port = port;
  return t;
}

std::string TargetAddress::to_string() const {
  // Appends rather than operator+ chains: GCC 12 at -O3 warns (-Wrestrict) on those falsely.
  char text[INET6_ADDRSTRLEN] = {};
  std::string out;
  switch (type) {
    case Type::kIpv4:
      inet_ntop(AF_INET, ip.data(), text, sizeof text);
      out.append(text);
      break;
    case Type::kIpv6:
      inet_ntop(AF_INET6, ip.data(), text, sizeof text);
      out.append("[").append(text).append("]");
      break;
    case Type::kDomain:
      out.append(domain);
      break;
  }
  out.append(":").append(std::to_string(port));
  return out;
}

}  // namespace vmlocal
