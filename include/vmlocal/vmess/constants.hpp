// Every VMess protocol constant, written once. Values as v2ray-core 4.34 uses them
// (see docs/vmess-protocol.md; the § numbers in comments refer to it).
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

// §12: the option byte v2ray 4.34's client sends for each security.
namespace option {
inline constexpr uint8_t kForAeadSecurity = kChunkStream | kChunkMasking | kGlobalPadding;  // 0x0D
inline constexpr uint8_t kForNone = kChunkStream | kChunkMasking;                           // 0x05
inline constexpr uint8_t kForZero = 0x00;  // none without framing: the bare payload
inline constexpr uint8_t kForLegacySecurity = kChunkStream;  // 0x01
// Bits 4.34 does not have (0x10) or never reads (0x02); sending them only invites trouble.
inline constexpr uint8_t kNeverSent = 0x02 | 0x10;
}  // namespace option

// §4: the instruction. Fixed part Ver..Cmd, then port+address, P padding bytes, FNV-1a.
inline constexpr uint8_t kInstructionVersion = 0x01;
inline constexpr size_t kInstructionFixedSize = 38;
inline constexpr size_t kInstructionChecksumSize = 4;
inline constexpr size_t kMaxPaddingLen = 15;  // P is a nibble
inline constexpr size_t kMaxDomainLen = 255;  // one length byte; 0 is refused by the server
inline constexpr size_t kMinInstructionSize = kInstructionFixedSize + kInstructionChecksumSize;
inline constexpr size_t kMaxInstructionSize = kInstructionFixedSize + 2 /*port*/ + 1 /*atype*/ +
                                              1 /*len*/ + kMaxDomainLen + kMaxPaddingLen +
                                              kInstructionChecksumSize;  // 316
static_assert(kMaxInstructionSize == 316);

// §4: byte offsets of the fixed part, shared by the client's encoder and the test servers' decoder.
namespace instruction_offset {
inline constexpr size_t kVersion = 0;
inline constexpr size_t kIv = 1;    // N
inline constexpr size_t kKey = 17;  // K
inline constexpr size_t kV = 33;
inline constexpr size_t kOptions = 34;
inline constexpr size_t kPaddingSecurity = 35;  // P << 4 | Sec
inline constexpr size_t kReserved = 36;
inline constexpr size_t kCommand = 37;
}  // namespace instruction_offset
static_assert(instruction_offset::kCommand + 1 == kInstructionFixedSize);

// §5, §6: both header formats start with 16 authentication bytes.
inline constexpr size_t kAuthSize = 16;
inline constexpr size_t kAuthIdRandomSize = 4;     // R
inline constexpr size_t kConnectionNonceSize = 8;  // C
inline constexpr size_t kAeadTagSize = 16;
inline constexpr size_t kAeadNonceSize = 12;
inline constexpr size_t kSealedLengthSize = 2 + kAeadTagSize;
// AuthID || GCM(len) || C || GCM(instruction) minus the instruction itself.
inline constexpr size_t kAeadHeaderOverhead =
    kAuthSize + kSealedLengthSize + kConnectionNonceSize + kAeadTagSize;
// §6.2: the server's AuthID window, inclusive. §5: roughly the same for legacy auth values.
inline constexpr int64_t kAuthIdWindowSeconds = 120;
inline constexpr int64_t kLegacyAuthWindowSeconds = 120;
// §5: v2ray's client jitters the legacy timestamp uniformly over [-30, +29], and v2ray and Xray
// accept +-120 s. sing-box's server accepts legacy timestamps only from its last table rebuild
// (every 10 s) up to 120 s ahead, so a timestamp drawn 14-30 s in the past is refused there.
// We draw from [now, now + 30 s], which every one of them accepts; the request builder takes
// any jitter within +-30 s, so the reference client's own headers (the vectors) still build.
inline constexpr int kLegacyJitterMin = 0;
inline constexpr int kLegacyJitterMax = 30;

// §10.1: V, Opt, Cmd, CmdLen.
inline constexpr size_t kResponseHeaderFixedSize = 4;

// §9: body framing.
namespace body {
inline constexpr size_t kLengthSize = 2;          // BE16 L, masked
inline constexpr size_t kFnvSize = 4;             // legacy chunks: BE32 FNV-1a of the payload
inline constexpr uint16_t kPaddingModulus = 64;   // §9.4: P = next16() % 64
inline constexpr size_t kChunkBufferSize = 2048;  // v2ray's buf.Size: its writer's chunk limit
inline constexpr size_t kStreamPaddingReserve = kPaddingModulus;  // its stream split reserves 64
inline constexpr size_t kPacketPaddingReserve = kPaddingModulus - 1;  // §13: largest P drawn
inline constexpr size_t kNoneStreamMaxPayload = 8192;                 // §9.6
}  // namespace body

// §10.3: the switch-account ("dynamic port") command; anything else is skipped unread.
inline constexpr uint8_t kCommandSwitchAccount = 1;

}  // namespace vmlocal::vmess
