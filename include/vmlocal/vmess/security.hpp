// The security a profile names, and how it maps to the wire (§4.2, §12).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "vmlocal/vmess/constants.hpp"

namespace vmlocal::vmess {

enum class Security : uint8_t { kAuto, kAes128Gcm, kChacha20Poly1305, kNone, kZero };

std::optional<Security> parse_security(std::string_view name);  // "auto", "aes-128-gcm", ...
std::string_view security_name(Security security);

// What goes on the wire: security nibble and option bits exactly as v2ray 4.34's client sets
// them (gcm/chacha 0x0D, none 0x05, zero = none with 0x00). `auto` resolves to aes-128-gcm when
// the CPU has AES instructions, else chacha20-poly1305.
struct BodyFormat {
  SecurityType security;
  uint8_t options;
};
BodyFormat resolve_body_format(Security security);

}  // namespace vmlocal::vmess
