// Small libuv helpers shared by the listener, sessions and transports.
#pragma once

#include <uv.h>

#include <cstddef>
#include <string>

namespace vmlocal::net {

enum class WriteOutcome { kDone, kQueued, kFailed };

// Writes synchronously as far as the socket takes it (uv_try_write), then queues the rest with
// uv_write. A write that completes at once needs no callback and no read stop/start, which on
// loopback is nearly every write. `bufs` is advanced in place past what was sent. On kFailed,
// *error holds the libuv error.
WriteOutcome write_now_or_queue(uv_stream_t* stream, uv_write_t* req, uv_buf_t* bufs, size_t count,
                                uv_write_cb cb, int* error);

// "127.0.0.1:5000" / "[::1]:5000" for a sockaddr (logs).
std::string format_sockaddr(const sockaddr* addr);
// Peer address of a connected TCP handle, or "?".
std::string peer_name(const uv_tcp_t* tcp);

}  // namespace vmlocal::net
