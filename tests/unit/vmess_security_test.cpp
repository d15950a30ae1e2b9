#include <doctest/doctest.h>

#include "vmlocal/crypto/cpu.hpp"
#include "vmlocal/vmess/security.hpp"

using namespace vmlocal;
using vmess::Security;
using vmess::SecurityType;

TEST_CASE("vmess security: names parse and print both ways") {
  for (auto security : {Security::kAuto, Security::kAes128Gcm, Security::kChacha20Poly1305,
                        Security::kNone, Security::kZero}) {
    const auto name = vmess::security_name(security);
    CAPTURE(name);
    CHECK(vmess::parse_security(name) == security);
  }
  CHECK(vmess::parse_security("auto") == Security::kAuto);
  CHECK(vmess::parse_security("aes-128-gcm") == Security::kAes128Gcm);
  CHECK(vmess::parse_security("chacha20-poly1305") == Security::kChacha20Poly1305);
  CHECK(vmess::parse_security("none") == Security::kNone);
  CHECK(vmess::parse_security("zero") == Security::kZero);
}

TEST_CASE("vmess security: unknown names are refused, not turned into auto") {
  // 4.34's JSON parser silently maps unknown strings to auto; a typo here must be an error.
  for (const char* name : {"", "AES-128-GCM", "Auto", "legacy", "aes-128-cfb", "chacha20",
                           "aes-128-gcm ", "none\n", "zero0"}) {
    CAPTURE(name);
    CHECK_FALSE(vmess::parse_security(name).has_value());
  }
}

TEST_CASE("vmess security: body formats are what v2ray 4.34's client sends") {
  auto check = [](Security security, SecurityType type, uint8_t options) {
    const auto format = vmess::resolve_body_format(security);
    CHECK(format.security == type);
    CHECK(format.options == options);
  };
  check(Security::kAes128Gcm, SecurityType::kAes128Gcm, 0x0D);
  check(Security::kChacha20Poly1305, SecurityType::kChacha20Poly1305, 0x0D);
  check(Security::kNone, SecurityType::kNone, 0x05);
  check(Security::kZero, SecurityType::kNone, 0x00);
  check(Security::kAuto,
        crypto::cpu_has_aes() ? SecurityType::kAes128Gcm : SecurityType::kChacha20Poly1305, 0x0D);
}

TEST_CASE("vmess security: this CPU's AES support is detected") {
#if defined(__x86_64__) && defined(__AES__)
  // Compiled for a CPU with AES-NI, so the running CPU has it.
  CHECK(crypto::cpu_has_aes());
#endif
  // Stable across calls.
  CHECK(crypto::cpu_has_aes() == crypto::cpu_has_aes());
}
