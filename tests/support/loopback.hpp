// Loopback TCP sockets for unit tests that need a port in a given state: bound (to listen on),
// or known to have nothing behind it (connecting is refused at once).
#pragma once

#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>

namespace vmlocal::test {

// A TCP socket bound to 127.0.0.1 on a kernel-chosen port, written to `port`.
inline int bind_loopback(uint16_t& port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  port = ntohs(addr.sin_port);
  return fd;
}

// A loopback port nothing listens on: connecting is refused at once.
inline uint16_t closed_port() {
  uint16_t port = 0;
  ::close(bind_loopback(port));
  return port;
}

}  // namespace vmlocal::test
