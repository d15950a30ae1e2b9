// Randomness as a parameter: production code gets SystemRandom, tests script the bytes.
#pragma once

#include <cstddef>
#include <cstdint>

#include "vmlocal/util/bytes.hpp"

namespace vmlocal::crypto {

class Random {
 public:
  virtual ~Random() = default;
  virtual void fill(MutableByteView out) = 0;

  // Uniform in [0, upper), upper > 0, without modulo bias.
  uint32_t uniform(uint32_t upper);
};

// A fast-key-erasure ChaCha20 generator keyed from the OS (getrandom via libsodium). Each tunnel
// draws keys, IVs and per-chunk padding; libsodium 1.0.18's randombytes_buf makes one getrandom
// syscall per call (~2 us), which is most of the cost of a padded chunk. Here a refill costs one
// ChaCha20 block run per kPoolSize bytes, the first 32 bytes of each run become the next key,
// and bytes are wiped as they are handed out, so earlier output cannot be recomputed from the
// state. Not thread-safe: one per event loop (or per thread).
class SystemRandom final : public Random {
 public:
  SystemRandom();
  ~SystemRandom() override;
  SystemRandom(const SystemRandom&) = delete;
  SystemRandom& operator=(const SystemRandom&) = delete;

  void fill(MutableByteView out) override;

 private:
  static constexpr size_t kPoolSize = 1024;
  static constexpr size_t kKeySize = 32;

  void refill();

  uint8_t pool_[kPoolSize];
  size_t available_ = 0;  // unread bytes at the end of pool_
  uint8_t key_[kKeySize];
  uint64_t refills_ = 0;
};

// Calls sodium_init() once; safe from any thread. Every entry point that uses libsodium calls it.
void ensure_initialized();

}  // namespace vmlocal::crypto
