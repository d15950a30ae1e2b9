#include "wire.hpp"

#include <algorithm>

#include "stream.hpp"

namespace vmlocal::soak::wire {
namespace {

constexpr std::array<std::uint8_t, 4> kMagic{'S', 'O', 'A', 'K'};

void put64(std::uint8_t* out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i)
    out[i] = static_cast<std::uint8_t>(v >> (56 - 8 * i));
}

std::uint64_t get64(const std::uint8_t* in) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v = (v << 8) | in[i];
  return v;
}

}  // namespace

std::array<std::uint8_t, kHeaderSize> encode(const Header& h) {
  std::array<std::uint8_t, kHeaderSize> out{};
  std::copy(kMagic.begin(), kMagic.end(), out.begin());
  out[4] = h.flags;
  put64(&out[5], h.job);
  put64(&out[13], h.up_total);
  put64(&out[21], h.down_total);
  put64(&out[29], h.down_offset);
  return out;
}

std::optional<Header> decode_header(std::span<const std::uint8_t, kHeaderSize> bytes) {
  if (!std::equal(kMagic.begin(), kMagic.end(), bytes.begin())) return std::nullopt;
  Header h;
  h.flags = bytes[4];
  h.job = get64(&bytes[5]);
  h.up_total = get64(&bytes[13]);
  h.down_total = get64(&bytes[21]);
  h.down_offset = get64(&bytes[29]);
  if (h.down_offset > h.down_total) return std::nullopt;
  return h;
}

std::array<std::uint8_t, kAnswerSize> encode(const Answer& a) {
  std::array<std::uint8_t, kAnswerSize> out{};
  out[0] = static_cast<std::uint8_t>(a.status);
  put64(&out[1], a.value);
  return out;
}

Answer decode_answer(std::span<const std::uint8_t, kAnswerSize> bytes) {
  return Answer{static_cast<Status>(bytes[0]), get64(&bytes[1])};
}

std::array<std::uint8_t, kTrailerSize> encode(const Trailer& t) {
  std::array<std::uint8_t, kTrailerSize> out{};
  put64(&out[0], t.up_received);
  std::copy(t.up_sha.begin(), t.up_sha.end(), out.begin() + 8);
  std::copy(t.down_sha.begin(), t.down_sha.end(), out.begin() + 40);
  return out;
}

Trailer decode_trailer(std::span<const std::uint8_t, kTrailerSize> bytes) {
  Trailer t;
  t.up_received = get64(&bytes[0]);
  std::copy(bytes.begin() + 8, bytes.begin() + 40, t.up_sha.begin());
  std::copy(bytes.begin() + 40, bytes.begin() + 72, t.down_sha.begin());
  return t;
}

std::uint64_t up_seed(std::uint64_t job) {
  return mix64(job * 2 + 1);
}

std::uint64_t down_seed(std::uint64_t job) {
  return mix64(job * 2 + 2);
}

}  // namespace vmlocal::soak::wire
