// SHAKE128 as an incremental XOF: absorb the input once, then squeeze any number of bytes in
// steps as small as two. VMess draws a 2-byte length mask (and padding length) per chunk from it
// for the whole life of a connection (§9.4).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "vmlocal/util/bytes.hpp"

namespace vmlocal::crypto {

class Shake128 {
 public:
  static constexpr size_t kRate = 168;  // bytes of output per Keccak-f[1600] permutation

  // Absorbs `input` completely and pads it; the object is then ready to squeeze.
  explicit Shake128(ByteView input);
  ~Shake128();
  // Copying would duplicate secret-derived state; a moved-from object is wiped.
  Shake128(Shake128&& other) noexcept;
  Shake128& operator=(Shake128&& other) noexcept;
  Shake128(const Shake128&) = delete;
  Shake128& operator=(const Shake128&) = delete;

  // Writes the next out.size() bytes of the output stream.
  void squeeze(MutableByteView out);

  // The next two output bytes read as a big-endian word: VMess's next16().
  uint16_t next_be16() {
    if (offset_ + 2 <= kRate) [[likely]] {
      const uint16_t hi = byte_at(offset_);
      const uint16_t lo = byte_at(offset_ + 1);
      offset_ += 2;
      return static_cast<uint16_t>((hi << 8) | lo);
    }
    uint8_t word[2];
    squeeze(word);
    return get_be16(word);
  }

 private:
  // Output is read straight from the lanes (little-endian, as FIPS 202 serialises them) rather
  // than from a copied 168-byte block, so the whole object stays at 25 lanes plus one offset.
  uint8_t byte_at(size_t i) const { return static_cast<uint8_t>(lanes_[i / 8] >> (8 * (i % 8))); }
  void permute();

  std::array<uint64_t, 25> lanes_{};
  size_t offset_ = 0;  // bytes of the current output block already squeezed
};

}  // namespace vmlocal::crypto
