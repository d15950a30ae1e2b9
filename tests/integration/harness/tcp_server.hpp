// The common part of the origin servers: a loopback listener on a kernel-chosen port, one
// thread per accepted connection, and a clean stop that wakes and joins every thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "harness/endpoint.hpp"
#include "harness/socket.hpp"

namespace vmlocal::itest {

class TcpServer {
 public:
  // Called on its own thread for each connection. It may throw: the error is recorded (see
  // errors()) unless the server is stopping. The socket is closed when it returns.
  // Handlers give every call a Deadline of at most kIoTimeout from the call.
  using Handler = std::function<void(Socket&)>;

  // How long a handler waits for the peer in any one call; no test needs a peer slower than
  // this, and a hung proxy must not hang the server's destructor.
  static constexpr std::chrono::seconds kIoTimeout{30};

  TcpServer(std::string name, Family family, Handler handler);
  ~TcpServer();  // stop()
  TcpServer(const TcpServer&) = delete;
  TcpServer& operator=(const TcpServer&) = delete;

  // Stops accepting, shuts down open connections (unblocking their handlers) and joins.
  void stop();

  const Endpoint& endpoint() const { return endpoint_; }
  uint16_t port() const { return endpoint_.port; }
  uint64_t accepted() const { return accepted_.load(); }
  // "name: what" for each handler that failed while the server was running.
  std::vector<std::string> errors() const;

 private:
  struct Connection {
    Socket socket;
    std::thread thread;
    std::atomic<bool> done{false};
  };

  void accept_loop();
  void reap_finished();  // joins threads of finished connections; caller holds mutex_

  std::string name_;
  Handler handler_;
  Socket listener_;
  Endpoint endpoint_;
  int wake_read_ = -1;  // a pipe that wakes the accept loop on stop()
  int wake_write_ = -1;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> accepted_{0};
  mutable std::mutex mutex_;
  std::list<std::unique_ptr<Connection>> connections_;
  std::vector<std::string> errors_;
  std::thread accept_thread_;
};

}  // namespace vmlocal::itest
