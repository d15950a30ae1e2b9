#include "support/vmess_server_side.hpp"

#include <algorithm>
#include <array>
#include <utility>

#include "support/aes_decrypt.hpp"
#include "vmlocal/crypto/aead_cipher.hpp"
#include "vmlocal/crypto/checksum.hpp"
#include "vmlocal/vmess/aead_header.hpp"
#include "vmlocal/vmess/constants.hpp"

namespace vmlocal::test {
namespace {

using vmess::Command;
using vmess::SecurityType;
namespace offset = vmess::instruction_offset;

bool carries_address(Command command) {
  return command != Command::kMux;
}

}  // namespace

std::optional<OpenedAuthId> open_auth_id(ByteView cmd_key, const vmess::AuthId& auth_id,
                                         int64_t now_unix) {
  const crypto::Key16 key = vmess::auth_id_key(cmd_key);
  std::array<uint8_t, vmess::kAuthSize> plain;
  aes128_decrypt_block(key.data(), auth_id.data(), plain.data());
  // v2ray reads T as a signed 64-bit value and refuses negative ones.
  const auto timestamp = static_cast<int64_t>(get_be64(plain.data()));
  OpenedAuthId opened;
  opened.timestamp = timestamp;
  std::copy_n(plain.begin() + 8, vmess::kAuthIdRandomSize, opened.random.begin());
  // Rebuilding the block from its T and R checks the CRC with the client's own layout.
  if (vmess::auth_id_plaintext(timestamp, opened.random) != plain) return std::nullopt;
  if (timestamp < 0) return std::nullopt;
  const int64_t skew = timestamp > now_unix ? timestamp - now_unix : now_unix - timestamp;
  if (skew > vmess::kAuthIdWindowSeconds) return std::nullopt;
  return opened;
}

OpenedAeadHeader open_aead_header(ByteView cmd_key, ByteView input, int64_t now_unix) {
  using vmess::kAuthSize;
  OpenedAeadHeader out;
  if (input.size() < kAuthSize) return out;
  vmess::AuthId auth_id;
  std::copy_n(input.begin(), kAuthSize, auth_id.begin());
  auto opened = open_auth_id(cmd_key, auth_id, now_unix);
  if (!opened) {
    out.status = AeadHeaderStatus::kNoMatch;
    out.error = "AuthID does not match this user and clock";
    return out;
  }
  out.auth = *opened;

  constexpr size_t kNonceOffset = kAuthSize + vmess::kSealedLengthSize;
  constexpr size_t kPayloadOffset = kNonceOffset + vmess::kConnectionNonceSize;
  if (input.size() < kPayloadOffset) return out;
  vmess::ConnectionNonce connection_nonce;
  std::copy_n(input.begin() + kNonceOffset, vmess::kConnectionNonceSize, connection_nonce.begin());
  const vmess::AeadHeaderKeys keys =
      vmess::derive_aead_header_keys(cmd_key, auth_id, connection_nonce);

  std::array<uint8_t, 2> length;
  std::copy_n(input.begin() + kAuthSize, 2, length.begin());
  if (!crypto::AeadCipher(crypto::AeadAlgorithm::kAes128Gcm, keys.length_key)
           .open(keys.length_nonce.data(), length, input.data() + kAuthSize + 2, auth_id)) {
    out.status = AeadHeaderStatus::kBroken;
    out.error = "sealed header length fails to open";
    return out;
  }
  const size_t payload_size = get_be16(length.data());
  const size_t total = kPayloadOffset + payload_size + vmess::kAeadTagSize;
  if (input.size() < total) return out;

  out.payload.assign(input.begin() + kPayloadOffset,
                     input.begin() + static_cast<std::ptrdiff_t>(kPayloadOffset + payload_size));
  if (!crypto::AeadCipher(crypto::AeadAlgorithm::kAes128Gcm, keys.payload_key)
           .open(keys.payload_nonce.data(), out.payload,
                 input.data() + kPayloadOffset + payload_size, auth_id)) {
    out.payload.clear();
    out.status = AeadHeaderStatus::kBroken;
    out.error = "sealed header payload fails to open";
    return out;
  }
  out.status = AeadHeaderStatus::kOpened;
  out.size = total;
  return out;
}

DecodedInstruction decode_instruction(ByteView plaintext) {
  DecodedInstruction out;
  auto fail = [&out](std::string_view why) {
    out.status = DecodeStatus::kError;
    out.error = why;
    return std::move(out);
  };
  if (plaintext.size() < vmess::kInstructionFixedSize) return out;  // need more
  const uint8_t* p = plaintext.data();
  vmess::Instruction& ins = out.instruction;
  std::copy_n(p + offset::kIv, 16, ins.body_iv.begin());
  std::copy_n(p + offset::kKey, 16, ins.body_key.begin());
  ins.response_v = p[offset::kV];
  ins.options = p[offset::kOptions];
  ins.padding_len = p[offset::kPaddingSecurity] >> 4;
  uint8_t security = p[offset::kPaddingSecurity] & 0x0f;
  if (security == 0) security = static_cast<uint8_t>(SecurityType::kLegacy);  // as 4.34 does
  ins.security = static_cast<SecurityType>(security);
  uint8_t command = p[offset::kCommand];
  if (command < static_cast<uint8_t>(Command::kTcp) ||
      command > static_cast<uint8_t>(Command::kMux))
    return fail("unknown command");
  ins.command = static_cast<Command>(command);

  size_t n = vmess::kInstructionFixedSize;
  auto need = [&](size_t more) { return plaintext.size() < n + more; };
  if (carries_address(ins.command)) {
    if (need(3)) return out;
    ins.target.port = get_be16(p + n);
    n += 2;
    switch (p[n++]) {
      case vmess::address_type::kIpv4:
        if (need(4)) return out;
        ins.target.type = TargetAddress::Type::kIpv4;
        std::copy_n(p + n, 4, ins.target.ip.begin());
        n += 4;
        break;
      case vmess::address_type::kIpv6:
        if (need(16)) return out;
        ins.target.type = TargetAddress::Type::kIpv6;
        std::copy_n(p + n, 16, ins.target.ip.begin());
        n += 16;
        break;
      case vmess::address_type::kDomain: {
        if (need(1)) return out;
        size_t len = p[n++];
        if (need(len)) return out;
        ins.target.type = TargetAddress::Type::kDomain;
        ins.target.domain.assign(reinterpret_cast<const char*>(p + n), len);
        n += len;
        break;
      }
      default:
        return fail("unknown address type");
    }
  }
  if (need(ins.padding_len + vmess::kInstructionChecksumSize)) return out;
  std::copy_n(p + n, ins.padding_len, ins.padding.begin());
  n += ins.padding_len;
  // The server checks the checksum before it looks at the address or the security.
  if (crypto::fnv1a32({p, n}) != get_be32(p + n)) return fail("instruction checksum mismatch");
  out.size = n + vmess::kInstructionChecksumSize;

  if (carries_address(ins.command) && ins.target.type == TargetAddress::Type::kDomain) {
    if (auto problem = vmess::domain_problem(ins.target.domain)) return fail(*problem);
  }
  // 4.34 refuses auto (2) and anything above none (5); legacy, gcm, chacha and none pass.
  if (ins.security == SecurityType::kAuto || security > static_cast<uint8_t>(SecurityType::kNone)) {
    return fail("unknown security type");
  }
  out.status = DecodeStatus::kDone;
  return out;
}

}  // namespace vmlocal::test
