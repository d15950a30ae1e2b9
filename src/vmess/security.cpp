#include "vmlocal/vmess/security.hpp"

#include <array>
#include <utility>

#include "vmlocal/crypto/cpu.hpp"

namespace vmlocal::vmess {
namespace {

// The profile keywords; "zero" is the later-v2fly extension (§4.2), not a 4.34 keyword.
constexpr std::array<std::pair<Security, std::string_view>, 5> kNames = {{
    {Security::kAuto, "auto"},
    {Security::kAes128Gcm, "aes-128-gcm"},
    {Security::kChacha20Poly1305, "chacha20-poly1305"},
    {Security::kNone, "none"},
    {Security::kZero, "zero"},
}};

}  // namespace

std::optional<Security> parse_security(std::string_view name) {
  for (const auto& [security, text] : kNames) {
    if (text == name) return security;
  }
  return std::nullopt;
}

std::string_view security_name(Security security) {
  for (const auto& [value, text] : kNames) {
    if (value == security) return text;
  }
  return "unknown";
}

BodyFormat resolve_body_format(Security security) {
  switch (security) {
    case Security::kAuto:
      // v2ray resolves "auto" by architecture; asking the CPU is the intent behind that choice.
      return resolve_body_format(crypto::cpu_has_aes() ? Security::kAes128Gcm
                                                       : Security::kChacha20Poly1305);
    case Security::kAes128Gcm:
      return {SecurityType::kAes128Gcm, option::kForAeadSecurity};
    case Security::kChacha20Poly1305:
      return {SecurityType::kChacha20Poly1305, option::kForAeadSecurity};
    case Security::kNone:
      return {SecurityType::kNone, option::kForNone};
    case Security::kZero:
      // Security 6 ("zero") is rejected by 4.34; later v2fly clients send none without framing.
      return {SecurityType::kNone, option::kForZero};
  }
  return {SecurityType::kAes128Gcm, option::kForAeadSecurity};
}

}  // namespace vmlocal::vmess
