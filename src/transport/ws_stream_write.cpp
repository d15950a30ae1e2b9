// WsStream's uplink: one masked binary frame per write(), with the pong and close frames the
// connection owes sent ahead of it.
#include "vmlocal/transport/ws_stream.hpp"

#include "ws_stream_internal.hpp"

namespace vmlocal::transport {

using uv::make_buf;

Stream::WriteResult WsStream::write(uv_buf_t* bufs, size_t count) {
  if (awaiting_first_write_ && !closing() && !failed()) return write_early(bufs, count);
  if (!connected_ || closing() || failed() || shut_down_ || close_sent_) {
    if (failure_.message.empty()) {
      failure_ = Failure{FailureKind::kReset, close_received_
                                                  ? "WebSocket: the server closed the connection"
                                                  : "WebSocket: not writable"};
    }
    return WriteResult::kFailed;
  }
  if (inner_write_pending_) {
    // A pong or close answer is on its way; this write follows it.
    queued_bufs_ = bufs;
    queued_count_ = count;
    user_write_queued_ = true;
    return WriteResult::kPending;
  }
  return send_data(bufs, count);
}

Stream::WriteResult WsStream::send_data(uv_buf_t* bufs, size_t count) {
  uint64_t total = 0;
  for (size_t i = 0; i < count; ++i)
    total += bufs[i].len;
  iov_.clear();
  take_queued_control();
  if (total > 0) {
    const ws::MaskKey key = draw_mask();
    const size_t header_len = ws::encode_header(ws::Opcode::kBinary, total, &key, data_header_);
    iov_.push_back(make_buf(data_header_.data(), header_len));
    uint64_t offset = 0;
    for (size_t i = 0; i < count; ++i) {
      if (bufs[i].len == 0) continue;
      ws::apply_mask(MutableByteView(reinterpret_cast<uint8_t*>(bufs[i].base), bufs[i].len), key,
                     offset);
      offset += bufs[i].len;
      iov_.push_back(bufs[i]);
    }
  }
  if (iov_.empty()) return WriteResult::kDone;
  switch (inner_->write(iov_.data(), iov_.size())) {
    case WriteResult::kDone:
      return WriteResult::kDone;
    case WriteResult::kPending:
      inner_write_pending_ = true;
      user_write_pending_ = true;
      return WriteResult::kPending;
    case WriteResult::kFailed:
      break;
  }
  failure_ = inner_->failure();
  return WriteResult::kFailed;
}

void WsStream::queue_control(ws::Opcode opcode, ByteView payload) {
  if (close_sent_) return;  // nothing follows a close
  if (opcode == ws::Opcode::kClose) {
    close_len_ = ws::encode_control(opcode, payload, draw_mask(), close_frame_);
    close_sent_ = true;
  } else {
    // One slot: a newer pong replaces an unsent one (§5.5.3 allows answering only the latest).
    pong_len_ = ws::encode_control(opcode, payload, draw_mask(), pong_frames_[pong_slot_]);
  }
}

void WsStream::take_queued_control() {
  if (pong_len_ > 0) {
    iov_.push_back(make_buf(pong_frames_[pong_slot_].data(), pong_len_));
    pong_slot_ ^= 1;  // the next pong must not overwrite this one while it is written
  }
  // A close is encoded once (close_sent_), so its buffer is never reused.
  if (close_len_ > 0) iov_.push_back(make_buf(close_frame_.data(), close_len_));
  pong_len_ = close_len_ = 0;
}

void WsStream::send_queued_control() {
  if ((pong_len_ == 0 && close_len_ == 0) || inner_write_pending_ || closing() || failed()) return;
  if (!write_control()) fail(inner_->failure().kind, inner_->failure().message);
}

bool WsStream::write_control() {
  iov_.clear();
  take_queued_control();
  if (iov_.empty()) return true;
  switch (inner_->write(iov_.data(), iov_.size())) {
    case WriteResult::kDone:
      return true;
    case WriteResult::kPending:
      inner_write_pending_ = true;
      return true;
    case WriteResult::kFailed:
      break;
  }
  return false;
}

void WsStream::on_stream_write_done() {
  if (failed()) return;
  inner_write_pending_ = false;
  if (closing()) {
    on_close_write_done();
    return;
  }
  if (handshake_ && handshake_->request_in_flight) {
    handshake_->request_in_flight = false;
    if (connected_) {
      handshake_.reset();
      finish_early_write();  // the 101 came before the request's write was reported done
    }
    return;
  }
  bool notify = false;
  if (user_write_pending_) {
    user_write_pending_ = false;
    notify = true;
  } else if (user_write_queued_) {
    user_write_queued_ = false;
    switch (send_data(queued_bufs_, queued_count_)) {
      case WriteResult::kDone:
        notify = true;
        break;
      case WriteResult::kPending:
        return;
      case WriteResult::kFailed:
        fail(failure_.kind, failure_.message);
        return;
    }
  }
  send_queued_control();
  if (closing() || failed()) return;
  if (notify) handler_.on_stream_write_done();
}

Stream::WriteResult WsStream::shutdown() {
  // See the header: nothing goes on the wire; writes after this are refused.
  shut_down_ = true;
  return WriteResult::kDone;
}

bool WsStream::flush_for_close() {
  // Before the upgrade there is nothing to say (below sends the request it holds).
  if (!connected_) return true;
  // The frame being written must finish before anything follows it.
  if (inner_write_pending_) return false;
  if (user_write_queued_) {
    // The caller's write, waiting behind a control frame, goes before the Close.
    user_write_queued_ = false;
    if (!close_sent_) {
      switch (send_data(queued_bufs_, queued_count_)) {
        case WriteResult::kDone:
          break;
        case WriteResult::kPending:
          return false;
        case WriteResult::kFailed:
          return true;  // the inner stream cannot write: close it
      }
    }
  }
  if (!close_sent_) {
    std::array<uint8_t, ws::kMaxControlPayload> body{};
    const size_t len = ws::encode_close_payload(ws::kCloseNormal, {}, body);
    queue_control(ws::Opcode::kClose, ByteView(body.data(), len));
  }
  if (!write_control()) return true;
  return !inner_write_pending_;
}

}  // namespace vmlocal::transport
