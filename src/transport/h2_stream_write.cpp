// H2Stream's uplink: the caller's writes become DATA frames within the server's windows, and
// the frames nghttp2 serializes (SETTINGS, WINDOW_UPDATE, acknowledgements) go out with them.
#include <nghttp2/nghttp2.h>

#include "vmlocal/transport/h2_stream.hpp"
#include "vmlocal/uv/write.hpp"

namespace vmlocal::transport {

Stream::WriteResult H2Stream::write(uv_buf_t* bufs, size_t count) {
  if (!connected_ || closing() || failed() || shut_down_ || stream_closed_ || source_active_) {
    if (failure_.message.empty()) {
      failure_ = Failure{
          FailureKind::kReset,
          std::string(options_.grpc ? "gRPC" : "HTTP/2") +
              (stream_closed_ ? ": the server closed the stream" : ": the stream is not writable")};
    }
    return WriteResult::kFailed;
  }
  uint64_t total = 0;
  for (size_t i = 0; i < count; ++i)
    total += bufs[i].len;
  if (total == 0) return WriteResult::kDone;
  source_.clear();
  source_index_ = 0;
  if (options_.grpc) {
    // One Hunk per write (grpc_frame.hpp); the header goes in front of the caller's bytes.
    const size_t len = grpc::encode_hunk_header(total, hunk_header_);
    source_.push_back(uv::make_buf(hunk_header_.data(), len));
  }
  for (size_t i = 0; i < count; ++i) {
    if (bufs[i].len > 0) source_.push_back(bufs[i]);
  }
  source_active_ = true;
  source_drained_ = false;
  nghttp2_session_resume_data(session_, stream_id_);
  if (!pump_output()) return WriteResult::kFailed;
  if (!source_active_) return WriteResult::kDone;
  user_write_pending_ = true;
  return WriteResult::kPending;
}

Stream::WriteResult H2Stream::shutdown() {
  if (shut_down_ || !connected_ || closing() || failed()) return WriteResult::kDone;
  shut_down_ = true;
  if (stream_closed_) return WriteResult::kDone;
  // END_STREAM follows the queued DATA (the data source reports EOF once it is empty).
  nghttp2_session_resume_data(session_, stream_id_);
  if (!pump_output()) return WriteResult::kFailed;
  return WriteResult::kDone;
}

void H2Stream::append_own(const uint8_t* data, size_t len) {
  const size_t offset = out_.size();
  out_.insert(out_.end(), data, data + len);
  if (!slices_.empty() && slices_.back().external == nullptr &&
      slices_.back().offset + slices_.back().len == offset) {
    slices_.back().len += len;
  } else {
    slices_.push_back(Slice{nullptr, offset, len});
  }
}

bool H2Stream::pump_output() {
  for (;;) {
    if (inner_write_pending_ || session_ == nullptr) return true;
    out_.clear();
    slices_.clear();
    // Everything nghttp2 can send now; DATA frames come through Callbacks::send_data.
    for (;;) {
      const uint8_t* data = nullptr;
      const size_t before = slices_.size();
      const ssize_t n = nghttp2_session_mem_send(session_, &data);
      if (n < 0) {
        failure_ = Failure{FailureKind::kProtocol,
                           std::string("HTTP/2: ") + nghttp2_strerror(static_cast<int>(n))};
        return false;
      }
      if (n > 0) append_own(data, static_cast<size_t>(n));
      if (n == 0 && slices_.size() == before) break;
    }
    if (slices_.empty()) {
      if (source_drained_) {
        source_active_ = source_drained_ = false;
      }
      return true;
    }
    iov_.clear();
    for (const Slice& slice : slices_) {
      iov_.push_back(uv::make_buf(
          slice.external != nullptr ? slice.external : out_.data() + slice.offset, slice.len));
    }
    switch (inner_->write(iov_.data(), iov_.size())) {
      case WriteResult::kDone:
        if (source_drained_) source_active_ = source_drained_ = false;
        continue;  // more may be ready (the rest of a write beyond one batch)
      case WriteResult::kPending:
        inner_write_pending_ = true;
        return true;
      case WriteResult::kFailed:
        failure_ = inner_->failure();
        return false;
    }
  }
}

void H2Stream::on_stream_write_done() {
  if (failed()) return;
  inner_write_pending_ = false;
  if (source_drained_) source_active_ = source_drained_ = false;
  if (closing()) {
    on_close_write_done();
    return;
  }
  if (!pump_output()) {
    fail(failure_.kind, failure_.message);
    return;
  }
  if (user_write_pending_ && !source_active_) {
    user_write_pending_ = false;
    handler_.on_stream_write_done();
    if (closing() || failed()) return;
  }
  update_inner_reading();
}

bool H2Stream::flush_for_close() {
  if (session_ == nullptr || !inner_connected_) return true;
  if (inner_write_pending_) return false;
  if (!goaway_sent_ && source_active_) {
    // A write the caller started goes first, as far as the server's windows allow (a window
    // that stays shut ends in the drain timer's reset).
    if (!pump_output()) return true;
    if (inner_write_pending_ || source_active_) return false;
  }
  if (!goaway_sent_) {
    goaway_sent_ = true;
    if (!stream_closed_) {
      nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream_id_, NGHTTP2_CANCEL);
    }
    nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                          nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_NO_ERROR,
                          nullptr, 0);
  }
  if (!pump_output()) return true;  // the inner stream cannot write: close it
  return !inner_write_pending_;
}

}  // namespace vmlocal::transport
