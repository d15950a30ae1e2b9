#include "vmlocal/uv/socket_error.hpp"

#include <sys/socket.h>

namespace vmlocal::uv {

int pending_error(const uv_stream_t* stream) {
  uv_os_fd_t fd = -1;
  if (uv_fileno(reinterpret_cast<const uv_handle_t*>(stream), &fd) != 0) return 0;
  int error = 0;
  socklen_t len = sizeof error;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0) return 0;
  return error == 0 ? 0 : uv_translate_sys_error(error);
}

}  // namespace vmlocal::uv
