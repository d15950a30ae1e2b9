#include "vmlocal/outbound/direct_udp_stream.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <cstring>
#include <string>

namespace vmlocal::outbound {

DirectUdpStream::DirectUdpStream(uv_loop_t* loop, transport::StreamHandler& handler,
                                 const TargetAddress& target)
    : loop_(loop), handler_(handler), target_(target) {
  resolve_.data = this;
  socket_.data = this;
}

DirectUdpStream::~DirectUdpStream() = default;

void DirectUdpStream::connect() {
  // Literals go through getaddrinfo too (AI_NUMERICHOST: no lookup), so connected is always
  // reported from a later callback, never inside connect().
  std::string host;
  if (target_.type == TargetAddress::Type::kDomain) {
    host = target_.domain;
  } else {
    char text[INET6_ADDRSTRLEN] = {};
    const int family = target_.type == TargetAddress::Type::kIpv4 ? AF_INET : AF_INET6;
    inet_ntop(family, target_.ip.data(), text, sizeof text);
    host = text;
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_family = AF_UNSPEC;
  if (target_.type != TargetAddress::Type::kDomain) hints.ai_flags = AI_NUMERICHOST;
  const std::string service = std::to_string(target_.port);
  const int rc =
      uv_getaddrinfo(loop_, &resolve_, on_resolved, host.c_str(), service.c_str(), &hints);
  if (rc != 0) {
    fail({ErrorKind::kResolve, "DNS: " + host + ": " + uv_strerror(rc)});
    return;
  }
  resolving_ = true;
}

void DirectUdpStream::on_resolved(uv_getaddrinfo_t* req, int status, addrinfo* result) {
  auto* self = static_cast<DirectUdpStream*>(req->data);
  self->resolving_ = false;
  if (self->closing_) {
    uv_freeaddrinfo(result);
    self->maybe_closed();
    return;
  }
  if (status != 0 || result == nullptr) {
    uv_freeaddrinfo(result);
    self->fail({ErrorKind::kResolve, "DNS: " + self->target_.to_string() + ": " +
                                         (status != 0 ? uv_strerror(status) : "no address")});
    return;
  }
  self->open_socket(*result->ai_addr);
  uv_freeaddrinfo(result);
}

void DirectUdpStream::open_socket(const sockaddr& addr) {
  int rc = uv_udp_init_ex(loop_, &socket_, addr.sa_family);
  if (rc != 0) {
    fail({ErrorKind::kOther, std::string("UDP: socket: ") + uv_strerror(rc)});
    return;
  }
  socket_open_ = true;
  // Connected: the kernel passes on only the target's datagrams, and sends go there.
  rc = uv_udp_connect(&socket_, &addr);
  if (rc != 0) {
    fail({transport::failure_kind_for_uv_error(rc),
          "UDP: connect " + target_.to_string() + ": " + uv_strerror(rc)});
    return;
  }
  handler_.on_stream_connected();
}

void DirectUdpStream::read_start() {
  if (!socket_open_ || closing_ || reading_ || views_held_) return;
  if (uv_udp_recv_start(&socket_, on_alloc, on_recv) == 0) reading_ = true;
}

void DirectUdpStream::read_stop() {
  if (!reading_) return;
  uv_udp_recv_stop(&socket_);
  reading_ = false;
}

void DirectUdpStream::on_alloc(uv_handle_t* handle, size_t, uv_buf_t* buf) {
  auto* self = static_cast<DirectUdpStream*>(handle->data);
  self->buffer_.resize(65'536);
  *buf = uv_buf_init(reinterpret_cast<char*>(self->buffer_.data()),
                     static_cast<unsigned>(self->buffer_.size()));
}

void DirectUdpStream::on_recv(uv_udp_t* handle, ssize_t nread, const uv_buf_t* buf,
                              const sockaddr* addr, unsigned flags) {
  auto* self = static_cast<DirectUdpStream*>(handle->data);
  // nread 0 without an address: nothing more to read now. An error (ECONNREFUSED after an
  // ICMP port unreachable) is a lost datagram, as UDP allows; the destination's idle timeout
  // ends it if nothing else comes. A truncated datagram is not passed on.
  if (nread <= 0 || addr == nullptr || (flags & UV_UDP_PARTIAL) != 0 || self->closing_) return;
  uv_buf_t view = uv_buf_init(buf->base, static_cast<unsigned>(nread));
  if (!self->handler_.on_stream_views(&view, 1)) {
    // The handler keeps the view: the buffer must not be reused until release_views().
    self->views_held_ = true;
    self->read_stop();
  }
}

void DirectUdpStream::release_views() {
  views_held_ = false;
  read_start();
}

transport::Stream::WriteResult DirectUdpStream::write(uv_buf_t* bufs, size_t count) {
  if (!socket_open_ || closing_ || failed_) {
    failure_ = {ErrorKind::kOther, "UDP: the socket is not open"};
    return WriteResult::kFailed;
  }
  // Each buffer is one datagram: sent now, or dropped (UDP); nothing waits in this stream.
  for (size_t i = 0; i < count; ++i) {
    if (uv_udp_try_send(&socket_, &bufs[i], 1, nullptr) < 0) ++send_drops_;
  }
  return WriteResult::kDone;
}

void DirectUdpStream::fail(transport::Failure failure) {
  if (failed_ || closing_) return;
  failed_ = true;
  failure_ = std::move(failure);
  handler_.on_stream_failed(failure_);
}

void DirectUdpStream::close(bool) {
  if (closing_) return;
  closing_ = true;
  read_stop();
  if (resolving_) uv_cancel(reinterpret_cast<uv_req_t*>(&resolve_));
  if (socket_open_) {
    uv_close(reinterpret_cast<uv_handle_t*>(&socket_), [](uv_handle_t* handle) {
      auto* self = static_cast<DirectUdpStream*>(handle->data);
      self->socket_open_ = false;
      self->maybe_closed();
    });
    return;
  }
  if (!resolving_) {
    // Nothing of libuv's to wait for; still reported from a later callback through a zero
    // timer would need a handle too, so report now (as TcpStream does with nothing open).
    maybe_closed();
  }
}

void DirectUdpStream::maybe_closed() {
  if (!closing_ || resolving_ || socket_open_ || close_reported_) return;
  close_reported_ = true;
  handler_.on_stream_closed();  // may free this stream
}

}  // namespace vmlocal::outbound
