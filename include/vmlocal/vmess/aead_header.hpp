// The sealed AEAD request header (§6.3):
//   AuthID(16) || GCM(BE16 len) + tag (18) || C(8) || GCM(payload) + tag
// Both seals use AES-128-GCM with the AuthID as associated data; keys and nonces come from the
// KDF over cmdKey with the path [label, AuthID, C].
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

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

enum class AeadHeaderStatus : uint8_t { kNeedMore, kOpened, kNoMatch, kBroken };

struct OpenedAeadHeader {
  AeadHeaderStatus status = AeadHeaderStatus::kNeedMore;
  size_t size = 0;         // kOpened: bytes the sealed header took
  OpenedAuthId auth;       // kOpened, kBroken: what the AuthID carried
  Bytes payload;           // kOpened: the plaintext (the caller wipes it if it is secret)
  std::string_view error;  // kNoMatch, kBroken: fixed text
};

// The server side, for tests: kNoMatch when the AuthID does not open with this cmdKey at
// `now_unix` (§6.2), kBroken when it does but the length or payload fails to open, kNeedMore
// until the whole sealed header is present. Replays are not tracked.
OpenedAeadHeader open_aead_header(ByteView cmd_key, ByteView input, int64_t now_unix);

}  // namespace vmlocal::vmess
