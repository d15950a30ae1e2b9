#include "vmlocal/crypto/checksum.hpp"

#include <array>

namespace vmlocal::crypto {

uint32_t fnv1a32(ByteView data) {
  uint32_t h = 0x811c9dc5u;
  for (uint8_t b : data) {
    h ^= b;
    h *= 0x01000193u;
  }
  return h;
}

namespace {
// Handshake-only and 12 bytes long: a table beats pulling in zlib for one call.
constexpr std::array<uint32_t, 256> make_crc_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k)
      c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
    table[i] = c;
  }
  return table;
}
constexpr auto kCrcTable = make_crc_table();
}  // namespace

uint32_t crc32(ByteView data) {
  uint32_t c = 0xffffffffu;
  for (uint8_t b : data)
    c = kCrcTable[(c ^ b) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

}  // namespace vmlocal::crypto
