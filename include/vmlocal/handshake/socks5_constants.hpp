// Every SOCKS5 (RFC 1928) and username/password (RFC 1929) constant, written once.
#pragma once

#include <cstddef>
#include <cstdint>

namespace vmlocal::socks5 {

inline constexpr uint8_t kVersion = 0x05;      // RFC 1928 VER in every message
inline constexpr uint8_t kAuthVersion = 0x01;  // RFC 1929 sub-negotiation VER

// RFC 1928 §3: METHOD identifiers in the greeting and the method-selection reply.
enum class Method : uint8_t {
  kNoAuth = 0x00,
  kUsernamePassword = 0x02,  // RFC 1929
  kNoAcceptable = 0xFF,
};

// RFC 1928 §4: CMD.
enum class Command : uint8_t {
  kConnect = 0x01,
  kBind = 0x02,
  kUdpAssociate = 0x03,
};

// RFC 1928 §5: ATYP (not VMess's numbering, which is in vmess/constants.hpp).
enum class AddressType : uint8_t {
  kIpv4 = 0x01,
  kDomain = 0x03,
  kIpv6 = 0x04,
};

// RFC 1928 §6: REP.
enum class ReplyCode : uint8_t {
  kSucceeded = 0x00,
  kGeneralFailure = 0x01,
  kNotAllowedByRuleset = 0x02,
  kNetworkUnreachable = 0x03,
  kHostUnreachable = 0x04,
  kConnectionRefused = 0x05,
  kTtlExpired = 0x06,
  kCommandNotSupported = 0x07,
  kAddressTypeNotSupported = 0x08,
};

// RFC 1929 §2: STATUS. Any non-zero value is a failure; 0x01 is the one we send.
enum class AuthStatus : uint8_t {
  kSuccess = 0x00,
  kFailure = 0x01,
};

// Field limits: every variable-length field has a one-byte length prefix.
inline constexpr size_t kMaxMethods = 255;
inline constexpr size_t kMaxCredentialLength = 255;  // ULEN, PLEN: 1..255
inline constexpr size_t kMaxDomainLength = 255;      // domain ATYP length: 1..255

// Whole-message sizes, as annotated sums.
inline constexpr size_t kIpv4Size = 4;
inline constexpr size_t kIpv6Size = 16;
inline constexpr size_t kPortSize = 2;
// VER NMETHODS METHODS...
inline constexpr size_t kMaxGreetingSize = 1 + 1 + kMaxMethods;
// VER ULEN UNAME PLEN PASSWD
inline constexpr size_t kMaxAuthRequestSize =
    1 + 1 + kMaxCredentialLength + 1 + kMaxCredentialLength;
// VER CMD RSV ATYP, then the address (domain: length byte + name) and port. A reply has the
// same layout with REP in place of CMD, so this bounds replies too.
inline constexpr size_t kAddressHeaderSize = 4;
inline constexpr size_t kMaxRequestSize = kAddressHeaderSize + 1 + kMaxDomainLength + kPortSize;
inline constexpr size_t kMaxReplySize = kMaxRequestSize;

}  // namespace vmlocal::socks5
