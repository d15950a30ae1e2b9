// An echo origin for thousands of connections: one thread, epoll, non-blocking sockets. The
// thread-per-connection EchoServer is simpler and right for a few bulk streams; this one is for
// load tests that hold many mostly idle tunnels.
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>

#include "harness/endpoint.hpp"

namespace vmlocal::itest {

class EpollEchoServer {
 public:
  EpollEchoServer();
  ~EpollEchoServer();
  EpollEchoServer(const EpollEchoServer&) = delete;
  EpollEchoServer& operator=(const EpollEchoServer&) = delete;

  const Endpoint& endpoint() const { return endpoint_; }
  uint64_t accepted() const { return accepted_.load(); }
  uint64_t open_connections() const { return open_.load(); }

 private:
  void run();

  Endpoint endpoint_;
  int listen_fd_ = -1;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::atomic<uint64_t> accepted_{0};
  std::atomic<uint64_t> open_{0};
  std::thread thread_;
};

}  // namespace vmlocal::itest
