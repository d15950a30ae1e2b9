#include "first_byte.hpp"

#include <algorithm>
#include <array>
#include <cmath>

#include "blocking_socks.hpp"

namespace vmlocal::bench {

std::size_t FirstByteResult::failed() const {
  std::size_t n = 0;
  for (const auto& [kind, count] : failures)
    n += count;
  return n;
}

double FirstByteResult::percentile_us(double p) const {
  if (micros.empty()) return 0;
  std::vector<double> sorted = micros;
  std::sort(sorted.begin(), sorted.end());
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

FirstByteResult measure_first_byte(const itest::Endpoint& proxy, const itest::Endpoint& echo,
                                   std::size_t samples, std::chrono::milliseconds timeout) {
  using Clock = std::chrono::steady_clock;
  FirstByteResult result;
  result.micros.reserve(samples);
  static constexpr std::array<std::uint8_t, 1> kByte{'p'};
  for (std::size_t i = 0; i < samples; ++i) {
    try {
      // Socket creation and options happen before the clock starts: they are not the proxy's.
      UniqueFd fd = new_blocking_socket(timeout);
      const auto start = Clock::now();
      connect_to(fd.get(), proxy);
      socks5_connect(fd.get(), echo);
      send_all(fd.get(), kByte);
      std::array<std::uint8_t, 1> back{};
      recv_exact(fd.get(), back);
      const auto end = Clock::now();
      if (back != kByte) {
        ++result.failures["wrong echo"];
        continue;
      }
      result.micros.push_back(std::chrono::duration<double, std::micro>(end - start).count());
    } catch (const itest::SocketError& e) {
      ++result.failures[kind_name(e.kind())];
    }
  }
  return result;
}

}  // namespace vmlocal::bench
