// Shared by the fuzz targets: reading a fuzzer's input as a small program, a deterministic
// generator for split points and padding, and invariant checks that say what broke.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "vmlocal/crypto/random.hpp"
#include "vmlocal/util/bytes.hpp"

namespace vmlocal::fuzz {

// A target's invariant did not hold. The fuzzer entry point turns it into abort() (a crash
// libFuzzer saves as a reproducer); the replay unit test turns it into a failure naming the file.
class InvariantError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

inline void require(bool ok, const char* what) {
  if (!ok) throw InvariantError(what);
}

// Reads the fuzzer's input from the front. Past the end every read yields zeros, so a short
// input is still a complete (if dull) program and every byte the fuzzer adds extends it.
class Cursor {
 public:
  explicit Cursor(ByteView data) : data_(data) {}

  uint8_t u8() { return at_ < data_.size() ? data_[at_++] : 0; }
  uint16_t u16() {
    const uint16_t hi = u8();
    return static_cast<uint16_t>((hi << 8) | u8());
  }
  // Up to n bytes (fewer at the end of the input).
  ByteView take(size_t n) {
    n = std::min(n, remaining());
    const ByteView out = data_.subspan(at_, n);
    at_ += n;
    return out;
  }
  ByteView rest() { return take(remaining()); }
  size_t remaining() const { return data_.size() - at_; }

 private:
  ByteView data_;
  size_t at_ = 0;
};

// SplitMix64: cheap and deterministic, for piece sizes, payload and padding bytes.
class SplitMix {
 public:
  explicit SplitMix(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // In [0, n), n > 0. The modulo bias does not matter here.
  size_t below(size_t n) { return static_cast<size_t>(next() % n); }
  void fill(MutableByteView out) {
    for (uint8_t& b : out)
      b = static_cast<uint8_t>(next());
  }

 private:
  uint64_t state_;
};

// Padding bytes for the writers: deterministic, never runs out.
class FuzzRandom final : public crypto::Random {
 public:
  explicit FuzzRandom(uint64_t seed) : mix_(seed) {}
  void fill(MutableByteView out) override { mix_.fill(out); }

 private:
  SplitMix mix_;
};

// How a feeder cuts a stream into reads. Seed 0 is byte by byte (for streams up to 16 KiB, where
// it costs little); otherwise half the pieces are 1..4 bytes (every boundary matters), the rest
// up to 64 bytes or up to 3000, spanning several chunks.
class Pieces {
 public:
  Pieces(uint8_t seed, size_t total) : bytewise_(seed == 0 && total <= 16 * 1024), mix_(seed) {}
  size_t next() {
    if (bytewise_) return 1;
    const uint64_t r = mix_.next();
    switch (r & 3) {
      case 0:
        return 1 + static_cast<size_t>((r >> 8) % 3000);
      case 1:
        return 1 + static_cast<size_t>((r >> 8) % 64);
      default:
        return 1 + static_cast<size_t>((r >> 8) % 4);
    }
  }

 private:
  bool bytewise_;
  SplitMix mix_;
};

inline Bytes to_bytes(ByteView view) {
  return Bytes(view.begin(), view.end());
}

inline bool starts_with(ByteView whole, ByteView prefix) {
  return prefix.size() <= whole.size() && std::equal(prefix.begin(), prefix.end(), whole.begin());
}

}  // namespace vmlocal::fuzz
