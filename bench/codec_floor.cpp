#include "codec_floor.hpp"

#include <time.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "vmlocal/crypto/random.hpp"
#include "vmlocal/vmess/body_writer.hpp"
#include "vmlocal/vmess/security.hpp"

namespace vmlocal::bench {
namespace {

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

}  // namespace

double codec_cpu_seconds_per_gib(const std::string& security) {
  const auto parsed = vmess::parse_security(security);
  if (!parsed) throw std::invalid_argument("codec floor: unknown security " + security);
  const vmess::BodyFormat format = vmess::resolve_body_format(*parsed);
  crypto::SystemRandom random;
  std::array<uint8_t, 16> key{};
  std::array<uint8_t, 16> iv{};
  random.fill(key);
  random.fill(iv);
  vmess::BodyWriter writer(format.security, format.options, vmess::Transfer::kStream, key, iv,
                           random);
  // 64 KiB: what one read from the socket brings, and small enough to stay in cache, as the
  // bytes a client seals are (the kernel has just copied them in).
  std::vector<uint8_t> buffer(64 * 1024);
  random.fill(buffer);
  const size_t chunk = std::min(writer.max_payload(), buffer.size());
  constexpr uint64_t kBytes = uint64_t{1} << 30;
  vmess::BodyWriter::Frame frame;
  const double start = thread_cpu_seconds();
  for (uint64_t done = 0; done < kBytes;) {
    for (size_t at = 0; at < buffer.size() && done < kBytes; at += chunk) {
      const size_t n = std::min(chunk, buffer.size() - at);
      writer.seal(MutableByteView(buffer.data() + at, n), frame);
      done += n;
    }
  }
  return thread_cpu_seconds() - start;
}

}  // namespace vmlocal::bench
