#include "support/in_process_proxy.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace vmlocal::test {

InProcessProxy::InProcessProxy(config::Profile profile) : profile_(std::move(profile)) {
  profile_.local.listen = {config::ListenEndpoint{"127.0.0.1", 0}};
  uv_loop_init(&loop_);
  proxy_ = std::make_unique<inbound::Proxy>(&loop_, profile_);
  if (auto error = proxy_->start()) throw std::runtime_error(*error);
  const std::string bound = proxy_->bound_addresses().at(0);
  port_ = static_cast<uint16_t>(std::stoi(bound.substr(bound.rfind(':') + 1)));
  stop_.data = this;
  uv_async_init(&loop_, &stop_, [](uv_async_t* async) {
    auto* self = static_cast<InProcessProxy*>(async->data);
    self->proxy_->stop("test finished");
    uv_close(reinterpret_cast<uv_handle_t*>(async), nullptr);
  });
  thread_ = std::thread([this] { uv_run(&loop_, UV_RUN_DEFAULT); });
}

InProcessProxy::~InProcessProxy() {
  uv_async_send(&stop_);
  thread_.join();
  proxy_.reset();
  uv_loop_close(&loop_);
}

BlockingClient::BlockingClient(uint16_t port, int receive_buffer) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (receive_buffer > 0) {
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
  }
  timeval timeout{10, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    throw std::runtime_error("BlockingClient: connect failed");
  }
}

BlockingClient::~BlockingClient() {
  ::close(fd_);
}

uint8_t BlockingClient::socks_connect(uint16_t target_port) {
  const uint8_t request[] = {0x05,
                             0x01,
                             0x00,  // greeting: no-auth
                             0x05,
                             0x01,
                             0x00,
                             0x01,
                             127,
                             0,
                             0,
                             1,  // CONNECT 127.0.0.1
                             static_cast<uint8_t>(target_port >> 8),
                             static_cast<uint8_t>(target_port)};
  send_all(request);
  uint8_t reply[12];
  for (size_t got = 0; got < sizeof reply;) {
    size_t n = receive(reply + got, sizeof reply - got);
    if (n == 0) return 0xff;
    got += n;
  }
  return reply[3];
}

void BlockingClient::send_all(ByteView data) {
  for (size_t off = 0; off < data.size();) {
    ssize_t n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n <= 0) {
      throw std::runtime_error(
          errno == EAGAIN ? "BlockingClient: send timed out (10 s without progress)"
                          : std::string("BlockingClient: send failed: ") + std::strerror(errno));
    }
    off += static_cast<size_t>(n);
  }
}

size_t BlockingClient::receive(uint8_t* out, size_t max) {
  ssize_t n = ::recv(fd_, out, max, 0);
  if (n < 0) {
    throw std::runtime_error(
        errno == EAGAIN ? "BlockingClient: receive timed out (10 s without a byte)"
                        : std::string("BlockingClient: receive failed: ") + std::strerror(errno));
  }
  return static_cast<size_t>(n);
}

void BlockingClient::shutdown_write() {
  ::shutdown(fd_, SHUT_WR);
}

}  // namespace vmlocal::test
