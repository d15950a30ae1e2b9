#include "blocking_socks.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <string>

#include "harness/socks5_client.hpp"

namespace vmlocal::bench {
namespace {

using itest::SocketError;

[[noreturn]] void throw_io(const char* what, int err) {
  SocketError::Kind kind = SocketError::Kind::kOther;
  if (err == EAGAIN || err == EWOULDBLOCK || err == EINPROGRESS) kind = SocketError::Kind::kTimeout;
  if (err == ECONNRESET || err == EPIPE) kind = SocketError::Kind::kReset;
  if (err == ECONNREFUSED) kind = SocketError::Kind::kRefused;
  throw SocketError(kind, std::string(what) + ": " + std::strerror(err));
}

// Reply length for the address type in byte 3 (VER REP RSV ATYP ADDR PORT).
std::size_t reply_size(std::span<const std::uint8_t> head) {
  switch (head[3]) {
    case 0x01:
      return 4 + 4 + 2;
    case 0x04:
      return 4 + 16 + 2;
    case 0x03:
      return 4 + 1 + head[4] + 2;
    default:
      throw SocketError(SocketError::Kind::kOther, "SOCKS reply with an unknown address type");
  }
}

}  // namespace

UniqueFd new_blocking_socket(std::chrono::milliseconds io_timeout) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) throw_io("socket", errno);
  int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  set_io_timeout(fd.get(), io_timeout);
  return fd;
}

void set_io_timeout(int fd, std::chrono::milliseconds io_timeout) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(io_timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((io_timeout.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);  // also bounds connect()
}

void connect_to(int fd, const itest::Endpoint& to) {
  sockaddr_storage ss{};
  socklen_t len = to.to_sockaddr(ss);
  int rc;
  do {
    rc = ::connect(fd, reinterpret_cast<sockaddr*>(&ss), len);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) throw_io("connect", errno);
}

void send_all(int fd, std::span<const std::uint8_t> data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_io("send", errno);
    }
    data = data.subspan(static_cast<std::size_t>(n));
  }
}

std::size_t recv_some(int fd, std::span<std::uint8_t> out) {
  for (;;) {
    ssize_t n = ::recv(fd, out.data(), out.size(), 0);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno != EINTR) throw_io("recv", errno);
  }
}

void recv_exact(int fd, std::span<std::uint8_t> out) {
  while (!out.empty()) {
    std::size_t n = recv_some(fd, out);
    if (n == 0) throw SocketError(SocketError::Kind::kEof, "closed by the proxy");
    out = out.subspan(n);
  }
}

void socks5_connect(int fd, const itest::Endpoint& target) {
  static constexpr std::array<std::uint8_t, 3> kGreeting{itest::socks5::kVersion, 1,
                                                         itest::socks5::kMethodNoAuth};
  send_all(fd, kGreeting);
  std::array<std::uint8_t, 2> method{};
  recv_exact(fd, method);
  if (method[0] != itest::socks5::kVersion || method[1] != itest::socks5::kMethodNoAuth)
    throw SocketError(SocketError::Kind::kRefused, "SOCKS5 method refused");

  send_all(fd, itest::socks5::request(itest::Socks5Target::to(target)));
  // One recv normally returns the whole reply. Nothing can follow it before we send, so
  // reading into the whole buffer never takes tunnel data.
  std::array<std::uint8_t, 4 + 1 + 255 + 2> reply{};
  std::size_t got = 0;
  std::size_t need = 5;
  while (got < need) {
    std::size_t n = recv_some(fd, std::span(reply).subspan(got));
    if (n == 0) throw SocketError(SocketError::Kind::kEof, "closed during the SOCKS5 handshake");
    got += n;
    if (got >= 5) need = reply_size(reply);
  }
  if (reply[1] != itest::socks5::kReplySucceeded) {
    throw SocketError(SocketError::Kind::kRefused,
                      std::string("SOCKS5 reply: ") + itest::socks5::reply_name(reply[1]));
  }
}

UniqueFd open_tunnel(const itest::Endpoint& proxy, const itest::Endpoint& target,
                     std::chrono::milliseconds io_timeout) {
  UniqueFd fd = new_blocking_socket(io_timeout);
  connect_to(fd.get(), proxy);
  socks5_connect(fd.get(), target);
  return fd;
}

const char* kind_name(itest::SocketError::Kind kind) {
  switch (kind) {
    case SocketError::Kind::kTimeout:
      return "timeout";
    case SocketError::Kind::kEof:
      return "closed";
    case SocketError::Kind::kReset:
      return "reset";
    case SocketError::Kind::kRefused:
      return "refused";
    case SocketError::Kind::kOther:
      break;
  }
  return "error";
}

}  // namespace vmlocal::bench
