// The proxy (inbound::Proxy) running on its own event loop thread inside a test process, plus a
// minimal blocking SOCKS5 client, for unit tests of the session and pump.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "vmlocal/config/profile.hpp"
#include "vmlocal/inbound/proxy.hpp"
#include "vmlocal/util/bytes.hpp"

namespace vmlocal::test {

class InProcessProxy {
 public:
  // Listens on 127.0.0.1 with a kernel-chosen port (whatever [local] listen says).
  explicit InProcessProxy(config::Profile profile);
  ~InProcessProxy();  // stops the proxy and joins the loop thread

  uint16_t port() const { return port_; }

 private:
  config::Profile profile_;
  uv_loop_t loop_{};
  uv_async_t stop_{};
  std::unique_ptr<inbound::Proxy> proxy_;
  std::thread thread_;
  uint16_t port_ = 0;
};

// A blocking TCP client socket with a receive timeout on every call.
class BlockingClient {
 public:
  // `receive_buffer`: SO_RCVBUF before connecting (0: the default).
  BlockingClient(uint16_t port, int receive_buffer = 0);
  ~BlockingClient();

  // SOCKS5 no-auth greeting and CONNECT to 127.0.0.1:`target_port`; returns the REP byte.
  uint8_t socks_connect(uint16_t target_port);
  void send_all(ByteView data);
  // Up to `max` bytes (0 at EOF); throws after the timeout.
  size_t receive(uint8_t* out, size_t max);
  void shutdown_write();

 private:
  int fd_ = -1;
};

}  // namespace vmlocal::test
