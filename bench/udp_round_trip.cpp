#include "udp_round_trip.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <thread>

#include "blocking_socks.hpp"
#include "unique_fd.hpp"

namespace vmlocal::bench {
namespace {

using Clock = std::chrono::steady_clock;

UniqueFd udp_socket_on_loopback() {
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) throw std::runtime_error("udp socket: " + std::string(std::strerror(errno)));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    throw std::runtime_error("udp bind: " + std::string(std::strerror(errno)));
  }
  return fd;
}

uint16_t local_port(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

// A loopback UDP echo server on its own thread for the length of the phase.
class UdpEcho {
 public:
  UdpEcho() : fd_(udp_socket_on_loopback()), port_(local_port(fd_.get())) {
    thread_ = std::thread([this] {
      std::array<uint8_t, 65536> buf{};
      while (!stop_) {
        pollfd p{fd_.get(), POLLIN, 0};
        if (::poll(&p, 1, 100) <= 0) continue;
        sockaddr_storage from{};
        socklen_t len = sizeof from;
        const ssize_t n = ::recvfrom(fd_.get(), buf.data(), buf.size(), 0,
                                     reinterpret_cast<sockaddr*>(&from), &len);
        if (n > 0)
          ::sendto(fd_.get(), buf.data(), static_cast<size_t>(n), 0,
                   reinterpret_cast<sockaddr*>(&from), len);
      }
    });
  }
  ~UdpEcho() {
    stop_ = true;
    thread_.join();
  }
  uint16_t port() const { return port_; }

 private:
  UniqueFd fd_;
  uint16_t port_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace

double UdpRoundTripResult::percentile_us(double p) const {
  if (micros.empty()) return 0;
  std::vector<double> sorted = micros;
  std::sort(sorted.begin(), sorted.end());
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

UdpRoundTripResult measure_udp_round_trip(const itest::Endpoint& proxy, std::size_t samples,
                                          std::size_t payload_size,
                                          std::chrono::milliseconds timeout) {
  UdpRoundTripResult result;
  UdpEcho echo;
  UniqueFd udp = udp_socket_on_loopback();
  // UDP ASSOCIATE from 127.0.0.1:<our port>; the control connection stays open throughout.
  UniqueFd control = new_blocking_socket(std::chrono::milliseconds(5000));
  sockaddr_in relay{};
  try {
    connect_to(control.get(), proxy);
    std::array<uint8_t, 3> greeting = {5, 1, 0};
    send_all(control.get(), greeting);
    std::array<uint8_t, 2> method{};
    recv_exact(control.get(), method);
    const uint16_t port = local_port(udp.get());
    std::array<uint8_t, 10> request = {
        5, 3, 0, 1, 127, 0, 0, 1, static_cast<uint8_t>(port >> 8), static_cast<uint8_t>(port)};
    send_all(control.get(), request);
    std::array<uint8_t, 10> reply{};
    recv_exact(control.get(), reply);
    if (method[1] != 0 || reply[1] != 0 || reply[3] != 1) {
      result.error = "UDP ASSOCIATE refused (reply " + std::to_string(reply[1]) + ")";
      return result;
    }
    relay.sin_family = AF_INET;
    std::memcpy(&relay.sin_addr, &reply[4], 4);
    if (relay.sin_addr.s_addr == 0) relay.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::memcpy(&relay.sin_port, &reply[8], 2);
  } catch (const std::exception& e) {
    result.error = std::string("UDP ASSOCIATE: ") + e.what();
    return result;
  }

  // RSV FRAG ATYP=1 127.0.0.1 port, then [seq: 8 bytes][filler].
  std::vector<uint8_t> out(10 + std::max<std::size_t>(payload_size, 8));
  out[3] = 1;
  out[4] = 127, out[7] = 1;
  out[8] = static_cast<uint8_t>(echo.port() >> 8), out[9] = static_cast<uint8_t>(echo.port());
  for (std::size_t i = 18; i < out.size(); ++i)
    out[i] = static_cast<uint8_t>(i * 131);
  std::vector<uint8_t> in(65536);
  result.micros.reserve(samples);
  for (std::size_t seq = 0; seq < samples; ++seq) {
    std::memcpy(&out[10], &seq, 8);
    const auto start = Clock::now();
    ::sendto(udp.get(), out.data(), out.size(), 0, reinterpret_cast<sockaddr*>(&relay),
             sizeof relay);
    ++result.sent;
    const auto deadline = start + timeout;
    bool echoed = false;
    while (!echoed) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      pollfd p{udp.get(), POLLIN, 0};
      if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) break;
      const ssize_t n = ::recv(udp.get(), in.data(), in.size(), 0);
      // The reply carries the same 10-byte header (the echo server's address) before the data.
      if (n != static_cast<ssize_t>(out.size())) continue;
      std::size_t got = 0;
      std::memcpy(&got, &in[10], 8);
      if (got != seq) continue;  // a late echo of a datagram counted lost
      if (!std::equal(out.begin() + 10, out.end(), in.begin() + 10)) {
        throw std::runtime_error("UDP round trip: an echoed datagram was corrupted");
      }
      echoed = true;
    }
    if (echoed) {
      result.micros.push_back(
          std::chrono::duration<double, std::micro>(Clock::now() - start).count());
    } else {
      ++result.lost;
    }
  }
  return result;
}

}  // namespace vmlocal::bench
