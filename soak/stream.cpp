#include "stream.hpp"

#include <algorithm>
#include <cstring>

namespace vmlocal::soak {

using bench::Pattern;

std::uint64_t mix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15u;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
  return x ^ (x >> 31);
}

std::span<const std::uint8_t> StreamBytes::at(std::uint64_t seed, std::uint64_t pos,
                                              std::size_t max) const {
  const std::uint64_t block = pos / Pattern::kSize;
  const std::size_t offset = static_cast<std::size_t>(pos % Pattern::kSize);
  const std::size_t rotation =
      static_cast<std::size_t>(mix64(seed ^ mix64(block)) % Pattern::kSize);
  // Never past the end of this stream block: the next one has another rotation.
  const std::size_t in_block = std::min(Pattern::kSize - offset, max);
  return pattern_.at((offset + rotation) % Pattern::kSize, in_block);
}

std::optional<std::uint64_t> StreamBytes::first_mismatch(std::uint64_t seed, std::uint64_t pos,
                                                         std::span<const std::uint8_t> data) const {
  while (!data.empty()) {
    auto expected = at(seed, pos, data.size());
    if (std::memcmp(expected.data(), data.data(), expected.size()) != 0) {
      for (std::size_t i = 0; i < expected.size(); ++i) {
        if (expected[i] != data[i]) return pos + i;
      }
    }
    pos += expected.size();
    data = data.subspan(expected.size());
  }
  return std::nullopt;
}

}  // namespace vmlocal::soak
