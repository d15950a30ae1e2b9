// The sealed AEAD request header (§6.3):
//   AuthID(16) || GCM(BE16 len) + tag (18) || C(8) || GCM(payload) + tag
// Both seals use AES-128-GCM with the AuthID as associated data; keys and nonces come from the
// KDF over cmdKey with the path [label, AuthID, C].
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "vmlocal/crypto/secret.hpp"
#include "vmlocal/util/bytes.hpp"
#include "vmlocal/vmess/auth_id.hpp"
#include "vmlocal/vmess/constants.hpp"

namespace vmlocal::vmess {

using ConnectionNonce = std::array<uint8_t, kConnectionNonceSize>;

struct AeadHeaderKeys {
  crypto::Key16 length_key;
  crypto::SecretArray<kAeadNonceSize> length_nonce;
  crypto::Key16 payload_key;
  crypto::SecretArray<kAeadNonceSize> payload_nonce;
};

AeadHeaderKeys derive_aead_header_keys(ByteView cmd_key, const AuthId& auth_id,
                                       const ConnectionNonce& connection_nonce);

// Appends the sealed header for `payload` (at most 65535 bytes) to `out`.
void seal_aead_header(ByteView cmd_key, const AuthId& auth_id,
                      const ConnectionNonce& connection_nonce, ByteView payload, Bytes& out);

}  // namespace vmlocal::vmess
