// The bytes every bulk transfer carries: one pre-filled, incompressible 1 MiB block, repeated.
// Neither the origin nor the driver spends CPU making data (the machine has two cores and the
// client under test must get them), yet both ends still check every byte with memcmp: a
// benchmark must not report numbers for a path that corrupts the stream.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace vmlocal::bench {

class Pattern {
 public:
  static constexpr std::size_t kSize = std::size_t{1} << 20;

  Pattern();  // deterministic, so a forked origin and the driver agree without talking

  // The pattern bytes at stream offset `pos`, up to the end of the block and at most `max`.
  std::span<const std::uint8_t> at(std::uint64_t pos, std::size_t max) const;
  // Whether `data` is what the stream holds at offset `pos`.
  bool matches(std::uint64_t pos, std::span<const std::uint8_t> data) const;

 private:
  std::vector<std::uint8_t> bytes_;
};

}  // namespace vmlocal::bench
