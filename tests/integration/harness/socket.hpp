// A non-blocking TCP socket owned by RAII, with blocking-style calls that all take a Deadline.
// Non-blocking underneath so that poll() decides every wait and nothing can block past it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "harness/deadline.hpp"
#include "harness/endpoint.hpp"

namespace vmlocal::itest {

using Bytes = std::vector<std::uint8_t>;

class SocketError : public std::runtime_error {
 public:
  enum class Kind { kTimeout, kEof, kReset, kRefused, kOther };
  SocketError(Kind kind, const std::string& what) : std::runtime_error(what), kind_(kind) {}
  Kind kind() const { return kind_; }

 private:
  Kind kind_;
};

class Socket {
 public:
  Socket() = default;
  explicit Socket(int fd);  // takes ownership; makes the fd non-blocking
  ~Socket() { close(); }
  Socket(Socket&& other) noexcept : fd_(other.release()) {}
  Socket& operator=(Socket&& other) noexcept;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  // TCP connect with a deadline. Refuses a loopback self-connect (see socket.cpp).
  static Socket connect(const Endpoint& to, Deadline deadline);
  // A listening socket on `at` (port 0: the kernel chooses).
  static Socket listen(const Endpoint& at, int backlog = 1024);

  int fd() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release();
  void close();

  void send_all(std::span<const std::uint8_t> data, Deadline deadline);
  void send_all(std::string_view data, Deadline deadline);
  // Up to buf.size() bytes; 0 means EOF. Throws on timeout, reset or other errors.
  std::size_t recv_some(std::span<std::uint8_t> buf, Deadline deadline);
  // Exactly n bytes; EOF before that throws SocketError(kEof).
  Bytes recv_exact(std::size_t n, Deadline deadline);
  // Everything until EOF; more than `limit` bytes throws (a runaway peer must not eat memory).
  Bytes recv_until_eof(Deadline deadline, std::size_t limit = 64u << 20);
  std::string recv_text_until_eof(Deadline deadline, std::size_t limit = 64u << 20);
  // Like recv_until_eof, but a reset also counts as the end: for "the tunnel closes without
  // data" checks, where a proxy may legitimately close either way.
  struct Closed {
    Bytes data;          // everything received before the end
    bool reset = false;  // ended by RST rather than FIN
  };
  Closed recv_until_closed(Deadline deadline, std::size_t limit = 64u << 20);

  void shutdown_write();
  void shutdown_both();  // also wakes another thread blocked on this socket
  // close() will send RST instead of FIN: for tests of how a proxy handles resets.
  void set_reset_on_close();

  // Waits until the socket is readable (data, EOF or error). False at the deadline.
  bool wait_readable(Deadline deadline) const;

  Endpoint local_endpoint() const;
  Endpoint peer_endpoint() const;

 private:
  int fd_ = -1;
};

}  // namespace vmlocal::itest
