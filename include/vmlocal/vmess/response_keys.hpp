// The response direction's key and IV (§7). They depend on the request header format, not on the
// body security.
#pragma once

#include "vmlocal/crypto/secret.hpp"
#include "vmlocal/util/bytes.hpp"
#include "vmlocal/vmess/constants.hpp"

namespace vmlocal::vmess {

struct ResponseKeys {
  crypto::Key16 key;  // RK
  crypto::Key16 iv;   // RN
};

// Legacy: RK = MD5(K), RN = MD5(N). AEAD: RK = SHA-256(K)[0:16], RN = SHA-256(N)[0:16].
ResponseKeys derive_response_keys(HeaderMode header_mode, ByteView body_key, ByteView body_iv);

}  // namespace vmlocal::vmess
