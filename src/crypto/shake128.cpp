#include "vmlocal/crypto/shake128.hpp"

#include "vmlocal/crypto/secret.hpp"

// Hand-written rather than OpenSSL: VMess squeezes 2 bytes per chunk for as long as a connection
// lives, but OpenSSL 3.0 (bookworm) allows EVP_DigestFinalXOF only once per context and has no
// EVP_DigestSqueeze (added in 3.3). Re-deriving from the start per draw would be quadratic.

namespace vmlocal::crypto {
namespace {

constexpr uint8_t kDomainPad = 0x1f;  // SHAKE domain bits (1111) plus the first pad10*1 bit
constexpr uint8_t kFinalPad = 0x80;   // the last pad10*1 bit, at the end of the rate

constexpr std::array<uint64_t, 24> kRoundConstants = {
    0x0000000000000001ull, 0x0000000000008082ull, 0x800000000000808aull, 0x8000000080008000ull,
    0x000000000000808bull, 0x0000000080000001ull, 0x8000000080008081ull, 0x8000000000008009ull,
    0x000000000000008aull, 0x0000000000000088ull, 0x0000000080008009ull, 0x000000008000000aull,
    0x000000008000808bull, 0x800000000000008bull, 0x8000000000008089ull, 0x8000000000008003ull,
    0x8000000000008002ull, 0x8000000000000080ull, 0x000000000000800aull, 0x800000008000000aull,
    0x8000000080008081ull, 0x8000000000008080ull, 0x0000000080000001ull, 0x8000000080008008ull,
};
// rho offsets and pi destinations, in the order the combined rho-pi walk visits the lanes.
constexpr std::array<int, 24> kRotations = {1,  3,  6,  10, 15, 21, 28, 36, 45, 55, 2,  14,
                                            27, 41, 56, 8,  25, 43, 62, 18, 39, 61, 20, 44};
constexpr std::array<int, 24> kPiLanes = {10, 7,  11, 17, 18, 3, 5,  16, 8,  21, 24, 4,
                                          15, 23, 19, 13, 12, 2, 20, 14, 22, 9,  6,  1};

constexpr uint64_t rotl(uint64_t x, int n) {
  return (x << n) | (x >> (64 - n));
}

void xor_byte(std::array<uint64_t, 25>& lanes, size_t i, uint8_t b) {
  lanes[i / 8] ^= uint64_t{b} << (8 * (i % 8));
}

}  // namespace

Shake128::Shake128(ByteView input) {
  size_t pos = 0;
  for (uint8_t b : input) {
    xor_byte(lanes_, pos, b);
    if (++pos == kRate) {
      permute();
      pos = 0;
    }
  }
  xor_byte(lanes_, pos, kDomainPad);
  xor_byte(lanes_, kRate - 1, kFinalPad);
  permute();
  offset_ = 0;
}

Shake128::~Shake128() {
  secure_wipe(lanes_.data(), sizeof(lanes_));
}

Shake128::Shake128(Shake128&& other) noexcept : lanes_(other.lanes_), offset_(other.offset_) {
  secure_wipe(other.lanes_.data(), sizeof(other.lanes_));
}

Shake128& Shake128::operator=(Shake128&& other) noexcept {
  if (this != &other) {
    lanes_ = other.lanes_;
    offset_ = other.offset_;
    secure_wipe(other.lanes_.data(), sizeof(other.lanes_));
  }
  return *this;
}

void Shake128::squeeze(MutableByteView out) {
  for (uint8_t& b : out) {
    if (offset_ == kRate) {
      permute();
      offset_ = 0;
    }
    b = byte_at(offset_++);
  }
}

// Keccak-f[1600], 24 rounds, in the compact form of the Keccak team's reference (theta, then
// rho and pi in one walk, chi, iota). The five-lane steps are written out: with `% 5` indexing
// GCC leaves the loops rolled, which costs about twice the time per permutation.
void Shake128::permute() {
  auto& a = lanes_;
  for (uint64_t round_constant : kRoundConstants) {
    const uint64_t c0 = a[0] ^ a[5] ^ a[10] ^ a[15] ^ a[20];
    const uint64_t c1 = a[1] ^ a[6] ^ a[11] ^ a[16] ^ a[21];
    const uint64_t c2 = a[2] ^ a[7] ^ a[12] ^ a[17] ^ a[22];
    const uint64_t c3 = a[3] ^ a[8] ^ a[13] ^ a[18] ^ a[23];
    const uint64_t c4 = a[4] ^ a[9] ^ a[14] ^ a[19] ^ a[24];
    const uint64_t d[5] = {c4 ^ rotl(c1, 1), c0 ^ rotl(c2, 1), c1 ^ rotl(c3, 1), c2 ^ rotl(c4, 1),
                           c3 ^ rotl(c0, 1)};
    for (int y = 0; y < 25; y += 5) {
      a[y] ^= d[0];
      a[y + 1] ^= d[1];
      a[y + 2] ^= d[2];
      a[y + 3] ^= d[3];
      a[y + 4] ^= d[4];
    }

    uint64_t carry = a[1];
    for (int i = 0; i < 24; ++i) {
      const int j = kPiLanes[i];
      const uint64_t next = a[j];
      a[j] = rotl(carry, kRotations[i]);
      carry = next;
    }

    for (int y = 0; y < 25; y += 5) {
      const uint64_t b0 = a[y], b1 = a[y + 1], b2 = a[y + 2], b3 = a[y + 3], b4 = a[y + 4];
      a[y] = b0 ^ (~b1 & b2);
      a[y + 1] = b1 ^ (~b2 & b3);
      a[y + 2] = b2 ^ (~b3 & b4);
      a[y + 3] = b3 ^ (~b4 & b0);
      a[y + 4] = b4 ^ (~b0 & b1);
    }

    a[0] ^= round_constant;
  }
}

}  // namespace vmlocal::crypto
