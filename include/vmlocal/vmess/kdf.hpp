// The VMess AEAD key derivation (§6.1): nested HMACs with SHA-256 at the bottom, where the secret
// is the innermost message and the constant labels and IDs are the HMAC keys.
#pragma once

#include <initializer_list>
#include <string_view>

#include "vmlocal/crypto/secret.hpp"
#include "vmlocal/util/bytes.hpp"

namespace vmlocal::vmess {

// KDF(key, p1..pn): 32 bytes.
crypto::Key32 kdf(ByteView key, std::initializer_list<ByteView> path);
// KDF16: the first 16 bytes.
crypto::Key16 kdf16(ByteView key, std::initializer_list<ByteView> path);

}  // namespace vmlocal::vmess
