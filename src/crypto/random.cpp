#include "vmlocal/crypto/random.hpp"

#include <sodium.h>

#include <stdexcept>

namespace vmlocal::crypto {

void ensure_initialized() {
  static const int result = sodium_init();  // thread-safe once; 1 means "already initialized"
  if (result < 0) throw std::runtime_error("libsodium failed to initialize");
}

uint32_t Random::uniform(uint32_t upper) {
  // Rejection sampling: accept only values below the largest multiple of `upper`.
  const uint32_t limit = UINT32_MAX - (UINT32_MAX % upper);
  for (;;) {
    uint8_t raw[4];
    fill(raw);
    uint32_t v = get_be32(raw);
    if (v < limit) return v % upper;
  }
}

SystemRandom::SystemRandom() {
  ensure_initialized();
}

void SystemRandom::fill(MutableByteView out) {
  randombytes_buf(out.data(), out.size());
}

}  // namespace vmlocal::crypto
