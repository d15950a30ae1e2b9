#include "vmlocal/vmess/aead_header.hpp"

#include <algorithm>
#include <stdexcept>

#include "vmlocal/crypto/aead_cipher.hpp"
#include "vmlocal/vmess/kdf.hpp"

namespace vmlocal::vmess {
namespace {

// A KDF over cmdKey with the path [label, AuthID, C].
crypto::Key32 header_kdf(ByteView cmd_key, std::string_view label, const AuthId& auth_id,
                         const ConnectionNonce& connection_nonce) {
  return kdf(cmd_key, {as_bytes(label), ByteView(auth_id), ByteView(connection_nonce)});
}

template <size_t N>
crypto::SecretArray<N> first(const crypto::Key32& full) {
  static_assert(N <= 32);
  crypto::SecretArray<N> out;
  std::copy_n(full.begin(), N, out.begin());
  return out;
}

}  // namespace

AeadHeaderKeys derive_aead_header_keys(ByteView cmd_key, const AuthId& auth_id,
                                       const ConnectionNonce& connection_nonce) {
  auto derive = [&](std::string_view label) {
    return header_kdf(cmd_key, label, auth_id, connection_nonce);
  };
  return AeadHeaderKeys{
      first<16>(derive(kdf_label::kHeaderLengthKey)),
      first<kAeadNonceSize>(derive(kdf_label::kHeaderLengthNonce)),
      first<16>(derive(kdf_label::kHeaderPayloadKey)),
      first<kAeadNonceSize>(derive(kdf_label::kHeaderPayloadNonce)),
  };
}

void seal_aead_header(ByteView cmd_key, const AuthId& auth_id,
                      const ConnectionNonce& connection_nonce, ByteView payload, Bytes& out) {
  if (payload.size() > UINT16_MAX) throw std::invalid_argument("AEAD header payload too long");
  const AeadHeaderKeys keys = derive_aead_header_keys(cmd_key, auth_id, connection_nonce);
  const size_t start = out.size();
  out.resize(start + kAeadHeaderOverhead + payload.size());
  uint8_t* p = out.data() + start;

  p = std::copy(auth_id.begin(), auth_id.end(), p);
  put_be16(p, static_cast<uint16_t>(payload.size()));
  crypto::AeadCipher(crypto::AeadAlgorithm::kAes128Gcm, keys.length_key)
      .seal(keys.length_nonce.data(), {p, 2}, p + 2, auth_id);
  p += kSealedLengthSize;
  p = std::copy(connection_nonce.begin(), connection_nonce.end(), p);
  // Sealed in place in the output, so the plaintext never sits in an unwiped buffer.
  std::copy(payload.begin(), payload.end(), p);
  crypto::AeadCipher(crypto::AeadAlgorithm::kAes128Gcm, keys.payload_key)
      .seal(keys.payload_nonce.data(), {p, payload.size()}, p + payload.size(), auth_id);
}

OpenedAeadHeader open_aead_header(ByteView cmd_key, ByteView input, int64_t now_unix) {
  OpenedAeadHeader out;
  if (input.size() < kAuthSize) return out;
  AuthId auth_id;
  std::copy_n(input.begin(), kAuthSize, auth_id.begin());
  auto opened = open_auth_id(cmd_key, auth_id, now_unix);
  if (!opened) {
    out.status = AeadHeaderStatus::kNoMatch;
    out.error = "AuthID does not match this user and clock";
    return out;
  }
  out.auth = *opened;

  constexpr size_t kNonceOffset = kAuthSize + kSealedLengthSize;
  constexpr size_t kPayloadOffset = kNonceOffset + kConnectionNonceSize;
  if (input.size() < kPayloadOffset) return out;
  ConnectionNonce connection_nonce;
  std::copy_n(input.begin() + kNonceOffset, kConnectionNonceSize, connection_nonce.begin());
  const AeadHeaderKeys keys = derive_aead_header_keys(cmd_key, auth_id, connection_nonce);

  std::array<uint8_t, 2> length;
  std::copy_n(input.begin() + kAuthSize, 2, length.begin());
  if (!crypto::AeadCipher(crypto::AeadAlgorithm::kAes128Gcm, keys.length_key)
           .open(keys.length_nonce.data(), length, input.data() + kAuthSize + 2, auth_id)) {
    out.status = AeadHeaderStatus::kBroken;
    out.error = "sealed header length fails to open";
    return out;
  }
  const size_t payload_size = get_be16(length.data());
  const size_t total = kPayloadOffset + payload_size + kAeadTagSize;
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

}  // namespace vmlocal::vmess
