#include "vmlocal/uv/write.hpp"

namespace vmlocal::uv {

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

}  // namespace vmlocal::uv
