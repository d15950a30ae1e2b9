#include "harness/ports.hpp"

#include <chrono>
#include <stdexcept>
#include <thread>

#include "harness/process.hpp"
#include "harness/socket.hpp"

namespace vmlocal::itest {

using namespace std::chrono_literals;

uint16_t free_port(Family family) {
  Socket s = Socket::listen(Endpoint::loopback(family, 0));
  return s.local_endpoint().port;
}

uint16_t free_dual_stack_port() {
  for (int attempt = 0; attempt < 100; ++attempt) {
    Socket v4 = Socket::listen(Endpoint::loopback(Family::kV4, 0));
    uint16_t port = v4.local_endpoint().port;
    try {
      Socket v6 = Socket::listen(Endpoint::loopback(Family::kV6, port));
      return port;
    } catch (const SocketError&) {
      // taken on ::1; try another
    }
  }
  throw std::runtime_error("no port free on both 127.0.0.1 and ::1 after 100 attempts");
}

void wait_until_accepting(const Endpoint& at, Process& process, Deadline deadline) {
  for (auto pause = 2ms;; pause = std::min(pause * 2, 50ms)) {
    if (!process.alive()) {
      throw std::runtime_error(process.name() + " exited before accepting on " + at.to_string() +
                               ": " + process.describe_with_log());
    }
    try {
      Socket probe = Socket::connect(at, deadline.min(Deadline::after(1s)));
      return;
    } catch (const SocketError&) {
      // not listening yet
    }
    if (deadline.expired()) {
      throw std::runtime_error(process.name() + " did not accept on " + at.to_string() +
                               " before the deadline: " + process.describe_with_log());
    }
    std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(pause, deadline.remaining()));
  }
}

}  // namespace vmlocal::itest
