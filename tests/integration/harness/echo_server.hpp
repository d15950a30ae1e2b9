// Echoes every byte back. On EOF from the client it sends what is left, then shuts down its
// write side, so a half-close travels through the proxy in both directions.
#pragma once

#include "harness/tcp_server.hpp"

namespace vmlocal::itest {

class EchoServer {
 public:
  explicit EchoServer(Family family = Family::kV4);

  const Endpoint& endpoint() const { return server_.endpoint(); }
  uint16_t port() const { return server_.port(); }
  uint64_t accepted() const { return server_.accepted(); }
  std::vector<std::string> errors() const { return server_.errors(); }

 private:
  TcpServer server_;
};

}  // namespace vmlocal::itest
