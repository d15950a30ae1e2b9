#include "harness/data_stream.hpp"

#include <algorithm>
#include <vector>

namespace vmlocal::itest {

std::uint64_t DataStream::next_word() {
  std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void DataStream::fill(std::span<std::uint8_t> out) {
  std::size_t i = 0;
  while (i < out.size() && word_left_ > 0) {
    out[i++] = static_cast<std::uint8_t>(word_);
    word_ >>= 8;
    --word_left_;
  }
  while (out.size() - i >= 8) {
    std::uint64_t w = next_word();
    for (int b = 0; b < 8; ++b, w >>= 8)
      out[i++] = static_cast<std::uint8_t>(w);
  }
  if (i < out.size()) {
    word_ = next_word();
    word_left_ = 8;
    while (i < out.size()) {
      out[i++] = static_cast<std::uint8_t>(word_);
      word_ >>= 8;
      --word_left_;
    }
  }
}

Digest stream_sha256(std::uint64_t seed, std::uint64_t count) {
  DataStream stream(seed);
  Sha256 h;
  std::vector<std::uint8_t> buf(64 * 1024);
  while (count > 0) {
    auto n = static_cast<std::size_t>(std::min<std::uint64_t>(count, buf.size()));
    stream.fill(std::span(buf).first(n));
    h.update(std::span(buf).first(n));
    count -= n;
  }
  return h.finish();
}

void put_be64(std::span<std::uint8_t, 8> out, std::uint64_t v) {
  for (int i = 7; i >= 0; --i, v >>= 8)
    out[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v);
}

std::uint64_t get_be64(std::span<const std::uint8_t, 8> in) {
  std::uint64_t v = 0;
  for (std::uint8_t b : in)
    v = (v << 8) | b;
  return v;
}

}  // namespace vmlocal::itest
