#include "harness/socket.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace vmlocal::itest {
namespace {

[[noreturn]] void throw_errno(const std::string& what, int err) {
  SocketError::Kind kind = SocketError::Kind::kOther;
  if (err == ECONNRESET || err == EPIPE) kind = SocketError::Kind::kReset;
  if (err == ECONNREFUSED) kind = SocketError::Kind::kRefused;
  if (err == ETIMEDOUT) kind = SocketError::Kind::kTimeout;
  throw SocketError(kind, what + ": " + std::strerror(err));
}

[[noreturn]] void throw_timeout(const std::string& what) {
  throw SocketError(SocketError::Kind::kTimeout, what + ": deadline passed");
}

void set_nonblocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) throw_errno("fcntl", errno);
}

// Returns false at the deadline. EINTR just polls again.
bool wait_for(int fd, short events, Deadline deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, deadline.poll_timeout_ms());
    if (n > 0) return true;
    if (n == 0) return false;
    if (errno != EINTR) throw_errno("poll", errno);
  }
}

}  // namespace

Socket::Socket(int fd) : fd_(fd) {
  if (fd_ >= 0) set_nonblocking(fd_);
}

Socket& Socket::operator=(Socket&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = other.release();
  }
  return *this;
}

int Socket::release() {
  return std::exchange(fd_, -1);
}

void Socket::close() {
  if (fd_ >= 0) ::close(std::exchange(fd_, -1));
}

Socket Socket::connect(const Endpoint& to, Deadline deadline) {
  sockaddr_storage ss{};
  socklen_t len = to.to_sockaddr(ss);
  Socket s(::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!s.valid()) throw_errno("socket", errno);
  int one = 1;
  setsockopt(s.fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(s.fd_, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    if (errno != EINPROGRESS) throw_errno("connect " + to.to_string(), errno);
    if (!wait_for(s.fd_, POLLOUT, deadline)) throw_timeout("connect " + to.to_string());
    int err = 0;
    socklen_t err_len = sizeof err;
    getsockopt(s.fd_, SOL_SOCKET, SO_ERROR, &err, &err_len);
    if (err != 0) throw_errno("connect " + to.to_string(), err);
  }
  // Probing a loopback port nobody listens on yet can "succeed" by TCP simultaneous open when
  // the kernel happens to pick the target port as our source port: we would be talking to
  // ourselves. Ports from bind(0) come from the same ephemeral range, so this is not
  // hypothetical for a test suite that probes ports in a loop. (Go's net package does the same.)
  if (s.local_endpoint() == to) throw SocketError(SocketError::Kind::kRefused, "self-connect");
  return s;
}

Socket Socket::listen(const Endpoint& at, int backlog) {
  sockaddr_storage ss{};
  socklen_t len = at.to_sockaddr(ss);
  Socket s(::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!s.valid()) throw_errno("socket", errno);
  int one = 1;
  setsockopt(s.fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (ss.ss_family == AF_INET6) setsockopt(s.fd_, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (::bind(s.fd_, reinterpret_cast<sockaddr*>(&ss), len) != 0)
    throw_errno("bind " + at.to_string(), errno);
  if (::listen(s.fd_, backlog) != 0) throw_errno("listen " + at.to_string(), errno);
  return s;
}

void Socket::send_all(std::span<const std::uint8_t> data, Deadline deadline) {
  while (!data.empty()) {
    // MSG_NOSIGNAL: a peer that closed must surface as EPIPE here, not kill the test binary.
    ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data = data.subspan(static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!wait_for(fd_, POLLOUT, deadline)) throw_timeout("send");
      continue;
    }
    throw_errno("send", errno);
  }
}

void Socket::send_all(std::string_view data, Deadline deadline) {
  send_all(std::span(reinterpret_cast<const std::uint8_t*>(data.data()), data.size()), deadline);
}

std::size_t Socket::recv_some(std::span<std::uint8_t> buf, Deadline deadline) {
  for (;;) {
    ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (!wait_for(fd_, POLLIN, deadline)) throw_timeout("recv");
      continue;
    }
    throw_errno("recv", errno);
  }
}

Bytes Socket::recv_exact(std::size_t n, Deadline deadline) {
  Bytes out(n);
  std::size_t got = 0;
  while (got < n) {
    std::size_t r = recv_some(std::span(out).subspan(got), deadline);
    if (r == 0) {
      throw SocketError(SocketError::Kind::kEof, "recv_exact: EOF after " + std::to_string(got) +
                                                     " of " + std::to_string(n) + " bytes");
    }
    got += r;
  }
  return out;
}

Bytes Socket::recv_until_eof(Deadline deadline, std::size_t limit) {
  Bytes out;
  std::uint8_t buf[16384];
  for (;;) {
    std::size_t r = recv_some(buf, deadline);
    if (r == 0) return out;
    if (out.size() + r > limit) {
      throw SocketError(SocketError::Kind::kOther,
                        "recv_until_eof: more than " + std::to_string(limit) + " bytes");
    }
    out.insert(out.end(), buf, buf + r);
  }
}

Socket::Closed Socket::recv_until_closed(Deadline deadline, std::size_t limit) {
  Closed out;
  std::uint8_t buf[16384];
  for (;;) {
    std::size_t r;
    try {
      r = recv_some(buf, deadline);
    } catch (const SocketError& e) {
      if (e.kind() != SocketError::Kind::kReset) throw;
      out.reset = true;
      return out;
    }
    if (r == 0) return out;
    if (out.data.size() + r > limit) {
      throw SocketError(SocketError::Kind::kOther,
                        "recv_until_closed: more than " + std::to_string(limit) + " bytes");
    }
    out.data.insert(out.data.end(), buf, buf + r);
  }
}

std::string Socket::recv_text_until_eof(Deadline deadline, std::size_t limit) {
  Bytes b = recv_until_eof(deadline, limit);
  return std::string(b.begin(), b.end());
}

void Socket::shutdown_write() {
  // ENOTCONN: the peer already reset the connection; there is nothing left to shut down, and
  // whoever cares will see the reset on the next recv().
  if (::shutdown(fd_, SHUT_WR) != 0 && errno != ENOTCONN) throw_errno("shutdown", errno);
}

void Socket::shutdown_both() {
  ::shutdown(fd_, SHUT_RDWR);
}

void Socket::set_reset_on_close() {
  linger l{1, 0};
  setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
}

bool Socket::wait_readable(Deadline deadline) const {
  return wait_for(fd_, POLLIN, deadline);
}

Endpoint Socket::local_endpoint() const {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len) != 0)
    throw_errno("getsockname", errno);
  return Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss));
}

Endpoint Socket::peer_endpoint() const {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getpeername(fd_, reinterpret_cast<sockaddr*>(&ss), &len) != 0)
    throw_errno("getpeername", errno);
  return Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss));
}

}  // namespace vmlocal::itest
