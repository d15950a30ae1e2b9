// Key material that wipes itself: every key, IV and UUID lives in one of these.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace vmlocal::crypto {

// Zeroes memory in a way the optimizer cannot remove (libsodium's sodium_memzero).
void secure_wipe(void* data, size_t size);

template <size_t N>
struct SecretArray : std::array<uint8_t, N> {
  ~SecretArray() { secure_wipe(this->data(), N); }
};

using Key16 = SecretArray<16>;
using Key32 = SecretArray<32>;

}  // namespace vmlocal::crypto
