#include "vmlocal/net/uv_util.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

namespace vmlocal::net {

WriteOutcome write_now_or_queue(uv_stream_t* stream, uv_write_t* req, uv_buf_t* bufs, size_t count,
                                uv_write_cb cb, int* error) {
  // Skip empty entries up front so the loops below see only real bytes.
  size_t first = 0;
  while (first < count && bufs[first].len == 0)
    ++first;
  if (first == count) return WriteOutcome::kDone;

  int sent = uv_try_write(stream, bufs + first, static_cast<unsigned>(count - first));
  if (sent < 0 && sent != UV_EAGAIN) {
    *error = sent;
    return WriteOutcome::kFailed;
  }
  size_t left = sent > 0 ? static_cast<size_t>(sent) : 0;
  while (first < count && left >= bufs[first].len) {
    left -= bufs[first].len;
    ++first;
  }
  if (first == count) return WriteOutcome::kDone;
  bufs[first].base += left;
  bufs[first].len -= left;

  int rc = uv_write(req, stream, bufs + first, static_cast<unsigned>(count - first), cb);
  if (rc != 0) {
    *error = rc;
    return WriteOutcome::kFailed;
  }
  return WriteOutcome::kQueued;
}

std::string format_sockaddr(const sockaddr* addr) {
  char text[INET6_ADDRSTRLEN] = {};
  if (addr->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(addr);
    inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
    return std::string(text) + ":" + std::to_string(ntohs(in->sin_port));
  }
  if (addr->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(addr);
    inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
    return "[" + std::string(text) + "]:" + std::to_string(ntohs(in6->sin6_port));
  }
  return "?";
}

std::string peer_name(const uv_tcp_t* tcp) {
  sockaddr_storage storage{};
  int len = sizeof storage;
  if (uv_tcp_getpeername(tcp, reinterpret_cast<sockaddr*>(&storage), &len) != 0) return "?";
  return format_sockaddr(reinterpret_cast<const sockaddr*>(&storage));
}

}  // namespace vmlocal::net
