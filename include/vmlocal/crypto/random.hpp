// Randomness as a parameter: production code gets SystemRandom, tests script the bytes.
#pragma once

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

// libsodium's CSPRNG (getrandom-seeded ChaCha20).
class SystemRandom final : public Random {
 public:
  SystemRandom();
  void fill(MutableByteView out) override;
};

// Calls sodium_init() once; safe from any thread. Every entry point that uses libsodium calls it.
void ensure_initialized();

}  // namespace vmlocal::crypto
