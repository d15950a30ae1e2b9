#include "pattern.hpp"

#include <algorithm>
#include <cstring>

namespace vmlocal::bench {

Pattern::Pattern() : bytes_(kSize) {
  // splitmix64: fast and statistically random, so no layer could compress the stream.
  std::uint64_t state = 0x9e3779b97f4a7c15u;
  for (std::size_t i = 0; i < kSize; i += 8) {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    z ^= z >> 31;
    std::memcpy(bytes_.data() + i, &z, 8);
  }
}

std::span<const std::uint8_t> Pattern::at(std::uint64_t pos, std::size_t max) const {
  const std::size_t offset = static_cast<std::size_t>(pos % kSize);
  return std::span(bytes_).subspan(offset, std::min(kSize - offset, max));
}

bool Pattern::matches(std::uint64_t pos, std::span<const std::uint8_t> data) const {
  while (!data.empty()) {
    auto expected = at(pos, data.size());
    if (std::memcmp(expected.data(), data.data(), expected.size()) != 0) return false;
    pos += expected.size();
    data = data.subspan(expected.size());
  }
  return true;
}

}  // namespace vmlocal::bench
