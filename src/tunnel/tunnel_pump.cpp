// Tunnel: the duplex pump between the app socket and the outbound stream.
#include <algorithm>

#include "vmlocal/tunnel/tunnel.hpp"
#include "vmlocal/uv/socket_error.hpp"
#include "vmlocal/uv/write.hpp"

namespace vmlocal::tunnel {

// ---------------------------------------------------------------------------------------------
// App reads (handshake and uplink)

void Tunnel::on_app_alloc(uv_handle_t* handle, size_t /*suggested*/, uv_buf_t* buf) {
  auto* self = static_cast<Tunnel*>(handle->data);
  if (self->up_block_ == nullptr) self->up_block_ = self->context_.read_pool.acquire();
  size_t size = kAppReadSize;
  // Never read more than the outbound takes in one write.
  if (self->phase_ == Phase::kEstablished && self->outbound_) {
    size = std::min(size, self->outbound_->max_write_size());
  }
  *buf = uv_buf_init(reinterpret_cast<char*>(self->up_block_->data.data()),
                     static_cast<unsigned>(size));
}

void Tunnel::on_app_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* /*buf*/) {
  auto* self = static_cast<Tunnel*>(stream->data);
  switch (self->phase_) {
    case Phase::kHandshake:
      if (nread > 0) {
        self->on_handshake_bytes(static_cast<size_t>(nread));
      } else if (nread == UV_EOF) {
        self->close(End::kQuiet, "app closed the connection during the handshake");
      } else if (nread < 0) {
        self->close(End::kQuiet, std::string("app read: ") + uv_strerror(static_cast<int>(nread)));
      } else {
        self->release_read_block();
      }
      return;
    case Phase::kEstablished:
      self->on_uplink_read(nread);
      return;
    case Phase::kLingering:
      // Discard whatever the refused app still sends; leave when it goes, but not before the
      // refusal went (closing would cancel a queued reply; the linger timer bounds the wait).
      self->release_read_block();
      if (nread == UV_EOF && self->reply_write_pending_) {
        self->app_eof_ = true;
        uv_read_stop(stream);
      } else if (nread < 0) {
        self->close(End::kQuiet, {});
      }
      return;
    case Phase::kConnecting:
    case Phase::kClosing:
      self->release_read_block();
      return;
  }
}

void Tunnel::start_app_reads() {
  if (phase_ != Phase::kEstablished || app_eof_ || up_write_pending_) return;
  uv_read_start(reinterpret_cast<uv_stream_t*>(&app_), on_app_alloc, on_app_read);
}

// ---------------------------------------------------------------------------------------------
// Uplink: app -> outbound

void Tunnel::on_uplink_read(ssize_t nread) {
  if (nread > 0) {
    last_activity_ms_ = uv_now(context_.loop);
    bytes_up_ += static_cast<uint64_t>(nread);
    send_uplink(up_block_->data.data(), static_cast<size_t>(nread));
  } else if (nread == UV_EOF) {
    // An app reset right behind its data can reach us as UV_EOF (see uv::pending_error): it
    // must not become our END, which tells the server the request is complete.
    if (const int error = uv::pending_error(reinterpret_cast<uv_stream_t*>(&app_)); error != 0) {
      close(End::kError, std::string("app read: ") + uv_strerror(error));
      return;
    }
    app_eof_ = true;
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&app_));
    release_read_block();
    if (!up_write_pending_) send_uplink_end();
  } else if (nread < 0) {
    close(End::kError, std::string("app read: ") + uv_strerror(static_cast<int>(nread)));
  } else if (!up_write_pending_) {
    release_read_block();
  }
}

void Tunnel::send_uplink(uint8_t* data, size_t n) {
  up_buf_ = uv::make_buf(data, n);
  switch (outbound_->write(&up_buf_, 1)) {
    case transport::Stream::WriteResult::kDone:
      uplink_write_finished();
      return;
    case transport::Stream::WriteResult::kPending:
      up_write_pending_ = true;
      uv_read_stop(reinterpret_cast<uv_stream_t*>(&app_));
      return;
    case transport::Stream::WriteResult::kFailed:
      close(End::kError, outbound_->failure().message);
      return;
  }
}

void Tunnel::send_uplink_end() {
  if (end_requested_ || phase_ != Phase::kEstablished) return;
  end_requested_ = true;
  switch (outbound_->shutdown()) {
    case transport::Stream::WriteResult::kDone:
      uplink_write_finished();
      return;
    case transport::Stream::WriteResult::kPending:
      up_write_pending_ = true;
      return;
    case transport::Stream::WriteResult::kFailed:
      close(End::kError, outbound_->failure().message);
      return;
  }
}

