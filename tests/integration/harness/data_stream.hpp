// A deterministic pseudo-random byte stream: both ends of a transfer can produce (or predict)
// the same bytes from a seed without storing them. Incompressible enough that no layer can
// cheat, and the same bytes whatever the chunk sizes used to read it.
#pragma once

#include <cstdint>
#include <span>

#include "harness/sha256.hpp"

namespace vmlocal::itest {

class DataStream {
 public:
  explicit DataStream(std::uint64_t seed) : state_(seed) {}

  void fill(std::span<std::uint8_t> out);  // the next out.size() bytes of the stream

 private:
  std::uint64_t next_word();  // splitmix64

  std::uint64_t state_;
  std::uint64_t word_ = 0;
  unsigned word_left_ = 0;  // bytes of word_ not yet handed out
};

// SHA-256 of the first `count` bytes of DataStream(seed), computed independently of any server.
Digest stream_sha256(std::uint64_t seed, std::uint64_t count);

// Big-endian 64-bit integers, as used by the SourceServer and SinkServer wire formats.
void put_be64(std::span<std::uint8_t, 8> out, std::uint64_t v);
std::uint64_t get_be64(std::span<const std::uint8_t, 8> in);

}  // namespace vmlocal::itest
