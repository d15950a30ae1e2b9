// Non-cryptographic checksums VMess puts on the wire.
#pragma once

#include <cstdint>

#include "vmlocal/util/bytes.hpp"

namespace vmlocal::crypto {

// FNV-1a, 32 bit: offset basis 0x811c9dc5, prime 0x01000193.
uint32_t fnv1a32(ByteView data);
// CRC-32, IEEE polynomial (zlib's crc32()).
uint32_t crc32(ByteView data);

}  // namespace vmlocal::crypto
