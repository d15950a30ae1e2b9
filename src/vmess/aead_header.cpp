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

}  // namespace vmlocal::vmess
