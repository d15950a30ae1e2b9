// The write path every libuv socket writer shares (the tunnel's app side, the TCP transport).
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>

namespace vmlocal::uv {

enum class WriteOutcome { kDone, kQueued, kFailed };

// Writes synchronously as far as the socket takes it (uv_try_write), then queues the rest with
// uv_write. A write that completes at once needs no callback and no read stop/start, which on
// loopback is nearly every write. `bufs` is advanced in place past what was sent. On kFailed,
// *error holds the libuv error.
WriteOutcome write_now_or_queue(uv_stream_t* stream, uv_write_t* req, uv_buf_t* bufs, size_t count,
                                uv_write_cb cb, int* error);

// A uv_buf_t over bytes libuv only reads (it takes non-const pointers for reads and writes alike).
inline uv_buf_t make_buf(const uint8_t* data, size_t len) {
  return uv_buf_init(const_cast<char*>(reinterpret_cast<const char*>(data)),
                     static_cast<unsigned>(len));
}

}  // namespace vmlocal::uv
