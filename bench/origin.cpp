#include "origin.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace vmlocal::bench {
namespace {

enum class Service : std::uint8_t { kEcho, kSource, kSink };

UniqueFd listen_loopback() {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(fd.get(), 4096) != 0) {
    throw std::runtime_error(std::string("origin listen: ") + std::strerror(errno));
  }
  return fd;
}

itest::Endpoint local_endpoint(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  return itest::Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss));
}

// The child's event loop. Plain level-triggered epoll; every connection is a small struct.
class OriginLoop {
 public:
  OriginLoop(const Pattern& pattern, std::array<int, 3> listeners, int parent_pipe)
      : pattern_(pattern), buffer_(Pattern::kSize) {
    epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
    for (int i = 0; i < 3; ++i) {
      listeners_[i] = Conn(listeners[i], static_cast<Service>(i), true);
      watch(&listeners_[i], EPOLLIN, EPOLL_CTL_ADD);
    }
    parent_ = Conn(parent_pipe, Service::kEcho, true);
    watch(&parent_, EPOLLIN, EPOLL_CTL_ADD);
  }

  [[noreturn]] void run() {
    std::array<epoll_event, 256> events;
    for (;;) {
      int n = ::epoll_wait(epoll_, events.data(), static_cast<int>(events.size()), -1);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) _exit(3);
      for (int i = 0; i < n; ++i) {
        auto* conn = static_cast<Conn*>(events[i].data.ptr);
        if (conn == &parent_) _exit(0);  // the driver exited or closed the pipe: stop
        if (conn->listener) {
          accept_all(*conn);
        } else {
          handle(conn, events[i].events);
        }
      }
    }
  }

 private:
  enum class Phase : std::uint8_t { kHeader, kBody, kDrain };

  struct Conn {
    Conn() = default;
    Conn(int f, Service s, bool l) : fd(f), service(s), listener(l) {}

    int fd = -1;
    Service service = Service::kEcho;
    bool listener = false;
    Phase phase = Phase::kHeader;
    bool ok = true;  // sink: every byte matched the pattern
    std::uint8_t header_got = 0;
    std::array<std::uint8_t, 8> header{};
    std::uint64_t count = 0;            // source/sink: bytes announced in the header
    std::uint64_t done = 0;             // bytes sent (source) or received (sink)
    std::vector<std::uint8_t> pending;  // echo bytes the socket did not take yet
  };

  void watch(Conn* conn, std::uint32_t events, int op) {
    epoll_event ev{};
    ev.events = events;
    ev.data.ptr = conn;
    ::epoll_ctl(epoll_, op, conn->fd, &ev);
  }

  void accept_all(const Conn& listener) {
    for (;;) {
      int fd = ::accept4(listener.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;  // EAGAIN, or EMFILE: the rest wait in the backlog
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      auto* conn = new Conn(fd, listener.service, false);
      watch(conn, EPOLLIN, EPOLL_CTL_ADD);
    }
  }

  void finish(Conn* conn) {
    ::close(conn->fd);  // also removes it from the epoll set
    delete conn;
  }

  void handle(Conn* conn, std::uint32_t events) {
    if ((events & (EPOLLERR | EPOLLHUP)) && !conn->pending.empty()) {
      finish(conn);  // the echo can never be delivered
      return;
    }
    if (events & EPOLLOUT) {
      if (!(conn->service == Service::kSource ? send_source(conn) : flush_echo(conn))) {
        finish(conn);
        return;
      }
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
      if (!receive(conn)) finish(conn);
    }
  }

  // Reads what is there; false once the connection should close.
  bool receive(Conn* conn) {
    if (!conn->pending.empty()) return true;  // echo waits for its writes first
    ssize_t n = ::recv(conn->fd, buffer_.data(), buffer_.size(), 0);
    if (n == 0) return false;
    if (n < 0) return errno == EAGAIN || errno == EINTR;
    std::span<const std::uint8_t> data(buffer_.data(), static_cast<std::size_t>(n));
    switch (conn->service) {
      case Service::kEcho:
        return echo(conn, data);
      case Service::kSource:
      case Service::kSink:
        return on_stream_bytes(conn, data);
    }
    return false;
  }

  bool echo(Conn* conn, std::span<const std::uint8_t> data) {
    ssize_t sent = ::send(conn->fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (sent < 0 && errno != EAGAIN) return false;
    std::size_t took = sent < 0 ? 0 : static_cast<std::size_t>(sent);
    if (took == data.size()) return true;
    // The peer is not reading: keep the rest and stop reading until it is written.
    conn->pending.assign(data.begin() + static_cast<std::ptrdiff_t>(took), data.end());
    watch(conn, EPOLLOUT, EPOLL_CTL_MOD);
    return true;
  }

  bool flush_echo(Conn* conn) {
    ssize_t sent = ::send(conn->fd, conn->pending.data(), conn->pending.size(), MSG_NOSIGNAL);
    if (sent < 0) return errno == EAGAIN;
    conn->pending.erase(conn->pending.begin(), conn->pending.begin() + sent);
    if (conn->pending.empty()) watch(conn, EPOLLIN, EPOLL_CTL_MOD);
    return true;
  }

  bool on_stream_bytes(Conn* conn, std::span<const std::uint8_t> data) {
    if (conn->phase == Phase::kHeader) {
      while (!data.empty() && conn->header_got < conn->header.size()) {
        conn->header[conn->header_got++] = data.front();
        data = data.subspan(1);
      }
      if (conn->header_got < conn->header.size()) return true;
      for (std::uint8_t b : conn->header)
        conn->count = (conn->count << 8) | b;
      conn->phase = Phase::kBody;
      if (conn->service == Service::kSource) {
        watch(conn, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
        return true;  // anything after the header is ignored
      }
      // The sink says "ready" so the driver starts its clock on a tunnel known to work.
      if (!send_small(conn->fd, {&Origin::kSinkReady, 1})) return false;
    }
    if (conn->service == Service::kSink && conn->phase == Phase::kBody) {
      const std::uint64_t left = conn->count - conn->done;
      if (data.size() > left) conn->ok = false;
      auto body = data.first(static_cast<std::size_t>(std::min<std::uint64_t>(left, data.size())));
      if (!pattern_.matches(conn->done, body)) conn->ok = false;
      conn->done += body.size();
      if (conn->done == conn->count) {
        std::array<std::uint8_t, Origin::kSinkReportSize> report{};
        for (int i = 0; i < 8; ++i)
          report[static_cast<std::size_t>(i)] =
              static_cast<std::uint8_t>(conn->done >> (56 - 8 * i));
        report[8] = conn->ok ? 1 : 0;
        conn->phase = Phase::kDrain;
        return send_small(conn->fd, report);
      }
    }
    return true;  // kDrain: discard until EOF
  }

  // Pattern bytes as fast as the socket takes them.
  bool send_source(Conn* conn) {
    while (conn->done < conn->count) {
      auto chunk = pattern_.at(conn->done, static_cast<std::size_t>(conn->count - conn->done));
      ssize_t sent = ::send(conn->fd, chunk.data(), chunk.size(), MSG_NOSIGNAL);
      if (sent < 0) return errno == EAGAIN || errno == EINTR;
      conn->done += static_cast<std::uint64_t>(sent);
    }
    // Shut down rather than close: closing with unread input would reset the connection and
    // could discard data still queued for the peer.
    ::shutdown(conn->fd, SHUT_WR);
    conn->phase = Phase::kDrain;
    watch(conn, EPOLLIN, EPOLL_CTL_MOD);
    return true;
  }

  // Replies of a few bytes on a connection that has sent nothing else: the socket buffer
  // always takes them whole.
  static bool send_small(int fd, std::span<const std::uint8_t> bytes) {
    return ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(bytes.size());
  }

  const Pattern& pattern_;
  std::vector<std::uint8_t> buffer_;
  int epoll_ = -1;
  std::array<Conn, 3> listeners_;
  Conn parent_;
};

}  // namespace

Origin::Origin(const Pattern& pattern) {
  std::array<UniqueFd, 3> listeners{listen_loopback(), listen_loopback(), listen_loopback()};
  echo_ = local_endpoint(listeners[0].get());
  source_ = local_endpoint(listeners[1].get());
  sink_ = local_endpoint(listeners[2].get());

  // The child watches the read end; it sees EOF when the driver exits, however it exits.
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  UniqueFd pipe_read(pipe_fds[0]);
  UniqueFd pipe_write(pipe_fds[1]);
  const pid_t parent = ::getpid();

  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) _exit(0);
    ::prctl(PR_SET_NAME, "vmess-bench-org");
    ::close(pipe_write.release());
    OriginLoop loop(pattern,
                    {listeners[0].release(), listeners[1].release(), listeners[2].release()},
                    pipe_read.release());
    loop.run();
  }
  parent_end_ = std::move(pipe_write);
}

Origin::~Origin() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
}

}  // namespace vmlocal::bench
