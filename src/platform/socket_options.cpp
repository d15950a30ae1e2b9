#include "vmlocal/platform/socket_options.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>

namespace vmlocal::platform {

bool enable_reuseport(uv_os_fd_t fd) {
#ifdef SO_REUSEPORT
  const int on = 1;
  return setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) == 0;
#else
  (void)fd;
  errno = ENOPROTOOPT;
  return false;
#endif
}

bool enable_fast_open_connect(uv_os_fd_t fd) {
#ifdef TCP_FASTOPEN_CONNECT  // Linux 4.11+
  const int on = 1;
  return setsockopt(fd, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, &on, sizeof on) == 0;
#else
  (void)fd;
  errno = ENOPROTOOPT;
  return false;
#endif
}

std::optional<bool> fast_open_used(uv_os_fd_t fd) {
#if defined(TCP_INFO) && defined(TCPI_OPT_SYN_DATA)
  tcp_info info{};
  socklen_t len = sizeof info;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return std::nullopt;
  return (info.tcpi_options & TCPI_OPT_SYN_DATA) != 0;
#else
  (void)fd;
  return std::nullopt;
#endif
}

}  // namespace vmlocal::platform
