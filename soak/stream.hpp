// The bytes every soak transfer carries: deterministic streams that the driver and the origin
// both generate from a seed, so neither sends the other what to expect and both check every
// byte where it lands. Position p of stream `seed` is byte (p mod 1 MiB + r) mod 1 MiB of
// bench's pattern block, where r is a pseudo-random rotation drawn from (seed, p / 1 MiB):
// so the stream never repeats with a 1 MiB period, and a dropped, duplicated or reordered
// block is caught as surely as a flipped bit. Generating costs nothing: every span is a
// view into the pattern.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "pattern.hpp"

namespace vmlocal::soak {

class StreamBytes {
 public:
  explicit StreamBytes(const bench::Pattern& pattern) : pattern_(pattern) {}

  // Up to `max` bytes of stream `seed` from position `pos`, contiguous in the pattern block.
  std::span<const std::uint8_t> at(std::uint64_t seed, std::uint64_t pos, std::size_t max) const;
  // The stream position of the first byte of `data` that differs from stream `seed` read from
  // `pos`; nullopt if every byte matches.
  std::optional<std::uint64_t> first_mismatch(std::uint64_t seed, std::uint64_t pos,
                                              std::span<const std::uint8_t> data) const;

 private:
  const bench::Pattern& pattern_;
};

// splitmix64's finaliser: seeds and rotations from small integers.
std::uint64_t mix64(std::uint64_t x);

}  // namespace vmlocal::soak
