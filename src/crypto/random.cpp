#include "vmlocal/crypto/random.hpp"

#include <sodium.h>

#include <algorithm>
#include <cstring>
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
  randombytes_buf(key_, sizeof key_);
}

SystemRandom::~SystemRandom() {
  sodium_memzero(pool_, sizeof pool_);
  sodium_memzero(key_, sizeof key_);
}

void SystemRandom::refill() {
  // Rekey from the OS now and then, so a long-lived process keeps mixing in fresh entropy.
  if (++refills_ % 4096 == 0) {
    uint8_t fresh[kKeySize];
    randombytes_buf(fresh, sizeof fresh);
    for (size_t i = 0; i < kKeySize; ++i)
      key_[i] ^= fresh[i];
    sodium_memzero(fresh, sizeof fresh);
  }
  static constexpr uint8_t kNonce[crypto_stream_chacha20_ietf_NONCEBYTES] = {};
  crypto_stream_chacha20_ietf(pool_, sizeof pool_, kNonce, key_);  // a fresh key every time
  std::memcpy(key_, pool_, kKeySize);
  sodium_memzero(pool_, kKeySize);
  available_ = kPoolSize - kKeySize;
}

void SystemRandom::fill(MutableByteView out) {
  uint8_t* dest = out.data();
  size_t left = out.size();
  while (left > 0) {
    if (available_ == 0) refill();
    const size_t take = std::min(left, available_);
    uint8_t* from = pool_ + kPoolSize - available_;
    std::memcpy(dest, from, take);
    sodium_memzero(from, take);
    available_ -= take;
    dest += take;
    left -= take;
  }
}

}  // namespace vmlocal::crypto
