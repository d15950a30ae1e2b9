// One-shot digests and HMACs (OpenSSL). Handshake-time only, never on the data path.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>

#include "vmlocal/util/bytes.hpp"

namespace vmlocal::crypto {

using Digest16 = std::array<uint8_t, 16>;
using Digest20 = std::array<uint8_t, 20>;
using Digest32 = std::array<uint8_t, 32>;

// Each takes the message as a list of parts, hashed as if concatenated.
Digest16 md5(std::initializer_list<ByteView> parts);
Digest32 sha256(std::initializer_list<ByteView> parts);
// Only where a protocol names it and nothing depends on its strength: the WebSocket handshake
// (Sec-WebSocket-Accept, RFC 6455 §4.2.2) and name-based user IDs (RFC 4122 §4.3).
Digest20 sha1(std::initializer_list<ByteView> parts);
Digest16 hmac_md5(ByteView key, ByteView message);
Digest32 hmac_sha256(ByteView key, ByteView message);

}  // namespace vmlocal::crypto
