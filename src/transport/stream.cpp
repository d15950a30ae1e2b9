#include "vmlocal/transport/stream.hpp"

#include <cassert>

namespace vmlocal::transport {

// Only decoding streams deliver views, and only to handlers that take them (the tunnel); a
// layer that reads into buffers never asks its inner stream for views.
bool StreamHandler::on_stream_views(uv_buf_t* /*views*/, size_t /*count*/) {
  assert(false && "this handler does not take views");
  return true;
}

}  // namespace vmlocal::transport
