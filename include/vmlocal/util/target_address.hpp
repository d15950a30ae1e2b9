// Where the app wants to go: what a SOCKS5 request names and a VMess instruction carries.
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace vmlocal {

struct TargetAddress {
  enum class Type : uint8_t { kIpv4, kIpv6, kDomain };

  Type type = Type::kIpv4;
  std::array<uint8_t, 16> ip{};  // kIpv4 uses the first 4 bytes
  std::string domain;            // kDomain only: 1..255 bytes, not resolved locally
  uint16_t port = 0;

  static TargetAddress ipv4(std::array<uint8_t, 4> addr, uint16_t port);
  static TargetAddress ipv6(std::array<uint8_t, 16> addr, uint16_t port);
  static TargetAddress from_domain(std::string name, uint16_t port);

  // "1.2.3.4:80", "[::1]:443", "example.org:80": for logs.
  std::string to_string() const;

  bool operator==(const TargetAddress&) const = default;
};

}  // namespace vmlocal