void Tunnel::on_stream_write_done() {
  up_write_pending_ = false;
  last_activity_ms_ = uv_now(context_.loop);  // bytes moved, if slowly
  uplink_write_finished();
}

void Tunnel::uplink_write_finished() {
  if (phase_ != Phase::kEstablished) return;
  release_read_block();
  if (!app_eof_) {
    start_app_reads();
  } else if (!end_requested_) {
    send_uplink_end();
  } else if (!uplink_done_) {
    uplink_done_ = true;
    maybe_finish();
    if (phase_ == Phase::kEstablished && !downlink_ended_) one_direction_ended();
  }
}

void Tunnel::release_read_block() {
  if (up_block_ == nullptr || early_len_ > 0 || up_write_pending_) return;
  context_.read_pool.release(up_block_);
  up_block_ = nullptr;
}

// ---------------------------------------------------------------------------------------------
// Downlink: outbound -> app

bool Tunnel::on_stream_views(uv_buf_t* views, size_t count) {
  if (phase_ != Phase::kEstablished) return true;
  last_activity_ms_ = uv_now(context_.loop);
  for (size_t i = 0; i < count; ++i)
    bytes_down_ += views[i].len;
  return write_downlink(views, count);
}

// Outbounds that read into our buffer (a plain stream) get one block, written as one view.
MutableByteView Tunnel::on_stream_buffer() {
  if (down_block_ == nullptr) down_block_ = context_.read_pool.acquire();
  return MutableByteView(down_block_->data.data(), down_block_->data.size());
}

void Tunnel::on_stream_read(size_t n) {
  if (phase_ != Phase::kEstablished) return;
  last_activity_ms_ = uv_now(context_.loop);
  bytes_down_ += n;
  down_buf_ = uv::make_buf(down_block_->data.data(), n);
  if (write_downlink(&down_buf_, 1)) {
    release_down_block();
  } else if (down_write_pending_) {
    outbound_->read_stop();
  }
}

bool Tunnel::write_downlink(uv_buf_t* bufs, size_t count) {
  int error = 0;
  switch (uv::write_now_or_queue(reinterpret_cast<uv_stream_t*>(&app_), &app_write_req_, bufs,
                                 count, on_app_write, &error)) {
    case uv::WriteOutcome::kDone:
      return true;
    case uv::WriteOutcome::kQueued:
      down_write_pending_ = true;
      return false;
    case uv::WriteOutcome::kFailed:
      close(End::kError, std::string("app write: ") + uv_strerror(error));
      return false;
  }
  return false;
}

void Tunnel::on_app_write(uv_write_t* req, int status) {
  auto* self = static_cast<Tunnel*>(req->data);
  if (self->phase_ != Phase::kEstablished) return;
  self->down_write_pending_ = false;
  if (status != 0) {
    self->close(End::kError, std::string("app write: ") + uv_strerror(status));
    return;
  }
  self->last_activity_ms_ = uv_now(self->context_.loop);  // bytes moved, if slowly
  if (self->down_block_ != nullptr) {
    self->release_down_block();
    self->outbound_->read_start();
  } else {
    self->outbound_->release_views();
  }
}

void Tunnel::release_down_block() {
  if (down_block_ == nullptr || down_write_pending_) return;
  context_.read_pool.release(down_block_);
  down_block_ = nullptr;
}

void Tunnel::on_stream_eof() {
  if (phase_ != Phase::kEstablished || downlink_ended_) return;
  downlink_ended_ = true;
  release_down_block();
  if (uv_shutdown(&app_shutdown_req_, reinterpret_cast<uv_stream_t*>(&app_), on_app_shutdown) !=
      0) {
    // The app is gone already (or its side is shut): nothing more goes to it either way.
    downlink_done_ = true;
    maybe_finish();
    if (phase_ != Phase::kEstablished) return;
  }
  if (!uplink_done_) one_direction_ended();
}

void Tunnel::on_app_shutdown(uv_shutdown_t* req, int /*status*/) {
  auto* self = static_cast<Tunnel*>(req->data);
  if (self->phase_ == Phase::kLingering && self->app_eof_) {
    self->close(End::kQuiet, {});  // the refusal went and the app had already left
    return;
  }
  if (self->phase_ != Phase::kEstablished) return;
  // A failed shutdown means the app is gone already; either way nothing more goes to it.
  self->downlink_done_ = true;
  self->maybe_finish();
}

void Tunnel::maybe_finish() {
  if (uplink_done_ && downlink_done_) close(End::kClean, "closed");
}

}  // namespace vmlocal::tunnel
