#include "harness/epoll_echo_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <vector>

namespace vmlocal::itest {

EpollEchoServer::EpollEchoServer() {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (listen_fd_ < 0 || epoll_fd_ < 0 || wake_fd_ < 0 ||
      ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 4096) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw std::runtime_error("EpollEchoServer: cannot listen");
  }
  endpoint_ = Endpoint::loopback(Family::kV4, ntohs(addr.sin_port));
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = listen_fd_;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &ev);
  ev.data.fd = wake_fd_;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
  thread_ = std::thread([this] { run(); });
}

EpollEchoServer::~EpollEchoServer() {
  uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof one);
  thread_.join();
  ::close(listen_fd_);
  ::close(epoll_fd_);
  ::close(wake_fd_);
}

void EpollEchoServer::run() {
  epoll_event events[256];
  char buf[16384];
  std::vector<int> open_fds;
  for (;;) {
    int n = ::epoll_wait(epoll_fd_, events, 256, -1);
    if (n < 0 && errno == EINTR) continue;
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == wake_fd_) {
        for (int open : open_fds)
          ::close(open);
        return;
      }
      if (fd == listen_fd_) {
        for (;;) {
          int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (client < 0) break;
          ++accepted_;
          ++open_;
          if (static_cast<size_t>(client) >= open_fds.size()) open_fds.resize(client + 1, -1);
          open_fds[static_cast<size_t>(client)] = client;
          epoll_event ev{};
          ev.events = EPOLLIN;
          ev.data.fd = client;
          ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, client, &ev);
        }
        continue;
      }
      // Small echoes only: what is read is written straight back (load tests send a few bytes
      // per tunnel, so the socket buffer always takes it).
      ssize_t got = ::recv(fd, buf, sizeof buf, 0);
      if (got > 0) {
        ssize_t off = 0;
        while (off < got) {
          ssize_t sent = ::send(fd, buf + off, static_cast<size_t>(got - off), MSG_NOSIGNAL);
          if (sent <= 0) break;
          off += sent;
        }
      } else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
        ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
        ::close(fd);
        open_fds[static_cast<size_t>(fd)] = -1;
        --open_;
      }
    }
  }
}

}  // namespace vmlocal::itest
