// The AEAD header's AuthID (§6.2): one AES block that proves the cmdKey and carries the time.
#pragma once

#include <array>
#include <cstdint>

#include "vmlocal/crypto/secret.hpp"
#include "vmlocal/util/bytes.hpp"
#include "vmlocal/vmess/constants.hpp"

namespace vmlocal::vmess {

using AuthId = std::array<uint8_t, kAuthSize>;
using AuthIdRandom = std::array<uint8_t, kAuthIdRandomSize>;

// KDF16(cmdKey, "AES Auth ID Encryption").
crypto::Key16 auth_id_key(ByteView cmd_key);

// BE64(T) || R || BE32(CRC32(BE64(T) || R)): the block before encryption.
std::array<uint8_t, kAuthSize> auth_id_plaintext(int64_t timestamp, const AuthIdRandom& random);

// AES-128-ECB(auth_id_key(cmd_key), auth_id_plaintext(T, R)).
AuthId make_auth_id(ByteView cmd_key, int64_t timestamp, const AuthIdRandom& random);

}  // namespace vmlocal::vmess
