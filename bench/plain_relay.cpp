#include "plain_relay.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace vmlocal::bench {
namespace {

constexpr std::size_t kBufferSize = 64 * 1024;

bool read_exact(int fd, std::uint8_t* out, std::size_t n) {
  for (std::size_t got = 0; got < n;) {
    const ssize_t r = ::read(fd, out + got, n - got);
    if (r <= 0) return false;
    got += static_cast<std::size_t>(r);
  }
  return true;
}

bool write_all(int fd, const std::uint8_t* data, std::size_t n) {
  for (std::size_t sent = 0; sent < n;) {
    const ssize_t w = ::send(fd, data + sent, n - sent, MSG_NOSIGNAL);
    if (w <= 0) return false;
    sent += static_cast<std::size_t>(w);
  }
  return true;
}

// read(2) -> write(2) until EOF, then pass the half-close on.
void copy(int from, int to) {
  std::vector<std::uint8_t> buf(kBufferSize);
  for (;;) {
    const ssize_t n = ::read(from, buf.data(), buf.size());
    if (n <= 0 || !write_all(to, buf.data(), static_cast<std::size_t>(n))) break;
  }
  ::shutdown(to, SHUT_WR);
}

void serve(int client) {
  const int one = 1;
  ::setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  // Greeting (VER NMETHODS METHODS), then CONNECT to an IPv4 address.
  std::array<std::uint8_t, 262> b{};
  if (!read_exact(client, b.data(), 2) || !read_exact(client, b.data() + 2, b[1])) return;
  static constexpr std::uint8_t kNoAuth[] = {5, 0};
  if (!write_all(client, kNoAuth, 2) || !read_exact(client, b.data(), 10) || b[3] != 1) return;
  sockaddr_in to{};
  to.sin_family = AF_INET;
  std::memcpy(&to.sin_addr, b.data() + 4, 4);
  std::memcpy(&to.sin_port, b.data() + 8, 2);
  const int upstream = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ::setsockopt(upstream, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  const bool ok = ::connect(upstream, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0;
  const std::uint8_t reply[] = {5, static_cast<std::uint8_t>(ok ? 0 : 5), 0, 1, 0, 0, 0, 0, 0, 0};
  if (write_all(client, reply, sizeof reply) && ok) {
    std::thread up([client, upstream] { copy(client, upstream); });
    copy(upstream, client);
    up.join();
  }
  ::close(upstream);
}

[[noreturn]] void child_main(int listener, int parent) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  std::thread([parent] {
    std::uint8_t byte;
    while (::read(parent, &byte, 1) > 0) {
    }
    ::_exit(0);  // the driver is gone
  }).detach();
  for (;;) {
    const int client = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    std::thread([client] {
      serve(client);
      ::close(client);
    }).detach();
  }
}

}  // namespace

PlainRelay::PlainRelay() {
  UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listener.get(), 128) != 0) {
    throw std::runtime_error(std::string("plain relay listen: ") + std::strerror(errno));
  }
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&ss), &len);
  endpoint_ = itest::Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss));
  std::array<int, 2> fds{};
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds.data()) != 0) {
    throw std::runtime_error(std::string("socketpair: ") + std::strerror(errno));
  }
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid_ == 0) {
    ::close(fds[0]);
    child_main(listener.get(), fds[1]);
  }
  ::close(fds[1]);
  parent_end_.reset(fds[0]);
}

PlainRelay::~PlainRelay() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

}  // namespace vmlocal::bench
