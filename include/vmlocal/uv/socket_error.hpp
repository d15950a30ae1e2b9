// Telling a reset from an end of stream when libuv says UV_EOF.
#pragma once

#include <uv.h>

namespace vmlocal::uv {

// libuv reports UV_EOF without calling read(2) when poll says POLLHUP after a short read
// (uv__stream_io). A reset that arrives right behind data makes the kernel say POLLHUP too,
// so such an "EOF" can hide an ECONNRESET still pending on the socket. Call this on UV_EOF:
// it returns that pending error as a libuv error (UV_ECONNRESET, ...), or 0 for a real end of
// stream. Reading the error clears it.
int pending_error(const uv_stream_t* stream);

}  // namespace vmlocal::uv
