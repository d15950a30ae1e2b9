#include "harness/echo_server.hpp"

#include <array>

namespace vmlocal::itest {
namespace {

void echo(Socket& s) {
  std::array<std::uint8_t, 64 * 1024> buf;
  for (;;) {
    std::size_t n = s.recv_some(buf, Deadline::after(TcpServer::kIoTimeout));
    if (n == 0) break;
    s.send_all(std::span(buf).first(n), Deadline::after(TcpServer::kIoTimeout));
  }
  s.shutdown_write();
}

}  // namespace

EchoServer::EchoServer(Family family) : server_("echo", family, echo) {}

}  // namespace vmlocal::itest
