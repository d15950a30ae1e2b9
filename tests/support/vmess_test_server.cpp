#include "support/vmess_test_server.hpp"

#include <algorithm>
#include <stdexcept>

#include "support/vmess_server_side.hpp"
#include "vmlocal/crypto/aead_cipher.hpp"
#include "vmlocal/crypto/secret.hpp"
#include "vmlocal/vmess/kdf.hpp"
#include "vmlocal/vmess/legacy_header.hpp"

namespace vmlocal::test {
namespace {

RequestHeaderDecode error(std::string why) {
  RequestHeaderDecode out;
  out.status = DecodeStatus::kError;
  out.error = std::move(why);
  return out;
}

// Decodes an instruction that must fill `plaintext` exactly (AEAD: it is the sealed payload).
RequestHeaderDecode finish(vmess::HeaderMode mode, const DecodedInstruction& decoded,
                           size_t header_size, int64_t timestamp, int alter_index) {
  if (decoded.status == DecodeStatus::kError) return error(std::string(decoded.error));
  if (decoded.status == DecodeStatus::kNeedMore) return {};
  RequestHeaderDecode out;
  out.status = DecodeStatus::kDone;
  DecodedRequestHeader& h = out.header.emplace();
  h.header_mode = mode;
  h.size = header_size;
  h.timestamp = timestamp;
  h.alter_index = alter_index;
  h.instruction = decoded.instruction;
  h.response = vmess::derive_response_keys(mode, h.instruction.body_key, h.instruction.body_iv);
  return out;
}

RequestHeaderDecode decode_aead(const OpenedAeadHeader& opened) {
  DecodedInstruction decoded = decode_instruction(opened.payload);
  if (decoded.status == DecodeStatus::kNeedMore) {
    return error("sealed instruction is truncated");
  }
  if (decoded.status == DecodeStatus::kDone && decoded.size != opened.payload.size()) {
    // v2ray ignores trailing bytes; a test server should catch a client that sends them.
    return error("sealed header has bytes after the instruction");
  }
  return finish(vmess::HeaderMode::kAead, decoded, opened.size, opened.auth.timestamp, -1);
}

struct LegacyMatch {
  int alter_index;
  int64_t timestamp;
};

// The server's table lookup, done by brute force: main id first, then each alter id, every
// second of the window.
std::optional<LegacyMatch> match_legacy_auth(const vmess::Account& account, ByteView auth,
                                             int64_t now_unix) {
  auto try_id = [&](ByteView id) -> std::optional<int64_t> {
    for (int64_t t = now_unix - vmess::kLegacyAuthWindowSeconds;
         t <= now_unix + vmess::kLegacyAuthWindowSeconds; ++t) {
      auto candidate = vmess::legacy_auth(id, t);
      if (std::equal(candidate.begin(), candidate.end(), auth.begin())) return t;
    }
    return std::nullopt;
  };
  if (auto t = try_id(account.id)) return LegacyMatch{-1, *t};
  for (size_t i = 0; i < account.alter_ids.size(); ++i) {
    if (auto t = try_id(account.alter_ids[i])) return LegacyMatch{static_cast<int>(i), *t};
  }
  return std::nullopt;
}

RequestHeaderDecode decode_legacy(ByteView input, const vmess::Account& account, int64_t now_unix) {
  auto match = match_legacy_auth(account, input.first(vmess::kAuthSize), now_unix);
  if (!match) return error("no user matches the authentication bytes");
  // CFB is a stream cipher: decrypting a copy of as much as could be instruction is harmless.
  ByteView rest = input.subspan(vmess::kAuthSize);
  crypto::SecretArray<vmess::kMaxInstructionSize> plain{};
  const size_t n = std::min(rest.size(), plain.size());
  std::copy_n(rest.begin(), n, plain.begin());
  const auto iv = vmess::legacy_header_iv(match->timestamp);
  crypto::Aes128Cfb(account.cmd_key.data(), iv.data(), crypto::Aes128Cfb::Direction::kDecrypt)
      .apply({plain.data(), n});
  DecodedInstruction decoded = decode_instruction({plain.data(), n});
  return finish(vmess::HeaderMode::kLegacy, decoded, vmess::kAuthSize + decoded.size,
                match->timestamp, match->alter_index);
}

template <size_t N>
crypto::SecretArray<N> truncated(const crypto::Key32& full) {
  crypto::SecretArray<N> out;
  std::copy_n(full.begin(), N, out.begin());
  return out;
}

}  // namespace

RequestHeaderDecode decode_request_header(ByteView input, const vmess::Account& account,
                                          int64_t now_unix) {
  if (input.size() < vmess::kAuthSize) return {};
  // Like v2ray: an AuthID that opens means AEAD, whatever follows; legacy only otherwise.
  OpenedAeadHeader opened = open_aead_header(account.cmd_key, input, now_unix);
  RequestHeaderDecode out;
  switch (opened.status) {
    case AeadHeaderStatus::kNeedMore:
      break;
    case AeadHeaderStatus::kBroken:
      out = error(std::string(opened.error));
      break;
    case AeadHeaderStatus::kOpened:
      out = decode_aead(opened);
      break;
    case AeadHeaderStatus::kNoMatch:
      out = decode_legacy(input, account, now_unix);
      break;
  }
  crypto::secure_wipe(opened.payload.data(), opened.payload.size());
  return out;
}

EncodedResponseHeader protect_response_header(vmess::HeaderMode header_mode, ByteView response_key,
                                              ByteView response_iv, ByteView plaintext) {
  if (response_key.size() != 16 || response_iv.size() != 16) {
    throw std::invalid_argument("response key and IV must be 16 bytes");
  }
  EncodedResponseHeader out;
  if (header_mode == vmess::HeaderMode::kLegacy) {
    out.wire.assign(plaintext.begin(), plaintext.end());
    out.cfb.emplace(response_key.data(), response_iv.data(),
                    crypto::Aes128Cfb::Direction::kEncrypt);
    out.cfb->apply(out.wire);
    return out;
  }

  if (plaintext.size() > UINT16_MAX) throw std::invalid_argument("response header too long");
  namespace label = vmess::kdf_label;
  // Keys from RK, nonces from RN (§10.2); no associated data.
  auto length_key = vmess::kdf16(response_key, {as_bytes(label::kResponseLengthKey)});
  auto length_nonce = truncated<vmess::kAeadNonceSize>(
      vmess::kdf(response_iv, {as_bytes(label::kResponseLengthIv)}));
  auto header_key = vmess::kdf16(response_key, {as_bytes(label::kResponseHeaderKey)});
  auto header_nonce = truncated<vmess::kAeadNonceSize>(
      vmess::kdf(response_iv, {as_bytes(label::kResponseHeaderIv)}));

  out.wire.resize(vmess::kSealedLengthSize + plaintext.size() + vmess::kAeadTagSize);
  uint8_t* p = out.wire.data();
  put_be16(p, static_cast<uint16_t>(plaintext.size()));
  crypto::AeadCipher(crypto::AeadAlgorithm::kAes128Gcm, length_key)
      .seal(length_nonce.data(), {p, 2}, p + 2);
  p += vmess::kSealedLengthSize;
  std::copy(plaintext.begin(), plaintext.end(), p);
  crypto::AeadCipher(crypto::AeadAlgorithm::kAes128Gcm, header_key)
      .seal(header_nonce.data(), {p, plaintext.size()}, p + plaintext.size());
  return out;
}

EncodedResponseHeader encode_response_header(vmess::HeaderMode header_mode, ByteView response_key,
                                             ByteView response_iv, uint8_t response_v,
                                             uint8_t command_id, ByteView command_data) {
  if (command_data.size() > UINT8_MAX) throw std::invalid_argument("command data too long");
  Bytes plain = {response_v, 0x00, command_id, static_cast<uint8_t>(command_data.size())};
  plain.insert(plain.end(), command_data.begin(), command_data.end());
  return protect_response_header(header_mode, response_key, response_iv, plain);
}

}  // namespace vmlocal::test
