// Every VMess protocol constant, written once. Values as v2ray-core 4.34 uses them
// (see ../shared/docs/vmess-protocol.md; section numbers below refer to it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace vmlocal::vmess {

// §4.2: the low nibble of instruction byte 35.
enum class SecurityType : uint8_t {
  kLegacy = 1,  // AES-128-CFB
  kAuto = 2,    // never on the wire: the server rejects it
  kAes128Gcm = 3,
  kChacha20Poly1305 = 4,
  kNone = 5,
};

// §4.3
enum class Command : uint8_t { kTcp = 1, kUdp = 2, kMux = 3 };

// §3: which request-header format a request uses; it also decides the response keys (§7).
enum class HeaderMode : uint8_t { kAead, kLegacy };

// §4.1: option bits. 0x02 (reuse) and 0x10 (authenticated length) are never set.
namespace option {
inline constexpr uint8_t kChunkStream = 0x01;
inline constexpr uint8_t kChunkMasking = 0x04;
inline constexpr uint8_t kGlobalPadding = 0x08;  // only ever together with kChunkMasking
}  // namespace option

// §4.3: VMess address types (not SOCKS5's numbering).
namespace address_type {
inline constexpr uint8_t kIpv4 = 1;
inline constexpr uint8_t kDomain = 2;
inline constexpr uint8_t kIpv6 = 3;
}  // namespace address_type

}  // namespace vmlocal::vmess

namespace vmlocal::vmess {

// §2: suffixes hashed with the UUID.
namespace id_salt {
inline constexpr std::string_view kCmdKey = "c48619fe-8f02-49e0-b9e9-edf763e17e21";
inline constexpr std::string_view kAlterId = "16167dc8-16b6-4e6d-b8bb-65dd68113a81";
inline constexpr std::string_view kAlterIdRetry = "533eff8a-4113-4b10-b5ce-0f5d76b98cd2";
}  // namespace id_salt

// §6.1: KDF labels.
namespace kdf_label {
inline constexpr std::string_view kRoot = "VMess AEAD KDF";
inline constexpr std::string_view kAuthIdEncryption = "AES Auth ID Encryption";
inline constexpr std::string_view kHeaderLengthKey = "VMess Header AEAD Key_Length";
inline constexpr std::string_view kHeaderLengthNonce = "VMess Header AEAD Nonce_Length";
inline constexpr std::string_view kHeaderPayloadKey = "VMess Header AEAD Key";
inline constexpr std::string_view kHeaderPayloadNonce = "VMess Header AEAD Nonce";
inline constexpr std::string_view kResponseLengthKey = "AEAD Resp Header Len Key";
inline constexpr std::string_view kResponseLengthIv = "AEAD Resp Header Len IV";
inline constexpr std::string_view kResponseHeaderKey = "AEAD Resp Header Key";
inline constexpr std::string_view kResponseHeaderIv = "AEAD Resp Header IV";
}  // namespace kdf_label

}  // namespace vmlocal::vmess
