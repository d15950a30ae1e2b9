#include "harness/tcp_server.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace vmlocal::itest {

TcpServer::TcpServer(std::string name, Family family, Handler handler)
    : name_(std::move(name)),
      handler_(std::move(handler)),
      listener_(Socket::listen(Endpoint::loopback(family, 0))),
      endpoint_(listener_.local_endpoint()) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0)
    throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));
  wake_read_ = fds[0];
  wake_write_ = fds[1];
  accept_thread_ = std::thread([this] { accept_loop(); });
}

TcpServer::~TcpServer() {
  stop();
  ::close(wake_read_);
  ::close(wake_write_);
}

void TcpServer::stop() {
  if (stopping_.exchange(true)) return;
  char byte = 1;
  [[maybe_unused]] auto n = ::write(wake_write_, &byte, 1);
  if (accept_thread_.joinable()) accept_thread_.join();
  listener_.close();

  std::list<std::unique_ptr<Connection>> connections;
  {
    // Under the mutex, so a handler thread cannot close its socket in between and let the
    // descriptor number be reused by someone else before shutdown() reaches it.
    std::lock_guard lock(mutex_);
    for (auto& c : connections_) {
      if (!c->done.load()) c->socket.shutdown_both();
    }
    connections.swap(connections_);
  }
  for (auto& c : connections)
    c->thread.join();
}

std::vector<std::string> TcpServer::errors() const {
  std::lock_guard lock(mutex_);
  return errors_;
}

void TcpServer::reap_finished() {
  for (auto it = connections_.begin(); it != connections_.end();) {
    if ((*it)->done.load()) {
      (*it)->thread.join();
      it = connections_.erase(it);
    } else {
      ++it;
    }
  }
}

void TcpServer::accept_loop() {
  pollfd fds[2] = {{listener_.fd(), POLLIN, 0}, {wake_read_, POLLIN, 0}};
  while (!stopping_.load()) {
    int n = ::poll(fds, 2, -1);  // stop() writes to the wake pipe, so no timeout is needed
    if (n < 0) {
      if (errno == EINTR) continue;
      std::lock_guard lock(mutex_);
      errors_.push_back(name_ + ": poll: " + std::strerror(errno));
      return;
    }
    if (fds[1].revents != 0) return;
    int fd = ::accept4(listener_.fd(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) continue;  // EAGAIN, ECONNABORTED: nothing to serve
    accepted_.fetch_add(1);

    auto conn = std::make_unique<Connection>();
    conn->socket = Socket(fd);
    Connection* c = conn.get();
    std::lock_guard lock(mutex_);
    reap_finished();
    c->thread = std::thread([this, c] {
      try {
        handler_(c->socket);
      } catch (const std::exception& e) {
        if (!stopping_.load()) {
          std::lock_guard lock(mutex_);
          errors_.push_back(name_ + ": " + e.what());
        }
      }
      // Close here so the peer sees the end of the connection now, not at the next accept.
      std::lock_guard lock(mutex_);
      c->socket.close();
      c->done.store(true);
    });
    connections_.push_back(std::move(conn));
  }
}

}  // namespace vmlocal::itest
